package config

import (
	"math"
	"strconv"
)

// Storage configures storage runs (docs/storage.md, docs/configuration.md). Storage runs are on
// when their node list is configured: the Ethereum registry (ETH_PROVIDER_URL and
// ETH_REGISTRY_ADDRESS) or a static list.
type Storage struct {
	Schedule    string        // NETMON_STORAGE_SCHEDULE (off): when storage runs start, as NETMON_SCHEDULE
	NodeSource  string        // NETMON_STORAGE_NODES_SOURCE: ethereum or static (ethereum when ETH_* are set, else static)
	StaticNodes []ContentNode // NETMON_STORAGE_NODES: ID=ENDPOINT, used when the source is static
	Keys        string        // NETMON_STORAGE_KEYS (discovery): discovery, uploads or both
	SampleSize  int           // NETMON_STORAGE_SAMPLE_SIZE (10000): keys a run checks; 0: every key
	DefaultR    int           // NETMON_STORAGE_DEFAULT_R (4): R of a node whose health gives none
	BatchSize   int           // NETMON_STORAGE_BATCH_SIZE (100): keys per work item
	NodeRate    int           // NETMON_STORAGE_NODE_RATE (10): probes a second per node per fetcher; 0: unpaced
	// NonHolderProbes is NETMON_STORAGE_NONHOLDER_PROBES (0): nodes that should not hold a key
	// asked about it too, to find extra copies.
	NonHolderProbes int
}

// Enabled reports whether storage runs have a node list.
func (s Storage) Enabled() bool {
	return s.NodeSource == SourceEthereum || len(s.StaticNodes) > 0
}

func (r *reader) storage() Storage {
	def := SourceStatic
	if r.given("ETH_PROVIDER_URL") && r.given("ETH_REGISTRY_ADDRESS") {
		def = SourceEthereum
	}
	s := Storage{
		Schedule:        r.text("NETMON_STORAGE_SCHEDULE", "off"),
		NodeSource:      r.oneOf("NETMON_STORAGE_NODES_SOURCE", def, []string{SourceEthereum, SourceStatic}, ""),
		StaticNodes:     r.contentNodes("NETMON_STORAGE_NODES"),
		Keys:            r.oneOf("NETMON_STORAGE_KEYS", "discovery", []string{"discovery", "uploads", "both"}, ""),
		SampleSize:      r.integer("NETMON_STORAGE_SAMPLE_SIZE", 10000, 0, math.MaxInt),
		DefaultR:        r.integer("NETMON_STORAGE_DEFAULT_R", 4, 1, 100),
		BatchSize:       r.integer("NETMON_STORAGE_BATCH_SIZE", 100, 1, 100000),
		NodeRate:        r.integer("NETMON_STORAGE_NODE_RATE", 10, 0, math.MaxInt),
		NonHolderProbes: r.integer("NETMON_STORAGE_NONHOLDER_PROBES", 0, 0, math.MaxInt),
	}
	if msg := scheduleProblem(s.Schedule); msg != "" {
		r.invalid("NETMON_STORAGE_SCHEDULE", s.Schedule, msg)
		s.Schedule = "off"
	}
	if s.NodeSource == SourceStatic && len(s.StaticNodes) == 0 && s.Schedule != "off" {
		r.problemf("NETMON_STORAGE_SCHEDULE is set but storage runs have no nodes: set NETMON_STORAGE_NODES, or ETH_PROVIDER_URL and ETH_REGISTRY_ADDRESS")
	}
	if s.NodeSource == SourceEthereum && !(r.given("ETH_PROVIDER_URL") && r.given("ETH_REGISTRY_ADDRESS")) {
		r.problemf("NETMON_STORAGE_NODES_SOURCE=ethereum needs ETH_PROVIDER_URL and ETH_REGISTRY_ADDRESS")
	}
	return s
}

func addStorage(m map[string]string, s Storage) {
	m["NETMON_STORAGE_SCHEDULE"] = s.Schedule
	m["NETMON_STORAGE_NODES_SOURCE"] = s.NodeSource
	m["NETMON_STORAGE_NODES"] = joinNodes(s.StaticNodes)
	m["NETMON_STORAGE_KEYS"] = s.Keys
	m["NETMON_STORAGE_SAMPLE_SIZE"] = strconv.Itoa(s.SampleSize)
	m["NETMON_STORAGE_DEFAULT_R"] = strconv.Itoa(s.DefaultR)
	m["NETMON_STORAGE_BATCH_SIZE"] = strconv.Itoa(s.BatchSize)
	m["NETMON_STORAGE_NODE_RATE"] = strconv.Itoa(s.NodeRate)
	m["NETMON_STORAGE_NONHOLDER_PROBES"] = strconv.Itoa(s.NonHolderProbes)
}
