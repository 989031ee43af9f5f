package store_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/storagekeys"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// TestWilsonInterval pins nm_wilson to a hand-worked example: 8 of 10 at z = 1.96.
// p = 0.8, z² = 3.8416, 1 + z²/n = 1.38416; centre (0.8 + 0.19208) / 1.38416 = 0.7167379;
// half-width 1.96 · sqrt(0.016 + 0.009604) / 1.38416 = 0.2265811; so [0.490157, 0.943319]
// (the textbook interval for 8/10 is [0.4902, 0.9433]). 0 of 10: centre = half-width =
// 0.19208 / 1.38416, so [0, 0.38416 / 1.38416 = 0.277540]; 10 of 10 mirrors it.
func TestWilsonInterval(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	for _, c := range []struct {
		k, n, lower, upper float64
	}{
		{8, 10, 0.490157, 0.943319},
		{0, 10, 0, 0.277540},
		{10, 10, 1 - 0.277540, 1},
	} {
		lower, upper, err := st.Wilson(ctx, c.k, c.n)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(lower-c.lower) > 1e-6 || math.Abs(upper-c.upper) > 1e-6 {
			t.Errorf("wilson(%v, %v) = [%.6f, %.6f], want [%.6f, %.6f]", c.k, c.n, lower, upper, c.lower, c.upper)
		}
	}
}

