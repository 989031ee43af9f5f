package report

import (
	"context"
	"slices"
	"testing"

	"github.com/audius-netmon/netmon/internal/store"
)

func node(sp string) map[string]string {
	return map[string]string{"endpoint": "http://cn" + sp, "sp_id": sp}
}

func with(l map[string]string, k, v string) map[string]string {
	m := map[string]string{k: v}
	for a, b := range l {
		m[a] = b
	}
	return m
}

// runSamples is one series of every shape the catalogue has: unlabelled, per node, labelled by
// something else (lag, replicas, stage), per node and more (fetch_items), and timing series.
func runSamples(run float64, lag0, fetchOK2 float64) []store.Sample {
	return []store.Sample{
		{Name: "audius_nm_user_count", Value: 80},
		{Name: "audius_nm_last_run_id", Value: run},
		{Name: "audius_nm_total_job_duration", Value: run * 1.5},
		{Name: "audius_nm_run_duration_seconds", Value: run * 1.7},
		{Name: "audius_nm_last_completion_timestamp_seconds", Value: 1e9 + run},
		{Name: "audius_nm_last_success_timestamp_seconds", Value: 1e9 + run},
		{Name: "audius_nm_stage_duration_seconds", Labels: map[string]string{"stage": "content"}, Value: run},
		{Name: "audius_nm_user_batch_duration", Labels: node("1"), Value: run / 10},
		{Name: "audius_nm_missed_users_count", Labels: node("1"), Value: 0},
		{Name: "audius_nm_missed_users_count", Labels: node("2"), Value: 3},
		{Name: "audius_nm_secondaries_by_clock_lag", Labels: map[string]string{"lag": "0"}, Value: lag0},
		{Name: "audius_nm_secondaries_by_clock_lag", Labels: map[string]string{"lag": "1001+"}, Value: 2},
		{Name: "audius_nm_cids_by_replication_factor", Labels: map[string]string{"replicas": "0"}, Value: 4},
		{Name: "audius_nm_fetch_items", Labels: with(with(node("2"), "kind", "clock"), "outcome", "ok"), Value: fetchOK2},
		{Name: "audius_nm_fetch_items", Labels: with(with(node("2"), "kind", "clock"), "outcome", "timeout"), Value: 1},
		{Name: "audius_nm_fetch_items", Labels: with(with(node("2"), "kind", "cid"), "outcome", "ok"), Value: 5},
	}
}

func TestDiffIdenticalRunsIsEmpty(t *testing.T) {
	runs := [2]store.Run{{ID: 1}, {ID: 2}}
	health := []store.NodeHealth{{SPID: 1, Endpoint: "http://cn1", Items: 1, Outcomes: map[string]int64{"ok": 1}}}
	d := diff(runs, [2][]store.Sample{runSamples(1, 50, 4), runSamples(2, 50, 4)}, [2][]store.NodeHealth{health, health}, false)
	if len(d.Metrics) != 0 || len(d.Nodes) != 0 {
		t.Errorf("two runs of the same network differ: %+v %+v", d.Metrics, d.Nodes)
	}
	// With --all, every timing series shows, and only those.
	d = diff(runs, [2][]store.Sample{runSamples(1, 50, 4), runSamples(2, 50, 4)}, [2][]store.NodeHealth{health, health}, true)
	var names []string
	for _, c := range d.Metrics {
		names = append(names, c.Name+" "+LabelText(c.Labels))
	}
	want := []string{
		"audius_nm_last_completion_timestamp_seconds ", "audius_nm_last_run_id ", "audius_nm_last_success_timestamp_seconds ",
		"audius_nm_run_duration_seconds ", "audius_nm_stage_duration_seconds stage=content", "audius_nm_total_job_duration ",
		"audius_nm_user_batch_duration sp_id=1",
	}
	if len(names) != len(want) {
		t.Fatalf("--all: %q, want %q", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Errorf("--all change %d: %q, want %q", i, names[i], want[i])
		}
	}
}

