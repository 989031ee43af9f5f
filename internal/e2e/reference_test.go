package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/testenv"
)

// stack is a running netmon deployment: four stage processes, their databases, JetStream and a
// Pushgateway, over a simulated network.
type stack struct {
	env         []string
	pushgateway string
	nmDB        string
	natsURL     string
	discovery   string            // the discovery database's URL
	http        map[string]string // stage → its /metrics, /status address
	truth       simnet.Truth
	net         *simnet.Network
	nodes       *simnet.Nodes
}

// startStack seeds a discovery DB from the scenario, starts its fake content nodes, and starts the
// four stages as separate processes.
func startStack(t *testing.T, sc simnet.Scenario, extraEnv ...string) *stack {
	t.Helper()
	return startStackWith(t, sc, nil, extraEnv...)
}

// startStackWith is startStack with a hook that runs once the network is started and discovery
// seeded, before the stages start, and returns more environment for them.
func startStackWith(t *testing.T, sc simnet.Scenario, hook func(*stack, *simnet.Network) []string, extraEnv ...string) *stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	net, err := simnet.Build(sc)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := net.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nodes.Close)
	discovery := testenv.Database(t)
	if err := net.SeedDiscovery(ctx, discovery); err != nil {
		t.Fatal(err)
	}
	s := &stack{
		pushgateway: testenv.Pushgateway(t),
		nmDB:        testenv.Database(t),
		discovery:   discovery,
		truth:       net.Truth(nodes),
		net:         net,
		nodes:       nodes,
		http:        map[string]string{},
	}
	ns := testenv.NATS(t)
	s.natsURL = ns.ClientURL()
	foundation := make([]string, 0)
	for _, f := range net.Foundation() {
		foundation = append(foundation, fmt.Sprint(f))
	}
	s.env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"NETMON_NATS_URL=" + ns.ClientURL(),
		"NETMON_DB_URL=" + s.nmDB,
		"NETMON_DISCOVERY_DB_URL=" + discovery,
		"PUSH_GATEWAY_URL=" + s.pushgateway,
		"FOUNDATION_NODES_SPIDS=" + strings.Join(foundation, ","),
		"DEREGISTERED_CONTENT_NODES=" + strings.Join(nodes.Deregistered(), ","),
		"NETMON_SCHEDULE=off",
		"NETMON_LOG_FORMAT=json",
		"NETMON_FETCH_TIMEOUT=2s",
		"NETMON_RUN_DEADLINE=5m",
		// Parts of a few user batches, so runs of tests that set small batches have several.
		"NETMON_PART_USERS=500",
	}, extraEnv...)
	if hook != nil {
		s.env = append(s.env, hook(s, net)...)
	}
	for _, st := range []string{"planner", "fetcher", "loader", "aggregator"} {
		s.http[st] = testenv.FreeAddr(t)
		startProc(t, "netmon-"+st, append(append([]string{}, s.env...), "NETMON_HTTP_ADDR="+s.http[st]))
	}
	return s
}

// run starts a run with `netmon run --wait` and returns the pushed audius_nm_* series.
func (s *stack) run(t *testing.T) map[string]float64 {
	t.Helper()
	code, out := runCLI(t, s.env, 3*time.Minute, "run", "--wait")
	if code != 0 {
		t.Fatalf("netmon run --wait exited %d:\n%s", code, out)
	}
	t.Logf("netmon run --wait:\n%s", out)
	return scrape(t, s.pushgateway, "network-monitoring")
}

// TestReferenceExample runs the worked example of spec §14 through the four stage processes and
// checks every value the spec lists as the intended result, then that a second run gives the
// same values.
func TestReferenceExample(t *testing.T) {
	s := startStack(t, simnet.Reference())
	got := s.run(t)

	ep := func(sp int64) string { return s.nodes.Endpoint(sp) }
	node := func(name string, sp int64) string {
		return seriesKey(name, map[string]string{"endpoint": ep(sp), "sp_id": fmt.Sprint(sp)})
	}
	// The intended results of spec §14, by hand; independent of simnet and of netmon.
	want := map[string]float64{
		"audius_nm_user_count{}":                                 6,
		"audius_nm_fully_synced_user_count{}":                    2,
		"audius_nm_partially_synced_user_count{}":                2,
		"audius_nm_unsynced_user_count{}":                        1,
		"audius_nm_no_primary_user_count{}":                      1,
		"audius_nm_unhealthy_replica_users_count{}":              1,
		"audius_nm_users_with_all_foundation_node_replica_set{}": 4,
		"audius_nm_users_with_no_foundation_node_replica_set{}":  0,
		node("audius_nm_primary_user_count", 1):                  3,
		node("audius_nm_primary_user_count", 2):                  1,
		node("audius_nm_primary_user_count", 3):                  1,
		node("audius_nm_all_user_count", 1):                      5,
		node("audius_nm_all_user_count", 2):                      5,
		node("audius_nm_all_user_count", 3):                      4,
		node("audius_nm_missed_users_count", 1):                  0,
		node("audius_nm_missed_users_count", 2):                  0,
		node("audius_nm_missed_users_count", 3):                  0,
		node("audius_nm_missed_users_count", 4):                  1,
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: not pushed", k)
		} else if g != v {
			t.Errorf("%s = %v, want %v (spec §14)", k, g, v)
		}
	}
	// Every series simnet's ground truth names, exactly.
	checkTruth(t, got, s.truth)
	if got["audius_nm_last_run_id{}"] != 1 {
		t.Errorf("audius_nm_last_run_id = %v, want 1", got["audius_nm_last_run_id{}"])
	}

	// Redelivering every message of the run changes no row.
	before := digest(t, s.nmDB, 1)
	n := redeliverAll(t, s.natsURL, s.nmDB, 1)
	if n < 4 {
		t.Fatalf("only %d messages in the run's history", n)
	}
	after := digest(t, s.nmDB, 1)
	for table, d := range before {
		if after[table] != d {
			t.Errorf("table %s changed after redelivering %d messages", table, n)
		}
	}

	second := s.run(t)
	if second["audius_nm_last_run_id{}"] != 2 {
		t.Errorf("second run: audius_nm_last_run_id = %v, want 2", second["audius_nm_last_run_id{}"])
	}
	checkTruth(t, second, s.truth)
}

// checkTruth compares every series of the ground truth with the pushed value.
func checkTruth(t *testing.T, got map[string]float64, truth simnet.Truth) {
	t.Helper()
	for _, smp := range truth.Samples() {
		k := seriesKey(smp.Name, smp.Labels)
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: not pushed (truth %v)", k, smp.Value)
			continue
		}
		if g != smp.Value {
			t.Errorf("%s = %v, simnet truth %v", k, g, smp.Value)
		}
	}
}
