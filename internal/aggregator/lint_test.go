package aggregator

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/audius-netmon/netmon/internal/store"
)

// originalNames are the metrics of spec §7, whose names are kept for compatibility even where the
// Prometheus naming guide would want otherwise.
var originalNames = []string{
	"audius_nm_user_count", "audius_nm_all_user_count", "audius_nm_primary_user_count",
	"audius_nm_fully_synced_user_count", "audius_nm_partially_synced_user_count",
	"audius_nm_unsynced_user_count", "audius_nm_no_primary_user_count",
	"audius_nm_unhealthy_replica_users_count", "audius_nm_users_with_all_foundation_node_replica_set",
	"audius_nm_users_with_no_foundation_node_replica_set", "audius_nm_fully_synced_user_by_primary_count",
	"audius_nm_partially_synced_user_by_primary_count", "audius_nm_unsynced_user_by_primary_count",
	"audius_nm_fully_synced_user_by_replica_count", "audius_nm_partially_synced_user_by_replica_count",
	"audius_nm_unsynced_user_by_replica_count", "audius_nm_missed_users_count",
	"audius_nm_indexing_discovery_duration", "audius_nm_indexing_content_duration",
	"audius_nm_generating_metrics_duration", "audius_nm_total_job_duration", "audius_nm_user_batch_duration",
}

// everySeries is one series of every metric the aggregator pushes: every catalogue entry with
// placeholder label values, and the series it adds itself.
func everySeries() []store.Sample {
	var out []store.Sample
	for _, m := range slices.Concat(store.Catalogue, store.StorageCatalogue) {
		s := store.Sample{Name: m.Name, Value: 1}
		if len(m.Labels) > 0 {
			s.Labels = map[string]string{}
			for _, l := range m.Labels {
				s.Labels[l] = "x"
			}
		}
		out = append(out, s)
	}
	out = append(out, jobSamples(clocksSeries, 1, "complete", 3, 3, 2, 1)...)
	return append(out, jobSamples(storageSeries, 1, "complete", 3, 3, 2, 1)...)
}

// TestPushedMetricsLint lints everything the aggregator pushes with the Prometheus linter
// (testutil.GatherAndLint), with and without the run_id label. New metrics must be clean; the
// original's names may only break the rules the original already broke (a _count suffix on a
// gauge), and are listed here one by one.
func TestPushedMetricsLint(t *testing.T) {
	for _, runID := range []bool{false, true} {
		reg, err := NewPusher("http://127.0.0.1:9091", "network-monitoring", runID, nil).Registry(7, everySeries())
		if err != nil {
			t.Fatal(err)
		}
		problems, err := testutil.GatherAndLint(reg)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			original := slices.Contains(originalNames, p.Metric)
			if original && strings.Contains(p.Text, `"_count" suffix`) {
				t.Logf("allowed (the original's name): %s: %s", p.Metric, p.Text)
				continue
			}
			t.Errorf("lint %s (run_id label %v): %s", p.Metric, runID, p.Text)
		}
		if got, err := testutil.GatherAndCount(reg); err != nil || got != len(everySeries()) {
			t.Errorf("registry holds %d series (%v), want %d", got, err, len(everySeries()))
		}
	}
}

// TestEveryMetricHasHelp: no pushed metric goes without its help text.
func TestEveryMetricHasHelp(t *testing.T) {
	reg, err := NewPusher("http://127.0.0.1:9091", "network-monitoring", false, nil).Registry(7, everySeries())
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetHelp() == "" {
			t.Errorf("%s has no help", mf.GetName())
		}
	}
}
