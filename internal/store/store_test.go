package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/store"
	"github.com/audius-netmon/netmon/internal/testenv"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

func openStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	ctx := context.Background()
	url := testenv.Database(t)
	st, err := store.Open(ctx, url, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// Migrating again is a no-op.
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	return st, url
}

// loadRun writes a complete one-node, one-user run and finishes its load.
func loadRun(t *testing.T, st *store.Store, run int64) {
	t.Helper()
	ctx := context.Background()
	sp := int64(1)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.EnsureRun(ctx, run))
	must(st.SaveRun(ctx, &netmonv1.Run{RunId: run, BlockNumber: 10, CreatedAt: timestamppb.Now(), Deadline: timestamppb.New(time.Now().Add(time.Hour))}))
	must(st.SaveContentNodes(ctx, &netmonv1.ContentNodeBatch{RunId: run, Nodes: []*netmonv1.ContentNode{{SpId: sp, Endpoint: "http://cn1"}}}))
	if _, err := st.SaveUserBatch(ctx, &netmonv1.UserBatch{RunId: run, Users: []*netmonv1.User{{UserId: 1, Wallet: "0xAB", PrimarySpId: &sp, Secondary1SpId: &sp, Secondary2SpId: &sp}}}); err != nil {
		t.Fatal(err)
	}
	loaded, err := st.TryFinishLoad(ctx, run)
	must(err)
	if loaded {
		t.Fatal("run loaded before its manifest and results arrived")
	}
	must(st.SaveManifest(ctx, &netmonv1.Manifest{RunId: run, UserBatches: 1, Users: 1, ContentNodes: 1, WorkItems: 1, WalletChecks: 1}))
	if loaded, _ := st.TryFinishLoad(ctx, run); loaded {
		t.Fatal("run loaded before its result arrived")
	}
	if _, err := st.SaveResult(ctx, &netmonv1.FetchResult{RunId: run, SpId: sp, Outcome: netmonv1.Outcome_OUTCOME_OK, Wallets: []string{"0xab"}, Clocks: []int64{7}}); err != nil {
		t.Fatal(err)
	}
	loaded, err = st.TryFinishLoad(ctx, run)
	must(err)
	if !loaded {
		t.Fatal("run not loaded after everything arrived")
	}
}

