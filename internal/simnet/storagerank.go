package simnet

import (
	"bytes"
	"crypto/sha256"
	"strings"
)

// Simnet's own rendezvous ranking (spec §2.1), written apart from internal/placement so the two
// implementations check each other: SHA-256 of host then key, ascending as big-endian bytes,
// ties by host.

// rendezvous returns the indices of the first k hosts in rank order for key (all of them when
// k ≥ len(hosts)), selected without sorting the rest.
func rendezvous(hosts []string, key string, k int) []int {
	type scoredHost struct {
		sum  [sha256.Size]byte
		host string
		i    int
	}
	less := func(a, b *scoredHost) bool {
		if c := bytes.Compare(a.sum[:], b.sum[:]); c != 0 {
			return c < 0
		}
		return a.host < b.host
	}
	k = min(k, len(hosts))
	top := make([]scoredHost, 0, k+1)
	var buf []byte
	for i, h := range hosts {
		buf = append(append(buf[:0], h...), key...)
		c := scoredHost{sum: sha256.Sum256(buf), host: h, i: i}
		if len(top) == k && (k == 0 || !less(&c, &top[k-1])) {
			continue
		}
		// Insert c in order; drop the last when over k.
		j := len(top)
		top = append(top, c)
		for ; j > 0 && less(&c, &top[j-1]); j-- {
			top[j] = top[j-1]
		}
		top[j] = c
		if len(top) > k {
			top = top[:k]
		}
	}
	out := make([]int, len(top))
	for j := range top {
		out[j] = top[j].i
	}
	return out
}

// normalizeHost is a registered endpoint as nodes rank it: lower case, one trailing "/" removed
// (spec §2.2).
func normalizeHost(endpoint string) string {
	h := strings.ToLower(endpoint)
	if strings.HasSuffix(h, "/") {
		h = h[:len(h)-1]
	}
	return h
}
