package report

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/audius-netmon/netmon/internal/store"
)

// Timing reports whether a series measures time or names the run, and so differs between any
// two runs by nature: durations, timestamps and the run id. A diff leaves them out unless asked.
func Timing(name string) bool {
	return strings.HasSuffix(name, "_duration") || strings.HasSuffix(name, "_duration_seconds") ||
		strings.HasSuffix(name, "_timestamp_seconds") || name == "audius_nm_last_run_id"
}

// MetricChange is one series whose value differs between two runs, matched by name and every
// label but endpoint (a node is its SP id: a node whose endpoint changed is the same node, and
// the node changes say so); A or B is nil where that run has no such series.
type MetricChange struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	A      *float64          `json:"a"`
	B      *float64          `json:"b"`
	Delta  *float64          `json:"delta,omitempty"`
}

// NodeChange is a node whose presence, endpoint or fetch health differs.
type NodeChange struct {
	SPID      int64  `json:"sp_id"`
	Change    string `json:"change"` // joined, left, endpoint, health
	EndpointA string `json:"endpoint_a,omitempty"`
	EndpointB string `json:"endpoint_b,omitempty"`
	HealthA   string `json:"health_a,omitempty"`
	HealthB   string `json:"health_b,omitempty"`
}

// Diff is what changed from run A to run B.
type Diff struct {
	A       store.Run      `json:"a"`
	B       store.Run      `json:"b"`
	Metrics []MetricChange `json:"metrics"`
	Nodes   []NodeChange   `json:"nodes"`
}

// identity is a series' identity across runs: its key without the endpoint label.
func identity(s store.Sample) string {
	if _, ok := s.Labels["endpoint"]; !ok {
		return s.Key()
	}
	l := make(map[string]string, len(s.Labels)-1)
	for k, v := range s.Labels {
		if k != "endpoint" {
			l[k] = v
		}
	}
	return store.Sample{Name: s.Name, Labels: l}.Key()
}

// DiffRuns compares two runs of one network (runs of two networks are a usage error): every stored series, matched by its name and all its labels, and
// every node's presence, endpoint and fetch health. Timing series are left out unless all.
func DiffRuns(ctx context.Context, st Store, a, b int64, all bool) (Diff, error) {
	var runs [2]store.Run
	var samples [2][]store.Sample
	var health [2][]store.NodeHealth
	for i, run := range []int64{a, b} {
		var err error
		if runs[i], err = st.GetRun(ctx, run); err != nil {
			return Diff{}, err
		}
		if i == 1 && runs[1].Network != runs[0].Network {
			return Diff{}, fmt.Errorf("%w: run %d is a %s run and run %d a %s run; their metrics are not comparable (diff two runs of one network)",
				ErrUsage, a, runs[0].Network, b, runs[1].Network)
		}
		if samples[i], err = st.Samples(ctx, run); err != nil {
			return Diff{}, err
		}
		if health[i], err = st.NodeHealth(ctx, run); err != nil {
			return Diff{}, err
		}
	}
	return diff(runs, samples, health, all), nil
}

func diff(runs [2]store.Run, samples [2][]store.Sample, health [2][]store.NodeHealth, all bool) Diff {
	d := Diff{A: runs[0], B: runs[1], Metrics: []MetricChange{}, Nodes: []NodeChange{}}
	vals := [2]map[string]store.Sample{{}, {}}
	var keys []string
	for i := range samples {
		for _, s := range samples[i] {
			k := identity(s)
			if _, seen := vals[0][k]; !seen {
				if _, seen := vals[1][k]; !seen {
					keys = append(keys, k)
				}
			}
			vals[i][k] = s
		}
	}
	for _, k := range keys {
		sa, okA := vals[0][k]
		sb, okB := vals[1][k]
		name, labels := sa.Name, sa.Labels
		if !okA {
			name, labels = sb.Name, sb.Labels
		}
		if (Timing(name) && !all) || (okA && okB && sa.Value == sb.Value) {
			continue
		}
		c := MetricChange{Name: name, Labels: labels}
		if okA {
			c.A = &sa.Value
		}
		if okB {
			c.B = &sb.Value
		}
		if okA && okB {
			delta := sb.Value - sa.Value
			c.Delta = &delta
		}
		d.Metrics = append(d.Metrics, c)
	}
	slices.SortFunc(d.Metrics, func(x, y MetricChange) int {
		if c := strings.Compare(x.Name, y.Name); c != 0 {
			return c
		}
		return compareSeries(x.Labels, y.Labels)
	})

	nodes := [2]map[int64]store.NodeHealth{{}, {}}
	var ids []int64
	for i := range health {
		for _, n := range health[i] {
			if _, ok := nodes[0][n.SPID]; !ok {
				if _, ok := nodes[1][n.SPID]; !ok {
					ids = append(ids, n.SPID)
				}
			}
			nodes[i][n.SPID] = n
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		na, okA := nodes[0][id]
		nb, okB := nodes[1][id]
		c := NodeChange{SPID: id, EndpointA: na.Endpoint, EndpointB: nb.Endpoint}
		if okA {
			c.HealthA = Outcomes(na)
		}
		if okB {
			c.HealthB = Outcomes(nb)
		}
		switch {
		case !okA:
			c.Change = "joined"
		case !okB:
			c.Change = "left"
		case na.Endpoint != nb.Endpoint:
			c.Change = "endpoint"
		case c.HealthA != c.HealthB:
			c.Change = "health"
		default:
			continue
		}
		d.Nodes = append(d.Nodes, c)
	}
	return d
}

// Outcomes formats a node's work items by outcome: "ok 3", "ok 2, timeout 1", "no result".
func Outcomes(h store.NodeHealth) string {
	if h.Items == 0 {
		return "no result"
	}
	keys := make([]string, 0, len(h.Outcomes))
	for k := range h.Outcomes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, o := range keys {
		parts[i] = o + " " + itoa(h.Outcomes[o])
	}
	return strings.Join(parts, ", ")
}
