package store_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// TestComputeUserFamilies checks the user counts and every per-node user family against a run
// worked by hand. Content nodes 1–4; node 3 is in no replica set, node 4 is deregistered (its
// item skipped, every wallet -2); SP 9 is not a content node of the run (its slots get no answer,
// -2, and no series). Foundation nodes are 1 and 2. The users, their replica sets and the slot
// clocks the answers give:
//
//	u1 0xa  1,2,2  5, 5, 5     fully (node 2 twice)
//	u2 0xb  1,2,4  3, 3,-2     partially
//	u3 0xc  2,1,1  7,-1,-1     unsynced (node 1 twice, unknown to it)
//	u4 ""   2,1,9  NULL        no category (no wallet), no primary clock
//	u5 0xe  4,4,1 -2,-2, 2     no category (primary -2; node 4 twice)
//	u6 0xf  -                  no category, no primary clock
//	u7 0xg  1,9,2  4,-2, 4     partially
//	u8 0xh  9,4,9 -2,-2,-2     no category
func TestComputeUserFamilies(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	const run = 1
	ok := netmonv1.Outcome_OUTCOME_OK
	loadHandRun(t, st, run, []int64{1, 2, 3, 4}, []*netmonv1.User{
		user(1, "0xa", 1, 2, 2), user(2, "0xb", 1, 2, 4), user(3, "0xc", 2, 1, 1), user(4, "", 2, 1, 9),
		user(5, "0xe", 4, 4, 1), {UserId: 6, Wallet: "0xf"}, user(7, "0xg", 1, 9, 2), user(8, "0xh", 9, 4, 9),
	}, []*netmonv1.FetchResult{
		{RunId: run, SpId: 1, Outcome: ok, Wallets: []string{"0xa", "0xb", "0xc", "0xe", "0xg"}, Clocks: []int64{5, 3, -1, 2, 4}},
		{RunId: run, SpId: 2, Outcome: ok, Wallets: []string{"0xa", "0xb", "0xc", "0xg"}, Clocks: []int64{5, 3, 7, 4}},
		{RunId: run, SpId: 4, Outcome: netmonv1.Outcome_OUTCOME_SKIPPED_DEREGISTERED, Wallets: []string{"0xb", "0xe", "0xh"}, Clocks: []int64{-2, -2, -2}},
	})

	samples, err := st.Compute(ctx, run, []int64{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range samples {
		got[s.Key()] = s.Value
	}
	want := map[string]float64{
		`audius_nm_user_count{}`:                                 8,
		`audius_nm_fully_synced_user_count{}`:                    1, // u1
		`audius_nm_partially_synced_user_count{}`:                2, // u2, u7
		`audius_nm_unsynced_user_count{}`:                        1, // u3
		`audius_nm_no_primary_user_count{}`:                      2, // u4, u6
		`audius_nm_unhealthy_replica_users_count{}`:              4, // u2, u5, u7, u8
		`audius_nm_users_with_all_foundation_node_replica_set{}`: 2, // u1, u3
		`audius_nm_users_with_no_foundation_node_replica_set{}`:  1, // u8
	}
	// Per node, in the order primary, all, {fully, partially, unsynced} by primary, the same by
	// replica, missed slots, unknown-wallet slots.
	families := []string{"primary_user_count", "all_user_count",
		"fully_synced_user_by_primary_count", "partially_synced_user_by_primary_count", "unsynced_user_by_primary_count",
		"fully_synced_user_by_replica_count", "partially_synced_user_by_replica_count", "unsynced_user_by_replica_count",
		"missed_users_count", "unknown_wallet_slots"}
	perNode := map[int64][]float64{
		// primary u1,u2,u7; all u1,u2,u3,u4,u5,u7; u3 once by replica; u3's two slots unknown.
		1: {3, 6, 1, 2, 0, 1, 2, 1, 0, 2},
		// primary u3,u4; all u1,u2,u3,u4,u7; u1 once by replica.
		2: {2, 5, 0, 0, 1, 1, 2, 1, 0, 0},
		3: {0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		// primary u5; all u2,u5,u8; u2 by replica; slots -2: u2's second secondary, u5's primary
		// and first secondary, u8's first secondary.
		4: {1, 3, 0, 0, 0, 0, 1, 0, 4, 0},
	}
	for sp, vals := range perNode {
		for i, f := range families {
			want[fmt.Sprintf(`audius_nm_%s{endpoint="http://cn%d",sp_id="%d"}`, f, sp, sp)] = vals[i]
		}
	}
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s: no series, want %v", k, v)
		case g != v:
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	// No series for SP 9, which is not a content node of the run: exactly one per node and family.
	n := map[string]int{}
	for _, s := range samples {
		n[s.Name]++
	}
	for _, f := range families {
		if n["audius_nm_"+f] != 4 {
			t.Errorf("audius_nm_%s: %d series, want 4 (one per content node)", f, n["audius_nm_"+f])
		}
	}
}

// TestComputeLagAndFoundation checks the secondaries-by-lag buckets (each bucket and its edges),
// the foundation counts with no foundation nodes and with one, and a node in all three slots of a
// user, against a run worked by hand. Content nodes 1–3; SP 9 is not a content node (-2). The
// users, their replica sets, the slot clocks and the lag of each secondary:
//
//	v1 0x1  1,2,3     1500,1500,1499  partially  0, 1
//	v2 0x2  1,2,3     1500,1490,1400  unsynced   2-10 (10), 11-100 (100)
//	v3 0x3  1,2,3     1500, 500, 499  unsynced   101-1000 (1000), 1001+ (1001)
//	v4 0x4  2,3,1       10,  11,  -1  unsynced   ahead, not_held
//	v5 0x5  3,3,3        7,   7,   7  fully      0, 0 (node 3 in every slot)
//	v6 0x6  1,2,-        5,   6, NULL no category (no second secondary)  ahead, not counted
//	v7 0x7  2,9,1        0,  -2,   0  partially  no_answer, 0
func TestComputeLagAndFoundation(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	const run = 1
	ok := netmonv1.Outcome_OUTCOME_OK
	v6 := user(6, "0x6", 1, 2, 0)
	v6.Secondary2SpId = nil
	loadHandRun(t, st, run, []int64{1, 2, 3}, []*netmonv1.User{
		user(1, "0x1", 1, 2, 3), user(2, "0x2", 1, 2, 3), user(3, "0x3", 1, 2, 3), user(4, "0x4", 2, 3, 1),
		user(5, "0x5", 3, 3, 3), v6, user(7, "0x7", 2, 9, 1),
	}, []*netmonv1.FetchResult{
		{RunId: run, SpId: 1, Outcome: ok, Wallets: []string{"0x1", "0x2", "0x3", "0x4", "0x6", "0x7"}, Clocks: []int64{1500, 1500, 1500, -1, 5, 0}},
		{RunId: run, SpId: 2, Outcome: ok, Wallets: []string{"0x1", "0x2", "0x3", "0x4", "0x6", "0x7"}, Clocks: []int64{1500, 1490, 500, 10, 6, 0}},
		{RunId: run, SpId: 3, Outcome: ok, Wallets: []string{"0x1", "0x2", "0x3", "0x4", "0x5"}, Clocks: []int64{1499, 1400, 499, 11, 7}},
	})

	common := map[string]float64{
		`audius_nm_user_count{}`:                    7,
		`audius_nm_fully_synced_user_count{}`:       1, // v5
		`audius_nm_partially_synced_user_count{}`:   2, // v1, v7
		`audius_nm_unsynced_user_count{}`:           3, // v2, v3, v4
		`audius_nm_no_primary_user_count{}`:         0,
		`audius_nm_unhealthy_replica_users_count{}`: 1, // v7
	}
	lag := map[string]float64{"0": 4, "1": 1, "2-10": 1, "11-100": 1, "101-1000": 1, "1001+": 1, "ahead": 2, "not_held": 1, "no_answer": 1}
	for b, v := range lag {
		common[fmt.Sprintf(`audius_nm_secondaries_by_clock_lag{lag=%q}`, b)] = v
	}
	// Per node: primary, all, {fully, partially, unsynced} by primary, the same by replica,
	// missed slots, unknown-wallet slots.
	families := []string{"primary_user_count", "all_user_count",
		"fully_synced_user_by_primary_count", "partially_synced_user_by_primary_count", "unsynced_user_by_primary_count",
		"fully_synced_user_by_replica_count", "partially_synced_user_by_replica_count", "unsynced_user_by_replica_count",
		"missed_users_count", "unknown_wallet_slots"}
	perNode := map[int64][]float64{
		// primary v1,v2,v3,v6; all those, v4, v7; v4's second secondary unknown.
		1: {4, 6, 0, 1, 2, 0, 2, 3, 0, 1},
		// primary v4,v7; all those, v1,v2,v3,v6.
		2: {2, 6, 0, 1, 1, 0, 2, 3, 0, 0},
		// primary v5; all v1..v5, v5 once.
		3: {1, 5, 1, 0, 0, 1, 1, 3, 0, 0},
	}
	for sp, vals := range perNode {
		for i, f := range families {
			common[fmt.Sprintf(`audius_nm_%s{endpoint="http://cn%d",sp_id="%d"}`, f, sp, sp)] = vals[i]
		}
	}
	for _, c := range []struct {
		foundation    []int64
		all, noneOfIt float64
	}{
		{nil, 0, 6},        // every full replica set has no foundation node (v6's set is not full)
		{[]int64{3}, 1, 1}, // v5 is all on node 3; v7 (2,9,1) has no node 3
	} {
		samples, err := st.Compute(ctx, run, c.foundation)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		n := map[string]int{}
		for _, s := range samples {
			got[s.Key()] = s.Value
			n[s.Name]++
		}
		want := maps.Clone(common)
		want[`audius_nm_users_with_all_foundation_node_replica_set{}`] = c.all
		want[`audius_nm_users_with_no_foundation_node_replica_set{}`] = c.noneOfIt
		for k, v := range want {
			g, ok := got[k]
			switch {
			case !ok:
				t.Errorf("foundation %v: %s: no series, want %v", c.foundation, k, v)
			case g != v:
				t.Errorf("foundation %v: %s = %v, want %v", c.foundation, k, g, v)
			}
		}
		if n["audius_nm_secondaries_by_clock_lag"] != len(lag) {
			t.Errorf("foundation %v: %d lag series, want %d", c.foundation, n["audius_nm_secondaries_by_clock_lag"], len(lag))
		}
		for _, f := range families {
			if n["audius_nm_"+f] != 3 {
				t.Errorf("foundation %v: audius_nm_%s: %d series, want 3 (one per content node)", c.foundation, f, n["audius_nm_"+f])
			}
		}
	}
}

// user is a user of a hand-worked run with a full replica set.
func user(uid int64, wallet string, p, s1, s2 int64) *netmonv1.User {
	return &netmonv1.User{UserId: uid, Wallet: wallet, PrimarySpId: &p, Secondary1SpId: &s1, Secondary2SpId: &s2}
}

// loadHandRun saves a run of the given content nodes (endpoint http://cnN for SP N), users and
// fetch results, with a manifest that promises exactly those, and finishes its load.
func loadHandRun(t *testing.T, st *store.Store, run int64, nodes []int64, users []*netmonv1.User, results []*netmonv1.FetchResult) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.EnsureRun(ctx, run))
	must(st.SaveRun(ctx, &netmonv1.Run{RunId: run, CreatedAt: timestamppb.Now(), Deadline: timestamppb.New(time.Now().Add(time.Hour))}))
	var cns []*netmonv1.ContentNode
	for _, sp := range nodes {
		cns = append(cns, &netmonv1.ContentNode{SpId: sp, Endpoint: fmt.Sprintf("http://cn%d", sp)})
	}
	must(st.SaveContentNodes(ctx, &netmonv1.ContentNodeBatch{RunId: run, Nodes: cns}))
	_, err := st.SaveUserBatch(ctx, &netmonv1.UserBatch{RunId: run, Users: users})
	must(err)
	checks := 0
	for _, r := range results {
		checks += len(r.Wallets)
	}
	must(st.SaveManifest(ctx, &netmonv1.Manifest{RunId: run, UserBatches: 1, Users: int64(len(users)),
		ContentNodes: int64(len(nodes)), WorkItems: int64(len(results)), WalletChecks: int64(checks)}))
	for _, r := range results {
		_, err := st.SaveResult(ctx, r)
		must(err)
	}
	if loaded, err := st.TryFinishLoad(ctx, run); err != nil || !loaded {
		t.Fatalf("finish load: loaded=%v err=%v", loaded, err)
	}
}
