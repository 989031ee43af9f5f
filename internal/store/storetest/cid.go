// Package storetest holds NM DB fixtures worked by hand, written through the store's own calls,
// for the tests of the store and of the packages that read it.
package storetest

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

const (
	present = netmonv1.CIDState_CID_STATE_PRESENT
	absent  = netmonv1.CIDState_CID_STATE_ABSENT
	none    = netmonv1.CIDState_CID_STATE_NOT_ANSWERED
	plain   = netmonv1.CIDRoute_CID_ROUTE_CIDS
	images  = netmonv1.CIDRoute_CID_ROUTE_IMAGES
)

// LoadCIDRun writes a run with three nodes and three users and their CIDs, worked by hand:
//
//	user 1, replica set 1,2,3: Qa held by 1,2,3; Qb (a directory) held by 1 only; Qc held by none
//	user 2, replica set 2,2,3 (node 2 twice): Qd held by 2 and 3
//	user 3, no replica set: Qe
//
// Node 3 answers only for Qa; Qd on node 3 is a result that never arrived, so it is not answered.
func LoadCIDRun(t testing.TB, st *store.Store, run int64) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	id := func(v int64) *int64 { return &v }
	must(st.EnsureRun(ctx, run))
	must(st.SaveRun(ctx, &netmonv1.Run{RunId: run, CreatedAt: timestamppb.Now(), Deadline: timestamppb.New(time.Now().Add(time.Hour))}))
	must(st.SaveContentNodes(ctx, &netmonv1.ContentNodeBatch{RunId: run, Nodes: []*netmonv1.ContentNode{
		{SpId: 1, Endpoint: "http://cn1"}, {SpId: 2, Endpoint: "http://cn2"}, {SpId: 3, Endpoint: "http://cn3"}}}))
	if _, err := st.SaveUserBatch(ctx, &netmonv1.UserBatch{RunId: run, Users: []*netmonv1.User{
		{UserId: 1, Wallet: "0xa", PrimarySpId: id(1), Secondary1SpId: id(2), Secondary2SpId: id(3)},
		{UserId: 2, Wallet: "0xb", PrimarySpId: id(2), Secondary1SpId: id(2), Secondary2SpId: id(3)},
		{UserId: 3, Wallet: "0xc"},
	}}); err != nil {
		t.Fatal(err)
	}
	cid := func(user int64, typ netmonv1.CIDType, c string) *netmonv1.CID {
		route := plain
		if typ == netmonv1.CIDType_CID_TYPE_DIR {
			route = images
		}
		return &netmonv1.CID{UserId: user, Type: typ, Cid: c, Route: route}
	}
	batches := []*netmonv1.CIDBatch{
		{RunId: run, Batch: 0, Cids: []*netmonv1.CID{cid(1, netmonv1.CIDType_CID_TYPE_METADATA, "Qa"),
			cid(1, netmonv1.CIDType_CID_TYPE_DIR, "Qb"), cid(1, netmonv1.CIDType_CID_TYPE_TRACK, "Qc")}},
		{RunId: run, Batch: 1, Cids: []*netmonv1.CID{cid(2, netmonv1.CIDType_CID_TYPE_IMAGE, "Qd"),
			cid(3, netmonv1.CIDType_CID_TYPE_TRACK, "Qe")}},
	}
	results := []*netmonv1.CIDResult{
		{RunId: run, SpId: 1, Route: plain, Batch: 0, Outcome: netmonv1.Outcome_OUTCOME_OK,
			Cids: []string{"Qa", "Qc"}, States: []netmonv1.CIDState{present, absent}},
		{RunId: run, SpId: 1, Route: images, Batch: 0, Outcome: netmonv1.Outcome_OUTCOME_OK,
			Cids: []string{"Qb"}, States: []netmonv1.CIDState{present}},
		{RunId: run, SpId: 2, Route: plain, Batch: 0, Outcome: netmonv1.Outcome_OUTCOME_OK,
			Cids: []string{"Qa", "Qc", "Qd"}, States: []netmonv1.CIDState{present, absent, present}},
		{RunId: run, SpId: 2, Route: images, Batch: 0, Outcome: netmonv1.Outcome_OUTCOME_OK,
			Cids: []string{"Qb"}, States: []netmonv1.CIDState{absent}},
		{RunId: run, SpId: 3, Route: plain, Batch: 0, Outcome: netmonv1.Outcome_OUTCOME_OK, Missing: 1,
			Cids: []string{"Qa", "Qc"}, States: []netmonv1.CIDState{present, none}},
		{RunId: run, SpId: 3, Route: images, Batch: 0, Outcome: netmonv1.Outcome_OUTCOME_TIMEOUT,
			Cids: []string{"Qb"}, States: []netmonv1.CIDState{none}},
	}
	for _, b := range batches {
		if _, err := st.SaveCIDBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range results {
		if _, err := st.SaveCIDResult(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// No clock work: the CID items are the run's only work items (the seventh never arrives,
	// so the run is loaded at its deadline, as ExpireRun does).
	must(st.SaveManifest(ctx, &netmonv1.Manifest{RunId: run, UserBatches: 1, Users: 3, ContentNodes: 3,
		WorkItems: 7, CidChecks: "sample", CidBatches: 2, CidWorkItems: 7, SnapshotCids: 50, SampledCids: 5,
		CidSampleRate: 0.1}))
	if loaded, err := st.TryFinishLoad(ctx, run); err != nil || loaded {
		t.Fatalf("loaded = %v (%v) with a work item missing", loaded, err)
	}
	if loaded, err := st.ExpireRun(ctx, run); err != nil || !loaded {
		t.Fatalf("ExpireRun: loaded = %v (%v)", loaded, err)
	}
}
