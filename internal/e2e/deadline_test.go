package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/store"
	"github.com/audius-netmon/netmon/internal/testenv"
)

// envValue is the value of NAME in an environment list (the last one wins, as in exec).
func envValue(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val
		}
	}
	return v
}

// execSQL runs statements on the database at url.
func execSQL(t *testing.T, url string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// runRow is a run's status and reason in the NM DB; both empty while the run has no row yet.
func runRow(t *testing.T, dbURL string, run int64) (status, reason string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, "SELECT status, error FROM runs WHERE run_id = $1", run).Scan(&status, &reason)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", "" // not written yet: the loader writes the run's row from the planner's messages
	case err != nil:
		t.Fatalf("run %d: %v", run, err)
	}
	return status, reason
}

// TestDeadline: a node that hangs far beyond a short run deadline. The run ends incomplete at its
// deadline with its metrics (of what arrived) pushed and flagged, `netmon run --wait` says so and
// exits 1, the lease is released so the next run starts at once and completes, and a run whose
// planning fails ends failed in the runs table.
func TestDeadline(t *testing.T) {
	const hung = 4
	sc := simnet.Scenario{Seed: 5, UserCount: 60, NodeCount: 4,
		Nodes: []simnet.NodeSpec{{SPID: hung, Faults: simnet.Faults{Hang: true}}}}
	s := startStack(t, sc, "NETMON_RUN_DEADLINE=4s", "NETMON_FETCH_TIMEOUT=2m", "NETMON_FETCH_ATTEMPTS=1")
	// The hung request would hold the fetcher's shutdown; closing the nodes lets it return.
	defer s.nodes.Close()

	start := time.Now()
	code, out := runCLI(t, s.env, 2*time.Minute, "run", "--wait")
	t.Logf("netmon run --wait (exit %d, %s):\n%s", code, time.Since(start).Round(time.Millisecond), out)
	if code != 1 {
		t.Fatalf("netmon run --wait exited %d, want 1 (incomplete)", code)
	}
	if !strings.Contains(out, "run 1 ended incomplete: deadline passed with") {
		t.Errorf("output does not say the run ended incomplete at its deadline")
	}
	if took := time.Since(start); took > 40*time.Second {
		t.Errorf("the incomplete run took %s; its deadline is 4s", took)
	}
	status, reason := runRow(t, s.nmDB, 1)
	if status != "incomplete" || !strings.Contains(reason, "deadline passed") {
		t.Errorf("run 1 is %q (%q), want incomplete with the deadline as reason", status, reason)
	}
	got := scrape(t, s.pushgateway, "network-monitoring")
	if got["audius_nm_run_incomplete{}"] != 1 || got["audius_nm_last_run_id{}"] != 1 {
		t.Errorf("pushed run_incomplete = %v, last_run_id = %v; want 1, 1",
			got["audius_nm_run_incomplete{}"], got["audius_nm_last_run_id{}"])
	}
	// The hung node's answers never came: they count as not answered (-2), which is what the
	// simulator's truth says of a node that hangs, so every series is still exact.
	checkTruth(t, got, s.truth)

	// The node is taken out of the network; the next run starts at once and completes.
	execSQL(t, envValue(s.env, "NETMON_DISCOVERY_DB_URL"),
		"UPDATE ursm_content_nodes SET endpoint = '' WHERE cnode_sp_id = 4")
	code, out = runCLI(t, s.env, 2*time.Minute, "run", "--wait")
	if code != 0 {
		t.Fatalf("second run: netmon run --wait exited %d:\n%s", code, out)
	}
	got = scrape(t, s.pushgateway, "network-monitoring")
	if got["audius_nm_run_incomplete{}"] != 0 || got["audius_nm_last_run_id{}"] != 2 {
		t.Errorf("second run: pushed run_incomplete = %v, last_run_id = %v; want 0, 2",
			got["audius_nm_run_incomplete{}"], got["audius_nm_last_run_id{}"])
	}

	// Closing the simulated nodes ends the hung request: its failure reaches run 1 late, after
	// the cut-off. The run's per-user table and metrics do not change; its rows gain the result.
	// Replayed from history, the run comes out identical: rows and metric values.
	s.nodes.Close()
	waitFor(t, 30*time.Second, "the late result of run 1", func() bool {
		var n int
		conn, err := pgx.Connect(t.Context(), s.nmDB)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(t.Context())
		_ = conn.QueryRow(t.Context(), `SELECT count(*) FROM fetch_results f JOIN runs r USING (run_id)
			WHERE run_id = 1 GROUP BY r.expected_work_items HAVING count(*) = r.expected_work_items`).Scan(&n)
		return n > 0
	})
	if status, _ := runRow(t, s.nmDB, 1); status != "incomplete" {
		t.Errorf("after its late result, run 1 is %s", status)
	}
	before := testenv.RunDigest(t, s.nmDB, 1)
	st, err := store.Open(t.Context(), s.nmDB, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.DeleteRun(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	code, out = runCLI(t, s.env, time.Minute, "replay", "1")
	t.Logf("$ netmon replay 1   (exit %d)\n%s", code, out)
	if code != 0 || !strings.Contains(out, "arrived after the deadline: written after the metrics") ||
		!strings.Contains(out, "; incomplete: deadline passed with ") {
		t.Fatalf("netmon replay 1 exited %d:\n%s", code, out)
	}
	for table, d := range testenv.RunDigest(t, s.nmDB, 1) {
		if before[table] != d {
			t.Errorf("replay of the incomplete run: table %s differs", table)
		}
	}

	// Planning fails (discovery has no users table): the run ends failed, in the table too.
	execSQL(t, envValue(s.env, "NETMON_DISCOVERY_DB_URL"), "ALTER TABLE users RENAME TO users_gone")
	code, out = runCLI(t, s.env, 2*time.Minute, "run", "--wait")
	t.Logf("third run (exit %d):\n%s", code, out)
	if code != 1 || !strings.Contains(out, "run 3 ended failed: plan:") {
		t.Errorf("third run: exit %d, want 1 with the planning error", code)
	}
	waitFor(t, 20*time.Second, "run 3 failed in the runs table", func() bool {
		status, _ := runRow(t, s.nmDB, 3)
		return status == "failed"
	})
}

// waitPushed waits until the run's metrics are on the Pushgateway (its push state in the NM DB;
// pushing follows finishing).
func waitPushed(t *testing.T, dbURL string, run int64, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("run %d's metrics pushed", run), func() bool {
		return queryRow(dbURL, "SELECT push_state FROM runs WHERE run_id = $1", run) == "pushed"
	})
}

// queryRow returns the first column of the query's first row as text, or "" when the database
// does not answer or has no such row.
func queryRow(dbURL, sql string, args ...any) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return ""
	}
	defer conn.Close(ctx)
	var v *string
	_ = conn.QueryRow(ctx, sql, args...).Scan(&v)
	if v == nil {
		return ""
	}
	return *v
}

// queryInt runs a one-value query on the database at url; -1 when it fails.
func queryInt(url, sql string, args ...any) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return -1
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		return -1
	}
	return n
}

// pushState is the push state of the run's metrics in the NM DB.
func pushState(dbURL string, run int64) string {
	return queryRow(dbURL, "SELECT push_state FROM runs WHERE run_id = $1", run)
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
