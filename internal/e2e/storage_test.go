package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/testenv"
)

// storageScenario is a small storage network with a fault of each kind a storage run must record:
// node 2 down and 7 hung (no answer at all: their R is the default, their probes unanswered),
// 3 with its database down (500 for every probe, unhealthy), 4 a GO node (mediorum format) with
// R 3 that lost 30 % of its keys, 5 with extra copies, a stale repair and a health signature that
// does not match, 6 with a full disk and no signature; 7 and 8 register as validators.
func storageScenario() simnet.StorageScenario {
	return simnet.StorageScenario{Seed: 31, NodeCount: 8, Validators: 2, Tracks: 40, Users: 20, Playlists: 5,
		Nodes: []simnet.StorageNodeSpec{
			{ID: 2, Faults: simnet.StorageFaults{Down: true}},
			{ID: 3, Faults: simnet.StorageFaults{DBDown: true}},
			{ID: 4, R: 3, Format: simnet.FormatMediorum, Faults: simnet.StorageFaults{MissingShare: 0.3}},
			{ID: 5, Faults: simnet.StorageFaults{ExtraShare: 0.2, StaleRepair: true, Signature: simnet.SigMismatch}},
			{ID: 6, Faults: simnet.StorageFaults{DiskFull: true, Signature: simnet.SigUnsigned}},
			{ID: 7, Faults: simnet.StorageFaults{Hang: true}},
		}}
}

// storageSetup is simnet's storage network of storageScenario, started with its fake Ethereum
// registry and a seeded discovery database, and the environment the stages and the netmon command
// need for storage runs over it (every key checked, every non-holder probed) into nmDB and
// pushgateway.
type storageSetup struct {
	net         *simnet.StorageNetwork
	nodes       *simnet.StorageNodes
	nmDB        string
	pushgateway string
	env         []string
}

// startStorage starts the storage network and its dependencies; extra settings are added to env.
func startStorage(t *testing.T, extra ...string) storageSetup {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	net, err := simnet.BuildStorage(storageScenario())
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := net.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nodes.Close)
	reg, err := net.StartRegistry(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	discovery := testenv.Database(t)
	if err := net.SeedDiscovery(ctx, discovery); err != nil {
		t.Fatal(err)
	}
	s := storageSetup{net: net, nodes: nodes, nmDB: testenv.Database(t), pushgateway: testenv.Pushgateway(t)}
	ns := testenv.NATS(t)
	s.env = append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"NETMON_NATS_URL=" + ns.ClientURL(), "NETMON_DB_URL=" + s.nmDB,
		"NETMON_DISCOVERY_DB_URL=" + discovery, "PUSH_GATEWAY_URL=" + s.pushgateway,
		"NETMON_SCHEDULE=off", "NETMON_LOG_FORMAT=json", "NETMON_FETCH_TIMEOUT=2s", "NETMON_RUN_DEADLINE=5m",
		"NETMON_CONTENT_NODES_SOURCE=discovery",
		"ETH_PROVIDER_URL=" + reg.URL, "ETH_REGISTRY_ADDRESS=" + simnet.RegistryAddress,
		"NETMON_STORAGE_SAMPLE_SIZE=0", "NETMON_STORAGE_NONHOLDER_PROBES=1000",
		fmt.Sprintf("NETMON_STORAGE_DEFAULT_R=%d", net.R()),
	}, extra...)
	return s
}

