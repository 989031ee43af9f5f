package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/store"
	"github.com/audius-netmon/netmon/internal/testenv"
)

// TestDeadlineLoaderBehind: the loader is behind when the deadline cuts a run off. Every node
// answered and every answer is in the stream, stored well before the cut, but none is in the NM
// DB yet (the test holds the writes back with a lock on fetch_results until the deadline has
// passed). The cut counts none of them, the run ends incomplete, and the answers are written
// after it. Replayed from history, the run comes out identical, table by table: replay follows
// the cut the record names, not stream times.
func TestDeadlineLoaderBehind(t *testing.T) {
	slow := simnet.Faults{Latency: &simnet.Latency{Median: simnet.Duration(2 * time.Second)}}
	sc := simnet.Scenario{Seed: 11, UserCount: 60, NodeCount: 4}
	for sp := int64(1); sp <= 4; sp++ {
		sc.Nodes = append(sc.Nodes, simnet.NodeSpec{SPID: sp, Faults: slow})
	}
	s := startStack(t, sc, "NETMON_RUN_DEADLINE=8s", "NETMON_FETCH_TIMEOUT=1m")
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, s.nmDB)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())

	if code, out := runCLI(t, s.env, time.Minute, "run"); code != 0 {
		t.Fatalf("netmon run exited %d:\n%s", code, out)
	}
	// The nodes answer after 2 s; the manifest is written long before. From then on, no answer
	// reaches the NM DB until the deadline has passed.
	var deadline time.Time
	waitFor(t, 30*time.Second, "run 1's manifest in the NM DB", func() bool {
		return conn.QueryRow(ctx, "SELECT deadline FROM runs WHERE run_id = 1 AND manifest_at IS NOT NULL").Scan(&deadline) == nil
	})
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE fetch_results IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	var before int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM fetch_results WHERE run_id = 1").Scan(&before); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(deadline) + 3*time.Second)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "run 1 ended", func() bool {
		status, _ := runRow(t, s.nmDB, 1)
		return status != "planned" && status != "fetching" && status != "loaded"
	})
	if status, reason := runRow(t, s.nmDB, 1); status != "incomplete" || !strings.Contains(reason, "deadline passed with") {
		t.Fatalf("run 1 is %s (%q), want incomplete at its deadline", status, reason)
	}
	if before > 0 {
		t.Logf("%d answers were written before the test held them back", before)
	}
	waitFor(t, 30*time.Second, "every answer of run 1 written", func() bool {
		var n int
		_ = conn.QueryRow(ctx, `SELECT count(*) FROM fetch_results f JOIN runs r USING (run_id)
			WHERE run_id = 1 GROUP BY r.expected_work_items HAVING count(*) = r.expected_work_items`).Scan(&n)
		return n > 0
	})
	var late int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM fetch_results WHERE run_id = 1 AND NOT in_cut").Scan(&late); err != nil {
		t.Fatal(err)
	}
	if late == 0 {
		t.Fatal("no answer was written after the cut: the test did not hold the loader back")
	}
	t.Logf("%d answers stored in the stream before the cut were written after it", late)

	liveDigest := testenv.RunDigest(t, s.nmDB, 1)
	st, err := store.Open(ctx, s.nmDB, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.DeleteRun(ctx, 1); err != nil {
		t.Fatal(err)
	}
	code, out := runCLI(t, s.env, time.Minute, "replay", "1")
	t.Logf("$ netmon replay 1   (exit %d)\n%s", code, out)
	if code != 0 || !strings.Contains(out, "; incomplete: deadline passed with ") {
		t.Fatalf("netmon replay 1 exited %d:\n%s", code, out)
	}
	for table, d := range testenv.RunDigest(t, s.nmDB, 1) {
		if liveDigest[table] != d {
			t.Errorf("replay of the run cut off while its loader was behind: table %s differs", table)
		}
	}
}
