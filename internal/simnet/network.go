package simnet

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Network is a built scenario: the content nodes, the current users in a compact form, and what
// every node stores. It is immutable after Build except for the endpoints, which Start sets once.
type Network struct {
	scenario   Scenario
	shares     Shares
	seed       int64
	block      int64
	nodes      []nodeInfo // sorted by SP id
	nodeIdx    map[int32]int
	foundation []int64
	isFound    map[int32]bool
	// Replica-set pools for generated users: nodes that serve (faulty ones included), and SPs with
	// no endpoint or a deregistered endpoint.
	servePool, unreachPool, foundPool []int32

	users     []user
	explicitN int // users[:explicitN] come from Scenario.Users, in order
	maxID     int64
	// Explicit wallets: explicitWallets[i] as discovery stores it; holders by lower-cased wallet.
	explicitWallets []string
	walletHolders   map[string][]int32
	// dups maps a generated wallet's owner to the later users that reuse it.
	dups       map[int32][]int32
	walletMask uint32

	mu        sync.Mutex
	endpoints []string // per node index: nominal until Start, then loopback URLs
	started   bool
}

type nodeInfo struct {
	spec        NodeSpec
	unreachable bool // netmon must see -2: no endpoint, deregistered, or a persistent fault
}

// user is one current users row, compactly. Strings (wallets, CIDs, endpoints) are derived on
// demand from the indices and the seed.
type user struct {
	id     int32
	wallet int32    // walletNull, walletEmpty, an explicit wallet index, or a generated owner's user index
	spid   [3]int32 // primary, secondary 1, secondary 2 SP ids; 0 is NULL
	clock  [3]int32 // what the slot's node stores for the wallet; -1 not held
	secs   int8     // generated users: len(secondary_ids), -1 NULL
	flags  uint8
}

const (
	walletNull  = -1
	walletEmpty = -2
)

const (
	flagExplicit    uint8 = 1 << iota // an explicit user (Scenario.Users)
	flagMixedCase                     // discovery stores the wallet in mixed case
	flagNoPrimary                     // primary_id NULL (generated users)
	flagArtist                        // owns tracks
	flagDeactivated                   // is_deactivated: its CIDs and its tracks' are not in the CID snapshot
)

// Build validates a scenario and generates its network. It is deterministic in s.
func Build(s Scenario) (*Network, error) {
	n := &Network{scenario: s, seed: s.Seed, block: s.Block}
	if n.block == 0 {
		n.block = 1000
	}
	n.shares = DefaultShares()
	if s.Shares != nil {
		n.shares = *s.Shares
	}
	if err := n.buildNodes(); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	if err := n.buildExplicitUsers(); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	if err := n.generateUsers(); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	return n, nil
}

func (n *Network) buildNodes() error {
	specs := map[int64]NodeSpec{}
	if n.scenario.NodeCount < 0 || n.scenario.NodeCount > 100000 {
		return fmt.Errorf("%w: node_count %d out of range", errScenario, n.scenario.NodeCount)
	}
	for sp := int64(1); sp <= int64(n.scenario.NodeCount); sp++ {
		specs[sp] = NodeSpec{SPID: sp}
	}
	seen := map[int64]bool{}
	for _, ns := range n.scenario.Nodes {
		if ns.SPID <= 0 || ns.SPID > math.MaxInt32 {
			return fmt.Errorf("%w: node sp_id %d out of range", errScenario, ns.SPID)
		}
		if seen[ns.SPID] {
			return fmt.Errorf("%w: node sp_id %d listed twice", errScenario, ns.SPID)
		}
		seen[ns.SPID] = true
		specs[ns.SPID] = ns
	}
	if len(specs) == 0 {
		return fmt.Errorf("%w: no content nodes", errScenario)
	}
	for _, sp := range sortedKeys(specs) {
		ns := specs[sp]
		if ns.Endpoint == "" && !ns.NoEndpoint {
			ns.Endpoint = "http://cn" + strconv.FormatInt(sp, 10)
		}
		if ns.NoEndpoint {
			ns.Endpoint = ""
		}
		if err := validateFaults(ns); err != nil {
			return err
		}
		unreachable := ns.NoEndpoint || ns.Deregistered || ns.Faults.Persistent()
		n.nodes = append(n.nodes, nodeInfo{spec: ns, unreachable: unreachable})
	}
	n.nodeIdx = make(map[int32]int, len(n.nodes))
	n.endpoints = make([]string, len(n.nodes))
	for i, ni := range n.nodes {
		n.nodeIdx[int32(ni.spec.SPID)] = i
		n.endpoints[i] = ni.spec.Endpoint
	}

	n.foundation = slices.Clone(n.scenario.Foundation)
	if n.foundation == nil {
		for sp := int64(1); sp <= min(4, int64(n.scenario.NodeCount)); sp++ {
			n.foundation = append(n.foundation, sp)
		}
	}
	slices.Sort(n.foundation)
	n.foundation = slices.Compact(n.foundation)
	n.isFound = map[int32]bool{}
	for _, sp := range n.foundation {
		if sp <= 0 || sp > math.MaxInt32 {
			return fmt.Errorf("%w: foundation sp_id %d out of range", errScenario, sp)
		}
		n.isFound[int32(sp)] = true
	}
	for _, ni := range n.nodes {
		sp := int32(ni.spec.SPID)
		if ni.spec.NoEndpoint || ni.spec.Deregistered {
			n.unreachPool = append(n.unreachPool, sp)
			continue
		}
		n.servePool = append(n.servePool, sp)
		if n.isFound[sp] {
			n.foundPool = append(n.foundPool, sp)
		}
	}
	return nil
}

