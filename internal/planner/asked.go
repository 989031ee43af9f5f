package planner

import (
	"hash/maphash"
	"slices"
)

// askedWallets remembers, for the part being planned, which nodes each wallet was given to, so
// that a wallet several users of the part share is asked of each node once. A part's answers are
// complete in themselves (a wallet shared by users of two parts is asked again in the second), so
// this is all the plan needs, and the users are read once, in user_id order, as they are
// published. It holds about 150 bytes per user of the part (NETMON_PART_USERS: about 15 MB at the
// default 100,000), the wallet strings included, and nothing across parts.
//
// It replaced a pass over every wallet of discovery before the users were read, to find the
// wallets several users share (4 bytes a user, 40 MB at ten million users): that pass cost
// discovery one more sequential scan and the planner 0.5 s of CPU a million users, before the
// first user batch could leave (docs/benchmarks.md, fifteenth part).
//
// Wallets are found by their 64-bit hash in a small map, and compared whole along the chain of
// entries that share a hash: a map keyed by the wallet strings took 1.4 times as long a user
// (BenchmarkAskedWallets: 173-205 ns against 120-152 ns, alternated, on 2 cores).
type askedWallets struct {
	hash    func(string) uint64
	last    map[uint64]int32 // a hash's last entry
	entries []askedEntry     // the part's wallets, in the order first asked
}

// askedEntry is one wallet of the part and the nodes it was asked of.
type askedEntry struct {
	wallet string
	first  nodeSet // its first user's nodes
	more   []int64 // the nodes later users of the part added (a wallet several users share)
	prev   int32   // the entry before it with the same hash, or -1
}

// nodeSet is the distinct nodes of one user's replica set, in slot order.
type nodeSet struct {
	sp [3]int64
	n  int
}

func (s *nodeSet) add(sp int64) {
	s.sp[s.n] = sp
	s.n++
}

func (s *nodeSet) has(sp int64) bool { return slices.Contains(s.sp[:s.n], sp) }

func newAskedWallets() *askedWallets {
	seed := maphash.MakeSeed()
	return &askedWallets{hash: func(w string) uint64 { return maphash.String(seed, w) }, last: map[uint64]int32{}}
}

// give returns the nodes of nodes (one user's) that wallet is still to be asked of in this part,
// in their order, and records them as asked.
func (a *askedWallets) give(wallet string, nodes nodeSet) nodeSet {
	h := a.hash(wallet)
	last, ok := a.last[h]
	if !ok {
		last = -1
	}
	for i := last; i >= 0; i = a.entries[i].prev {
		if e := &a.entries[i]; e.wallet == wallet {
			var out nodeSet
			for _, sp := range nodes.sp[:nodes.n] {
				if !e.first.has(sp) && !slices.Contains(e.more, sp) {
					out.add(sp)
					e.more = append(e.more, sp)
				}
			}
			return out
		}
	}
	a.entries = append(a.entries, askedEntry{wallet: wallet, first: nodes, prev: last})
	a.last[h] = int32(len(a.entries) - 1)
	return nodes
}

// forget ends the part: every wallet may be asked again in the next.
func (a *askedWallets) forget() {
	clear(a.last)
	clear(a.entries) // lets the part's wallet strings go
	a.entries = a.entries[:0]
}
