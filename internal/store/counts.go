package store

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5"
)

// A part's build counts its users by the keys the user families read (userFamilies) and writes
// the counts to user_counts, so the aggregator adds up a few thousand counts a part instead of
// deriving the keys of every user after the last result (docs/benchmarks.md, ninth part). The
// build holds the part's status rows in memory already; counting them costs the loader a few
// milliseconds a part and Postgres nothing but the rows of counts. A key packs what a family needs
// to know about a user into decimal digits:
//
//   - a slot key per slot, sp_id * 1000 + role * 100 + clock * 10 + category: role 2 the primary, 1
//     a secondary naming a node no earlier slot names (the slot a user counts at for a node it has
//     twice), 0 a secondary repeating a node; clock 2 no answer (-2), 1 wallet unknown to the node
//     (-1), 0 anything else (no clock included); category as userCategory numbers it. A slot
//     without a node has no key. SP ids times 1000 must fit an int64 (ids below 9.2e15).
//   - the user key, category + 10 * no primary clock + 100 * some clock -2 + 1000 * the first
//     secondary's lag + 10^4 * the second's (1 + the bucket's index in LagBuckets; 0 when the slot
//     is not counted: no secondary clock, or the primary's is not >= 0).
//   - the replica set of a user with all three slots filled, as its nodes in ascending order:
//     which nodes are foundation nodes is the aggregator's setting, applied to these counts.
//
// TestGoldenMetrics holds every family to simnet's truth and, over a run of several parts, these
// counts to the same keys derived in SQL from the user_category view (the definition of the sync
// categories people query; migration 0010 backfills older runs with that statement);
// TestUserCountsKeys and TestLagBucket work keys out by hand.

// userCounts are one part's counts, by key.
type userCounts struct {
	slot     [3]map[int64]int64 // primary, secondary1, secondary2 slot keys
	user     map[int64]int64
	replicas map[[3]int64]int64
}

func newUserCounts() *userCounts {
	c := &userCounts{user: map[int64]int64{}, replicas: map[[3]int64]int64{}}
	for s := range c.slot {
		c.slot[s] = map[int64]int64{}
	}
	return c
}

// Sync categories as the keys number them: user_category's fully, partially, unsynced, or none.
const (
	categoryNone = iota
	categoryFully
	categoryPartially
	categoryUnsynced
)

// userCategory is user_category's definition: a user whose three slots have clocks, the
// primary's answered, is fully synced when all three are equal, partially when the primary
// equals one secondary, unsynced when it equals neither; any other user is in no category.
func userCategory(clock [3]int64, has [3]bool) int64 {
	switch {
	case !has[0] || !has[1] || !has[2] || clock[0] == notAnswered:
		return categoryNone
	case clock[0] == clock[1] && clock[1] == clock[2]:
		return categoryFully
	case clock[0] == clock[1] || clock[0] == clock[2]:
		return categoryPartially
	}
	return categoryUnsynced
}

// clockClass is a slot key's clock digit: 2 no answer, 1 wallet unknown to the node, 0 otherwise.
func clockClass(clock int64, has bool) int64 {
	switch {
	case has && clock == notAnswered:
		return 2
	case has && clock == -1:
		return 1
	}
	return 0
}

// lagBucket is 1 + the index in LagBuckets of a secondary's clock s against the primary's p, or 0
// when the slot is not counted (no secondary clock, or no primary clock of at least 0).
func lagBucket(p int64, hasP bool, s int64, hasS bool) int64 {
	switch {
	case !hasP || p < 0 || !hasS:
		return 0
	case s == notAnswered:
		return 9
	case s == -1:
		return 8
	case p < s:
		return 7
	case p == s:
		return 1
	case p-s == 1:
		return 2
	case p-s <= 10:
		return 3
	case p-s <= 100:
		return 4
	case p-s <= 1000:
		return 5
	}
	return 6
}

// add counts one status row.
func (c *userCounts) add(r *statusRow) {
	var has [3]bool
	for s := range 3 {
		has[s] = r.hasClock(s)
	}
	category := userCategory(r.clock, has)
	for s := range 3 {
		if r.sp[s] < 0 {
			continue
		}
		role := int64(1)
		switch {
		case s == 0:
			role = 2
		case r.sp[s] == r.sp[0] || (s == 2 && r.sp[2] == r.sp[1]):
			role = 0
		}
		c.slot[s][r.sp[s]*1000+role*100+clockClass(r.clock[s], has[s])*10+category]++
	}
	key := category + 1000*lagBucket(r.clock[0], has[0], r.clock[1], has[1]) +
		10000*lagBucket(r.clock[0], has[0], r.clock[2], has[2])
	if !has[0] {
		key += 10
	}
	for s := range 3 {
		if has[s] && r.clock[s] == notAnswered {
			key += 100
			break
		}
	}
	c.user[key]++
	if r.sp[0] >= 0 && r.sp[1] >= 0 && r.sp[2] >= 0 {
		set := r.sp
		slices.Sort(set[:])
		c.replicas[set]++
	}
}

// write COPYs the counts into the run's user_counts partition, a row per key: the key's column
// filled, the others NULL.
func (c *userCounts) write(ctx context.Context, tx pgx.Tx, run, part int64) error {
	n := len(c.user) + len(c.replicas)
	for s := range c.slot {
		n += len(c.slot[s])
	}
	rows := newCopyRows(10, n*60)
	keyRow := func(col int, key, users int64) {
		rows.row()
		rows.int8(run)
		rows.int8(part)
		for i := range 4 {
			if i == col {
				rows.int8(key)
			} else {
				rows.null()
			}
		}
		rows.null()
		rows.null()
		rows.null()
		rows.int8(users)
	}
	for s := range c.slot {
		for key, users := range c.slot[s] {
			keyRow(s, key, users)
		}
	}
	for key, users := range c.user {
		keyRow(3, key, users)
	}
	for set, users := range c.replicas {
		rows.row()
		rows.int8(run)
		rows.int8(part)
		for range 4 {
			rows.null()
		}
		for _, sp := range set {
			rows.int8(sp)
		}
		rows.int8(users)
	}
	return copyIn(ctx, tx, partitionName("user_counts", run), []string{"run_id", "part", "primary_key",
		"secondary1_key", "secondary2_key", "user_key", "replica_low", "replica_mid", "replica_high", "users"}, rows)
}