func TestLoadIsIdempotentAndComputes(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	loadRun(t, st, 1)
	// The same result again writes nothing.
	wrote, err := st.SaveResult(ctx, &netmonv1.FetchResult{RunId: 1, SpId: 1, Outcome: netmonv1.Outcome_OUTCOME_OK, Wallets: []string{"0xab"}, Clocks: []int64{99}})
	if err != nil || wrote {
		t.Fatalf("second SaveResult: wrote=%v err=%v, want no write", wrote, err)
	}
	samples, err := st.Compute(ctx, 1, []int64{1})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range samples {
		got[s.Key()] = s.Value
	}
	// One user, all three slots on node 1 with clock 7 (the mixed-case wallet matched): fully synced.
	for k, v := range map[string]float64{
		`audius_nm_user_count{}`:                                                        1,
		`audius_nm_fully_synced_user_count{}`:                                           1,
		`audius_nm_users_with_all_foundation_node_replica_set{}`:                        1,
		`audius_nm_all_user_count{endpoint="http://cn1",sp_id="1"}`:                     1,
		`audius_nm_missed_users_count{endpoint="http://cn1",sp_id="1"}`:                 0,
		`audius_nm_fully_synced_user_by_replica_count{endpoint="http://cn1",sp_id="1"}`: 1,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestPruneKeepsNewestRuns(t *testing.T) {
	st, url := openStore(t)
	ctx := context.Background()
	for run := int64(1); run <= 5; run++ {
		loadRun(t, st, run)
		if _, err := st.Finish(ctx, run, lifecycle.Finish, "", time.Now(), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	pruned, err := st.Prune(ctx, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pruned) != 3 || pruned[0] != 1 || pruned[2] != 3 {
		t.Fatalf("pruned %v, want [1 2 3]", pruned)
	}
	runs, err := st.ListRuns(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].ID != 5 || runs[1].ID != 4 {
		t.Fatalf("kept %+v, want runs 5 and 4", runs)
	}
	// The kept runs still compute; the pruned ones have no rows left.
	if s, err := st.Compute(ctx, 4, nil); err != nil || len(s) == 0 {
		t.Fatalf("compute kept run: %v (%d samples)", err, len(s))
	}
	if _, err := st.Compute(ctx, 1, nil); !errors.Is(err, store.ErrNoRun) {
		t.Fatalf("compute pruned run 1: %v, want ErrNoRun", err)
	}
	var rows int
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM clock_answers) + (SELECT count(*) FROM user_status) + (SELECT count(*) FROM fetch_results)").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 2*4 { // runs 4 and 5: one user, one clock, one status row, one result each
		t.Fatalf("%d rows left in the run tables, want 8", rows)
	}
}

// TestPruneFailedRunsDoNotCount: failed runs hold no data, so they do not count toward the runs
// kept; one goes once it is older than every kept run. An active run is never pruned.
func TestPruneFailedRunsDoNotCount(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	now := time.Now()
	create := func() int64 {
		t.Helper()
		id, err := st.CreateRun(ctx, store.NewRun{Floor: 1, CreatedAt: now, Deadline: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	// Runs 1 complete, 2 failed, 3 complete, 4 failed, 5 failed, 6 complete, 7 active.
	for _, failed := range []bool{false, true, false, true, true, false} {
		run := create()
		if failed {
			if _, err := st.Move(ctx, run, lifecycle.Fail, "plan: test"); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := st.SaveManifest(ctx, &netmonv1.Manifest{RunId: run}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Move(ctx, run, lifecycle.Load, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Finish(ctx, run, lifecycle.Finish, "", now, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	create()
	// Keep 2 runs with data: 6 and 3 (and the failed 4 and 5 between them, and the active 7).
	victims, err := st.PruneCandidates(ctx, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(victims) != "[1 2]" {
		t.Errorf("prune candidates %v, want [1 2]: run 1 beyond the 2 kept, failed run 2 older than them", victims)
	}
	// With fewer runs with data than the limit, no failed run goes either.
	if victims, _ := st.PruneCandidates(ctx, 5, 0); len(victims) != 0 {
		t.Errorf("keeping 5 of 3 runs with data prunes %v, want none", victims)
	}
}

// TestNodeSource: the run's row records where its content-node list came from, once its list is
// loaded; a list without a source (a run planned before it was recorded) leaves the row's NULLs.
func TestNodeSource(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	for _, tc := range []struct {
		run            int64
		batch          *netmonv1.ContentNodeBatch
		source         string
		block          int64
		registry       string
		recordedSource bool
	}{
		{1, &netmonv1.ContentNodeBatch{Source: "ethereum", SourceBlock: 21000000, Registry: "0xd976d3b4f4e22a238c1a736b6612d22f17b6f64c"},
			"ethereum", 21000000, "0xd976d3b4f4e22a238c1a736b6612d22f17b6f64c", true},
		{2, &netmonv1.ContentNodeBatch{Source: "discovery", SourceBlock: 1000}, "discovery", 1000, "", true},
		{3, &netmonv1.ContentNodeBatch{Source: "static"}, "static", 0, "", true},
		{4, &netmonv1.ContentNodeBatch{}, "", 0, "", false},
	} {
		if err := st.EnsureRun(ctx, tc.run); err != nil {
			t.Fatal(err)
		}
		tc.batch.RunId = tc.run
		tc.batch.Nodes = []*netmonv1.ContentNode{{SpId: 1, Endpoint: "http://cn1"}}
		for range 2 { // a redelivery changes nothing
			if err := st.SaveContentNodes(ctx, tc.batch); err != nil {
				t.Fatal(err)
			}
		}
		r, err := st.GetRun(ctx, tc.run)
		if err != nil {
			t.Fatal(err)
		}
		deref := func(p *string) string {
			if p == nil {
				return ""
			}
			return *p
		}
		var block int64
		if r.NodeSourceBlock != nil {
			block = *r.NodeSourceBlock
		}
		if (r.NodeSource != nil) != tc.recordedSource || deref(r.NodeSource) != tc.source || block != tc.block ||
			deref(r.NodeRegistry) != tc.registry || (tc.block == 0) != (r.NodeSourceBlock == nil) || (tc.registry == "") != (r.NodeRegistry == nil) {
			t.Errorf("run %d: source %v, block %v, registry %v; want %q, %d, %q", tc.run, r.NodeSource, r.NodeSourceBlock, r.NodeRegistry,
				tc.source, tc.block, tc.registry)
		}
	}
}