// TestStorageRunMetrics runs a storage run over the simulated storage network through the four
// stage processes (nodes from the fake Ethereum registry, keys from discovery, every key checked,
// every non-holder probed) and checks that every pushed storage series equals simnet's truth; the
// down and hung nodes are recorded and the run still ends, complete.
func TestStorageRunMetrics(t *testing.T) {
	s := startStorage(t, "NETMON_STORAGE_NODE_RATE=0", "NETMON_STORAGE_BATCH_SIZE=25")
	net, nodes, pushgateway, env := s.net, s.nodes, s.pushgateway, s.env
	for _, st := range []string{"planner", "fetcher", "loader", "aggregator"} {
		startProc(t, "netmon-"+st, append(slices.Clone(env), "NETMON_HTTP_ADDR="+testenv.FreeAddr(t)))
	}
	started := time.Now()
	code, out := runCLI(t, env, 3*time.Minute, "run", "--network", "storage", "--wait")
	ended := time.Now()
	t.Logf("netmon run --network storage --wait:\n%s", out)
	if code != 0 {
		t.Fatalf("netmon run --network storage --wait exited %d", code)
	}
	if !regexp.MustCompile(`network\s+storage`).MatchString(out) {
		t.Errorf("the run's summary does not name its network")
	}
	got := scrape(t, pushgateway, "network-monitoring-storage")
	// The Pushgateway may be shared with other runs: look for series of one network in the
	// other's job only.
	for k := range scrape(t, pushgateway, "network-monitoring") {
		if strings.HasPrefix(k, "audius_nm_storage_") {
			t.Errorf("storage series %s in the clocks job", k)
		}
	}
	for k := range got {
		if !strings.HasPrefix(k, "audius_nm_storage_") {
			t.Errorf("series %s in the storage job", k)
		}
	}
	truth := net.StorageTruth(nodes, simnet.KeyStrings(net.DiscoveryKeys()))

	want := map[string]float64{
		"audius_nm_storage_keys_population{}":                 float64(truth.Keys),
		"audius_nm_storage_under_replicated_share{}":          float64(truth.UnderReplicated) / float64(truth.Keys),
		"audius_nm_storage_lost_share{}":                      float64(truth.Lost) / float64(truth.Keys),
		"audius_nm_storage_under_replicated_keys_estimated{}": float64(truth.UnderReplicated),
		"audius_nm_storage_lost_keys_estimated{}":             float64(truth.Lost),
		"audius_nm_storage_under_replicated_share_lower{}":    float64(truth.UnderReplicated) / float64(truth.Keys),
		"audius_nm_storage_lost_share_upper{}":                float64(truth.Lost) / float64(truth.Keys),
		"audius_nm_storage_consensus_replication_factor{}":    float64(truth.ConsensusR),
		"audius_nm_storage_run_incomplete{}":                  0,
	}
	var unresolved int64
	for _, k := range net.DiscoveryKeys() {
		kt, _ := net.KeyTruth(k.Key)
		if len(kt.Unknown)+len(kt.NoAnswer) > 0 {
			unresolved++
		}
	}
	want["audius_nm_storage_keys_unresolved{}"] = float64(unresolved)
	ids := map[string]string{} // host → the run's node id, from the series themselves
	for k := range got {
		if name, labels := parseKey(k); name == "audius_nm_storage_node_up" {
			ids[labels["endpoint"]] = labels["sp_id"]
		}
	}
	for _, smp := range truth.CountSamples(ids) {
		want[seriesKey(smp.Name, smp.Labels)] = smp.Value
	}
	registered := 0
	for _, nt := range truth.Nodes {
		if !nt.Registered {
			continue
		}
		registered++
		id, ok := ids[nt.Host]
		if !ok {
			t.Errorf("node %d (%s): no series", nt.ID, nt.Host)
			continue
		}
		node := func(name string) string { return seriesKey(name, map[string]string{"endpoint": nt.Host, "sp_id": id}) }
		want[node("audius_nm_storage_node_extra_copies")] = float64(nt.ExtraHeld)
		if nt.Held+nt.Missing > 0 {
			share := float64(nt.Held) / float64(nt.Held+nt.Missing)
			want[node("audius_nm_storage_node_held_share")] = share
			want[node("audius_nm_storage_node_held_share_lower")] = share // every key checked: exact
			want[node("audius_nm_storage_node_held_share_upper")] = share
		}
		h := nt.Health
		if !h.Readable {
			want[node("audius_nm_storage_node_up")] = 0
			continue
		}
		want[node("audius_nm_storage_node_up")] = 1
		want[node("audius_nm_storage_node_healthy")] = b2f(h.Healthy)
		want[node("audius_nm_storage_node_wallet_registered")] = b2f(h.Registered)
		want[node("audius_nm_storage_node_replication_factor")] = float64(h.R)
		want[node("audius_nm_storage_node_replication_factor_disagrees")] = b2f(slices.Contains(truth.Dissenters, nt.ID))
		want[node("audius_nm_storage_node_pull_mine_needed")] = float64(h.LastRepair.PullMineNeeded)
		want[node("audius_nm_storage_node_delete_over_replicated_needed")] = float64(h.LastRepair.DeleteOverReplicatedNeeded)
		want[node("audius_nm_storage_node_unreachable_peers")] = float64(len(h.UnreachablePeers))
		want[node("audius_nm_storage_node_storage_used_bytes")] = float64(h.MediorumPathUsed)
		want[node("audius_nm_storage_node_storage_expectation_bytes")] = float64(h.StorageExpectation)
		want[seriesKey("audius_nm_storage_node_signature", map[string]string{"endpoint": nt.Host, "sp_id": id, "state": h.Signature})] = 1
		want[seriesKey("audius_nm_storage_node_version", map[string]string{"endpoint": nt.Host, "sp_id": id, "version": h.Version})] = 1
		for mode, r := range map[string]simnet.RepairTruth{"repair": h.LastRepair, "cleanup": h.LastCleanup} {
			key := seriesKey("audius_nm_storage_node_repair_age_seconds", map[string]string{"endpoint": nt.Host, "sp_id": id, "mode": mode})
			age, ok := got[key]
			if r.FinishedAt.IsZero() {
				if ok {
					t.Errorf("%s = %v, want no series (never finished)", key, age)
				}
				continue
			}
			// The run started between started and ended.
			if lo, hi := started.Sub(r.FinishedAt).Seconds()-1, ended.Sub(r.FinishedAt).Seconds()+1; !ok || age < lo || age > hi {
				t.Errorf("%s = %v (present %v), want within [%v, %v]", key, age, ok, lo, hi)
			}
			aborted := seriesKey("audius_nm_storage_node_repair_aborted", map[string]string{"endpoint": nt.Host, "sp_id": id,
				"mode": mode, "reason": r.AbortedReason})
			want[aborted] = b2f(r.AbortedReason != "")
		}
	}
	if len(ids) != registered {
		t.Errorf("%d nodes have series, the registry lists %d", len(ids), registered)
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok || math.Abs(g-v) > 1e-9*math.Max(1, math.Abs(v)) {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	// Every node series family has one series per registered node.
	for _, name := range []string{"audius_nm_storage_node_keys_expected", "audius_nm_storage_node_up", "audius_nm_storage_node_nonholder_probes"} {
		n := 0
		for k := range got {
			if strings.HasPrefix(k, name+"{") {
				n++
			}
		}
		if n != registered {
			t.Errorf("%s: %d series, want %d", name, n, registered)
		}
	}
	lintPushed(t, pushgateway)
	// The down and hung nodes' failures are recorded as fetch outcomes.
	for _, id := range []int64{2, 7} {
		host := net.Host(id)
		failed := 0.0
		for k, v := range got {
			if name, labels := parseKey(k); name == "audius_nm_storage_fetch_items" && labels["endpoint"] == host && labels["outcome"] != "ok" {
				failed += v
			}
		}
		if failed == 0 {
			t.Errorf("node %d (%s): no failed work item recorded", id, host)
		}
	}
	// netmon cid --network storage says of a key who should hold it and what each said.
	key := net.DiscoveryKeys()[0].Key
	kt, _ := net.KeyTruth(key)
	code, out = runCLI(t, env, time.Minute, "cid", "--network", "storage", key)
	t.Logf("netmon cid --network storage %s:\n%s", key, out)
	if want := fmt.Sprintf("%d of %d expected holders answered present", len(kt.Present), len(kt.Expected)); code != 0 ||
		!strings.Contains(out, want) || strings.Count(out, " yes ") != len(kt.Expected) {
		t.Errorf("netmon cid --network storage %s exited %d, want %q and %d expected holders", key, code, want, len(kt.Expected))
	}
	// runs list shows the run as a storage run with simnet's shares of under-replicated and lost
	// keys (every key checked: exact).
	code, out = runCLI(t, env, time.Minute, "runs", "list")
	t.Logf("netmon runs list:\n%s", out)
	pct := func(k int64) string {
		return regexp.QuoteMeta(fmt.Sprintf("%.1f%%", float64(k)/float64(truth.Keys)*100))
	}
	if row := `(?m)^1\s+storage\s+complete\s+\S+ \S+\s+\S+\s+` + pct(truth.UnderReplicated) + `\s+` + pct(truth.Lost) + `\s+\d+/\d+\s`; code != 0 ||
		!regexp.MustCompile(row).MatchString(out) {
		t.Errorf("netmon runs list exited %d, want a row matching %s", code, row)
	}
	// Replayed from stream history and pushed again, the run gives the same series, in the
	// storage job.
	if code, out := runCLI(t, env, time.Minute, "replay", "--push", "1"); code != 0 {
		t.Fatalf("netmon replay --push 1 exited %d:\n%s", code, out)
	}
	again := scrape(t, pushgateway, "network-monitoring-storage")
	if len(again) != len(got) {
		t.Errorf("replayed: %d series, the live run pushed %d", len(again), len(got))
	}
	for k, v := range got {
		if again[k] != v {
			t.Errorf("replayed: %s = %v, the live run pushed %v", k, again[k], v)
		}
	}
	// Probes never touch /content/ (it would create the replica it looks for).
	for _, id := range net.NodeIDs() {
		if st := nodes.Stats(id); st.Other != 0 {
			t.Errorf("node %d got %d requests other than blob info, health and uploads", id, st.Other)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// parseKey splits a seriesKey back into its name and labels.
func parseKey(k string) (string, map[string]string) {
	name, rest, _ := strings.Cut(k, "{")
	labels := map[string]string{}
	rest = strings.TrimSuffix(rest, "}")
	for rest != "" {
		l, after, _ := strings.Cut(rest, "=")
		v := after[1:]
		end := strings.Index(v, `"`)
		labels[l] = v[:end]
		rest = strings.TrimPrefix(v[end+1:], ",")
	}
	return name, labels
}
