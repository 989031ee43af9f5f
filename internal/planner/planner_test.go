package planner_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/planner"
	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/store"
	"github.com/audius-netmon/netmon/internal/testenv"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// recorder is an Emitter that keeps what was emitted; unflushed counts the messages emitted
// since the last Flush.
type recorder struct {
	outs      []message.Out
	flushed   bool
	unflushed int
}

func (r *recorder) Emit(_ context.Context, o message.Out) error {
	r.outs = append(r.outs, o)
	r.unflushed++
	return nil
}

func (r *recorder) Flush(context.Context) error { r.flushed, r.unflushed = true, 0; return nil }

func ptr[T any](v T) *T { return &v }

// plan seeds a discovery DB with sc and plans run 9 over it.
func plan(t *testing.T, sc simnet.Scenario, opts planner.Options) (*recorder, *netmonv1.Manifest) {
	t.Helper()
	net, err := simnet.Build(sc)
	if err != nil {
		t.Fatal(err)
	}
	rec, m, err := planNetwork(t, net, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rec, m
}

// planNetwork seeds a discovery DB with net and plans run 9 over it.
func planNetwork(t *testing.T, net *simnet.Network, opts planner.Options) (*recorder, *netmonv1.Manifest, error) {
	t.Helper()
	rec := &recorder{}
	m, err := planInto(t, net, opts, rec)
	return rec, m, err
}

// planInto seeds a discovery DB with net and plans run 9 over it into em.
func planInto(t *testing.T, net *simnet.Network, opts planner.Options, em planner.Emitter) (*netmonv1.Manifest, error) {
	t.Helper()
	ctx := context.Background()
	url := testenv.Database(t)
	if err := net.SeedDiscovery(ctx, url); err != nil {
		t.Fatal(err)
	}
	disc, err := store.OpenDiscovery(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer disc.Close()
	var m *netmonv1.Manifest
	err = disc.Read(ctx, func(s *store.Snapshot) error {
		p := planner.New(opts, zerolog.Nop())
		list, err := p.Nodes(ctx, s, 0)
		if err != nil {
			return err
		}
		m, err = p.Plan(ctx, 9, time.Now(), s, list, em)
		return err
	})
	return m, err
}

func TestPlanBatchesAndDedupes(t *testing.T) {
	sc := simnet.Scenario{
		Nodes: []simnet.NodeSpec{{SPID: 1}, {SPID: 2}, {SPID: 3}},
		Users: []simnet.UserSpec{
			{ID: 1, Wallet: ptr("0xAA"), Primary: ptr(int64(1)), Secondaries: []int64{2, 3}, Clocks: []int64{1, 1, 1}},
			// The same node twice: node 1 is asked once.
			{ID: 2, Wallet: ptr("0xbb"), Primary: ptr(int64(1)), Secondaries: []int64{1, 2}, Clocks: []int64{2, 2, 2}},
			// The same wallet as user 1 in another case: each node is asked once per wallet.
			{ID: 3, Wallet: ptr("0xaa"), Primary: ptr(int64(2)), Secondaries: []int64{1, 3}, Clocks: []int64{1, 1, 1}},
			// No wallet, and no replica set: never asked.
			{ID: 4, Wallet: nil, Primary: ptr(int64(3)), Secondaries: []int64{1, 2}, Clocks: []int64{0, 0, 0}},
			{ID: 5, Wallet: ptr("0xcc")},
			{ID: 6, Wallet: ptr("0xdd"), Primary: ptr(int64(3)), Secondaries: []int64{2, 1}, Clocks: []int64{4, 4, 4}},
		},
	}
	rec, m := plan(t, sc, planner.Options{UserBatchSize: 4, WorkBatchSize: 2, Deadline: time.Hour})
	if !rec.flushed {
		t.Fatal("plan did not flush")
	}
	if first := rec.outs[0].Subject; first != message.SnapshotSubject(9, message.KindRun) {
		t.Fatalf("first message %s, want the run", first)
	}
	if last := rec.outs[len(rec.outs)-1].Subject; last != message.SnapshotSubject(9, message.KindManifest) {
		t.Fatalf("last message %s, want the manifest", last)
	}
	wallets := map[int64][]string{}
	ids := map[string]bool{}
	var items, users, userBatches int64
	for _, o := range rec.outs {
		if ids[o.ID] {
			t.Errorf("message id %s used twice", o.ID)
		}
		ids[o.ID] = true
		switch m := o.Msg.(type) {
		case *netmonv1.WorkItem:
			items++
			if len(m.GetWallets()) > 2 {
				t.Errorf("work item %d/%d has %d wallets, want at most 2", m.GetSpId(), m.GetBatch(), len(m.GetWallets()))
			}
			wallets[m.GetSpId()] = append(wallets[m.GetSpId()], m.GetWallets()...)
		case *netmonv1.UserBatch:
			userBatches++
			users += int64(len(m.GetUsers()))
		}
		if _, err := proto.Marshal(o.Msg); err != nil {
			t.Errorf("%s: %v", o.Subject, err)
		}
	}
	// By hand: node 1 holds users 1, 2, 3, 6 (user 4 has no wallet) → wallets 0xaa, 0xbb, 0xdd.
	// Node 2: users 1, 2, 3, 6 → 0xaa, 0xbb, 0xdd. Node 3: users 1, 3, 6 → 0xaa, 0xdd.
	want := map[int64][]string{1: {"0xaa", "0xbb", "0xdd"}, 2: {"0xaa", "0xbb", "0xdd"}, 3: {"0xaa", "0xdd"}}
	for sp, w := range want {
		got := append([]string(nil), wallets[sp]...)
		sort.Strings(got)
		if len(got) != len(w) {
			t.Errorf("node %d asked for %v, want %v", sp, got, w)
			continue
		}
		for i := range w {
			if got[i] != w[i] {
				t.Errorf("node %d asked for %v, want %v", sp, got, w)
				break
			}
		}
	}
	if m.GetUsers() != 6 || users != 6 || m.GetUserBatches() != 2 || userBatches != 2 {
		t.Errorf("manifest users %d in %d batches, emitted %d in %d; want 6 in 2", m.GetUsers(), m.GetUserBatches(), users, userBatches)
	}
	if m.GetWorkItems() != items || items != 2+2+1 {
		t.Errorf("manifest work items %d, emitted %d, want 5", m.GetWorkItems(), items)
	}
	if m.GetWalletChecks() != 8 || m.GetContentNodes() != 3 {
		t.Errorf("manifest wallet checks %d, nodes %d; want 8 and 3", m.GetWalletChecks(), m.GetContentNodes())
	}
}

// A plan in parts, worked by hand: 6 users in user batches of 2, parts of 3 users rounded up to
// whole batches (4), work items of 2 wallets. Every message of a part comes before its Part
// message, which comes before anything of the next part; a node's partial item is flushed when
// its part closes; a wallet shared by users of one part is asked once per node, and again in the
// next part.
func TestPlanParts(t *testing.T) {
	sc := simnet.Scenario{
		Nodes: []simnet.NodeSpec{{SPID: 1}, {SPID: 2}, {SPID: 3}},
		Users: []simnet.UserSpec{
			{ID: 1, Wallet: ptr("0xaa"), Primary: ptr(int64(1)), Secondaries: []int64{2, 3}, Clocks: []int64{1, 1, 1}},
			{ID: 2, Wallet: ptr("0xbb"), Primary: ptr(int64(1)), Secondaries: []int64{1, 2}, Clocks: []int64{2, 2, 2}},
			{ID: 3, Wallet: ptr("0xaa"), Primary: ptr(int64(2)), Secondaries: []int64{1, 3}, Clocks: []int64{1, 1, 1}},
			{ID: 4, Wallet: nil, Primary: ptr(int64(3)), Secondaries: []int64{1, 2}, Clocks: []int64{0, 0, 0}},
			{ID: 5, Wallet: ptr("0xaa"), Primary: ptr(int64(1)), Secondaries: []int64{2, 3}, Clocks: []int64{1, 1, 1}},
			{ID: 6, Wallet: ptr("0xdd"), Primary: ptr(int64(3)), Secondaries: []int64{2, 1}, Clocks: []int64{4, 4, 4}},
		},
	}
	rec, m := plan(t, sc, planner.Options{UserBatchSize: 2, PartUsers: 3, WorkBatchSize: 2, Deadline: time.Hour})
	var got []string
	for _, o := range rec.outs {
		switch m := o.Msg.(type) {
		case *netmonv1.UserBatch:
			got = append(got, fmt.Sprintf("users %d part %d: %d", m.GetBatch(), m.GetPart(), len(m.GetUsers())))
		case *netmonv1.WorkItem:
			got = append(got, fmt.Sprintf("item %d/%d part %d: %v", m.GetSpId(), m.GetBatch(), m.GetPart(), m.GetWallets()))
		case *netmonv1.Part:
			got = append(got, fmt.Sprintf("part %d: batches %d+%d, %d users, %d items",
				m.GetPart(), m.GetFirstUserBatch(), m.GetUserBatches(), m.GetUsers(), m.GetWorkItems()))
		}
	}
	want := []string{
		"users 0 part 0: 2",
		"item 1/0 part 0: [0xaa 0xbb]", // user 2's wallet fills node 1's item (node 1 twice: asked once)
		"item 2/0 part 0: [0xaa 0xbb]",
		"users 1 part 0: 2",       // user 3's 0xaa was asked of nodes 1, 2 and 3 in this part already
		"item 3/0 part 0: [0xaa]", // node 3's partial item, flushed as the part closes
		"part 0: batches 0+2, 4 users, 3 items",
		"users 2 part 1: 2", // full once user 6 is added, before user 6's wallet is asked
		// 0xaa asked again (user 5 is in the next part); user 6's 0xdd fills its nodes' items in
		// slot order: primary 3, then 2, then 1.
		"item 3/1 part 1: [0xaa 0xdd]",
		"item 2/1 part 1: [0xaa 0xdd]",
		"item 1/1 part 1: [0xaa 0xdd]",
		"part 1: batches 2+1, 2 users, 3 items",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if m.GetParts() != 2 || m.GetWorkItems() != 6 || m.GetUserBatches() != 3 || m.GetWalletChecks() != 11 {
		t.Errorf("manifest: %d parts, %d items, %d user batches, %d wallet checks; want 2, 6, 3, 11",
			m.GetParts(), m.GetWorkItems(), m.GetUserBatches(), m.GetWalletChecks())
	}
}

// slowLoader writes one of the loader's messages (user batches, results, Part messages) each time
// it is asked for its backlog, never one that was not flushed; stuck, it writes nothing.
type slowLoader struct {
	rec     *recorder
	stuck   bool
	calls   int
	written int64
	said    int64 // the backlog the last call returned
	// first and last are when it was first and last asked.
	first, last time.Time
	// unflushedAtCall is, for each call, how many emitted messages were not flushed yet.
	unflushedAtCall []int
}

// forLoader says whether the loader writes o (the run's own messages aside).
func forLoader(o message.Out) bool {
	switch o.Msg.(type) {
	case *netmonv1.UserBatch, *netmonv1.WorkItem, *netmonv1.Part:
		return true
	}
	return false
}

func (l *slowLoader) LoaderBacklog(context.Context) (int64, error) {
	l.unflushedAtCall = append(l.unflushedAtCall, l.rec.unflushed)
	l.calls++
	if l.first.IsZero() {
		l.first = time.Now()
	}
	l.last = time.Now()
	var stored int64
	for _, o := range l.rec.outs[:len(l.rec.outs)-l.rec.unflushed] {
		if forLoader(o) {
			stored++
		}
	}
	if !l.stuck && l.written < stored {
		l.written++
	}
	l.said = stored - l.written
	return l.said, nil
}

// pacedEmitter records, for each message, the loader's backlog as last said.
type pacedEmitter struct {
	*recorder
	loader *slowLoader
	said   []int64
}

func (e *pacedEmitter) Emit(ctx context.Context, o message.Out) error {
	e.said = append(e.said, e.loader.said)
	return e.recorder.Emit(ctx, o)
}

// TestPlanWaitsForTheLoader: with PartsAhead 1, the first message of each part k ≥ 1 is emitted
// only once the loader's backlog is at most the messages of part k-1 (its user batch, three work
// items, its Part), and everything emitted before each look at the loader was flushed (stored)
// first; a loader that writes nothing holds the plan back only for the stall bound, after which
// the rest of the run is planned without waiting, and completely.
func TestPlanWaitsForTheLoader(t *testing.T) {
	var users []simnet.UserSpec
	for i := int64(1); i <= 10; i++ {
		users = append(users, simnet.UserSpec{ID: i, Wallet: ptr(fmt.Sprintf("0x%02x", i)), Primary: ptr(int64(1)),
			Secondaries: []int64{2, 3}, Clocks: []int64{1, 1, 1}})
	}
	sc := simnet.Scenario{Nodes: []simnet.NodeSpec{{SPID: 1}, {SPID: 2}, {SPID: 3}}, Users: users}
	net, err := simnet.Build(sc)
	if err != nil {
		t.Fatal(err)
	}
	planWith := func(stuck bool) (*pacedEmitter, *slowLoader, *netmonv1.Manifest) {
		rec := &recorder{}
		loader := &slowLoader{rec: rec, stuck: stuck}
		em := &pacedEmitter{recorder: rec, loader: loader}
		// Five parts of two users: one user batch, three work items and a Part message each.
		m, err := planInto(t, net, planner.Options{UserBatchSize: 2, PartUsers: 2, PartsAhead: 1, Loader: loader,
			WorkBatchSize: 5000, Deadline: time.Hour}, em)
		if err != nil {
			t.Fatal(err)
		}
		return em, loader, m
	}

	em, loader, m := planWith(false)
	if m.GetParts() != 5 || m.GetWorkItems() != 15 {
		t.Fatalf("%d parts, %d work items; want 5, 15", m.GetParts(), m.GetWorkItems())
	}
	started := map[int64]bool{}
	for i, o := range em.outs {
		b, ok := o.Msg.(*netmonv1.UserBatch)
		if !ok || started[b.GetPart()] {
			continue
		}
		started[b.GetPart()] = true
		if b.GetPart() > 0 && em.said[i] > 5 {
			t.Errorf("part %d started with the loader's backlog at %d, want at most 5", b.GetPart(), em.said[i])
		}
	}
	if loader.calls < 5 {
		t.Errorf("the loader was asked %d times; the plan cannot have waited for it", loader.calls)
	}
	for i, n := range loader.unflushedAtCall {
		if n != 0 {
			t.Errorf("look %d at the loader with %d messages not flushed", i, n)
		}
	}

	defer planner.SetPaceStall(200 * time.Millisecond)()
	_, loader, m = planWith(true)
	if m.GetParts() != 5 || m.GetUsers() != 10 || m.GetUserBatches() != 5 {
		t.Errorf("stuck loader: manifest of %d parts, %d users, %d batches; want 5, 10, 5", m.GetParts(), m.GetUsers(), m.GetUserBatches())
	}
	if waited := loader.last.Sub(loader.first); waited < 150*time.Millisecond {
		t.Errorf("stuck loader: waited %v for it, less than the stall bound (200ms)", waited)
	}
	// It waited once, before part 2, and then no more: one stall, not one per part.
	if n := loader.calls; n > 200/20+3 {
		t.Errorf("stuck loader: asked %d times; it should stop waiting after the first stall", n)
	}
}
