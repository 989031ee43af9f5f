package planner

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkAskedWallets asks about a million users' distinct wallets, each of three nodes of 50,
// in parts of 100,000 users, as a plan at the defaults does: the planner's cost per user.
func BenchmarkAskedWallets(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	const users, part = 1_000_000, 100_000
	wallets := make([]string, users)
	nodes := make([]nodeSet, users)
	for i := range wallets {
		wallets[i] = fmt.Sprintf("0x%016x%016x%08x", r.Uint64(), r.Uint64(), r.Uint32())
		for nodes[i].n < 3 {
			if sp := r.Int64N(50) + 1; !nodes[i].has(sp) {
				nodes[i].add(sp)
			}
		}
	}
	a := newAskedWallets()
	b.ResetTimer()
	for range b.N {
		for i := range wallets {
			if i%part == 0 {
				a.forget()
			}
			a.give(wallets[i], nodes[i])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*users), "ns/user")
}
