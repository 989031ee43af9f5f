package planner_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/planner"
	"github.com/audius-netmon/netmon/internal/simnet"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

func cidScenario() simnet.Scenario {
	sh := simnet.DefaultShares()
	sh.Artists, sh.Deactivated, sh.SameNodeTwice, sh.NoReplicaSet = 0.4, 0.05, 0.05, 0.05
	return simnet.Scenario{Seed: 31, NodeCount: 5, UserCount: 300, Shares: &sh}
}

type cidKey struct {
	sp    int64
	route netmonv1.CIDRoute
	cid   string
}

// TestPlanCIDs: with every CID checked, the CID snapshot is simnet's (same rows), each row is
// asked of every distinct node of its owner's replica set on the route its type needs, in work
// items of at most CIDBatchSize distinct CIDs, and the manifest counts it all.
func TestPlanCIDs(t *testing.T) {
	net, err := simnet.Build(cidScenario())
	if err != nil {
		t.Fatal(err)
	}
	truth := net.CIDTruth(nil, simnet.CIDChecksAll, 0)
	rec, m := plan(t, cidScenario(), planner.Options{UserBatchSize: 100, WorkBatchSize: 100, CIDBatchSize: 40,
		CIDChecks: planner.CIDChecksAll, Deadline: time.Hour})

	replicas := map[int64][]int64{} // user -> distinct SPs of its replica set
	var rows []*netmonv1.CID
	asked := map[cidKey]int{}
	var items, checks, batches int64
	for _, o := range rec.outs {
		switch msg := o.Msg.(type) {
		case *netmonv1.UserBatch:
			for _, u := range msg.GetUsers() {
				var set []int64
				for _, sp := range []*int64{u.PrimarySpId, u.Secondary1SpId, u.Secondary2SpId} {
					if sp != nil && !contains(set, *sp) {
						set = append(set, *sp)
					}
				}
				replicas[u.GetUserId()] = set
			}
		case *netmonv1.CIDBatch:
			if o.Subject != message.SnapshotSubject(9, message.KindCIDs) {
				t.Errorf("CID batch on %s", o.Subject)
			}
			batches++
			rows = append(rows, msg.GetCids()...)
		case *netmonv1.CIDWorkItem:
			if o.Subject != message.CIDWorkSubject(9, msg.GetSpId()) {
				t.Errorf("CID work item on %s", o.Subject)
			}
			items++
			checks += int64(len(msg.GetCids()))
			if len(msg.GetCids()) > 40 {
				t.Errorf("CID item %d/%s/%d has %d CIDs, want at most 40", msg.GetSpId(), msg.GetRoute(), msg.GetBatch(), len(msg.GetCids()))
			}
			seen := map[string]bool{}
			for _, c := range msg.GetCids() {
				if seen[c] {
					t.Errorf("CID item %d/%d asks for %s twice", msg.GetSpId(), msg.GetBatch(), c)
				}
				seen[c] = true
				asked[cidKey{msg.GetSpId(), msg.GetRoute(), c}]++
			}
		}
	}
	if int64(len(rows)) != truth.SnapshotCIDs {
		t.Fatalf("%d CID rows planned, simnet's snapshot has %d", len(rows), truth.SnapshotCIDs)
	}
	var pairs int
	for _, r := range rows {
		wantRoute := netmonv1.CIDRoute_CID_ROUTE_CIDS
		if r.GetType() == netmonv1.CIDType_CID_TYPE_DIR {
			wantRoute = netmonv1.CIDRoute_CID_ROUTE_IMAGES
		}
		if r.GetRoute() != wantRoute {
			t.Errorf("row %s of type %s on route %s", r.GetCid(), r.GetType(), r.GetRoute())
		}
		for _, sp := range replicas[r.GetUserId()] {
			pairs++
			if asked[cidKey{sp, wantRoute, r.GetCid()}] == 0 {
				t.Errorf("CID %s (user %d) never asked of node %d on %s", r.GetCid(), r.GetUserId(), sp, wantRoute)
			}
		}
	}
	if pairs == 0 || len(asked) != pairs {
		t.Errorf("%d (node, route, CID) checks for %d (row, replica node) pairs", len(asked), pairs)
	}
	if m.GetCidChecks() != "all" || m.GetCidBatches() != batches || m.GetCidWorkItems() != items ||
		m.GetCidNodeChecks() != checks || m.GetSampledCids() != truth.SnapshotCIDs || m.GetSnapshotCids() != truth.SnapshotCIDs ||
		m.GetCidSampleRate() != 1 {
		t.Errorf("manifest %v; emitted %d batches, %d items, %d checks", m, batches, items, checks)
	}
	if m.GetWorkItems() <= items {
		t.Errorf("manifest work items %d do not include the clock items beside %d CID items", m.GetWorkItems(), items)
	}
}

