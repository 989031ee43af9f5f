package store

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLagBucket: every bucket of LagBuckets at its edges, by hand: 0, 1, 2-10, 11-100, 101-1000,
// 1001+ are the primary's clock minus the secondary's; ahead, not_held (-1) and no_answer (-2)
// the secondary's states; no bucket (0) without a secondary clock or a primary clock of at least 0.
func TestLagBucket(t *testing.T) {
	for _, c := range []struct {
		p, s       int64
		hasP, hasS bool
		want       string
	}{
		{5, 5, true, true, "0"}, {0, 0, true, true, "0"}, {6, 5, true, true, "1"},
		{7, 5, true, true, "2-10"}, {15, 5, true, true, "2-10"}, {16, 5, true, true, "11-100"},
		{105, 5, true, true, "11-100"}, {106, 5, true, true, "101-1000"}, {1005, 5, true, true, "101-1000"},
		{1006, 5, true, true, "1001+"}, {5, 6, true, true, "ahead"}, {0, -1, true, true, "not_held"},
		{3, -2, true, true, "no_answer"}, {-1, 5, true, true, ""}, {-2, -2, true, true, ""},
		{5, 5, false, true, ""}, {5, 5, true, false, ""},
	} {
		got := ""
		if b := lagBucket(c.p, c.hasP, c.s, c.hasS); b > 0 {
			got = LagBuckets[b-1]
		}
		if got != c.want {
			t.Errorf("lagBucket(%d %v, %d %v) = %q, want %q", c.p, c.hasP, c.s, c.hasS, got, c.want)
		}
	}
}

// TestUserCountsKeys: the keys of a few users worked out by hand from the layout counts.go
// documents.
func TestUserCountsKeys(t *testing.T) {
	c := newUserCounts()
	// Fully synced on nodes 1, 2, 3 at clock 7.
	c.add(&statusRow{hasWallet: true, sp: [3]int64{1, 2, 3}, clock: [3]int64{7, 7, 7}})
	// Primary 4 not answered, secondary 4 again (a repeat), secondary 5 unknown wallet: no category,
	// no lag buckets (the primary's clock is -2), some clock -2.
	c.add(&statusRow{hasWallet: true, sp: [3]int64{4, 4, 5}, clock: [3]int64{-2, 3, -1}})
	// No wallet: no clocks; second secondary missing.
	c.add(&statusRow{hasWallet: false, sp: [3]int64{2, 1, -1}})
	// Partially synced: primary 12, secondary 1 at 12, secondary 2 at 0 (lag 12: 11-100).
	c.add(&statusRow{hasWallet: true, sp: [3]int64{3, 2, 2}, clock: [3]int64{12, 12, 0}})
	want := &userCounts{
		slot: [3]map[int64]int64{
			{1201: 1, 4220: 1, 2200: 1, 3202: 1},
			{2101: 1, 4000: 1, 1100: 1, 2102: 1},
			{3101: 1, 5110: 1, 2002: 1},
		},
		user: map[int64]int64{
			1 + 1000*1 + 10000*1: 1,
			0 + 100:              1,
			0 + 10:               1,
			2 + 1000*1 + 10000*4: 1,
		},
		replicas: map[[3]int64]int64{{1, 2, 3}: 1, {4, 4, 5}: 1, {2, 2, 3}: 1},
	}
	if diff := cmp.Diff(want, c, cmp.AllowUnexported(userCounts{})); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}
