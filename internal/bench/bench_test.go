package bench

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestProcParsing(t *testing.T) {
	status := []byte("Name:\tnetmon-loader\nVmPeak:\t  812340 kB\nVmHWM:\t   45120 kB\nVmRSS:\t   40000 kB\n")
	if got := statusKiB(status, "VmHWM:"); got != 45120 {
		t.Errorf("VmHWM = %d, want 45120", got)
	}
	// The command name may hold spaces and parentheses; utime and stime are fields 14 and 15.
	stat := []byte("4242 (netmon (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 9 0 1234 0 0")
	if got := statCPU(stat); got != 3800*time.Millisecond {
		t.Errorf("cpu = %s, want 3.8s", got)
	}
}

func TestDefaultPlan(t *testing.T) {
	plan := DefaultPlan(PlanOptions{Sizes: []int{10_000, 1_000_000}, Nodes: 50, ScaleUsers: 200_000,
		KnobUsers: 1_000_000, HungUsers: []int{20_000}, ProdSizes: []int{1_000_000}, Latency: 20 * time.Millisecond})
	names := map[string]Spec{}
	for _, s := range plan {
		names[s.Name] = s
		// Everything but the CID and hung-node runs (default settings) measures clock checks
		// only, as the targets are stated.
		if !strings.Contains(s.Name, "cids=") && s.Name[:4] != "hung" && !slices.Contains(s.Env, clockOnly) {
			t.Errorf("%s: CID checks are not off: %v", s.Name, s.Env)
		}
	}
	for _, want := range []string{"size/10k", "size/1M", "cids=sample/1M", "profile/1M", "scaleout/fetchers=4"} {
		if _, ok := names[want]; !ok {
			t.Errorf("plan has no %s", want)
		}
	}
	if a, b := names["hung/20k none"], names["hung/20k 1 of 10"]; a.Nodes != 10 || len(a.Hung) != 0 || len(a.Env) != 0 ||
		b.Nodes != 10 || !slices.Equal(b.Hung, []int64{10}) || len(b.Env) != 0 {
		t.Errorf("hung-node specs (default settings, node 10 hung in the second): %+v, %+v", a, b)
	}
	if s := names["scaleout/fetchers=4"]; s.Fetchers != 4 || !s.FetchersAfterPlan || s.Latency != 20*time.Millisecond {
		t.Errorf("scale-out spec: %+v", s)
	}
	if a, b := names["prod/1M"], names["prod cids=sample/1M"]; a.Nodes != 20 || a.Shape != ShapeProduction ||
		b.Nodes != 20 || b.Shape != ShapeProduction || !slices.Contains(b.Env, "NETMON_CID_CHECKS=sample") {
		t.Errorf("production-shaped specs (20 nodes, clock only and with the CID sample): %+v, %+v", a, b)
	}
	if !names["profile/1M"].Profile || !names["size/1M"].Ceilings {
		t.Error("profile or ceilings missing")
	}
	if got := envInt([]string{"NETMON_WORK_BATCH_SIZE=500"}, "NETMON_WORK_BATCH_SIZE", 5000); got != 500 {
		t.Errorf("envInt = %d", got)
	}
}

// growthRows pairs the sizes of one scenario only (hand-worked: 10× the users in 10× the time is
// exponent 1, in 5.62× the time 0.75).
func TestGrowthRows(t *testing.T) {
	run := func(name string, users int64, secs float64) []*Result {
		return []*Result{{Spec: Spec{Name: name}, Users: users, EndToEnd: time.Duration(secs * float64(time.Second))}}
	}
	got := growthRows([][]*Result{
		run("size/1M", 1_000_000, 10), run("size/10M", 10_000_000, 100),
		run("hung/20k none", 20_000, 4), run("hung/20k 1 of 10", 20_000, 14),
		run("hung/200k none", 200_000, 22.49), run("hung/200k 1 of 10", 200_000, 140),
	})
	want := []string{
		"| size/1M | size/10M | 10.0 | 10.00 | **1.000** |",
		"| hung/20k none | hung/200k none | 10.0 | 5.62 | **0.750** |",
		"| hung/20k 1 of 10 | hung/200k 1 of 10 | 10.0 | 10.00 | **1.000** |",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("growth rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The storage group is issue 12's run: 100 nodes, 10M keys, a 100k sample, unpaced; other
// groups are not asked for.
func TestStoragePlan(t *testing.T) {
	plan := DefaultPlan(PlanOptions{Groups: []string{"storage"}, StorageKeys: 10_000_000, StorageSample: 100_000, StorageNodes: 100})
	if len(plan) != 1 {
		t.Fatalf("plan: %+v, want the storage run only", plan)
	}
	s := plan[0]
	if s.Name != "storage/10M keys, 100k sample" || s.Nodes != 100 || s.StorageKeys != 10_000_000 ||
		!slices.Equal(s.Env, []string{"NETMON_STORAGE_SAMPLE_SIZE=100000", "NETMON_STORAGE_NODE_RATE=0"}) {
		t.Errorf("storage spec: %+v", s)
	}
	// BenchmarkStorage10M's proportions: 3M tracks, 1.5M users, 300k playlists, 60k orphans.
	if sc := storageScenario(s); sc.NodeCount != 100 || sc.Validators != 10 || sc.Tracks != 3_000_000 || sc.Users != 1_500_000 ||
		sc.Playlists != 300_000 || sc.OrphanUploads != 60_000 {
		t.Errorf("storage scenario: %+v", sc)
	}
}