// TestPlanCIDSample: the sample is simnet's (the documented hashtext rule), and planning twice gives
// the same messages.
func TestPlanCIDSample(t *testing.T) {
	net, err := simnet.Build(cidScenario())
	if err != nil {
		t.Fatal(err)
	}
	const size = 150
	truth := net.CIDTruth(nil, simnet.CIDChecksSample, size)
	opts := planner.Options{CIDChecks: planner.CIDChecksSample, CIDSampleSize: size, Deadline: time.Hour}
	rec, m := plan(t, cidScenario(), opts)
	again, _ := plan(t, cidScenario(), opts)
	if m.GetSnapshotCids() != truth.SnapshotCIDs || m.GetSampledCids() != truth.CheckedCIDs ||
		math.Abs(m.GetCidSampleRate()-float64(size)/float64(truth.SnapshotCIDs)) > 1e-15 {
		t.Errorf("manifest: %d of %d sampled at %v; simnet: %d of %d", m.GetSampledCids(), m.GetSnapshotCids(),
			m.GetCidSampleRate(), truth.CheckedCIDs, truth.SnapshotCIDs)
	}
	if truth.CheckedCIDs < size/2 || truth.CheckedCIDs > 2*size {
		t.Errorf("sample of %d for a target of %d", truth.CheckedCIDs, size)
	}
	var a, b []message.Out
	for _, o := range rec.outs {
		if _, ok := o.Msg.(*netmonv1.CIDWorkItem); ok {
			a = append(a, o)
		}
	}
	for _, o := range again.outs {
		if _, ok := o.Msg.(*netmonv1.CIDWorkItem); ok {
			b = append(b, o)
		}
	}
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("%d and %d CID items", len(a), len(b))
	}
	for i := range a {
		if a[i].ID != b[i].ID || !proto.Equal(a[i].Msg, b[i].Msg) {
			t.Fatalf("CID item %d differs between two plans of the same snapshot: %v / %v", i, a[i].Msg, b[i].Msg)
		}
	}
}

// failingEmitter fails every Emit after the first ok messages.
type failingEmitter struct {
	recorder
	ok int
}

var errEmit = errors.New("the bus is gone")

func (f *failingEmitter) Emit(ctx context.Context, o message.Out) error {
	if len(f.outs) >= f.ok {
		return errEmit
	}
	return f.recorder.Emit(ctx, o)
}

// TestPlanCIDsEndWithThePlan: a plan that fails while the CID snapshot is being read beside it
// (here the bus, before the clock plan is out) ends that read too, even when its rows wait for
// the plan (a read-ahead of one row): Plan returns the failure, and the read's connection is
// given back (closing the discovery pool waits for it).
func TestPlanCIDsEndWithThePlan(t *testing.T) {
	defer planner.SetCIDReadAhead(1)()
	net, err := simnet.Build(cidScenario())
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{planner.CIDChecksAll, planner.CIDChecksSample} {
		done := make(chan error, 1)
		go func() {
			_, err := planInto(t, net, planner.Options{UserBatchSize: 10, CIDChecks: mode, CIDSampleSize: 150,
				Deadline: time.Hour}, &failingEmitter{ok: 5})
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, errEmit) {
				t.Errorf("CID checks %s: plan with a failing bus returned %v, want %v", mode, err, errEmit)
			}
		case <-time.After(time.Minute):
			t.Fatalf("CID checks %s: the plan did not end within a minute of its bus failing", mode)
		}
	}
}

// TestPlanCIDsOff: with CID checks off nothing about CIDs is read or emitted.
func TestPlanCIDsOff(t *testing.T) {
	rec, m := plan(t, cidScenario(), planner.Options{CIDChecks: planner.CIDChecksOff, Deadline: time.Hour})
	for _, o := range rec.outs {
		switch o.Msg.(type) {
		case *netmonv1.CIDBatch, *netmonv1.CIDWorkItem:
			t.Fatalf("CID checks off, but %s was emitted", o.Subject)
		}
	}
	if m.GetCidChecks() != "off" || m.GetCidBatches() != 0 || m.GetCidWorkItems() != 0 || m.GetSnapshotCids() != 0 {
		t.Errorf("manifest with CID checks off: %v", m)
	}
}

func contains(s []int64, v int64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
