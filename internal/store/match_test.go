package store

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestWalletKey: the form in which the planner asks about a wallet and a part's build matches the
// answers: spaces trimmed (only spaces, as btrim does), lower-cased, Unicode included.
func TestWalletKey(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"0xabc", "0xabc"},
		{"0xAbC", "0xabc"},
		{"  0XDEF ", "0xdef"},
		{"", ""},
		{"   ", ""},
		{"\t0xA", "\t0xa"},
		{" ÜNÏ cöDÉ ", "ünï cödé"},
		{"0x[AZ]@`{", "0x[az]@`{"}, // the bytes around A-Z stay
	} {
		if got := WalletKey(&c.in); got != c.want {
			t.Errorf("WalletKey(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := WalletKey(nil); got != "" {
		t.Errorf("WalletKey(nil) = %q, want \"\"", got)
	}
}

// TestPartMatchSharedKey: wallets that share their first 8 bytes share a chain, and each answer
// goes to the users of its own wallet only; users who share a wallet both get it.
func TestPartMatchSharedKey(t *testing.T) {
	parse := func(s string) wallet {
		w, ok := parseWallet([]byte(s))
		if !ok || !w.isHex {
			t.Fatalf("%s: not a wallet of the usual form", s)
		}
		return w
	}
	// a and b differ only in their last byte; c is a's wallet in upper case.
	a := parse("0x1111111111111111aaaaaaaaaaaaaaaaaaaaaa01")
	b := parse("0x1111111111111111aaaaaaaaaaaaaaaaaaaaaa02")
	c := parse("0X1111111111111111AAAAAAAAAAAAAAAAAAAAAA01")
	u := newPartUsers(3)
	for i, w := range []wallet{a, b, c} {
		u.add(statusRow{user: int64(i + 1), hasWallet: true, sp: [3]int64{7, 8, 9},
			clock: [3]int64{notAnswered, notAnswered, notAnswered}, batch: [3]int64{noBatch, noBatch, noBatch}}, w)
	}
	u.answer(7, a, 1, 40) // the primary (node 7) of users 1 and 3
	u.answer(7, b, 1, 50) // the primary of user 2
	u.answer(8, b, 1, 51) // user 2's first secondary; node 8 was not asked a
	want := map[int64][3]int64{1: {40, notAnswered, notAnswered}, 2: {50, 51, notAnswered}, 3: {40, notAnswered, notAnswered}}
	for _, r := range u.rows {
		if r.clock != want[r.user] {
			t.Errorf("user %d: clocks %v, want %v", r.user, r.clock, want[r.user])
		}
	}
}

// BenchmarkPartMatch files a part of 100,000 users of random wallets (three slots on 50 nodes)
// and matches an answer for each slot, in user order, as a part's build does with its users and
// answers. docs/benchmarks.md, twelfth part: go test -run '^$' -bench PartMatch ./store/
func BenchmarkPartMatch(b *testing.B) {
	const n = 100_000
	r := rand.New(rand.NewPCG(1, 2))
	ws := make([]wallet, n)
	for i := range ws {
		binary.LittleEndian.PutUint64(ws[i].bytes[:], r.Uint64())
		binary.LittleEndian.PutUint64(ws[i].bytes[8:], r.Uint64())
		binary.LittleEndian.PutUint32(ws[i].bytes[16:], r.Uint32())
		ws[i].isHex = true
	}
	spOf := func(i, s int) int64 { return int64((i + []int{0, 7, 13}[s]) % 50) }
	for b.Loop() {
		u := newPartUsers(n)
		for i, w := range ws {
			u.add(statusRow{user: int64(i), hasWallet: true, sp: [3]int64{spOf(i, 0), spOf(i, 1), spOf(i, 2)},
				clock: [3]int64{notAnswered, notAnswered, notAnswered}, batch: [3]int64{noBatch, noBatch, noBatch}}, w)
		}
		for s := range 3 {
			for i, w := range ws {
				u.answer(spOf(i, s), w, 1, 5)
			}
		}
	}
}
