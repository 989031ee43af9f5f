package simnet

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
)

// maxUsers bounds generated networks so that user ids and indices fit in int32.
const maxUsers = 50_000_000

// generateUsers appends Scenario.UserCount generated users. User g (0-based) gets user id
// maxExplicitID+g+1 and the wallet that encodes its index, unless a share says otherwise.
func (n *Network) generateUsers() error {
	count := n.scenario.UserCount
	if count < 0 || count > maxUsers || n.maxID+int64(count) > math.MaxInt32 {
		return fmt.Errorf("%w: user_count %d out of range", errScenario, count)
	}
	if err := n.shares.validate(); err != nil {
		return err
	}
	if count > 0 && len(n.servePool) == 0 && len(n.unreachPool) == 0 {
		return fmt.Errorf("%w: no content nodes to assign", errScenario)
	}
	n.walletMask = uint32(hash(n.seed, tagWalletMask))
	n.dups = map[int32][]int32{}
	n.users = append(n.users, make([]user, count)...)
	sh := n.shares
	seed := n.seed
	for g := 0; g < count; g++ {
		i := n.explicitN + g
		ui := uint64(i)
		u := &n.users[i]
		u.id = int32(n.maxID + int64(g) + 1)
		u.wallet = int32(i)
		switch h := hash(seed, tagNoWallet, ui); {
		case chance(h, sh.NoWallet):
			if h&1 == 0 {
				u.wallet = walletNull
			} else {
				u.wallet = walletEmpty
			}
		case g > 0 && chance(hash(seed, tagDuplicate, ui), sh.DuplicateWallet):
			// Reuse the wallet of an earlier generated user (if that one has a wallet at all).
			j := n.explicitN + int(hash(seed, tagDuplicate, ui, 1)%uint64(g))
			if w := n.users[j].wallet; w >= 0 {
				u.wallet = w
				n.dups[w] = append(n.dups[w], int32(i))
			}
		}
		if u.wallet >= 0 && chance(hash(seed, tagWalletCase, ui, 1), sh.MixedCase) {
			u.flags |= flagMixedCase
		}
		if chance(hash(seed, tagArtist, ui), sh.Artists) {
			u.flags |= flagArtist
		}
		if chance(hash(seed, tagDeactivated, ui), sh.Deactivated) {
			u.flags |= flagDeactivated
		}
		n.assignReplicaSet(i, u)
		if u.wallet >= 0 {
			for k, sp := range u.spid {
				if sp != 0 {
					u.clock[k] = n.genClock(u.wallet, sp)
				}
			}
		}
	}
	return nil
}

func (s Shares) validate() error {
	for name, v := range map[string]float64{
		"no_replica_set": s.NoReplicaSet, "short_secondaries": s.ShortSecondaries,
		"long_secondaries": s.LongSecondaries, "on_unreachable": s.OnUnreachable,
		"same_node_twice": s.SameNodeTwice, "all_foundation": s.AllFoundation, "history": s.History,
		"mixed_case": s.MixedCase, "duplicate_wallet": s.DuplicateWallet, "no_wallet": s.NoWallet,
		"stale": s.Stale, "unknown": s.Unknown, "artists": s.Artists, "missing_cid": s.MissingCID,
		"deactivated": s.Deactivated, "unsynced": s.Unsynced, "partially": s.Partially, "missing_on_one": s.MissingOnOne,
	} {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("%w: share %s = %v is not in [0, 1]", errScenario, name, v)
		}
	}
	if s.Unsynced+s.Partially+s.MissingOnOne > 1 {
		return fmt.Errorf("%w: unsynced + partially + missing_on_one exceed 1", errScenario)
	}
	if s.NoReplicaSet+s.ShortSecondaries > 1 {
		return fmt.Errorf("%w: no_replica_set + short_secondaries exceed 1", errScenario)
	}
	if s.TracksPerArtist < 0 || s.TracksPerArtist > 1000 || s.SegmentsPerTrack < 0 || s.SegmentsPerTrack > 10000 {
		return fmt.Errorf("%w: tracks_per_artist or segments_per_track out of range", errScenario)
	}
	return nil
}

