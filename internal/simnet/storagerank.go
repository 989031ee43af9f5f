package simnet

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
)

// Simnet's own rendezvous ranking (spec §2.1), written apart from internal/placement so the two
// implementations check each other: hex SHA-256 of host then key, sorted ascending (hex digests
// of equal length compare as the big-endian bytes do), ties by host, as the spec's Python port
// (rank_sha256) does.

// rendezvous returns the indices of hosts in rank order for key.
func rendezvous(hosts []string, key string) []int {
	type scoredHost struct {
		digest string
		host   string
		i      int
	}
	s := make([]scoredHost, len(hosts))
	for i, h := range hosts {
		sum := sha256.Sum256([]byte(h + key))
		s[i] = scoredHost{digest: hex.EncodeToString(sum[:]), host: h, i: i}
	}
	sort.Slice(s, func(a, b int) bool {
		if s[a].digest != s[b].digest {
			return s[a].digest < s[b].digest
		}
		return s[a].host < s[b].host
	})
	out := make([]int, len(s))
	for k := range s {
		out[k] = s[k].i
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
