package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

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
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	id := func(v int64) *int64 { return &v }
	must(st.EnsureRun(ctx, run))
	must(st.SaveRun(ctx, &netmonv1.Run{RunId: run, CreatedAt: timestamppb.Now(), Deadline: timestamppb.New(time.Now().Add(time.Hour))}))
	must(st.SaveContentNodes(ctx, &netmonv1.ContentNodeBatch{RunId: run, Nodes: []*netmonv1.ContentNode{
		{SpId: 1, Endpoint: "http://cn1"}, {SpId: 2, Endpoint: "http://cn2"}, {SpId: 3, Endpoint: "http://cn3"},
		{SpId: 4, Endpoint: "http://cn4"}}}))
	user := func(uid int64, wallet string, p, s1, s2 int64) *netmonv1.User {
		return &netmonv1.User{UserId: uid, Wallet: wallet, PrimarySpId: id(p), Secondary1SpId: id(s1), Secondary2SpId: id(s2)}
	}
	_, err := st.SaveUserBatch(ctx, &netmonv1.UserBatch{RunId: run, Users: []*netmonv1.User{
		user(1, "0xa", 1, 2, 2), user(2, "0xb", 1, 2, 4), user(3, "0xc", 2, 1, 1), user(4, "", 2, 1, 9),
		user(5, "0xe", 4, 4, 1), {UserId: 6, Wallet: "0xf"}, user(7, "0xg", 1, 9, 2), user(8, "0xh", 9, 4, 9),
	}})
	must(err)
	must(st.SaveManifest(ctx, &netmonv1.Manifest{RunId: run, UserBatches: 1, Users: 8, ContentNodes: 4, WorkItems: 3, WalletChecks: 12}))
	ok := netmonv1.Outcome_OUTCOME_OK
	for _, r := range []*netmonv1.FetchResult{
		{RunId: run, SpId: 1, Outcome: ok, Wallets: []string{"0xa", "0xb", "0xc", "0xe", "0xg"}, Clocks: []int64{5, 3, -1, 2, 4}},
		{RunId: run, SpId: 2, Outcome: ok, Wallets: []string{"0xa", "0xb", "0xc", "0xg"}, Clocks: []int64{5, 3, 7, 4}},
		{RunId: run, SpId: 4, Outcome: netmonv1.Outcome_OUTCOME_SKIPPED_DEREGISTERED, Wallets: []string{"0xb", "0xe", "0xh"}, Clocks: []int64{-2, -2, -2}},
	} {
		_, err := st.SaveResult(ctx, r)
		must(err)
	}
	if loaded, err := st.TryFinishLoad(ctx, run); err != nil || !loaded {
		t.Fatalf("finish load: loaded=%v err=%v", loaded, err)
	}

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
