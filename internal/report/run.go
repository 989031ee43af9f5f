// Package report builds the operator's views of the NM DB: a run with its metrics and nodes, the
// runs with their key ratios, the difference between two runs, a metric's trend over the last
// runs, and one user's or one CID's answers with the reasons. It consumes a *store.Store and
// produces plain values (with JSON tags); the `netmon` command prints them as text and JSON and
// the web view (internal/web) serves them as HTML and JSON, so both say the same thing.
package report

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/store"
)

// Views read the NM DB through this subset of *store.Store.
type Store interface {
	GetRun(ctx context.Context, run int64) (store.Run, error)
	ListRuns(ctx context.Context, n lifecycle.Network, limit int) ([]store.Run, error)
	Samples(ctx context.Context, run int64) ([]store.Sample, error)
	NodeHealth(ctx context.Context, run int64) ([]store.NodeHealth, error)
	Failures(ctx context.Context, run int64) ([]store.Failure, error)
	SeriesOf(ctx context.Context, runs []int64, names []string) ([]store.RunSample, error)
	MetricNames(ctx context.Context) ([]string, error)
	FindUserID(ctx context.Context, run int64, wallet string) (int64, int, error)
	UserAnswers(ctx context.Context, run, user int64) (store.UserAnswers, error)
	UserHistory(ctx context.Context, user, run int64, limit int) ([]store.UserRun, error)
	CIDAnswers(ctx context.Context, run int64, cid string) ([]store.CIDRow, error)
	StorageKeyAnswers(ctx context.Context, run int64, key string) ([]store.StorageNodeAnswer, bool, bool, error)
}

// RunView is a run with its network-wide series, its other labelled series and its nodes.
type RunView struct {
	Run store.Run `json:"run"`
	// Metrics are the unlabelled series, sorted by name; Labelled the series labelled by something
	// other than a node (lag, replicas, nodes, stage), by name then label values in their natural
	// order.
	Metrics  []store.Sample `json:"metrics"`
	Labelled []store.Sample `json:"labelled"`
	Nodes    []NodeView     `json:"nodes"`
}

// NodeView is a content node of a run: its fetch health, its failed work items with their error
// text, its per-node metrics by name (series labelled by endpoint and sp_id only), and whether it
// needs attention, with the reasons.
type NodeView struct {
	store.NodeHealth
	Metrics  map[string]float64 `json:"metrics"`
	Failures []store.Failure    `json:"failures"`
	// Problems are why the node is shown red; none for a healthy node.
	Problems []string `json:"problems"`
}

// Run reads a run's view.
func Run(ctx context.Context, st Store, run int64) (RunView, error) {
	r, err := st.GetRun(ctx, run)
	if err != nil {
		return RunView{}, err
	}
	samples, err := st.Samples(ctx, run)
	if err != nil {
		return RunView{}, err
	}
	health, err := st.NodeHealth(ctx, run)
	if err != nil {
		return RunView{}, err
	}
	failures, err := st.Failures(ctx, run)
	if err != nil {
		return RunView{}, err
	}
	v := RunView{Run: r, Metrics: []store.Sample{}, Labelled: []store.Sample{}, Nodes: []NodeView{}}
	byNode := map[string]map[string]float64{}
	for _, s := range samples {
		switch {
		case s.Labels == nil:
			v.Metrics = append(v.Metrics, s)
		case isNodeSeries(s):
			sp := s.Labels["sp_id"]
			if byNode[sp] == nil {
				byNode[sp] = map[string]float64{}
			}
			byNode[sp][s.Name] = s.Value
		case s.Labels["sp_id"] == "":
			v.Labelled = append(v.Labelled, s)
		}
	}
	// Buckets in their order (lag from in sync to no answer, stages in pipeline order).
	slices.SortStableFunc(v.Labelled, func(a, b store.Sample) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return compareSeries(a.Labels, b.Labels)
	})
	for _, h := range health {
		n := NodeView{NodeHealth: h, Metrics: byNode[strconv.FormatInt(h.SPID, 10)], Failures: []store.Failure{}}
		if n.Metrics == nil {
			n.Metrics = map[string]float64{}
		}
		for _, f := range failures {
			if f.SPID == h.SPID {
				n.Failures = append(n.Failures, f)
			}
		}
		n.Problems = problems(n, r)
		v.Nodes = append(v.Nodes, n)
	}
	return v, nil
}

