package simnet

import (
	"context"
	"strings"
)

// UnparsableEndpoint is the registered endpoint of the storage registry that url.Parse rejects.
const UnparsableEndpoint = "http://[::1"

// RegistryEntries lists the storage network's registered nodes by service type ("content-node",
// "validator"), SP id i of a type at index i-1, spelt as operators register them, so the
// candidate hosts come out right only through spec §2.2's normalisation: every third node's
// endpoint in capitals, every even one with a trailing "/", a deregistered id (the contract's
// empty record) after the first content node, and at the end of the content nodes a duplicate of
// the first registered node (capitals and "/") and an endpoint url.Parse rejects. Unregistered
// nodes are not listed. Start the nodes first: the entries name the ports they listen on.
func (n *StorageNetwork) RegistryEntries() map[string][]RegistryEntry {
	n.mu.Lock()
	endpoints := append([]string(nil), n.endpoints...)
	n.mu.Unlock()
	types := map[string][]RegistryEntry{"content-node": nil, "validator": nil}
	entry := func(i int, endpoint string) RegistryEntry {
		id := int64(i + 1)
		return RegistryEntry{Owner: ownerWallet(n.seed, id), Endpoint: endpoint, BlockNumber: 15000000 + id*1000,
			Delegate: n.signer(i, 0).Address()}
	}
	for _, i := range n.ranked {
		ep, id := endpoints[i], i+1
		if id%3 == 0 {
			ep = strings.ToUpper(ep)
		}
		if id%2 == 0 {
			ep += "/"
		}
		st := n.nodes[i].service
		types[st] = append(types[st], entry(i, ep))
		if st == "content-node" && len(types[st]) == 1 {
			types[st] = append(types[st], RegistryEntry{}) // deregistered
		}
	}
	first := n.ranked[0]
	types["content-node"] = append(types["content-node"],
		entry(first, strings.ToUpper(endpoints[first])+"/"),
		RegistryEntry{Owner: ownerWallet(n.seed, 99999), Endpoint: UnparsableEndpoint, BlockNumber: 16000000,
			Delegate: ownerWallet(n.seed, 99998)})
	return types
}

// StartRegistry serves RegistryEntries from a fake Ethereum registry (see StartRegistry).
func (n *StorageNetwork) StartRegistry(ctx context.Context) (*Registry, error) {
	return StartRegistry(ctx, n.RegistryEntries(), 0)
}

// StaticEndpoints are the registered endpoints as a static node list would give them: the
// content nodes then the validators of RegistryEntries, spelt the same, "" for the deregistered
// id.
func (n *StorageNetwork) StaticEndpoints() []string {
	types := n.RegistryEntries()
	var out []string
	for _, st := range []string{"content-node", "validator"} {
		for _, e := range types[st] {
			out = append(out, e.Endpoint)
		}
	}
	return out
}

// Candidates are the candidate hosts the registry's endpoints normalise to (spec §2.2): the
// registered nodes' hosts, in node id order.
func (n *StorageNetwork) Candidates() []string {
	hosts := n.hostsSnapshot()
	out := make([]string, len(n.ranked))
	for k, i := range n.ranked {
		out[k] = hosts[i]
	}
	return out
}
