package bench

import (
	"fmt"
	"slices"
	"time"
)

// PlanOptions choose the measurements of DefaultPlan.
type PlanOptions struct {
	Groups     []string // of Groups; nil means all
	Sizes      []int    // users per size run (10k, 100k, 1M)
	Nodes      int      // content nodes (50)
	ScaleUsers int      // users of the scale-out runs
	KnobUsers  int      // users of the knob runs
	HungUsers  []int    // users of the hung-node runs
	ProdSizes  []int    // users of the production-shaped runs
	Latency    time.Duration
	// StorageKeys, StorageSample, StorageNodes: the storage run's keys in discovery, its sample
	// and its network's nodes (10M, 100k, 100: issue 12).
	StorageKeys, StorageSample, StorageNodes int
}

// Groups of DefaultPlan.
var Groups = []string{"sizes", "alone", "cids", "prod", "profile", "scaleout", "knobs", "hung", "storage"}

// clockOnly turns CID checks off: issue 7's targets are for clock checks only.
const clockOnly = "NETMON_CID_CHECKS=off"

// DefaultPlan is issue 7's measurement plan:
//
//   - sizes: each size with clock checks only (NETMON_CID_CHECKS=off), with ceilings;
//   - alone: the largest size with the stages one after the other (the fetchers start once the
//     plan is queued, the loader once every result is stored), so that each stage's window can
//     be set against its ceiling without the others' work on the same cores;
//   - cids: each size with CID checks as configured by default (NETMON_CID_CHECKS=sample);
//   - prod: each production size on a network shaped like the original's production network
//     (ProdNodes content nodes, simnet.ProductionShares), with clock checks only and with the
//     default CID sample; the report sets each against the original's time (originalSeconds);
//   - profile: the largest size once more with every stage profiled;
//   - scaleout: content nodes answering after Latency, one request per node per fetcher
//     (NETMON_NODE_CONCURRENCY=1) and two work items in flight per fetcher, with 1, 2 and 4
//     fetcher processes started once the plan is queued; then one fetcher with more items in
//     flight (NETMON_FETCH_CONCURRENCY) and a looser per-node limit; and 1, 2 and 4 fetchers
//     with the loader started only once every result is stored (LoaderAfterFetch), so that its
//     Postgres writes do not share this machine's cores with the fetch;
//   - knobs: the knob size with one setting changed at a time (the sizes run is the baseline);
//   - hung: issue 10's hung node, at default settings: each hung size on 10 nodes as is, then with
//     node 10 accepting connections and never answering; the report prints the ratio;
//   - storage: issue 12's storage run: StorageNodes nodes, about StorageKeys keys in discovery, a
//     sample of StorageSample of them, unpaced (NETMON_STORAGE_NODE_RATE=0: the run measures
//     netmon, not the politeness limit, whose cost is arithmetic: sample·R/nodes probes a node at
//     the default 10 a second), no non-holder probes (the default).
func DefaultPlan(o PlanOptions) []Spec {
	want := func(g string) bool { return o.Groups == nil || slices.Contains(o.Groups, g) }
	var plan []Spec
	if want("sizes") {
		for _, u := range o.Sizes {
			plan = append(plan, Spec{Name: "size/" + count(u), Users: u, Nodes: o.Nodes, Ceilings: true, Env: []string{clockOnly}})
		}
	}
	if want("alone") && len(o.Sizes) > 0 {
		u := slices.Max(o.Sizes)
		plan = append(plan, Spec{Name: "alone/" + count(u), Users: u, Nodes: o.Nodes, Ceilings: true,
			FetchersAfterPlan: true, LoaderAfterFetch: true, Env: []string{clockOnly}})
	}
	if want("cids") {
		for _, u := range o.Sizes {
			plan = append(plan, Spec{Name: "cids=sample/" + count(u), Users: u, Nodes: o.Nodes, Env: []string{"NETMON_CID_CHECKS=sample"}})
		}
	}
	if want("prod") {
		for _, u := range o.ProdSizes {
			plan = append(plan,
				Spec{Name: "prod/" + count(u), Users: u, Nodes: ProdNodes, Shape: ShapeProduction, Env: []string{clockOnly}},
				Spec{Name: "prod cids=sample/" + count(u), Users: u, Nodes: ProdNodes, Shape: ShapeProduction,
					Env: []string{"NETMON_CID_CHECKS=sample"}})
		}
	}
	if want("profile") && len(o.Sizes) > 0 {
		u := slices.Max(o.Sizes)
		plan = append(plan, Spec{Name: "profile/" + count(u), Users: u, Nodes: o.Nodes, Profile: true, Env: []string{clockOnly}})
	}
	if want("scaleout") {
		slow := func(name string, fetchers, fetchConc, nodeConc int) Spec {
			return Spec{Name: name, Users: o.ScaleUsers, Nodes: o.Nodes, Latency: o.Latency, Fetchers: fetchers, FetchersAfterPlan: true,
				Env: []string{clockOnly, "NETMON_WORK_BATCH_SIZE=500",
					fmt.Sprintf("NETMON_FETCH_CONCURRENCY=%d", fetchConc), fmt.Sprintf("NETMON_NODE_CONCURRENCY=%d", nodeConc)}}
		}
		for _, f := range []int{1, 2, 4} {
			plan = append(plan, slow(fmt.Sprintf("scaleout/fetchers=%d", f), f, 2, 1))
		}
		for _, f := range []int{1, 2, 4} {
			s := slow(fmt.Sprintf("scaleout/fetchers=%d, loader after", f), f, 2, 1)
			s.LoaderAfterFetch = true
			plan = append(plan, s)
		}
		for _, c := range [][2]int{{8, 1}, {32, 1}, {32, 4}} {
			plan = append(plan, slow(fmt.Sprintf("scaleout/1 fetcher, fetch=%d node=%d", c[0], c[1]), 1, c[0], c[1]))
		}
	}
	if want("knobs") {
		knob := func(name string, env ...string) Spec {
			return Spec{Name: "knob/" + name, Users: o.KnobUsers, Nodes: o.Nodes, Env: append([]string{clockOnly}, env...)}
		}
		plan = append(plan,
			knob("NETMON_WORK_BATCH_SIZE=1000", "NETMON_WORK_BATCH_SIZE=1000"),
			knob("NETMON_USER_BATCH_SIZE=1000", "NETMON_USER_BATCH_SIZE=1000"),
			knob("NETMON_USER_BATCH_SIZE=2500", "NETMON_USER_BATCH_SIZE=2500"),
			knob("NETMON_FETCH_CONCURRENCY=4", "NETMON_FETCH_CONCURRENCY=4"),
		)
		s := knob("loader synchronous_commit=off")
		s.LoaderDBParams = "synchronous_commit=off"
		plan = append(plan, s)
	}
	if want("hung") {
		for _, u := range o.HungUsers {
			plan = append(plan,
				Spec{Name: "hung/" + count(u) + " none", Users: u, Nodes: hungNodes},
				Spec{Name: "hung/" + count(u) + " 1 of 10", Users: u, Nodes: hungNodes, Hung: []int64{hungNodes}})
		}
	}
	if want("storage") && o.StorageKeys > 0 {
		plan = append(plan, Spec{Name: fmt.Sprintf("storage/%s keys, %s sample", count(o.StorageKeys), count(o.StorageSample)),
			Nodes: o.StorageNodes, StorageKeys: o.StorageKeys,
			Env: []string{fmt.Sprintf("NETMON_STORAGE_SAMPLE_SIZE=%d", o.StorageSample), "NETMON_STORAGE_NODE_RATE=0"}})
	}
	return plan
}

// ShapeProduction names the network shaped like the original's production network (Spec.Shape).
const ShapeProduction = "production"

// ProdNodes are the content nodes of the original's production network.
const ProdNodes = 20

// originalSeconds are the original's recorded end-to-end times on its production network (20
// content nodes, the shape of simnet.ProductionShares) on this kind of machine, by users
// (issue 15).
var originalSeconds = map[int]float64{20_000: 23, 100_000: 82, 300_000: 337, 1_000_000: 1149}

// hungNodes is the size of the hung-node runs' network (the last node hangs).
const hungNodes = 10

func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}
