package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// loadPartialRun writes a one-node run with two users (wallets 0xab and 0xcd) whose manifest
// promises two clock items, and the result of the first (0xab at clock 7).
func loadPartialRun(t *testing.T, st *store.Store, run int64) {
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
	must(st.SaveRun(ctx, &netmonv1.Run{RunId: run, CreatedAt: timestamppb.Now(), Deadline: timestamppb.Now()}))
	must(st.SaveContentNodes(ctx, &netmonv1.ContentNodeBatch{RunId: run, Nodes: []*netmonv1.ContentNode{{SpId: sp, Endpoint: "http://cn1"}}}))
	_, err := st.SaveUserBatch(ctx, &netmonv1.UserBatch{RunId: run, Users: []*netmonv1.User{
		{UserId: 1, Wallet: "0xab", PrimarySpId: &sp, Secondary1SpId: &sp, Secondary2SpId: &sp},
		{UserId: 2, Wallet: "0xcd", PrimarySpId: &sp, Secondary1SpId: &sp, Secondary2SpId: &sp}}})
	must(err)
	must(st.SaveManifest(ctx, &netmonv1.Manifest{RunId: run, UserBatches: 1, Users: 2, ContentNodes: 1, WorkItems: 2, WalletChecks: 2}))
	_, err = st.SaveResult(ctx, &netmonv1.FetchResult{RunId: run, SpId: sp, Batch: 0, Outcome: netmonv1.Outcome_OUTCOME_OK,
		Wallets: []string{"0xab"}, Clocks: []int64{7}})
	must(err)
}

// lateResult is the second clock item of loadPartialRun's run: 0xcd at clock 9.
func lateResult(run int64) *netmonv1.FetchResult {
	return &netmonv1.FetchResult{RunId: run, SpId: 1, Batch: 1, Outcome: netmonv1.Outcome_OUTCOME_OK,
		Wallets: []string{"0xcd"}, Clocks: []int64{9}}
}

func primaryClock(t *testing.T, url string, run, user int64) int64 {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var c int64
	if err := conn.QueryRow(context.Background(), "SELECT primary_clock FROM user_status WHERE run_id = $1 AND user_id = $2",
		run, user).Scan(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCutRecordsWhatItCounted: the cut of an incomplete run records exactly the messages it built
// the per-user table from, even with a result being written as it starts; the metrics' snapshot
// names every message written by then; and a cut that finds everything records nothing.
func TestCutRecordsWhatItCounted(t *testing.T) {
	st, url := openStore(t)
	ctx := context.Background()
	loadPartialRun(t, st, 1)

	// The second result is being written (as SaveResult writes it, uncommitted) when the cut
	// starts; it commits while the cut waits for it. It is in the user table and the recorded cut,
	// or in neither.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"INSERT INTO fetch_results (run_id, sp_id, kind, batch, outcome, wallets) VALUES (1, 1, 'clock', 1, 'ok', 1)",
		"INSERT INTO clocks (run_id, sp_id, batch, wallet, clock) VALUES (1, 1, 1, '0xcd', 9)",
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	type result struct {
		loaded bool
		err    error
	}
	done := make(chan result, 1)
	go func() {
		loaded, err := st.ExpireRun(ctx, 1)
		done <- result{loaded, err}
	}()
	waitBlocked(t, url)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.err != nil || !r.loaded {
		t.Fatalf("ExpireRun: loaded = %v (%v)", r.loaded, r.err)
	}
	cut, err := st.RunCut(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Cut{
		{Kind: "nodes", Batch: 0},
		{Kind: "users", Batch: 0},
		{Result: true, Kind: "clock", SPID: 1, Batch: 0},
	}
	second := store.MessageKey{Result: true, Kind: "clock", SPID: 1, Batch: 1}
	wantClock := int64(-2)
	if len(cut) == len(want)+1 {
		want, wantClock = append(want, second), 9
	}
	if d := cmp.Diff(want, cut); d != "" {
		t.Errorf("cut (-want +got):\n%s", d)
	}
	if c := primaryClock(t, url, 1, 2); c != wantClock {
		t.Errorf("user 2's primary clock is %d, want %d: the user table and the recorded cut disagree", c, wantClock)
	}
	_, seen, err := st.ComputeSeen(ctx, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(append(want[:3:3], second), seen); d != "" {
		t.Errorf("seen by the metrics (-want +got):\n%s", d)
	}

	// A cut that finds everything is a complete load: nothing is marked.
	loadPartialRun(t, st, 2)
	if _, err := st.SaveResult(ctx, lateResult(2)); err != nil {
		t.Fatal(err)
	}
	if loaded, err := st.ExpireRun(ctx, 2); err != nil || !loaded {
		t.Fatalf("ExpireRun of a run with everything: loaded = %v (%v)", loaded, err)
	}
	if cut, err := st.RunCut(ctx, 2); err != nil || len(cut) != 0 {
		t.Errorf("cut of a run that had everything: %v (%v), want none", cut, err)
	}
	if c := primaryClock(t, url, 2, 2); c != 9 {
		t.Errorf("run 2: user 2's primary clock is %d, want 9", c)
	}
}

// waitBlocked waits until some session of the test database waits for a lock.
func waitBlocked(t *testing.T, url string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the cut never waited for the lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
