package message

import (
	"fmt"

	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// CID checks travel beside the clock checks: CID work items in the work stream and CID results in
// the data stream, each subject ending in the token CIDToken after the content node's SP id, and
// the CID snapshot as the snapshot kind KindCIDs.
const (
	// KindCIDs is the snapshot kind of CID batches (netmon.snapshot.<run>.cids).
	KindCIDs = "cids"
	// CIDToken ends the subjects of CID work items and results.
	CIDToken = "cid"
)

// CIDWorkSubject is where CID work items for one content node of a run go.
func CIDWorkSubject(run, spID int64) string {
	return fmt.Sprintf("netmon.work.%d.%d.%s", run, spID, CIDToken)
}

// CIDResultSubject is where CID results for one content node of a run go.
func CIDResultSubject(run, spID int64) string {
	return fmt.Sprintf("netmon.result.%d.%d.%s", run, spID, CIDToken)
}

// IsCID reports whether a parsed work or result subject is a CID one.
func (s Subject) IsCID() bool { return len(s.Rest) == 2 && s.Rest[1] == CIDToken }

// cIDWorkID identifies a CID work item; route is the route's number (netmonv1.CIDRoute).
func cIDWorkID(run, spID int64, route int32, batch int64) string {
	return fmt.Sprintf("r%d-cidwork-%d-%d-%d", run, spID, route, batch)
}

// cIDResultID identifies the result of a CID work item.
func cIDResultID(run, spID int64, route int32, batch int64) string {
	return fmt.Sprintf("r%d-cidresult-%d-%d-%d", run, spID, route, batch)
}

// Kinds of work item: the kind column of the NM DB's fetch results and the kind label of the
// fetch metrics. A CID item's kind is its route's (CIDRouteKind).
const (
	KindClock    = "clock"
	KindCID      = "cid"
	KindImageCID = "image_cid"
)

// CIDRouteKind is the kind of a CID work item on route: "image_cid" for /batch_image_cids_exist,
// "cid" for /batch_cids_exist.
func CIDRouteKind(route netmonv1.CIDRoute) string {
	if route == netmonv1.CIDRoute_CID_ROUTE_IMAGES {
		return KindImageCID
	}
	return KindCID
}
