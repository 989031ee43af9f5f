package report

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/store"
)

// Summary is a run with its key ratios, from its stored series; a ratio is nil when the run has
// no such series (a failed run, a run without CID checks, one still loading, or a run of the other
// network: a clocks run has the users, CID and slot ratios, a storage run the key ratios).
type Summary struct {
	store.Run
	Users *float64 `json:"users"`
	// FullySynced is the share of users fully synced (0..1).
	FullySynced *float64 `json:"fully_synced_share"`
	// MissedSlots are the user slots over all nodes that got no answer.
	MissedSlots *float64 `json:"missed_slots"`
	// UnreplicatedCIDs is the share of checked CIDs held by no node of the owner's replica set.
	UnreplicatedCIDs *float64 `json:"unreplicated_cid_share"`
	// UnderReplicatedKeys is a storage run's share of sampled keys some expected holder did not
	// answer present for; LostKeys the share no expected holder answered present for.
	UnderReplicatedKeys *float64 `json:"under_replicated_key_share"`
	LostKeys            *float64 `json:"lost_key_share"`
	// Seconds from the run's start until its metrics were computed.
	Seconds *float64 `json:"duration_seconds"`
}

// summaryNames are the series a Summary is computed from.
var summaryNames = []string{
	"audius_nm_user_count", "audius_nm_fully_synced_user_count", "audius_nm_missed_users_count",
	"audius_nm_cids_by_replication_factor", "audius_nm_checked_cids", "audius_nm_run_duration_seconds",
	"audius_nm_storage_under_replicated_share", "audius_nm_storage_lost_share", "audius_nm_storage_run_duration_seconds",
}

// Summaries are the newest runs of every network (at most limit), newest first, with their key
// ratios.
func Summaries(ctx context.Context, st Store, limit int) ([]Summary, error) {
	runs, err := st.ListRuns(ctx, "", limit)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	series, err := st.SeriesOf(ctx, ids, summaryNames)
	if err != nil {
		return nil, err
	}
	type acc struct {
		users, fully, missed, zeroReplicas, checked, seconds, underReplicated, lost *float64
	}
	byRun := map[int64]*acc{}
	for _, s := range series {
		a := byRun[s.Run]
		if a == nil {
			a = &acc{}
			byRun[s.Run] = a
		}
		v := s.Value
		switch s.Name {
		case "audius_nm_user_count":
			a.users = &v
		case "audius_nm_fully_synced_user_count":
			a.fully = &v
		case "audius_nm_missed_users_count":
			a.missed = add(a.missed, v)
		case "audius_nm_cids_by_replication_factor":
			if s.Labels["replicas"] == "0" {
				a.zeroReplicas = &v
			}
		case "audius_nm_checked_cids":
			a.checked = &v
		case "audius_nm_run_duration_seconds", "audius_nm_storage_run_duration_seconds":
			a.seconds = &v
		case "audius_nm_storage_under_replicated_share":
			a.underReplicated = &v
		case "audius_nm_storage_lost_share":
			a.lost = &v
		}
	}
	out := make([]Summary, len(runs))
	for i, r := range runs {
		out[i] = Summary{Run: r}
		a := byRun[r.ID]
		if a == nil {
			continue
		}
		out[i].Users, out[i].MissedSlots, out[i].Seconds = a.users, a.missed, a.seconds
		out[i].FullySynced = ratio(a.fully, a.users)
		out[i].UnreplicatedCIDs = ratio(a.zeroReplicas, a.checked)
		out[i].UnderReplicatedKeys, out[i].LostKeys = a.underReplicated, a.lost
	}
	return out, nil
}

func add(p *float64, v float64) *float64 {
	if p != nil {
		v += *p
	}
	return &v
}

// ratio is a/b, nil when either is missing or b is 0.
func ratio(a, b *float64) *float64 {
	if a == nil || b == nil || *b == 0 {
		return nil
	}
	r := *a / *b
	return &r
}

// Trend is a metric's series over the last runs, oldest run first.
type Trend struct {
	Metric  string            `json:"metric"`
	Network lifecycle.Network `json:"network"`
	Runs    []store.Run       `json:"runs"`
	Series  []Series          `json:"series"`
	// Zero counts the series left out because they are 0 in every run.
	Zero int `json:"zero_series_left_out"`
}

// Series is one labelled series of a Trend, matched across runs by every label but endpoint
// (Labels are the newest run's): its value in each of the trend's runs (nil where the run has no
// such series).
type Series struct {
	Labels map[string]string `json:"labels,omitempty"`
	Values []*float64        `json:"values"`
}

// NetworkOfMetric is the network whose runs store the metric (a full name): storage for the audius_nm_storage_
// series, clocks for every other.
func NetworkOfMetric(metric string) lifecycle.Network {
	if strings.HasPrefix(metric, "audius_nm_storage_") {
		return lifecycle.Storage
	}
	return lifecycle.Clocks
}

