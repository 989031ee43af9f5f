package simnet

// Everything simnet generates is a pure function of the scenario seed and a few integers (a user
// index, a node's SP id, a purpose tag), computed with a SplitMix64-style mixer. Nothing depends on
// generation order, so the seeder, the fake nodes and the truth agree without sharing state, and a
// fake node can recompute a user's data from a wallet or CID string alone.

// Purpose tags: each random decision draws from its own stream.
const (
	tagShape uint64 = iota + 1
	tagPick
	tagWallet
	tagWalletMask
	tagWalletCase
	tagNoWallet
	tagDuplicate
	tagClockBase
	tagUnknown
	tagStale
	tagStaleNode
	tagTx
	tagHistory
	tagHistoryWallet
	tagUserCID
	tagArtist
	tagTrack
	tagCID
	tagCIDMask
	tagMissingCID
	tagLatency
	tagDelegate
	tagNodeHistory
	tagUnrequested
	tagDeactivated
	tagSyncMix
)

func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hash mixes a seed with any number of integers.
func hash(seed int64, parts ...uint64) uint64 {
	h := mix64(uint64(seed) + 0x9e3779b97f4a7c15)
	for _, p := range parts {
		h = mix64(h ^ (p + 0x9e3779b97f4a7c15))
	}
	return h
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// chance reports whether a hash falls in the first share of [0, 1).
func chance(h uint64, share float64) bool { return share > 0 && unit(h) < share }
