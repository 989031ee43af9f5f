package planner

import (
	"bytes"
	"cmp"
	"context"
	"hash/maphash"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/audius-netmon/netmon/internal/store"
)

// sharedWallets is the set of wallets (in WalletKey form) that more than one user_id has, kept as
// 64-bit hashes. The planner remembers, per node, which of these it has asked about; every other
// wallet belongs to one user and is asked about once per node by construction.
//
// Hashes are enough, and the plan is exactly what comparing the wallets themselves gives: a wallet
// taken for shared because its hash collides with a shared one is only remembered (its first ask
// per node is made as for any wallet, and there is no second one to skip), and no wallet several
// users have can be missed, since equal keys have equal hashes.
type sharedWallets struct {
	seed   maphash.Seed
	hashes map[uint64]struct{}
}

// has reports whether key (a WalletKey) is, or may be, the wallet of several users.
func (s sharedWallets) has(key string) bool {
	_, ok := s.hashes[maphash.String(s.seed, key)]
	return ok
}

// findSharedWallets reads every current user's wallet once and keeps the hashes of the keys that
// more than one user_id has. Wallets are compared as WalletKey makes them, the form the plan uses,
// so the database's collation and lower() play no part; users without a wallet (NULL, empty or
// only spaces) are left out, and a user_id with several current rows counts once. It holds 16
// bytes per users row (the key's hash and the user_id) until it returns, 16 MB at a million users.
// It is done here rather than as a GROUP BY in discovery, which took 6-8 s there at a million users
// (before the first user batch could leave): this costs discovery one sequential scan (0.3-0.5 s)
// and the planner 0.6-0.8 s.
func findSharedWallets(ctx context.Context, snap *store.Snapshot) (sharedWallets, error) {
	type row struct {
		hash uint64
		user int64
	}
	// Rows go to one of 256 slices by the top byte of the hash, so that no slice is copied whole
	// as it grows, and each is sorted on its own.
	var parts [256][]row
	seed := maphash.MakeSeed()
	var buf []byte
	err := snap.Wallets(ctx, func(user int64, wallet []byte) error {
		if key := walletKeyBytes(&buf, wallet); len(key) > 0 {
			h := maphash.Bytes(seed, key)
			parts[h>>56] = append(parts[h>>56], row{h, user})
		}
		return nil
	})
	if err != nil {
		return sharedWallets{}, err
	}
	s := sharedWallets{seed: seed, hashes: make(map[uint64]struct{})}
	for p := range parts {
		rows := parts[p]
		slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(a.hash, b.hash) })
		// rows[i:j] is a run of equal hashes: shared if some user differs from the run's first.
		for i, j := 0, 0; i < len(rows); i = j {
			for j = i + 1; j < len(rows) && rows[j].hash == rows[i].hash; j++ {
				if rows[j].user != rows[i].user {
					s.hashes[rows[i].hash] = struct{}{}
				}
			}
		}
		parts[p] = nil
	}
	return s, nil
}

// walletKeyBytes returns WalletKey of wallet: a subslice of wallet when nothing needs lower-casing,
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