func validateFaults(ns NodeSpec) error {
	f := ns.Faults
	if f.FailFirst < 0 || f.FailFirst > 2 {
		return fmt.Errorf("%w: node %d: fail_first must be 0, 1 or 2 (three attempts must recover)", errScenario, ns.SPID)
	}
	if ns.NoEndpoint && (f != Faults{}) {
		return fmt.Errorf("%w: node %d has no endpoint, so it cannot have faults", errScenario, ns.SPID)
	}
	if f.Latency != nil && (f.Latency.Median <= 0 || (f.Latency.P99 != 0 && f.Latency.P99 < f.Latency.Median)) {
		return fmt.Errorf("%w: node %d: latency needs median > 0 and p99 >= median", errScenario, ns.SPID)
	}
	if f.RateLimit != nil && (f.RateLimit.Requests < 0 || f.RateLimit.Window < 0) {
		return fmt.Errorf("%w: node %d: rate limit must not be negative", errScenario, ns.SPID)
	}
	if f.OversizedBytes < 0 {
		return fmt.Errorf("%w: node %d: oversized_bytes must not be negative", errScenario, ns.SPID)
	}
	return nil
}

func (n *Network) buildExplicitUsers() error {
	n.walletHolders = map[string][]int32{}
	ids := map[int64]bool{}
	walletIdx := map[string]int32{}
	// stored[(sp, lower wallet)] is the clock that node stores, to reject contradictions.
	type key struct {
		sp     int32
		wallet string
	}
	stored := map[key]int32{}
	for i, us := range n.scenario.Users {
		if us.ID <= 0 || us.ID > math.MaxInt32 {
			return fmt.Errorf("%w: user_id %d out of range", errScenario, us.ID)
		}
		if ids[us.ID] {
			return fmt.Errorf("%w: user_id %d listed twice", errScenario, us.ID)
		}
		ids[us.ID] = true
		n.maxID = max(n.maxID, us.ID)
		u := user{id: int32(us.ID), flags: flagExplicit, secs: -1}
		switch {
		case us.Wallet == nil:
			u.wallet = walletNull
		case *us.Wallet == "":
			u.wallet = walletEmpty
		default:
			w, ok := walletIdx[*us.Wallet]
			if !ok {
				w = int32(len(n.explicitWallets))
				n.explicitWallets = append(n.explicitWallets, *us.Wallet)
				walletIdx[*us.Wallet] = w
			}
			u.wallet = w
			lw := strings.ToLower(*us.Wallet)
			n.walletHolders[lw] = append(n.walletHolders[lw], int32(i))
		}
		slots := []*int64{us.Primary}
		if us.Secondaries != nil {
			u.secs = int8(min(len(us.Secondaries), 100))
		}
		for k := 0; k < 2; k++ {
			if k < len(us.Secondaries) {
				slots = append(slots, &us.Secondaries[k])
			} else {
				slots = append(slots, nil)
			}
		}
		for _, sp := range us.Secondaries {
			if _, ok := n.nodeIdx[int32(sp)]; !ok || sp <= 0 || sp > math.MaxInt32 {
				return fmt.Errorf("%w: user %d: secondary %d is not a content node", errScenario, us.ID, sp)
			}
		}
		if len(us.Clocks) > 3 {
			return fmt.Errorf("%w: user %d: at most 3 clocks (primary, secondary 1, secondary 2)", errScenario, us.ID)
		}
		for k, p := range slots {
			u.clock[k] = -1
			if k < len(us.Clocks) {
				if us.Clocks[k] < -1 || us.Clocks[k] > math.MaxInt32 {
					return fmt.Errorf("%w: user %d: clock %d out of range (a node stores -1 or a clock >= 0)", errScenario, us.ID, us.Clocks[k])
				}
				u.clock[k] = int32(us.Clocks[k])
			}
			if p == nil {
				continue
			}
			if _, ok := n.nodeIdx[int32(*p)]; !ok || *p <= 0 || *p > math.MaxInt32 {
				return fmt.Errorf("%w: user %d: SP %d is not a content node", errScenario, us.ID, *p)
			}
			u.spid[k] = int32(*p)
			if u.wallet >= 0 {
				kk := key{u.spid[k], strings.ToLower(*us.Wallet)}
				if c, ok := stored[kk]; ok && c != u.clock[k] {
					return fmt.Errorf("%w: user %d: node %d would store wallet %s with clocks %d and %d", errScenario, us.ID, *p, *us.Wallet, c, u.clock[k])
				}
				stored[kk] = u.clock[k]
			}
		}
		if us.Primary == nil {
			u.flags |= flagNoPrimary
		}
		if us.Deactivated {
			u.flags |= flagDeactivated
		}
		n.users = append(n.users, u)
	}
	n.explicitN = len(n.users)
	return nil
}