// assignReplicaSet draws the replica-set shape and the SPs of generated user i.
func (n *Network) assignReplicaSet(i int, u *user) {
	sh := n.shares
	ui := uint64(i)
	r := unit(hash(n.seed, tagShape, ui))
	u.secs = 2
	switch {
	case r < sh.NoReplicaSet:
		u.secs = -1
		u.flags |= flagNoPrimary
		return
	case r < sh.NoReplicaSet+sh.ShortSecondaries:
		u.secs = int8(hash(n.seed, tagShape, ui, 1) % 2) // {} or {s1}
	case chance(hash(n.seed, tagShape, ui, 2), sh.LongSecondaries):
		u.secs = 3
	}
	pool := n.servePool
	if len(n.foundPool) >= 3 && chance(hash(n.seed, tagShape, ui, 3), sh.AllFoundation) {
		pool = n.foundPool
	}
	if len(pool) == 0 {
		pool = n.unreachPool
	}
	picked := pick3(pool, hash(n.seed, tagPick, ui))
	u.spid[0] = picked[0]
	for k := 1; k <= 2 && k <= int(u.secs); k++ {
		u.spid[k] = picked[k]
	}
	slots := 1 + min(int(u.secs), 2)
	if len(n.unreachPool) > 0 && chance(hash(n.seed, tagShape, ui, 4), sh.OnUnreachable) {
		k := int(hash(n.seed, tagShape, ui, 5) % uint64(slots))
		u.spid[k] = n.unreachPool[hash(n.seed, tagShape, ui, 6)%uint64(len(n.unreachPool))]
	}
	if slots >= 2 && chance(hash(n.seed, tagShape, ui, 7), sh.SameNodeTwice) {
		// Secondary 1 (or 2) repeats another slot's SP.
		k := 1 + int(hash(n.seed, tagShape, ui, 8)%uint64(slots-1))
		u.spid[k] = u.spid[k-1]
	}
}

// thirdSecondary is secondary_ids[3] of a generated user with a long array: any serving SP.
func (n *Network) thirdSecondary(i int) int32 {
	pool := n.servePool
	if len(pool) == 0 {
		pool = n.unreachPool
	}
	return pool[hash(n.seed, tagPick, uint64(i), 3)%uint64(len(pool))]
}

// pick3 draws three SPs from pool, distinct when the pool allows.
func pick3(pool []int32, h uint64) [3]int32 {
	m := uint64(len(pool))
	if m < 3 {
		return [3]int32{pool[h%m], pool[mix64(h)%m], pool[mix64(h+1)%m]}
	}
	a := h % m
	b := mix64(h) % (m - 1)
	if b >= a {
		b++
	}
	c := mix64(h+1) % (m - 2)
	lo, hi := min(a, b), max(a, b)
	if c >= lo {
		c++
	}
	if c >= hi {
		c++
	}
	return [3]int32{pool[a], pool[b], pool[c]}
}

// genClock is what node sp stores for the generated wallet of owner o: the wallet's clock, an
// older value on some nodes for stale users, or -1 where the node does not hold it. It depends
// only on (o, sp), so every user and slot sharing the pair agrees.
func (n *Network) genClock(o int32, sp int32) int32 {
	uo, usp := uint64(o), uint64(sp)
	if chance(hash(n.seed, tagUnknown, uo, usp), n.shares.Unknown) {
		return -1
	}
	base := int32(10 + hash(n.seed, tagClockBase, uo)%5000)
	if c, ok := n.syncMixClock(o, sp, base); ok {
		return c
	}
	if chance(hash(n.seed, tagStale, uo), n.shares.Stale) {
		if h := hash(n.seed, tagStaleNode, uo, usp); h&1 == 1 {
			return base - 1 - int32(h>>1%3)
		}
	}
	return base
}

