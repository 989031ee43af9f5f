package aggregator

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// TestCutMsg: a cut goes into the record grouped by node and kind and comes back the same, an
// empty one stays present, and a large one stays small.
func TestCutMsg(t *testing.T) {
	cut := store.Cut{
		{Kind: "cids", Batch: 0}, {Kind: "nodes", Batch: 0}, {Kind: "users", Batch: 0}, {Kind: "users", Batch: 2},
		{Result: true, Kind: "cid", SPID: 1, Batch: 0},
		{Result: true, Kind: "clock", SPID: 1, Batch: 0}, {Result: true, Kind: "clock", SPID: 1, Batch: 1},
		{Result: true, Kind: "clock", SPID: 2, Batch: 5},
	}
	m := CutMsg(cut)
	if len(m.GetBatches()) != 3 || len(m.GetResults()) != 3 {
		t.Errorf("grouped into %d batch and %d result groups, want 3 and 3: %v", len(m.GetBatches()), len(m.GetResults()), m)
	}
	data, err := proto.Marshal(&netmonv1.RunRecord{Cut: m, AfterCut: CutMsg(nil)})
	if err != nil {
		t.Fatal(err)
	}
	var rec netmonv1.RunRecord
	if err := proto.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(cut, CutKeys(rec.GetCut())); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	if rec.GetAfterCut() == nil || len(CutKeys(rec.GetAfterCut())) != 0 {
		t.Errorf("an empty set came back as %v, want present and empty", rec.GetAfterCut())
	}

	// A 1M-user run: 2,000 results over 20 nodes, 100 user batches.
	var big store.Cut
	for b := int64(0); b < 100; b++ {
		big = append(big, store.MessageKey{Kind: "users", Batch: b})
	}
	for sp := int64(1); sp <= 20; sp++ {
		for b := int64(0); b < 100; b++ {
			big = append(big, store.MessageKey{Result: true, Kind: "clock", SPID: sp, Batch: b})
		}
	}
	if n := proto.Size(CutMsg(big)); n > 4096 {
		t.Errorf("a cut of %d messages takes %d bytes", len(big), n)
	}
}