// TestOneActiveRunPerNetwork: a clocks run and a storage run may be active together, two of one
// network may not.
func TestOneActiveRunPerNetwork(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	now := time.Now()
	clocks, err := st.CreateRun(ctx, store.NewRun{Floor: 1, CreatedAt: now, Deadline: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	storage, err := st.CreateRun(ctx, store.NewRun{Floor: 1, CreatedAt: now, Deadline: now.Add(time.Hour), Network: lifecycle.Storage})
	if err != nil {
		t.Fatalf("a storage run beside an active clocks run: %v", err)
	}
	if storage <= clocks {
		t.Fatalf("storage run id %d not above %d: ids are shared by the networks", storage, clocks)
	}
	var active lifecycle.ErrActive
	if _, err := st.CreateRun(ctx, store.NewRun{Floor: 1, CreatedAt: now, Deadline: now.Add(time.Hour), Network: lifecycle.Storage}); !errors.As(err, &active) || active.Run != storage {
		t.Fatalf("second storage run: %v, want refused naming run %d", err, storage)
	}
	for n, want := range map[lifecycle.Network]int64{lifecycle.Clocks: clocks, lifecycle.Storage: storage} {
		r, ok, err := st.ActiveRun(ctx, n)
		if err != nil || !ok || r.ID != want || r.Network != n {
			t.Errorf("ActiveRun(%s) = %d %s %v %v, want %d", n, r.ID, r.Network, ok, err, want)
		}
	}
}

// TestStorageRunMetrics loads a hand-built storage run and checks its metrics against values
// worked out by hand.
//
// Nodes 1, 2, 3. Five sampled keys of a population of 100, with their expected holders:
// k1 [1 2], k2 [2 3], k3 [1 3], k4 [1 2], k5 [3 1]. Answers:
//
//	node 1: k1 present, k3 absent, k4 present (batch 0); k5 timed out (batch 1)
//	node 2: k1 present, k2 absent, k4 500 unknown; non-holder probe k3 absent
//	node 3: k2 present, k3 absent, k5 present; non-holder probe k1 present (an extra copy)
//
// Per node (expected, held, missing, unknown, unanswered, share): 1: 4 2 1 0 1, 2/3;
// 2: 3 1 1 1 0, 1/2; 3: 3 2 1 0 0, 2/3. Keys by holders answering present: k1 2 of 2, k2 1,
// k3 0, k4 1 (node 2 said 500), k5 1 (node 1 gave no answer); k4 and k5 unresolved.
// Under-replicated 4 of 5, lost 1 of 5. Wilson for 1/3 at z = 1.96 (node 1 and 3's share 2/3
// mirrors it): 1 + z²/3 = 2.280533; centre (1/3 + 0.640267) / 2.280533 = 0.426918; half-width
// 1.96 · sqrt(0.074074 + 0.106711) / 2.280533 = 0.365428: [0.061490, 0.792345]. For 1/5:
// 1 + z²/5 = 1.76832; centre (0.2 + 0.38416) / 1.76832 = 0.330347; half-width
// 1.96 · sqrt(0.032 + 0.038416) / 1.76832 = 0.294124: [0.036223, 0.624471]; 4/5 mirrors it.
func TestStorageRunMetrics(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	created := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	run, err := st.CreateRun(ctx, store.NewRun{Floor: 1, CreatedAt: created, Deadline: created.Add(100 * 365 * 24 * time.Hour),
		Network: lifecycle.Storage})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.SaveContentNodes(ctx, &netmonv1.ContentNodeBatch{RunId: run, Source: "static", Nodes: []*netmonv1.ContentNode{
		{SpId: 1, Endpoint: "http://n1", ReplicationFactor: 4},
		{SpId: 2, Endpoint: "http://n2", ReplicationFactor: 3},
		{SpId: 3, Endpoint: "http://n3", ReplicationFactor: 4},
	}}))
	key := func(k string, holders ...int64) *netmonv1.StorageKey {
		return &netmonv1.StorageKey{Key: k, Holders: holders}
	}
	if _, err := st.SaveStorageKeys(ctx, &netmonv1.StorageKeyBatch{RunId: run, Keys: []*netmonv1.StorageKey{
		key("k1", 1, 2), key("k2", 2, 3), key("k3", 1, 3), key("k4", 1, 2), key("k5", 3, 1)}}); err != nil {
		t.Fatal(err)
	}
	must(st.SaveManifest(ctx, &netmonv1.Manifest{RunId: run, ContentNodes: 3, WorkItems: 9, KeyMode: "sample", KeyBatches: 1,
		PopulationKeys: 100, SampledKeys: 5}))
	const (
		P  = netmonv1.BlobState_BLOB_STATE_PRESENT
		A  = netmonv1.BlobState_BLOB_STATE_ABSENT
		U  = netmonv1.BlobState_BLOB_STATE_UNKNOWN
		NA = netmonv1.BlobState_BLOB_STATE_NOT_ANSWERED
	)
	ok, timeout := netmonv1.Outcome_OUTCOME_OK, netmonv1.Outcome_OUTCOME_TIMEOUT
	results := []*netmonv1.StorageResult{
		{SpId: 1, Batch: 0, Outcome: ok, Keys: []string{"k1", "k3", "k4"}, States: []netmonv1.BlobState{P, A, P}},
		{SpId: 1, Batch: 1, Outcome: timeout, Keys: []string{"k5"}, States: []netmonv1.BlobState{NA}, Missing: 1},
		{SpId: 2, Batch: 0, Outcome: ok, Keys: []string{"k1", "k2", "k4"}, States: []netmonv1.BlobState{P, A, U}},
		{SpId: 2, Batch: 1, Outcome: ok, Keys: []string{"k3"}, States: []netmonv1.BlobState{A}, NonHolder: true},
		{SpId: 3, Batch: 0, Outcome: ok, Keys: []string{"k2", "k3", "k5"}, States: []netmonv1.BlobState{P, A, P}},
		{SpId: 3, Batch: 1, Outcome: ok, Keys: []string{"k1"}, States: []netmonv1.BlobState{P}, NonHolder: true},
	}
	for _, r := range results {
		r.RunId = run
		if _, err := st.SaveStorageResult(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// Delivered again: nothing is written twice.
	if wrote, err := st.SaveStorageResult(ctx, results[0]); err != nil || wrote {
		t.Fatalf("second SaveStorageResult: wrote=%v err=%v", wrote, err)
	}
	health := []*netmonv1.HealthResult{
		{SpId: 1, Outcome: ok, Format: "aggregated", Healthy: true, Version: "1.2.12", ReplicationFactor: 4, Signature: "valid",
			WalletRegistered: true, UnreachablePeers: 1, StorageUsed: 1000, StorageExpectation: 2000,
			LastRepair:  &netmonv1.RepairState{FinishedAt: timestamppb.New(created.Add(-time.Hour)), PullMineNeeded: 7, DeleteOverReplicatedNeeded: 2},
			LastCleanup: &netmonv1.RepairState{FinishedAt: timestamppb.New(created.Add(-3 * time.Hour)), AbortedReason: "DISK_FULL"}},
		{SpId: 2, Outcome: ok, Format: "mediorum", Healthy: false, Version: "1.0.0", ReplicationFactor: 3, Signature: "unsigned",
			LastRepair: &netmonv1.RepairState{FinishedAt: timestamppb.New(time.Time{})}},
		{SpId: 3, Outcome: timeout, Detail: "timed out"},
	}
	for _, h := range health {
		h.RunId = run
		if _, err := st.SaveHealthResult(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	loaded, err := st.TryFinishLoad(ctx, run)
	if err != nil || !loaded {
		t.Fatalf("run not loaded after everything arrived: %v %v", loaded, err)
	}
	samples, err := st.Compute(ctx, run, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range samples {
		got[s.Key()] = s.Value
	}
	node := func(name string, sp string) string {
		return name + `{endpoint="http://n` + sp + `",sp_id="` + sp + `"}`
	}
	const lo, hi = 0.061490, 0.792345
	const lo5, hi5 = 0.036223, 0.624471
	want := map[string]float64{
		node("audius_nm_storage_node_keys_expected", "1"):                                                         4,
		node("audius_nm_storage_node_keys_held", "1"):                                                             2,
		node("audius_nm_storage_node_keys_missing", "1"):                                                          1,
		node("audius_nm_storage_node_keys_unknown", "1"):                                                          0,
		node("audius_nm_storage_node_keys_unanswered", "1"):                                                       1,
		node("audius_nm_storage_node_held_share", "1"):                                                            2.0 / 3,
		node("audius_nm_storage_node_held_share_lower", "1"):                                                      1 - hi,
		node("audius_nm_storage_node_held_share_upper", "1"):                                                      1 - lo,
		node("audius_nm_storage_node_keys_expected", "2"):                                                         3,
		node("audius_nm_storage_node_keys_held", "2"):                                                             1,
		node("audius_nm_storage_node_keys_missing", "2"):                                                          1,
		node("audius_nm_storage_node_keys_unknown", "2"):                                                          1,
		node("audius_nm_storage_node_held_share", "2"):                                                            0.5,
		node("audius_nm_storage_node_nonholder_probes", "2"):                                                      1,
		node("audius_nm_storage_node_extra_copies", "2"):                                                          0,
		node("audius_nm_storage_node_keys_expected", "3"):                                                         3,
		node("audius_nm_storage_node_keys_held", "3"):                                                             2,
		node("audius_nm_storage_node_nonholder_probes", "3"):                                                      1,
		node("audius_nm_storage_node_extra_copies", "3"):                                                          1,
		`audius_nm_storage_keys_sampled{}`:                                                                        5,
		`audius_nm_storage_keys_population{}`:                                                                     100,
		`audius_nm_storage_keys_unresolved{}`:                                                                     2,
		`audius_nm_storage_keys_by_replicas{replicas="0"}`:                                                        1,
		`audius_nm_storage_keys_by_replicas{replicas="1"}`:                                                        3,
		`audius_nm_storage_keys_by_replicas{replicas="2"}`:                                                        1,
		`audius_nm_storage_under_replicated_share{}`:                                                              0.8,
		`audius_nm_storage_under_replicated_share_lower{}`:                                                        1 - hi5,
		`audius_nm_storage_under_replicated_share_upper{}`:                                                        1 - lo5,
		`audius_nm_storage_lost_share{}`:                                                                          0.2,
		`audius_nm_storage_lost_share_lower{}`:                                                                    lo5,
		`audius_nm_storage_lost_share_upper{}`:                                                                    hi5,
		`audius_nm_storage_lost_keys_estimated{}`:                                                                 20,
		`audius_nm_storage_lost_keys_estimated_upper{}`:                                                           100 * hi5,
		`audius_nm_storage_under_replicated_keys_estimated{}`:                                                     80,
		node("audius_nm_storage_node_up", "1"):                                                                    1,
		node("audius_nm_storage_node_up", "2"):                                                                    1,
		node("audius_nm_storage_node_up", "3"):                                                                    0,
		node("audius_nm_storage_node_healthy", "1"):                                                               1,
		node("audius_nm_storage_node_healthy", "2"):                                                               0,
		node("audius_nm_storage_node_replication_factor", "1"):                                                    4,
		node("audius_nm_storage_node_replication_factor", "2"):                                                    3,
		node("audius_nm_storage_node_planned_replication_factor", "2"):                                            3,
		node("audius_nm_storage_node_replication_factor_disagrees", "1"):                                          0,
		node("audius_nm_storage_node_replication_factor_disagrees", "2"):                                          1,
		`audius_nm_storage_consensus_replication_factor{}`:                                                        4,
		node("audius_nm_storage_node_pull_mine_needed", "1"):                                                      7,
		node("audius_nm_storage_node_delete_over_replicated_needed", "1"):                                         2,
		node("audius_nm_storage_node_unreachable_peers", "1"):                                                     1,
		node("audius_nm_storage_node_storage_used_bytes", "1"):                                                    1000,
		node("audius_nm_storage_node_storage_expectation_bytes", "1"):                                             2000,
		`audius_nm_storage_node_signature{endpoint="http://n1",sp_id="1",state="valid"}`:                          1,
		`audius_nm_storage_node_signature{endpoint="http://n2",sp_id="2",state="unsigned"}`:                       1,
		`audius_nm_storage_node_version{endpoint="http://n1",sp_id="1",version="1.2.12"}`:                         1,
		`audius_nm_storage_node_repair_age_seconds{endpoint="http://n1",mode="repair",sp_id="1"}`:                 3600,
		`audius_nm_storage_node_repair_age_seconds{endpoint="http://n1",mode="cleanup",sp_id="1"}`:                3 * 3600,
		`audius_nm_storage_node_repair_aborted{endpoint="http://n1",mode="repair",reason="",sp_id="1"}`:           0,
		`audius_nm_storage_node_repair_aborted{endpoint="http://n1",mode="cleanup",reason="DISK_FULL",sp_id="1"}`: 1,
		`audius_nm_storage_fetch_items{endpoint="http://n1",kind="storage",outcome="timeout",sp_id="1"}`:          1,
		`audius_nm_storage_fetch_items{endpoint="http://n3",kind="health",outcome="timeout",sp_id="3"}`:           1,
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok || math.Abs(g-v) > 1e-5*math.Max(1, math.Abs(v)) {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	// No series where there is nothing to say: node 3 gave no health, node 2 never finished a repair.
	for _, k := range []string{node("audius_nm_storage_node_healthy", "3"), node("audius_nm_storage_node_replication_factor", "3"),
		`audius_nm_storage_node_repair_age_seconds{endpoint="http://n2",mode="repair",sp_id="2"}`} {
		if _, ok := got[k]; ok {
			t.Errorf("%s present, want no series", k)
		}
	}
	// No legacy series in a storage run.
	if _, ok := got[`audius_nm_user_count{}`]; ok {
		t.Error("a storage run has the clocks run's audius_nm_user_count")
	}
}

// TestWilsonCoverage: over 200 seeded uniform samples (storagekeys.Sample, as storage runs draw
// them) of 200 keys from a population of 5000 of which 4% are lost (200 keys, fixed), the 95%
// Wilson interval the storage metrics publish (nm_wilson) holds the population's share in at
// least 95% of the samples, and the samples' shares average to the population's within 0.5
// points: an estimator biased towards more or fewer lost keys, or an interval too narrow, fails.
func TestWilsonCoverage(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	const population, lost, size, seeds = 5000, 200, 200, 200
	truth := float64(lost) / population
	covered, sum := 0, 0.0
	for seed := int64(1); seed <= seeds; seed++ {
		s := storagekeys.NewSample(size, seed)
		for i := range population {
			s.Add(storagekeys.Key{Key: fmt.Sprintf("key-%05d", i)})
		}
		k := 0
		for _, key := range s.Keys() {
			var i int
			fmt.Sscanf(key.Key, "key-%05d", &i)
			if i < lost {
				k++
			}
		}
		lower, upper, err := st.Wilson(ctx, float64(k), size)
		if err != nil {
			t.Fatal(err)
		}
		if lower <= truth && truth <= upper {
			covered++
		}
		sum += float64(k) / size
	}
	if covered < seeds*95/100 {
		t.Errorf("the 95%% interval held the population's share %v in %d of %d samples", truth, covered, seeds)
	}
	if mean := sum / seeds; math.Abs(mean-truth) > 0.005 {
		t.Errorf("the samples' lost shares average %v, the population's is %v", mean, truth)
	}
	t.Logf("covered in %d of %d samples; mean share %.4f (population %.4f)", covered, seeds, sum/seeds, truth)
}