// metricName resolves a metric given with or without its audius_nm_ prefix among names.
func metricName(metric string, names []string) (string, error) {
	for _, n := range []string{metric, "audius_nm_" + metric} {
		if slices.Contains(names, n) {
			return n, nil
		}
	}
	short := make([]string, len(names))
	for i, n := range names {
		short[i] = ShortName(n)
	}
	return "", fmt.Errorf("%w: no stored metric %q; stored metrics: %s", ErrUsage, metric, strings.Join(short, ", "))
}

// TrendOf is the metric over the newest runs of network n (at most limit), restricted to the
// series of node sp when sp is not empty; n "" is the metric's own network (NetworkOfMetric), and
// a metric of the other network than n is a usage error. Series that are 0 in every run are
// counted in Zero and left out when other series remain.
func TrendOf(ctx context.Context, st Store, n lifecycle.Network, metric, sp string, limit int) (Trend, error) {
	names, err := st.MetricNames(ctx)
	if err != nil {
		return Trend{}, err
	}
	name, err := metricName(metric, names)
	if err != nil {
		return Trend{}, err
	}
	own := NetworkOfMetric(name)
	if n == "" {
		n = own
	}
	if n != own {
		return Trend{}, fmt.Errorf("%w: %s is a metric of %s runs, not of %s runs", ErrUsage, ShortName(name), own, n)
	}
	runs, err := st.ListRuns(ctx, n, limit)
	if err != nil {
		return Trend{}, err
	}
	slices.Reverse(runs)
	t := Trend{Metric: name, Network: n, Runs: runs, Series: []Series{}}
	ids := make([]int64, len(runs))
	col := map[int64]int{}
	for i, r := range runs {
		ids[i] = r.ID
		col[r.ID] = i
	}
	samples, err := st.SeriesOf(ctx, ids, []string{name})
	if err != nil {
		return Trend{}, err
	}
	byKey := map[string]*Series{}
	var keys []string
	for _, s := range samples {
		if sp != "" && s.Labels["sp_id"] != sp {
			continue
		}
		k := identity(s.Sample)
		if byKey[k] == nil {
			byKey[k] = &Series{Values: make([]*float64, len(runs))}
			keys = append(keys, k)
		}
		byKey[k].Labels = s.Labels // samples come by run, oldest first
		v := s.Value
		byKey[k].Values[col[s.Run]] = &v
	}
	if sp != "" && len(keys) == 0 && len(samples) > 0 {
		return Trend{}, fmt.Errorf("%w: %s has no series of sp_id %s in the last %d runs", ErrUsage, ShortName(name), sp, len(runs))
	}
	slices.SortFunc(keys, func(a, b string) int { return compareSeries(byKey[a].Labels, byKey[b].Labels) })
	someNonZero := slices.ContainsFunc(keys, func(k string) bool { return !allZero(byKey[k].Values) })
	for _, k := range keys {
		s := *byKey[k]
		if someNonZero && allZero(s.Values) {
			t.Zero++
			continue
		}
		t.Series = append(t.Series, s)
	}
	return t, nil
}

func allZero(vs []*float64) bool {
	for _, v := range vs {
		if v != nil && *v != 0 {
			return false
		}
	}
	return true
}

// compareSeries orders series by their labels: sp_id as a number first, then the other labels
// in LabelOrder (buckets in their natural order), then as text.
func compareSeries(a, b map[string]string) int {
	if c := CompareLabelValues("sp_id", a["sp_id"], b["sp_id"]); c != 0 {
		return c
	}
	for _, k := range sortedLabelNames(a, b) {
		if c := CompareLabelValues(k, a[k], b[k]); c != 0 {
			return c
		}
	}
	return 0
}

func sortedLabelNames(a, b map[string]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]string{a, b} {
		for k := range m {
			if k != "sp_id" && k != "endpoint" && !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}

// labelOrder are label values that have a natural order other than text: the lag buckets, the
// stages in pipeline order, the work-item kinds and outcomes in their declaration order.
var labelOrder = map[string][]string{
	"lag":   store.LagBuckets,
	"stage": {"discovery", "content", "metrics"},
	"kind":  {"clock", "cid", "image_cid"},
}

// CompareLabelValues orders two values of label name: numbers numerically (sp_id, replicas,
// nodes), known buckets in their order, anything else as text.
func CompareLabelValues(name, a, b string) int {
	if order, ok := labelOrder[name]; ok {
		ia, ib := slices.Index(order, a), slices.Index(order, b)
		if ia >= 0 && ib >= 0 {
			return ia - ib
		}
	}
	if len(a) != len(b) && isDigits(a) && isDigits(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
