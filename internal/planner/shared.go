package planner

import (
	"bytes"
	"context"
	"hash/maphash"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/audius-netmon/netmon/internal/store"
)

// sharedWallets is the set of wallets (in store.WalletKey form) that may belong to more than one user:
// those that occur in more than one current users row, kept as 44-bit hashes. The planner
// remembers, per node, which of these it has asked about; every other wallet belongs to one user
// and is asked about once per node by construction.
//
// Hashes are enough, and the plan is exactly what comparing the wallets themselves gives: a wallet
// in the set that only one user has (its hash collides with another wallet's, or its user has
// several current rows) is only remembered (its first ask per node is made as for any wallet, and
// Users passes each user_id once, so there is no second ask to skip), and no wallet several users
// have can be missed, since equal keys have equal hashes. With 44 bits about 3 wallets of 10
// million users are remembered needlessly by collision.
type sharedWallets struct {
	seed   maphash.Seed
	hashes map[uint64]struct{}
}

// sharedHashBits is the width of the hashes: the top sharedPartBits choose one of the parts
// findSharedWallets sorts, and the other 32 are what it holds per row.
const (
	sharedHashBits = 44
	sharedPartBits = sharedHashBits - 32
)

func sharedHash(seed maphash.Seed, key []byte) uint64 {
	return maphash.Bytes(seed, key) >> (64 - sharedHashBits)
}

// has reports whether key (a store.WalletKey) is, or may be, the wallet of several users.
func (s sharedWallets) has(key string) bool {
	_, ok := s.hashes[maphash.String(s.seed, key)>>(64-sharedHashBits)]
	return ok
}

// findSharedWallets reads every current users row's wallet once and keeps the hashes of the keys
// that occur in more than one row. Wallets are compared as store.WalletKey makes them, the form the plan
// uses, so the database's collation and lower() play no part; users without a wallet (NULL, empty
// or only spaces) are left out. It holds 4 bytes per users row (the low 32 bits of the key's hash,
// in one of 4096 slices chosen by its top 12 bits) until it returns: 4 MB at a million users, 40 MB
// at ten million (it held the hash and the user_id, 16 bytes a row, before: 358 MiB of planner at
// ten million users). It is done here rather than as a GROUP BY in discovery, which took 6-8 s
// there at a million users (before the first user batch could leave): this costs discovery one
// sequential scan (0.3-0.5 s) and the planner 0.6-0.8 s.
func findSharedWallets(ctx context.Context, snap *store.Snapshot) (sharedWallets, error) {
	// Rows go to one of the parts by the top bits of the hash, so that no slice is copied whole as
	// it grows, and each is sorted on its own.
	parts := make([][]uint32, 1<<sharedPartBits)
	seed := maphash.MakeSeed()
	var buf []byte
	err := snap.Wallets(ctx, func(_ int64, wallet []byte) error {
		if key := walletKeyBytes(&buf, wallet); len(key) > 0 {
			h := sharedHash(seed, key)
			parts[h>>32] = append(parts[h>>32], uint32(h))
		}
		return nil
	})
	if err != nil {
		return sharedWallets{}, err
	}
	s := sharedWallets{seed: seed, hashes: make(map[uint64]struct{})}
	for p, rows := range parts {
		slices.Sort(rows)
		for i := 1; i < len(rows); i++ {
			if rows[i] == rows[i-1] {
				s.hashes[uint64(p)<<32|uint64(rows[i])] = struct{}{}
			}
		}
		parts[p] = nil
	}
	return s, nil
}

// walletKeyBytes returns store.WalletKey of wallet: a subslice of wallet when nothing needs lower-casing,
// else *buf, reused. ASCII (the usual wallet) is not allocated for: for ASCII, strings.ToLower maps
// A-Z and nothing else.
func walletKeyBytes(buf *[]byte, wallet []byte) []byte {
	w := bytes.Trim(wallet, " ")
	upper := false
	for _, c := range w {
		if c >= utf8.RuneSelf {
			*buf = append((*buf)[:0], strings.ToLower(string(w))...)
			return *buf
		}
		upper = upper || 'A' <= c && c <= 'Z'
	}
	if !upper {
		return w
	}
	*buf = append((*buf)[:0], w...)
	for i, c := range *buf {
		if 'A' <= c && c <= 'Z' {
			(*buf)[i] = c + 'a' - 'A'
		}
	}
	return *buf
}
