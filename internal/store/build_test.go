package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/audius-netmon/netmon/internal/store/storetest"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// The set-based builds (user status, CID status) and the metric families that read what they
// build must not be planned on partitions without statistics: a plan made before autovacuum
// reached a run's fresh partitions once took 12 minutes instead of 2 s. With autovacuum off for
// the run's partitions, only the store can have analysed them; a partition analysed after its
// last row was written has reltuples equal to its row count (never analysed: -1).
func TestBuildsPlanOnAnalysedPartitions(t *testing.T) {
	st, url := openStore(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tables := []string{"users", "user_counts", "cids", "cid_checks", "cid_status"}
	noAutovacuum := func(run int64) {
		t.Helper()
		if err := st.EnsureRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		for _, tb := range tables {
			if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s_r%d SET (autovacuum_enabled = off)", tb, run)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// check: each of the tables a set-based step reads after the load (the CID status build: users,
	// cids, cid_checks; the metric families: user_counts, cid_status) is filled and analysed.
	check := func(run int64, read ...string) {
		t.Helper()
		for _, tb := range read {
			var count int64
			var reltuples float64
			part := fmt.Sprintf("%s_r%d", tb, run)
			if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+part).Scan(&count); err != nil {
				t.Fatal(err)
			}
			if err := conn.QueryRow(ctx, "SELECT reltuples FROM pg_class WHERE relname = $1", part).Scan(&reltuples); err != nil {
				t.Fatal(err)
			}
			if count == 0 {
				t.Errorf("run %d: %s is empty; the fixture should fill it", run, tb)
			}
			if reltuples != float64(count) {
				t.Errorf("%s: reltuples %v, but it holds %d rows: not analysed after it was loaded", part, reltuples, count)
			}
		}
	}

	// Loaded when its last result arrives (TryFinishLoad); clock checks only.
	noAutovacuum(1)
	loadRun(t, st, 1)
	check(1, "user_counts")

	// Loaded at its deadline (ExpireRun), with CIDs.
	noAutovacuum(2)
	storetest.LoadCIDRun(t, st, 2)
	check(2, "users", "user_counts", "cids", "cid_checks", "cid_status")
}

// loaded_at is when the load commits, after the per-user tables are built, not when its
// transaction started: the content stage (created → loaded) must contain the build, or the
// pushed stage durations do not add up to the job. The build is held on a lock until after a
// clock reading T, so loaded_at >= T exactly when it is taken after the build.
func TestLoadedAtAfterBuild(t *testing.T) {
	st, url := openStore(t)
	ctx := context.Background()
	const run = 1
	sp := int64(1)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.EnsureRun(ctx, run))
	must(st.SaveRun(ctx, &netmonv1.Run{RunId: run, CreatedAt: timestamppb.Now(), Deadline: timestamppb.New(time.Now().Add(time.Hour))}))
	must(st.SaveContentNodes(ctx, &netmonv1.ContentNodeBatch{RunId: run, Nodes: []*netmonv1.ContentNode{{SpId: sp, Endpoint: "http://cn1"}}}))
	if _, err := st.SaveUserBatch(ctx, &netmonv1.UserBatch{RunId: run, Users: []*netmonv1.User{{UserId: 1, Wallet: "0xab", PrimarySpId: &sp}}}); err != nil {
		t.Fatal(err)
	}
	must(st.SaveManifest(ctx, &netmonv1.Manifest{RunId: run, UserBatches: 1, Users: 1, ContentNodes: 1, WorkItems: 1, WalletChecks: 1}))
	if _, err := st.SaveResult(ctx, &netmonv1.FetchResult{RunId: run, SpId: sp, Outcome: netmonv1.Outcome_OUTCOME_OK, Wallets: []string{"0xab"}, Clocks: []int64{7}}); err != nil {
		t.Fatal(err)
	}

	locker, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(ctx)
	lock, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, "LOCK TABLE user_status_r1 IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		loaded, err := st.TryFinishLoad(ctx, run)
		if err == nil && !loaded {
			err = fmt.Errorf("not loaded")
		}
		done <- err
	}()
	// Wait until the build waits for the lock (not a timing assumption: polled until it does).
	for waiting := false; !waiting; {
		if err := locker.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
			WHERE c.relname = 'user_status_r1' AND NOT l.granted)`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	var before time.Time
	if err := lock.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&before); err != nil {
		t.Fatal(err)
	}
	must(lock.Rollback(ctx))
	must(<-done)
	r, err := st.GetRun(ctx, run)
	must(err)
	if r.LoadedAt == nil || r.LoadedAt.Before(before) {
		t.Errorf("loaded_at %v is before the build was let go at %v", r.LoadedAt, before)
	}
}