// syncMixClock is the clock node sp holds for the wallet of owner o under the shares Unsynced,
// Partially and MissingOnOne, when they decide it (ok): only the nodes of the owner's own
// secondary slots lag or lack the wallet, by the owner's one draw. The owner's replica set is
// assigned before its clocks are drawn.
func (n *Network) syncMixClock(o int32, sp int32, base int32) (int32, bool) {
	sh := n.shares
	if sh.Unsynced+sh.Partially+sh.MissingOnOne == 0 {
		return 0, false
	}
	spid := n.users[o].spid
	k := slices.Index(spid[:], sp)
	if k < 1 {
		return 0, false // the primary's node, or a node outside the owner's replica set
	}
	uo := uint64(o)
	switch r := unit(hash(n.seed, tagSyncMix, uo)); {
	case r < sh.Unsynced:
		return base - 1, true
	case r < sh.Unsynced+sh.Partially:
		if k == 2 {
			return base - 1, true
		}
	case r < sh.Unsynced+sh.Partially+sh.MissingOnOne:
		if k == 1+int(hash(n.seed, tagSyncMix, uo, 1)%2) {
			return -1, true
		}
	}
	return 0, false
}

// generatedWallet is the lower-case wallet of generated owner o: 0x, 32 pseudo-random hex digits,
// then o's index (masked) in 8 hex digits, so a node can find the owner from the string alone.
func (n *Network) generatedWallet(o int32) string {
	var b [20]byte
	binary.BigEndian.PutUint64(b[0:], hash(n.seed, tagWallet, uint64(o)))
	binary.BigEndian.PutUint64(b[8:], hash(n.seed, tagWallet, uint64(o), 1))
	binary.BigEndian.PutUint32(b[16:], uint32(o)^n.walletMask)
	var out [42]byte
	out[0], out[1] = '0', 'x'
	hex.Encode(out[2:], b[:])
	return string(out[:])
}

// decodeWallet returns the generated owner whose lower-case wallet is exactly w.
func (n *Network) decodeWallet(w string) (int32, bool) {
	if len(w) != 42 || w[0] != '0' || w[1] != 'x' || len(n.users) == n.explicitN {
		return 0, false
	}
	var tail [4]byte
	if _, err := hex.Decode(tail[:], []byte(w[34:])); err != nil {
		return 0, false
	}
	o := int64(binary.BigEndian.Uint32(tail[:]) ^ n.walletMask)
	if o < int64(n.explicitN) || o >= int64(len(n.users)) {
		return 0, false
	}
	if n.generatedWallet(int32(o)) != w {
		return 0, false
	}
	return int32(o), true
}

// historyWallet is a wallet for an is_current = false row: well formed but no node's.
func (n *Network) historyWallet(i int, k int) string {
	var b [20]byte
	binary.BigEndian.PutUint64(b[0:], hash(n.seed, tagHistoryWallet, uint64(i), uint64(k)))
	binary.BigEndian.PutUint64(b[8:], hash(n.seed, tagHistoryWallet, uint64(i), uint64(k), 1))
	binary.BigEndian.PutUint32(b[16:], uint32(hash(n.seed, tagHistoryWallet, uint64(i), uint64(k), 2)))
	return "0x" + hex.EncodeToString(b[:])
}

// mixCase upper-cases some hex letters of w (at least one, if it has any), driven by h.
func mixCase(w string, h uint64) string {
	b := []byte(w)
	changed := false
	first := -1
	for i := 2; i < len(b); i++ {
		if b[i] >= 'a' && b[i] <= 'f' {
			if first < 0 {
				first = i
			}
			if h>>(uint(i)%64)&1 == 1 {
				b[i] -= 'a' - 'A'
				changed = true
			}
		}
	}
	if !changed && first >= 0 {
		b[first] -= 'a' - 'A'
	}
	return string(b)
}
