package planner

import (
	"fmt"
	"testing"
)

// TestAskedWallets works a part's asks out by hand: a wallet is asked of each node once in the
// part, whichever of its users names the node first, and again in the next part. The same asks
// are made again with every wallet's hash equal, so that every wallet is found along one chain.
func TestAskedWallets(t *testing.T) {
	t.Run("hashed", func(t *testing.T) { testAskedWallets(t, newAskedWallets()) })
	t.Run("one hash", func(t *testing.T) {
		a := newAskedWallets()
		a.hash = func(string) uint64 { return 7 }
		testAskedWallets(t, a)
	})
}

func testAskedWallets(t *testing.T, a *askedWallets) {
	set := func(sp ...int64) nodeSet {
		var s nodeSet
		for _, n := range sp {
			s.add(n)
		}
		return s
	}
	for i, c := range []struct {
		wallet string
		nodes  nodeSet
		want   []int64
		forget bool // the part ends before this ask
	}{
		{wallet: "0xaa", nodes: set(1, 2, 3), want: []int64{1, 2, 3}},
		{wallet: "0xbb", nodes: set(1, 2, 3), want: []int64{1, 2, 3}}, // another wallet: its own nodes
		{wallet: "0xaa", nodes: set(3, 4), want: []int64{4}},          // node 3 was asked for the first user
		{wallet: "0xaa", nodes: set(4, 5, 1), want: []int64{5}},       // node 4 for the second
		{wallet: "0xaa", nodes: set(5, 4, 2), want: nil},
		{wallet: "0xcc", nodes: set(), want: nil}, // a user whose nodes are all outside the run's list
		{wallet: "0xcc", nodes: set(6), want: []int64{6}},
		{wallet: "0xaa", nodes: set(1, 4), want: []int64{1, 4}, forget: true},
		{wallet: "0xaa", nodes: set(4, 2), want: []int64{2}},
	} {
		if c.forget {
			a.forget()
		}
		got := a.give(c.wallet, c.nodes)
		if fmt.Sprint(got.sp[:got.n]) != fmt.Sprint(c.want) {
			t.Errorf("ask %d (%s of %v): asked of %v, want %v", i, c.wallet, c.nodes.sp[:c.nodes.n], got.sp[:got.n], c.want)
		}
	}
}
