package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// userStatusRows reads a run's user status as "user: has_wallet p s1 s2 | clocks", NULL as "-".
func userStatusRows(t *testing.T, url string, run int64) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT format('%s: %s %s %s %s | %s %s %s', user_id, has_wallet::text,
		coalesce(primary_sp_id::text, '-'), coalesce(secondary1_sp_id::text, '-'), coalesce(secondary2_sp_id::text, '-'),
		coalesce(primary_clock::text, '-'), coalesce(secondary1_clock::text, '-'), coalesce(secondary2_clock::text, '-'))
		FROM user_status WHERE run_id = $1 ORDER BY user_id`, run)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sp(v int64) *int64 { return &v }

// startClocksRun creates a run over content nodes 1, 2 and 3.
func startClocksRun(t *testing.T, st *store.Store, run int64) {
	t.Helper()
	ctx := context.Background()
	if err := st.EnsureRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveRun(ctx, &netmonv1.Run{RunId: run, CreatedAt: timestamppb.Now(), Deadline: timestamppb.New(time.Now().Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	var nodes []*netmonv1.ContentNode
	for i := int64(1); i <= 3; i++ {
		nodes = append(nodes, &netmonv1.ContentNode{SpId: i, Endpoint: fmt.Sprintf("http://cn%d", i)})
	}
	if err := st.SaveContentNodes(ctx, &netmonv1.ContentNodeBatch{RunId: run, Nodes: nodes}); err != nil {
		t.Fatal(err)
	}
}

// result is node sp's answer for batch of part: wallet=clock pairs ("0xaa=5").
func result(run, part, node, batch int64, answers ...string) *netmonv1.FetchResult {
	r := &netmonv1.FetchResult{RunId: run, SpId: node, Batch: batch, Part: part, Outcome: netmonv1.Outcome_OUTCOME_OK}
	for _, a := range answers {
		var w string
		var c int64
		if _, err := fmt.Sscanf(strings.Replace(a, "=", " ", 1), "%s %d", &w, &c); err != nil {
			panic(err)
		}
		r.Wallets, r.Clocks = append(r.Wallets, w), append(r.Clocks, c)
	}
	return r
}

// A run in two parts, worked by hand. Part 0's user status is built by the call that writes its
// last piece, before the run is loaded, and only once; part 1 (its Part message written, its build
// never tried) is built when the run is loaded. Each part matches its users against its own
// answers: the wallet 0xaa, asked in both parts, gets node 2's part-1 answer (6) for the part-1
// user and its part-0 answer (5) for the part-0 user. Within a part, a wallet asked twice of one
// node takes the lowest batch's answer.
func TestUserStatusByPart(t *testing.T) {
	st, url := openStore(t)
	ctx := context.Background()
	const run = 1
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	startClocksRun(t, st, run)
	saveUsers := func(part, batch int64, users ...*netmonv1.User) {
		t.Helper()
		_, err := st.SaveUserBatch(ctx, &netmonv1.UserBatch{RunId: run, Batch: batch, Part: part, Users: users})
		must(err)
	}
	saveResult := func(r *netmonv1.FetchResult) {
		t.Helper()
		_, err := st.SaveResult(ctx, r)
		must(err)
	}
	tryBuild := func(part int64, want bool) {
		t.Helper()
		built, err := st.TryBuildPart(ctx, run, part)
		must(err)
		if built != want {
			t.Fatalf("TryBuildPart(%d) built = %v, want %v", part, built, want)
		}
	}

	// Part 0: user batches 0 and 1, four work items.
	saveUsers(0, 0,
		&netmonv1.User{UserId: 1, Wallet: " 0xAA ", PrimarySpId: sp(1), Secondary1SpId: sp(2), Secondary2SpId: sp(3)},
		&netmonv1.User{UserId: 2, WalletNull: true, PrimarySpId: sp(1), Secondary1SpId: sp(2), Secondary2SpId: sp(3)})
	saveUsers(0, 1,
		&netmonv1.User{UserId: 3, Wallet: "0xbb", PrimarySpId: sp(1), Secondary1SpId: sp(1)},
		&netmonv1.User{UserId: 4, Wallet: "0xcc", PrimarySpId: sp(4), Secondary1SpId: sp(2), Secondary2SpId: sp(3)})
	must(st.SavePart(ctx, &netmonv1.Part{RunId: run, Part: 0, FirstUserBatch: 0, UserBatches: 2, Users: 4, WorkItems: 4}))
	saveResult(result(run, 0, 1, 0, "0xaa=5", "0xbb=9"))
	saveResult(result(run, 0, 1, 1, "0xbb=10"))
	saveResult(result(run, 0, 2, 0, "0xaa=5", "0xcc=-1"))
	tryBuild(0, false) // one work item missing
	saveResult(result(run, 0, 3, 0, "0xaa=4", "0xcc=3"))
	tryBuild(0, true)
	tryBuild(0, false) // built once

	part0 := []string{
		"1: true 1 2 3 | 5 5 4",   // the wallet trimmed and lower-cased
		"2: false 1 2 3 | - - -",  // no wallet: no clocks
		"3: true 1 1 - | 9 9 -",   // node 1 in two slots; asked 0xbb in batches 0 and 1: batch 0's 9
		"4: true 4 2 3 | -2 -1 3", // node 4 is not in the run's list: not answered
	}
	if diff := cmp.Diff(part0, userStatusRows(t, url, run)); diff != "" {
		t.Fatalf("user status after part 0's build (-want +got):\n%s", diff)
	}
	if loaded, err := st.TryFinishLoad(ctx, run); err != nil || loaded {
		t.Fatalf("TryFinishLoad before the manifest: loaded %v, %v", loaded, err)
	}

	// Part 1: user batch 2, three work items, node 3's failed.
	long := "0x" + strings.Repeat("ab", 20) // a wallet of the usual form, matched by its 20 bytes
	saveUsers(1, 2, &netmonv1.User{UserId: 5, Wallet: "0xaa", PrimarySpId: sp(2), Secondary1SpId: sp(3), Secondary2SpId: sp(1)},
		&netmonv1.User{UserId: 6, Wallet: " " + strings.ToUpper(long) + " ", PrimarySpId: sp(1), Secondary1SpId: sp(2)},
		&netmonv1.User{UserId: 7, Wallet: "0xAA", PrimarySpId: sp(1), Secondary1SpId: sp(2)}) // user 5's wallet
	saveResult(result(run, 1, 2, 1, "0xaa=6"))
	saveResult(result(run, 1, 1, 2, "0xaa=7", long+"=11"))
	failed := result(run, 1, 3, 1, "0xaa=-2")
	failed.Outcome = netmonv1.Outcome_OUTCOME_TIMEOUT
	saveResult(failed)
	must(st.SaveManifest(ctx, &netmonv1.Manifest{RunId: run, UserBatches: 3, Users: 7, ContentNodes: 3, WorkItems: 7, Parts: 2}))
	// Every batch and result is in, but not part 1's Part message: the run waits for it, as for
	// anything else the manifest promised.
	if loaded, err := st.TryFinishLoad(ctx, run); err != nil || loaded {
		t.Fatalf("TryFinishLoad before part 1's Part message: loaded %v, %v", loaded, err)
	}
	must(st.SavePart(ctx, &netmonv1.Part{RunId: run, Part: 1, FirstUserBatch: 2, UserBatches: 1, Users: 3, WorkItems: 3}))
	loaded, err := st.TryFinishLoad(ctx, run)
	must(err)
	if !loaded {
		t.Fatal("run not loaded after everything arrived")
	}
	tryBuild(1, false) // built by the load
	want := append(part0,
		"5: true 2 3 1 | 6 -2 7",
		"6: true 1 2 - | 11 -2 -", // its wallet trimmed and lowered; node 2 was not asked it
		"7: true 1 2 - | 7 6 -",   // shares user 5's wallet, so its nodes' answers for it
	)
	if diff := cmp.Diff(want, userStatusRows(t, url, run)); diff != "" {
		t.Errorf("user status after the load (-want +got):\n%s", diff)
	}
}

// A deadline's cut builds the parts it finds, Part message or not, from what arrived: a slot
// whose node's answer never came is -2. Here part 0 got one of its three work items and its Part
// message never came (the planner stopped).
func TestCutBuildsUnclosedParts(t *testing.T) {
	st, url := openStore(t)
	ctx := context.Background()
	const run = 1
	startClocksRun(t, st, run)
	if _, err := st.SaveUserBatch(ctx, &netmonv1.UserBatch{RunId: run, Batch: 0, Part: 0, Users: []*netmonv1.User{
		{UserId: 1, Wallet: "0xaa", PrimarySpId: sp(1), Secondary1SpId: sp(2), Secondary2SpId: sp(3)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveResult(ctx, result(run, 0, 1, 0, "0xaa=5")); err != nil {
		t.Fatal(err)
	}
	if built, err := st.TryBuildPart(ctx, run, 0); err != nil || built {
		t.Fatalf("TryBuildPart without a Part message: built %v, %v", built, err)
	}
	loaded, err := st.ExpireRun(ctx, run)
	if err != nil || !loaded {
		t.Fatalf("ExpireRun: loaded %v, %v", loaded, err)
	}
	if diff := cmp.Diff([]string{"1: true 1 2 3 | 5 -2 -2"}, userStatusRows(t, url, run)); diff != "" {
		t.Errorf("user status after the cut (-want +got):\n%s", diff)
	}
}
