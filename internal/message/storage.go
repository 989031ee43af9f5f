package message

import "fmt"

// Storage runs' messages travel beside the clock and CID ones: blob-presence and health work items
// in the work stream and their results in the data stream, each subject ending in the token
// StorageToken or HealthToken after the node's SP id, and the key sample as the snapshot kind
// KindKeys.
const (
	// KindKeys is the snapshot kind of key batches (netmon.snapshot.<run>.keys).
	KindKeys = "keys"
	// StorageToken ends the subjects of blob-presence work items and results; it is also their
	// kind (fetch_results.kind, the fetch metrics' kind label).
	StorageToken = "storage"
	// HealthToken ends the subjects of health work items and results; it is also their kind.
	HealthToken = "health"
	// KindStorage and KindHealth are those kinds.
	KindStorage = StorageToken
	KindHealth  = HealthToken
)

// StorageWorkSubject is where blob-presence work items for one node of a run go.
func StorageWorkSubject(run, spID int64) string {
	return fmt.Sprintf("netmon.work.%d.%d.%s", run, spID, StorageToken)
}

// StorageResultSubject is where blob-presence results for one node of a run go.
func StorageResultSubject(run, spID int64) string {
	return fmt.Sprintf("netmon.result.%d.%d.%s", run, spID, StorageToken)
}

// HealthWorkSubject is where the health work item of one node of a run goes.
func HealthWorkSubject(run, spID int64) string {
	return fmt.Sprintf("netmon.work.%d.%d.%s", run, spID, HealthToken)
}

// HealthResultSubject is where the health result of one node of a run goes.
func HealthResultSubject(run, spID int64) string {
	return fmt.Sprintf("netmon.result.%d.%d.%s", run, spID, HealthToken)
}

// IsStorage reports whether a parsed work or result subject is a blob-presence one.
func (s Subject) IsStorage() bool { return len(s.Rest) == 2 && s.Rest[1] == StorageToken }

// IsHealth reports whether a parsed work or result subject is a health one.
func (s Subject) IsHealth() bool { return len(s.Rest) == 2 && s.Rest[1] == HealthToken }

// storageWorkID identifies a blob-presence work item.
func storageWorkID(run, spID, batch int64) string {
	return fmt.Sprintf("r%d-storagework-%d-%d", run, spID, batch)
}

// storageResultID identifies the result of a blob-presence work item.
func storageResultID(run, spID, batch int64) string {
	return fmt.Sprintf("r%d-storageresult-%d-%d", run, spID, batch)
}

// healthWorkID identifies a node's health work item.
func healthWorkID(run, spID int64) string { return fmt.Sprintf("r%d-healthwork-%d", run, spID) }

// healthResultID identifies the result of a node's health work item.
func healthResultID(run, spID int64) string { return fmt.Sprintf("r%d-healthresult-%d", run, spID) }
