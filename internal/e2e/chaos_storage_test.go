//go:build chaos

package e2e

import (
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/audius-netmon/netmon/internal/simnet"
)

// TestCrashStorageStages: a storage run over simnet's storage network (the faulty nodes of
// storageScenario, every node paced at the default 10 probes a second so fetching lasts seconds)
// with two fetchers; once probe results are loaded, one fetcher, the loader and the aggregator are
// killed with SIGKILL and started again. The killed fetcher's items are redelivered, the loader's
// open writes roll back and are written again once, and the run completes with every counting
// series (keys checked, keys by replicas, each node's expected, held, missing, unknown and
// unanswered keys) and the network shares equal to simnet's truth: no probe lost, none counted
// twice.
func TestCrashStorageStages(t *testing.T) {
	s := startStorage(t, "NETMON_STORAGE_BATCH_SIZE=10")
	net, nodes, nmDB, env := s.net, s.nodes, s.nmDB, s.env
	newService(t, "netmon-planner", env)
	fetchers := []*service{newService(t, "netmon-fetcher", env), newService(t, "netmon-fetcher", env)}
	loader := newService(t, "netmon-loader", env)
	aggregator := newService(t, "netmon-aggregator", env)

	type ended struct {
		code int
		out  string
	}
	done := make(chan ended, 1)
	go func() {
		code, out := runCLI(t, env, 4*time.Minute, "run", "--network", "storage", "--wait")
		done <- ended{code, out}
	}()
	loaded := "SELECT count(*) FROM storage_checks WHERE run_id = 1"
	poll(t, time.Minute, 20*time.Millisecond, "the first probe results loaded", func() bool {
		return queryInt(nmDB, loaded) > 0
	})
	rows := queryInt(nmDB, loaded)
	for _, p := range []*service{fetchers[0], loader, aggregator} {
		p.kill9()
	}
	t.Logf("killed a fetcher, the loader and the aggregator with %d probe rows loaded", rows)
	time.Sleep(500 * time.Millisecond)
	for _, p := range []*service{fetchers[0], loader, aggregator} {
		p.run()
	}
	var e ended
	select {
	case e = <-done:
	case <-time.After(5 * time.Minute):
		t.Fatal("netmon run --network storage --wait did not return")
	}
	t.Logf("netmon run --network storage --wait:\n%s", e.out)
	if e.code != 0 {
		t.Fatalf("netmon run --network storage --wait exited %d", e.code)
	}
	if rows == 0 || rows >= queryInt(nmDB, loaded) {
		t.Errorf("the stages were killed with %d of %d probe rows loaded: not mid-run", rows, queryInt(nmDB, loaded))
	}
	if d := queryInt(nmDB, `SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT sp_id, key, non_holder
		FROM storage_checks WHERE run_id = 1) d) FROM storage_checks WHERE run_id = 1`); d != 0 {
		t.Errorf("%d probe rows loaded twice", d)
	}

	waitPushed(t, nmDB, 1, time.Minute)
	got := scrape(t, s.pushgateway, "network-monitoring-storage")
	truth := net.StorageTruth(nodes, simnet.KeyStrings(net.DiscoveryKeys()))
	ids := map[string]string{}
	for k := range got {
		if name, labels := parseKey(k); name == "audius_nm_storage_node_up" {
			ids[labels["endpoint"]] = labels["sp_id"]
		}
	}
	want := map[string]float64{
		"audius_nm_storage_under_replicated_share{}": float64(truth.UnderReplicated) / float64(truth.Keys),
		"audius_nm_storage_lost_share{}":             float64(truth.Lost) / float64(truth.Keys),
		"audius_nm_storage_run_incomplete{}":         0,
	}
	for _, smp := range truth.CountSamples(ids) {
		want[seriesKey(smp.Name, smp.Labels)] = smp.Value
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		v := want[k]
		if g, ok := got[k]; !ok || math.Abs(g-v) > 1e-9*math.Max(1, math.Abs(v)) {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}
