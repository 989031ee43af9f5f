package placement

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"strings"
)

// Ring is a candidate host set: what every node of the network ranks a key over. Its hosts are
// normalised and distinct. It is immutable and safe for concurrent use.
type Ring struct {
	hosts []string
	// longest is the length of the longest host, to size the hashing buffer once per key.
	longest int
}

// NewRing builds the ring of the candidates of endpoints (see Candidates) and says what it left
// out.
func NewRing(endpoints []string) (*Ring, []Drop) {
	hosts, dropped := Candidates(endpoints)
	r := &Ring{hosts: hosts}
	for _, h := range hosts {
		r.longest = max(r.longest, len(h))
	}
	return r, dropped
}

// Hosts are the candidates in input order (a copy).
func (r *Ring) Hosts() []string { return slices.Clone(r.hosts) }

// Len is the number of candidates.
func (r *Ring) Len() int { return len(r.hosts) }

// Score is a host's rendezvous score for key: SHA-256 of the host's bytes followed by the key's
// bytes, no separator (§2.1). The key is used exactly as stored: case-sensitive, unnormalised.
func Score(host, key string) [32]byte {
	buf := make([]byte, 0, len(host)+len(key))
	return sha256.Sum256(append(append(buf, host...), key...))
}

// scored is a host and its score for one key.
type scored struct {
	sum  [32]byte
	host string
}

// before is the ranking order: smaller score first (big-endian bytes), ties by host ascending.
func before(a, b *scored) bool {
	if c := bytes.Compare(a.sum[:], b.sum[:]); c != 0 {
		return c < 0
	}
	return a.host < b.host
}

// scorer hashes host‖key for one key with a single buffer.
type scorer struct {
	buf []byte
	key string
}

func (r *Ring) scorer(key string) scorer {
	return scorer{buf: make([]byte, 0, r.longest+len(key)), key: key}
}

func (s *scorer) score(host string) scored {
	s.buf = append(append(s.buf[:0], host...), s.key...)
	return scored{sum: sha256.Sum256(s.buf), host: host}
}

// Rank is the key's full ranking: every candidate, rank 0 first.
func (r *Ring) Rank(key string) []string {
	s := r.scorer(key)
	all := make([]scored, len(r.hosts))
	for i, h := range r.hosts {
		all[i] = s.score(h)
	}
	slices.SortFunc(all, func(a, b scored) int {
		if before(&a, &b) {
			return -1
		}
		return 1 // hosts are distinct, so two entries never compare equal
	})
	out := make([]string, len(all))
	for i := range all {
		out[i] = all[i].host
	}
	return out
}

// Top is the first n hosts of the key's ranking (all of them when n ≥ Len), in rank order: the
// holders of a key under a uniform replication factor n. It costs one hash per candidate and no
// sort, so it is the call to use per sampled key.
func (r *Ring) Top(key string, n int) []string {
	n = min(max(n, 0), len(r.hosts))
	if n == 0 {
		return nil
	}
	s := r.scorer(key)
	best := make([]scored, 0, n)
	for _, h := range r.hosts {
		c := s.score(h)
		if len(best) == n && !before(&c, &best[n-1]) {
			continue
		}
		// Insert c in order, dropping the last when full.
		i := len(best)
		if i < n {
			best = append(best, c)
		} else {
			i = n - 1
		}
		for ; i > 0 && before(&c, &best[i-1]); i-- {
			best[i] = best[i-1]
		}
		best[i] = c
	}
	out := make([]string, n)
	for i := range best {
		out[i] = best[i].host
	}
	return out
}

// Position is host's 0-based rank for key, or -1 when host is not a candidate. host is compared
// as given (normalise it first). It costs one hash per candidate.
func (r *Ring) Position(key, host string) int {
	if !slices.Contains(r.hosts, host) {
		return -1
	}
	s := r.scorer(key)
	self := s.score(host)
	pos := 0
	for _, h := range r.hosts {
		if h == host {
			continue
		}
		if c := s.score(h); before(&c, &self) {
			pos++
		}
	}
	return pos
}

// Holders are the nodes expected to hold key, in the order their copies are preferred:
//   - with placement hosts (an upload's placement_hosts, see ParsePlacementHosts), exactly those
//     hosts, whatever the ranking and the replication factors: R is their number (§2.3). Pass nil
//     for a preview CID, which always follows the ranking.
//   - otherwise each host of the key's ranking whose rank is below its own replication factor:
//     a node decides isMine = rank < R with the R it runs with, so during a roll-out of a new R
//     a key can have more or fewer than any single R holders (§2.3, §6.3).
func (r *Ring) Holders(key string, placementHosts []string, rep Replication) []string {
	if len(placementHosts) > 0 {
		return slices.Clone(placementHosts)
	}
	top := r.Top(key, rep.Max())
	holders := top[:0]
	for i, h := range top {
		if i < rep.Of(h) {
			holders = append(holders, h)
		}
	}
	return holders
}

// String lists the candidates, for logs and test failures.
func (r *Ring) String() string { return "placement.Ring[" + strings.Join(r.hosts, " ") + "]" }