func TestDiffKeysByEveryLabel(t *testing.T) {
	a, b := runSamples(1, 50, 4), runSamples(2, 47, 3)
	b = append(b, store.Sample{Name: "audius_nm_missed_users_count", Labels: node("3"), Value: 9})
	d := diff([2]store.Run{{ID: 1}, {ID: 2}}, [2][]store.Sample{a, b}, [2][]store.NodeHealth{}, false)
	type row struct {
		series string
		a, b   any
	}
	var got []row
	for _, c := range d.Metrics {
		r := row{c.Name + " " + LabelText(c.Labels), nil, nil}
		if c.A != nil {
			r.a = *c.A
		}
		if c.B != nil {
			r.b = *c.B
		}
		got = append(got, r)
	}
	want := []row{
		{"audius_nm_fetch_items sp_id=2 kind=clock outcome=ok", 4.0, 3.0},
		{"audius_nm_missed_users_count sp_id=3", nil, 9.0},
		{"audius_nm_secondaries_by_clock_lag lag=0", 50.0, 47.0},
	}
	if len(got) != len(want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("change %d: %v, want %v", i, got[i], want[i])
		}
	}
	if d.Metrics[1].Delta != nil {
		t.Errorf("a series only in run B has a delta: %v", *d.Metrics[1].Delta)
	}
}

func TestCompareLabelValues(t *testing.T) {
	for _, c := range []struct {
		name, a, b string
		less       bool
	}{
		{"sp_id", "9", "10", true},
		{"lag", "1001+", "ahead", true},
		{"lag", "2-10", "11-100", true},
		{"replicas", "0", "3", true},
		{"kind", "clock", "cid", true},
		{"outcome", "ok", "timeout", true},
	} {
		if got := CompareLabelValues(c.name, c.a, c.b) < 0; got != c.less {
			t.Errorf("%s: %s < %s = %v, want %v", c.name, c.a, c.b, got, c.less)
		}
	}
}

// TestDiffMatchesNodesBySPID: a node whose endpoint changed is the same node; its series are
// compared, not listed as one that left and one that joined.
func TestDiffMatchesNodesBySPID(t *testing.T) {
	a := []store.Sample{{Name: "audius_nm_missed_users_count", Labels: map[string]string{"endpoint": "http://cn3", "sp_id": "3"}, Value: 0}}
	b := []store.Sample{{Name: "audius_nm_missed_users_count", Labels: map[string]string{"endpoint": "", "sp_id": "3"}, Value: 54}}
	d := diff([2]store.Run{{ID: 1}, {ID: 2}}, [2][]store.Sample{a, b}, [2][]store.NodeHealth{}, false)
	if len(d.Metrics) != 1 || d.Metrics[0].A == nil || d.Metrics[0].B == nil || *d.Metrics[0].Delta != 54 {
		t.Errorf("changes %+v, want one with a delta of 54", d.Metrics)
	}
}

// TestRunLabelledOrder: a run's labelled series come in their buckets' order, not as text.
func TestRunLabelledOrder(t *testing.T) {
	var samples []store.Sample
	for _, b := range []string{"no_answer", "1001+", "0", "101-1000", "2-10"} {
		samples = append(samples, store.Sample{Name: "audius_nm_secondaries_by_clock_lag", Labels: map[string]string{"lag": b}, Value: 1})
	}
	v, err := Run(t.Context(), fakeStore{samples: samples}, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range v.Labelled {
		got = append(got, s.Labels["lag"])
	}
	if want := []string{"0", "2-10", "101-1000", "1001+", "no_answer"}; !slices.Equal(got, want) {
		t.Errorf("lag buckets %v, want %v", got, want)
	}
}

// fakeStore serves one run's samples, for views that need no database.
type fakeStore struct {
	Store
	samples []store.Sample
}

func (f fakeStore) GetRun(context.Context, int64) (store.Run, error) { return store.Run{ID: 1}, nil }
func (f fakeStore) Samples(context.Context, int64) ([]store.Sample, error) {
	return f.samples, nil
}
func (f fakeStore) NodeHealth(context.Context, int64) ([]store.NodeHealth, error) { return nil, nil }
func (f fakeStore) Failures(context.Context, int64) ([]store.Failure, error)      { return nil, nil }
