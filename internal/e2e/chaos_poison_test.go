//go:build chaos

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/audius-netmon/netmon/internal/simnet"
)

// TestChaosPoisonMessage: a work item whose handling kills its fetcher every time (here: its node
// hangs, and the test kills the fetcher with SIGKILL whenever it holds that node's items, as an
// out-of-memory kill would). Each delivery ends unsettled; after MaxDeliver (5) of them the next
// fetcher records the item as a failure with outcome "poison" instead of handling it again, so the
// run completes (it neither loops forever nor waits for its deadline), and the node's slots count
// as not answered, exactly as simnet's truth says of a node that never answers.
func TestChaosPoisonMessage(t *testing.T) {
	const killer = 4
	sc := simnet.Scenario{Seed: 71, UserCount: 300, NodeCount: 6,
		Nodes: []simnet.NodeSpec{{SPID: killer, Faults: simnet.Faults{Hang: true}}}}
	// One work item for the node (no CID items), so every kill is one more delivery of it.
	s := startChaosStack(t, chaosConfig{scenario: sc, env: []string{"NETMON_FETCH_TIMEOUT=5m", "NETMON_CID_CHECKS=off"}})
	f := s.fetchers[0]
	run := s.startRun(t)
	poisoned := func() bool {
		return queryInt(s.nmDB, `SELECT count(*) FROM fetch_results WHERE run_id = $1 AND sp_id = $2`, run, killer) > 0
	}
	kills := 0
	for !poisoned() {
		if kills > 8 {
			t.Fatalf("still no result for node %d after %d kills", killer, kills)
		}
		// Wait until the fetcher holds the killer node's items and nothing else, then kill it.
		deadline := time.Now().Add(time.Minute)
		for !poisoned() {
			if n := f.inFlight(run, "4"); n > 0 && n == f.inFlight(run, "") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: the fetcher never held node %d's items alone", kills+1, killer)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if poisoned() {
			break
		}
		f.kill9()
		kills++
		f.run()
	}
	t.Logf("killed the fetcher %d times holding node %d's items", kills, killer)
	s.checkComplete(t, run, "a work item that kills its fetcher at every delivery (SIGKILL while its node hangs)")
	if kills < 5 {
		t.Errorf("recorded as poison after %d deliveries, want MaxDeliver = 5", kills)
	}
	outcomes := queryInt(s.nmDB, `SELECT count(*) FROM fetch_results WHERE run_id = $1 AND sp_id = $2
		AND outcome = 'poison' AND detail LIKE '%without being settled%'`, run, killer)
	all := queryInt(s.nmDB, `SELECT count(*) FROM fetch_results WHERE run_id = $1 AND sp_id = $2`, run, killer)
	if outcomes == 0 || outcomes != all {
		t.Errorf("node %d: %d of %d results are poison records", killer, outcomes, all)
	}
	got := scrape(t, s.pushgateway, "network-monitoring")
	found := false
	for k, v := range got {
		if strings.HasPrefix(k, "audius_nm_fetch_items{") && strings.Contains(k, `outcome="poison"`) &&
			strings.Contains(k, `sp_id="4"`) && v > 0 {
			found = true
		}
	}
	if !found {
		t.Errorf("no audius_nm_fetch_items{outcome=\"poison\",sp_id=\"4\"} pushed")
	}
}
