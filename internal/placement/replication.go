package placement

import (
	"maps"
	"slices"
)

// Replication is the replication factor R each node applies to itself (§2.3). Nodes read R from
// their own build, and a roll-out changes it node by node (3 in GO, 4 in GN), so a monitor reads
// each node's R from its health (storage.replicationFactor) rather than assuming one.
type Replication struct {
	// Default is the R of a host that reported none (its health was not read, or said nothing).
	Default int
	// Reported maps a normalised host to the R its health reported. Values ≤ 0 count as not
	// reported: a node always runs with a positive R, so zero means the field was missing.
	Reported map[string]int
}

// Uniform is the replication of a network where every node runs with r.
func Uniform(r int) Replication { return Replication{Default: r} }

// Of is the R host runs with.
func (p Replication) Of(host string) int {
	if r, ok := p.Reported[host]; ok && r > 0 {
		return r
	}
	return p.Default
}

// Max is the largest R any host runs with: how deep into a ranking the holders can reach.
func (p Replication) Max() int {
	m := p.Default
	for _, r := range p.Reported {
		m = max(m, r)
	}
	return m
}

// Consensus is the R most nodes report (on a tie, the larger: it asks more of the network) and
// the hosts that report another, sorted. Reports ≤ 0 are ignored; with none, r is 0.
func Consensus(reported map[string]int) (r int, dissenters []string) {
	count := make(map[int]int)
	for _, v := range reported {
		if v > 0 {
			count[v]++
		}
	}
	for v, c := range count {
		if c > count[r] || (c == count[r] && v > r) {
			r = v
		}
	}
	for _, h := range slices.Sorted(maps.Keys(reported)) {
		if v := reported[h]; v > 0 && v != r {
			dissenters = append(dissenters, h)
		}
	}
	return r, dissenters
}