// Users is the number of current users.
func (n *Network) Users() int { return len(n.users) }

// Foundation is FOUNDATION_NODES_SPIDS, sorted.
func (n *Network) Foundation() []int64 { return slices.Clone(n.foundation) }

// Block is the current block number.
func (n *Network) Block() int64 { return n.block }

// SPIDs lists the content nodes' SP ids in order.
func (n *Network) SPIDs() []int64 {
	out := make([]int64, len(n.nodes))
	for i, ni := range n.nodes {
		out[i] = ni.spec.SPID
	}
	return out
}

// endpoint is node i's current endpoint ("" for an SP without one).
func (n *Network) endpoint(i int) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.endpoints[i]
}

func (n *Network) endpointsSnapshot() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.endpoints)
}

// storedClock is what node sp stores for the exact wallet string w (nodes store wallets
// lower-cased and match exactly), -1 if it does not hold it.
func (n *Network) storedClock(sp int32, w string) int32 {
	for _, ui := range n.walletHolders[w] {
		if c, ok := n.users[ui].slotClock(sp); ok {
			return c
		}
	}
	if o, ok := n.decodeWallet(w); ok {
		if n.users[o].wallet == o {
			if c, ok := n.users[o].slotClock(sp); ok {
				return c
			}
		}
		for _, ui := range n.dups[o] {
			if c, ok := n.users[ui].slotClock(sp); ok {
				return c
			}
		}
	}
	return -1
}

func (u *user) slotClock(sp int32) (int32, bool) {
	if u.wallet < 0 {
		return 0, false
	}
	for k, s := range u.spid {
		if s == sp {
			return u.clock[k], true
		}
	}
	return 0, false
}

// walletString is user i's wallet as discovery stores it; ok is false for NULL.
func (n *Network) walletString(i int) (string, bool) {
	u := &n.users[i]
	switch {
	case u.wallet == walletNull:
		return "", false
	case u.wallet == walletEmpty:
		return "", true
	case u.flags&flagExplicit != 0:
		return n.explicitWallets[u.wallet], true
	}
	w := n.generatedWallet(u.wallet)
	if u.flags&flagMixedCase != 0 {
		w = mixCase(w, hash(n.seed, tagWalletCase, uint64(i)))
	}
	return w, true
}

// lowerWallet is the wallet as the nodes store it.
func (n *Network) lowerWallet(i int) (string, bool) {
	u := &n.users[i]
	if u.wallet < 0 {
		return "", false
	}
	if u.flags&flagExplicit != 0 {
		return strings.ToLower(n.explicitWallets[u.wallet]), true
	}
	return n.generatedWallet(u.wallet), true
}

func sortedKeys[V any](m map[int64]V) []int64 {
	keys := make([]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
