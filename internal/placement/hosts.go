// Package placement says which storage nodes of the Audius storage-v2 network should hold a blob
// (spec audius-storage-v2.md §2). It consumes the registered content-node and validator endpoints,
// a blob key, and the replication factor each node reports, and produces the candidate host set
// (§2.2), the key's full sha256 rendezvous ranking (§2.1) and its expected holders (§2.3,
// placement_hosts included). It does no I/O and holds no state beyond an immutable host list, so
// every value is safe for concurrent use.
package placement

import (
	"net/url"
	"slices"
	"strings"
)

// Why Candidates left an endpoint out.
const (
	DropEmpty      = "empty"      // a deregistered id's endpoint (§1.1 skips them)
	DropUnparsable = "unparsable" // url.Parse failed on the normalised endpoint
	DropDuplicate  = "duplicate"  // equal, once normalised, to an earlier endpoint
)

// Drop is an endpoint Candidates left out, and why (one of the Drop* reasons).
type Drop struct {
	Endpoint string
	Reason   string
}

// Normalize is the host string a node ranks under: the endpoint lower-cased, then one trailing
// "/" removed (mediorum's RemoveTrailingSlash(strings.ToLower(endpoint)), §2.2). It does not
// check that the result parses; Candidates does.
func Normalize(endpoint string) string {
	return strings.TrimSuffix(strings.ToLower(endpoint), "/")
}

// Candidates is the candidate host set of §2.2 for endpoints in registry order: each endpoint
// normalised, then dropped if it is empty or url.Parse fails, then dropped if an earlier one
// normalised to the same string (the first is kept). The order of hosts is the input order, which
// does not affect any ranking. Dropped lists what was left out, in input order.
//
// GN's dead-host list is empty, so no host is dropped for being dead; GO's quirk that drops any
// host contained in "https://content.grassfed.network/" is not reproduced (§2.2 step 5).
func Candidates(endpoints []string) (hosts []string, dropped []Drop) {
	seen := make(map[string]bool, len(endpoints))
	hosts = make([]string, 0, len(endpoints))
	for _, e := range endpoints {
		h := Normalize(e)
		switch {
		case h == "":
			dropped = append(dropped, Drop{Endpoint: e, Reason: DropEmpty})
		case !parses(h):
			dropped = append(dropped, Drop{Endpoint: e, Reason: DropUnparsable})
		case seen[h]:
			dropped = append(dropped, Drop{Endpoint: e, Reason: DropDuplicate})
		default:
			seen[h] = true
			hosts = append(hosts, h)
		}
	}
	return hosts, dropped
}

func parses(h string) bool {
	_, err := url.Parse(h)
	return err == nil
}

// ParsePlacementHosts reads a placement_hosts value as discovery stores it (tracks.placement_hosts:
// comma-separated text, §5.3): each entry trimmed of spaces and normalised like a candidate, empty,
// unparsable and repeated entries dropped, the order kept. An empty or blank value gives nil: no override.
//
// Mediorum compares placement hosts with its own normalised host as they are; normalising them
// here makes an entry spelt with capitals or a trailing "/" name the node it means.
func ParsePlacementHosts(s string) []string {
	var hosts []string
	for _, part := range strings.Split(s, ",") {
		h := Normalize(strings.TrimSpace(part))
		if h == "" || !parses(h) || slices.Contains(hosts, h) {
			continue
		}
		hosts = append(hosts, h)
	}
	return hosts
}