// NodeColumn is a per-node metric a node table shows, with its column title.
type NodeColumn struct{ Name, Title string }

// NodeColumnsOf are the node table's columns for a run of network n: NodeColumns for clocks
// runs, StorageNodeColumns for storage runs.
func NodeColumnsOf(n lifecycle.Network) []NodeColumn {
	if n == lifecycle.Storage {
		return StorageNodeColumns
	}
	return NodeColumns
}

// StorageNodeColumns are the node table's columns for a storage run.
var StorageNodeColumns = []NodeColumn{
	{"audius_nm_storage_node_up", "up"},
	{"audius_nm_storage_node_replication_factor", "R"},
	{"audius_nm_storage_node_keys_expected", "should"},
	{"audius_nm_storage_node_keys_held", "held"},
	{"audius_nm_storage_node_keys_missing", "missing"},
	{"audius_nm_storage_node_keys_unknown", "unknown"},
	{"audius_nm_storage_node_keys_unanswered", "no answer"},
	{"audius_nm_storage_node_held_share", "held share"},
	{"audius_nm_storage_node_extra_copies", "extra"},
}

// NodeColumns are the node table's columns for a clocks run.
var NodeColumns = []NodeColumn{
	{"audius_nm_all_user_count", "users"},
	{"audius_nm_primary_user_count", "primary"},
	{"audius_nm_fully_synced_user_by_replica_count", "fully"},
	{"audius_nm_partially_synced_user_by_replica_count", "partially"},
	{"audius_nm_unsynced_user_by_replica_count", "unsynced"},
	{"audius_nm_missed_users_count", "missed"},
}

// isNodeSeries reports whether a series is a per-node one labelled by endpoint and sp_id only.
func isNodeSeries(s store.Sample) bool {
	_, ok := s.Labels["sp_id"]
	_, ep := s.Labels["endpoint"]
	return ok && ep && len(s.Labels) == 2
}

// problems says why a node needs attention: failed work items by outcome with their error text,
// user slots that got no answer, and, for a run that loaded everything, a node with no result.
func problems(n NodeView, r store.Run) []string {
	var out []string
	for _, f := range n.Failures {
		p := fmt.Sprintf("%d %s item", f.Items, f.Kind)
		if f.Items != 1 {
			p += "s"
		}
		p += " " + f.Outcome
		if f.Detail != "" {
			p += ": " + f.Detail
		}
		out = append(out, p)
	}
	if m := n.Metrics["audius_nm_missed_users_count"]; m > 0 {
		out = append(out, fmt.Sprintf("%s user slots got no answer", strconv.FormatFloat(m, 'f', -1, 64)))
	}
	if n.Items == 0 && r.Status.HasMetrics() && n.Metrics["audius_nm_all_user_count"] > 0 {
		out = append(out, "no work item of this node was loaded")
	}
	return out
}

// LatestWithData is the newest run whose per-user tables were built (loaded, complete or
// incomplete), or the newest run when none was; ErrNoRun without any run.
//
// With a network n it considers that network's runs only ("": any network).
func LatestWithData(ctx context.Context, st Store, n lifecycle.Network) (store.Run, error) {
	runs, err := st.ListRuns(ctx, n, 100)
	if err != nil {
		return store.Run{}, err
	}
	if len(runs) == 0 {
		return store.Run{}, fmt.Errorf("no run yet: %w", store.ErrNoRun)
	}
	for _, r := range runs {
		if hasData(r) {
			return r, nil
		}
	}
	return runs[0], nil
}

// hasData reports whether a run's per-user tables were built.
func hasData(r store.Run) bool {
	return r.LoadedAt != nil && r.Status != lifecycle.Failed
}

// ErrUsage marks a lookup argument that cannot name anything (not a user id, wallet or CID).
var ErrUsage = errors.New("bad argument")

// LabelText formats a series' labels as `sp_id=3 kind=clock`, sp_id first, the others sorted;
// "" for none.
func LabelText(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if k != "endpoint" {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if (keys[i] == "sp_id") != (keys[j] == "sp_id") {
			return keys[i] == "sp_id"
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + labels[k]
	}
	return strings.Join(parts, " ")
}

// ShortName is a metric's name without the audius_nm_ prefix.
func ShortName(name string) string { return strings.TrimPrefix(name, "audius_nm_") }
