//go:build chaos

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// plannerCrash starts a stack, holds the planner mid-plan (a lock on discovery's tracks table,
// which it reads after publishing the run's opening message, content nodes, every user batch and
// every clock work item, and before its CID work items and manifest), checks that the run is
// half published, and kills the planner with SIGKILL. The caller restarts it.
func plannerCrash(t *testing.T, c chaosConfig) (*chaosStack, int64) {
	t.Helper()
	s := startChaosStack(t, c)
	ctx := context.Background()
	lockConn, err := pgx.Connect(ctx, s.discovery)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lockConn.Close(context.Background()) })
	lock, err := lockConn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, "LOCK TABLE tracks IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	run := s.startRun(t)
	poll(t, time.Minute, 20*time.Millisecond, "the planner waiting mid-plan", func() bool {
		return queryInt(s.discovery, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`) > 0
	})
	// Its first messages are being loaded and fetched; the manifest is not there.
	poll(t, time.Minute, 20*time.Millisecond, "results of the half-published run", func() bool {
		return queryInt(s.nmDB, "SELECT count(*) FROM fetch_results WHERE run_id = $1", run) > 0
	})
	s.planner.kill9()
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(s.nmDB, "SELECT count(*) FROM runs WHERE run_id = $1 AND manifest_at IS NULL", run); n != 1 {
		t.Fatalf("run %d has a manifest (or no row): the planner was not killed mid-plan", run)
	}
	t.Logf("killed the planner mid-plan: %d user batches and %d results of run %d loaded, no manifest",
		queryInt(s.nmDB, "SELECT count(*) FROM loaded_batches WHERE run_id = $1 AND kind = 'users'", run),
		queryInt(s.nmDB, "SELECT count(*) FROM fetch_results WHERE run_id = $1", run), run)
	return s, run
}

// TestCrashPlannerMidPublish: the planner is killed with SIGKILL after publishing part of a run
// (user batches and clock work items, already being fetched and loaded; no CID items, no
// manifest). The restarted planner finds the run holding the lease without a manifest, plans it
// again with the same ids (discovery is at the same block), and the run completes exactly: what
// was published twice is dropped as a duplicate, what was missing is added.
func TestCrashPlannerMidPublish(t *testing.T) {
	s, run := plannerCrash(t, chaosConfig{scenario: crashScenario(t, 41), fetchers: 2, env: crashEnv})
	s.planner.run()
	s.checkComplete(t, run, "SIGKILL of the planner mid-publish (manifest and CID items not yet published); restarted, resumed the same run")
	if !strings.Contains(s.planner.output(), "planning it again with the same ids") {
		t.Error("the restarted planner did not say it resumed the run")
	}
}

// TestCrashPlannerDiscoveryMoved: as above, but discovery moves to a new block while the planner
// is down. Planning the run again could mix two snapshots, so the restarted planner ends the
// half-published run as failed (saying why) and starts a new run, which completes exactly.
func TestCrashPlannerDiscoveryMoved(t *testing.T) {
	s, run := plannerCrash(t, chaosConfig{scenario: crashScenario(t, 42), fetchers: 2, env: crashEnv})
	execSQL(t, s.discovery, "UPDATE blocks SET number = number + 1000000 WHERE is_current")
	s.planner.run()
	if status := s.waitRun(t, run, 2*time.Minute); status != "failed" {
		t.Fatalf("run %d ended %s, want failed", run, status)
	}
	if _, reason := runRow(t, s.nmDB, run); !strings.Contains(reason, "discovery moved from block") {
		t.Errorf("run %d failed with %q, want the reason to say discovery moved", run, reason)
	}
	s.checkComplete(t, run+1, "SIGKILL of the planner mid-publish, discovery moved meanwhile; restarted, replaced the run")
}

// TestCrashPlannerRegistryMoved: the content-node list comes from the Ethereum registry at the
// chain head, and the head moves on while the killed planner is down. The restarted planner reads
// the registry again at the block the first plan read (recorded in the run's row before anything
// was published), not at the new head, so the resumed plan publishes the same list and the run
// completes exactly. Every eth_call the fake registry answered was at that one block.
func TestCrashPlannerRegistryMoved(t *testing.T) {
	s, run := plannerCrash(t, chaosConfig{scenario: crashScenario(t, 43), fetchers: 2, env: crashEnv, registry: true})
	first := s.registry.Head()
	s.registry.SetHead(first + 50)
	s.planner.run()
	s.checkComplete(t, run, "SIGKILL of the planner mid-publish with the registry's head moved; restarted, resumed at the first plan's block")
	if !strings.Contains(s.planner.output(), "planning it again with the same ids") {
		t.Error("the restarted planner did not say it resumed the run")
	}
	if st := s.registry.Stats(); fmt.Sprint(st.Blocks) != fmt.Sprintf("[0x%x]", first) {
		t.Errorf("registry read at blocks %v, want only the first plan's block 0x%x", st.Blocks, first)
	}
	if got := queryInt(s.nmDB, "SELECT node_source_block FROM runs WHERE run_id = $1", run); got != first {
		t.Errorf("run %d records its node list at block %d, want %d", run, got, first)
	}
}
