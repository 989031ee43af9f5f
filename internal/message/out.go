package message

import (
	"google.golang.org/protobuf/proto"

	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// Out is one message to publish: a subject, a deterministic message id, and the protobuf payload.
// Build it with the constructors below, which take the subject and the id from the payload's own
// fields, so the two can never disagree with each other or with what the message says.
type Out struct {
	Subject string
	ID      string
	Msg     proto.Message
}

// RunOut is a run's opening snapshot message (netmon.snapshot.<run>.run).
func RunOut(m *netmonv1.Run) Out { return snapshotOut(m.GetRunId(), KindRun, 0, m) }

// NodesOut is a run's content-node list (netmon.snapshot.<run>.nodes).
func NodesOut(m *netmonv1.ContentNodeBatch) Out { return snapshotOut(m.GetRunId(), KindNodes, 0, m) }

// UsersOut is one batch of a run's users (netmon.snapshot.<run>.users).
func UsersOut(m *netmonv1.UserBatch) Out {
	return snapshotOut(m.GetRunId(), KindUsers, m.GetBatch(), m)
}

// PartOut closes one part of a run's plan (netmon.snapshot.<run>.part).
func PartOut(m *netmonv1.Part) Out { return snapshotOut(m.GetRunId(), KindPart, m.GetPart(), m) }

// CIDsOut is one batch of a run's sampled CIDs (netmon.snapshot.<run>.cids).
func CIDsOut(m *netmonv1.CIDBatch) Out { return snapshotOut(m.GetRunId(), KindCIDs, m.GetBatch(), m) }

// KeysOut is one batch of a storage run's key sample (netmon.snapshot.<run>.keys).
func KeysOut(m *netmonv1.StorageKeyBatch) Out {
	return snapshotOut(m.GetRunId(), KindKeys, m.GetBatch(), m)
}

// ManifestOut is what a run's plan promised (netmon.snapshot.<run>.manifest), published last.
func ManifestOut(m *netmonv1.Manifest) Out { return snapshotOut(m.GetRunId(), KindManifest, 0, m) }

func snapshotOut(run int64, kind string, batch int64, m proto.Message) Out {
	return Out{Subject: SnapshotSubject(run, kind), ID: snapshotID(run, kind, batch), Msg: m}
}

// WorkOut is a clock work item (netmon.work.<run>.<sp>).
func WorkOut(m *netmonv1.WorkItem) Out {
	return Out{Subject: WorkSubject(m.GetRunId(), m.GetSpId()), ID: workID(m.GetRunId(), m.GetSpId(), m.GetBatch()), Msg: m}
}

// ResultOut is the result of a clock work item (netmon.result.<run>.<sp>).
func ResultOut(m *netmonv1.FetchResult) Out {
	return Out{Subject: ResultSubject(m.GetRunId(), m.GetSpId()), ID: resultID(m.GetRunId(), m.GetSpId(), m.GetBatch()), Msg: m}
}

// CIDWorkOut is a CID work item (netmon.work.<run>.<sp>.cid).
func CIDWorkOut(m *netmonv1.CIDWorkItem) Out {
	return Out{Subject: CIDWorkSubject(m.GetRunId(), m.GetSpId()),
		ID: cIDWorkID(m.GetRunId(), m.GetSpId(), int32(m.GetRoute()), m.GetBatch()), Msg: m}
}

// CIDResultOut is the result of a CID work item (netmon.result.<run>.<sp>.cid).
func CIDResultOut(m *netmonv1.CIDResult) Out {
	return Out{Subject: CIDResultSubject(m.GetRunId(), m.GetSpId()),
		ID: cIDResultID(m.GetRunId(), m.GetSpId(), int32(m.GetRoute()), m.GetBatch()), Msg: m}
}

// StorageWorkOut is a blob-presence work item (netmon.work.<run>.<sp>.storage).
func StorageWorkOut(m *netmonv1.StorageWorkItem) Out {
	return Out{Subject: StorageWorkSubject(m.GetRunId(), m.GetSpId()),
		ID: storageWorkID(m.GetRunId(), m.GetSpId(), m.GetBatch()), Msg: m}
}

// StorageResultOut is the result of a blob-presence work item (netmon.result.<run>.<sp>.storage).
func StorageResultOut(m *netmonv1.StorageResult) Out {
	return Out{Subject: StorageResultSubject(m.GetRunId(), m.GetSpId()),
		ID: storageResultID(m.GetRunId(), m.GetSpId(), m.GetBatch()), Msg: m}
}

// HealthWorkOut is a node's health work item (netmon.work.<run>.<sp>.health).
func HealthWorkOut(m *netmonv1.HealthWorkItem) Out {
	return Out{Subject: HealthWorkSubject(m.GetRunId(), m.GetSpId()), ID: healthWorkID(m.GetRunId(), m.GetSpId()), Msg: m}
}

// HealthResultOut is the result of a node's health work item (netmon.result.<run>.<sp>.health).
func HealthResultOut(m *netmonv1.HealthResult) Out {
	return Out{Subject: HealthResultSubject(m.GetRunId(), m.GetSpId()), ID: healthResultID(m.GetRunId(), m.GetSpId()), Msg: m}
}

// RunEventOut is a message of a run's lifecycle (netmon.run.<run>.<token>): a status event, whose
// token is the status, or the run's record (token "record").
func RunEventOut(run int64, token string, m proto.Message) Out {
	return Out{Subject: RunEventSubject(run, token), ID: runEventID(run, token), Msg: m}
}
