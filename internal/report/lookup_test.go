package report_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/report"
	"github.com/audius-netmon/netmon/internal/store"
	"github.com/audius-netmon/netmon/internal/store/storetest"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

func id(v int64) *int64 { return &v }

// loadClockRun writes a run worked by hand. Nodes 1 and 2 answer, node 3 has no endpoint,
// node 4 times out (in run 2 it answers clock 5):
//
//	user 1, wallet 0xAa, replica set 1,2,4: clocks 5, 5, -2 → partially synced (run 2: fully)
//	user 2, wallet 0xbb, replica set 2,1,3: clocks 7, -1, -2 → unsynced
//	user 3, no wallet, replica set 1,2,1: no clocks → in no category
//	user 4, wallet 0xaa (as user 1), replica set 1,2,2: clocks 5, 5, 5 → fully synced
func loadClockRun(t *testing.T, st *store.Store, run int64, created time.Time) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.EnsureRun(ctx, run))
	must(st.SaveRun(ctx, &netmonv1.Run{RunId: run, BlockNumber: 10, CreatedAt: timestamppb.New(created), Deadline: timestamppb.New(created.Add(time.Hour))}))
	must(st.SaveContentNodes(ctx, &netmonv1.ContentNodeBatch{RunId: run, Nodes: []*netmonv1.ContentNode{
		{SpId: 1, Endpoint: "http://cn1"}, {SpId: 2, Endpoint: "http://cn2"}, {SpId: 3, Endpoint: ""}, {SpId: 4, Endpoint: "http://cn4"}}}))
	if _, err := st.SaveUserBatch(ctx, &netmonv1.UserBatch{RunId: run, Users: []*netmonv1.User{
		{UserId: 1, Wallet: "0xAa", ReplicaSet: "http://cn1,http://cn2,http://cn4", PrimarySpId: id(1), Secondary1SpId: id(2), Secondary2SpId: id(4)},
		{UserId: 2, Wallet: "0xbb", PrimarySpId: id(2), Secondary1SpId: id(1), Secondary2SpId: id(3)},
		{UserId: 3, WalletNull: true, PrimarySpId: id(1), Secondary1SpId: id(2), Secondary2SpId: id(1)},
		{UserId: 4, Wallet: "0xaa", PrimarySpId: id(1), Secondary1SpId: id(2), Secondary2SpId: id(2)},
	}}); err != nil {
		t.Fatal(err)
	}
	node4 := &netmonv1.FetchResult{RunId: run, SpId: 4, Outcome: netmonv1.Outcome_OUTCOME_TIMEOUT, Attempts: 3,
		Detail: "no answer within 10s", Duration: durationpb.New(30 * time.Second), Wallets: []string{"0xaa"}, Clocks: []int64{-2}}
	if run == 2 {
		node4 = &netmonv1.FetchResult{RunId: run, SpId: 4, Outcome: netmonv1.Outcome_OUTCOME_OK, Attempts: 1, Wallets: []string{"0xaa"}, Clocks: []int64{5}}
	}
	for _, r := range []*netmonv1.FetchResult{
		{RunId: run, SpId: 1, Outcome: netmonv1.Outcome_OUTCOME_OK, Attempts: 1, Wallets: []string{"0xaa", "0xbb"}, Clocks: []int64{5, -1}},
		{RunId: run, SpId: 2, Outcome: netmonv1.Outcome_OUTCOME_OK, Attempts: 1, Wallets: []string{"0xaa", "0xbb"}, Clocks: []int64{5, 7}},
		{RunId: run, SpId: 3, Outcome: netmonv1.Outcome_OUTCOME_SKIPPED_NO_ENDPOINT, Wallets: []string{"0xbb"}, Clocks: []int64{-2}},
		node4,
	} {
		if _, err := st.SaveResult(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	must(st.SaveManifest(ctx, &netmonv1.Manifest{RunId: run, UserBatches: 1, Users: 4, ContentNodes: 4, WorkItems: 4, WalletChecks: 6}))
	if loaded, err := st.TryFinishLoad(ctx, run); err != nil || !loaded {
		t.Fatalf("run %d: loaded = %v (%v)", run, loaded, err)
	}
	if _, err := st.Finish(ctx, run, lifecycle.Finish, "", time.Now(), nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestUser(t *testing.T) {
	st, _ := storetest.Open(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	loadClockRun(t, st, 1, now.Add(-time.Hour))
	loadClockRun(t, st, 2, now)

	// Run 1, user 1: node 4 timed out.
	v, err := report.User(ctx, st, "1", 1)
	if err != nil {
		t.Fatal(err)
	}
	if v.Category != "partially" || !v.Built {
		t.Errorf("user 1 in run 1: category %q (built %v), want partially", v.Category, v.Built)
	}
	wantAnswers := []string{"clock 5", "clock 5", "-2: no answer: clock work item 0: timeout after 3 attempts: no answer within 10s"}
	if strings.Join(v.Answers, "|") != strings.Join(wantAnswers, "|") {
		t.Errorf("user 1 answers:\n got %q\nwant %q", v.Answers, wantAnswers)
	}
	if want := "partially synced: the primary's clock 5 equals secondary1's but not secondary2's (-2)"; v.Why != want {
		t.Errorf("why = %q, want %q", v.Why, want)
	}
	if len(v.Notes) != 1 || !strings.Contains(v.Notes[0], "unhealthy_replica_users_count") {
		t.Errorf("notes = %q, want the unhealthy replica count", v.Notes)
	}
	if s := v.Slots[2]; s.SPID == nil || *s.SPID != 4 || s.Endpoint != "http://cn4" || !s.Item.Found || s.Item.Outcome != "timeout" || s.Item.Attempts != 3 {
		t.Errorf("slot secondary2 = %+v", s)
	}
	// Its history up to run 2: fully synced in run 2, partially in run 1.
	v, err = report.User(ctx, st, "1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if v.Run.ID != 2 || v.Category != "fully" || v.Why != "fully synced: the primary and both secondaries report clock 5" {
		t.Errorf("user 1 in the newest run: run %d, %q: %s", v.Run.ID, v.Category, v.Why)
	}
	if len(v.History) != 2 || v.History[0].Run != 2 || v.History[0].Category != "fully" || v.History[1].Category != "partially" ||
		*v.History[1].Clocks[2] != -2 {
		t.Errorf("history = %+v", v.History)
	}

	// User 2: the primary agrees with neither secondary; one does not know the wallet, the
	// other has no endpoint.
	v, err = report.User(ctx, st, "2", 1)
	if err != nil {
		t.Fatal(err)
	}
	wantAnswers = []string{"clock 7", "-1: the node does not know the wallet (work item 0, ok)", "-2: no answer: the node has no endpoint (deregistered on chain)"}
	if v.Category != "unsynced" || strings.Join(v.Answers, "|") != strings.Join(wantAnswers, "|") {
		t.Errorf("user 2: %q, answers %q, want unsynced, %q", v.Category, v.Answers, wantAnswers)
	}
	if want := "unsynced: the primary's clock 7 equals neither secondary's (-1, -2)"; v.Why != want {
		t.Errorf("why = %q, want %q", v.Why, want)
	}
	if len(v.Notes) != 2 {
		t.Errorf("notes = %q, want unhealthy and unknown wallet", v.Notes)
	}

	// User 3 has no wallet: nobody was asked.
	v, err = report.User(ctx, st, "3", 1)
	if err != nil {
		t.Fatal(err)
	}
	if v.Category != "" || v.Answers[0] != "not asked: the user has no wallet" ||
		!strings.Contains(v.Why, "in no sync category: the primary slot has no clock (the user has no wallet") {
		t.Errorf("user 3: %q %q: %s", v.Category, v.Answers, v.Why)
	}
	if len(v.Notes) != 1 || !strings.Contains(v.Notes[0], "no_primary_user_count") {
		t.Errorf("user 3 notes = %q", v.Notes)
	}

	// By wallet, in any case: two users share 0xaa; the lowest id is shown, with the count.
	v, err = report.User(ctx, st, " 0XAA", 1)
	if err != nil {
		t.Fatal(err)
	}
	if v.UserID != 1 || v.SameWallet != 2 {
		t.Errorf("by wallet: user %d, %d users share it; want user 1, 2", v.UserID, v.SameWallet)
	}

	for _, c := range []struct {
		who  string
		run  int64
		want error
	}{
		{"99", 1, store.ErrNotInRun},
		{"0xdead", 1, store.ErrNotInRun},
		{"1", 9, store.ErrNoRun},
		{"bob", 1, report.ErrUsage},
		{"-3", 1, report.ErrUsage},
	} {
		if _, err := report.User(ctx, st, c.who, c.run); !errors.Is(err, c.want) {
			t.Errorf("User(%q, run %d) = %v, want %v", c.who, c.run, err, c.want)
		}
	}
}

// TestCID uses the CID run worked by hand in the store's tests (storetest.LoadCIDRun):
// Qb is held by node 1 only (node 2 does not hold it, node 3 timed out); Qd's owner has node 2
// twice and node 3, which was never asked; Qe's owner has no replica set.
func TestCID(t *testing.T) {
	st, _ := storetest.Open(t)
	ctx := context.Background()
	storetest.LoadCIDRun(t, st, 1)

	v, err := report.CID(ctx, st, "Qb", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Rows) != 1 {
		t.Fatalf("Qb: %d rows, want 1", len(v.Rows))
	}
	r := v.Rows[0]
	if r.UserID != 1 || r.Type != "dir" || r.Route != "image_cid" || r.Replicas != 1 || len(r.Holders) != 3 {
		t.Errorf("Qb row = %+v", r)
	}
	want := []string{"holds it", "does not hold it", "no answer: image_cid work item 0: timeout"}
	if strings.Join(v.Answers[0], "|") != strings.Join(want, "|") {
		t.Errorf("Qb answers %q, want %q", v.Answers[0], want)
	}
	if v.Replication[0] != "held by 1 of its 3 expected nodes" {
		t.Errorf("Qb replication %q", v.Replication[0])
	}

	v, err = report.CID(ctx, st, "Qd", 1)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"holds it", "no answer: no result of a work item asking it was loaded"}
	if strings.Join(v.Answers[0], "|") != strings.Join(want, "|") || v.Replication[0] != "held by 1 of its 2 expected nodes" {
		t.Errorf("Qd answers %q (%s), want %q", v.Answers[0], v.Replication[0], want)
	}

	v, err = report.CID(ctx, st, "Qe", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Rows[0].Holders) != 0 || v.Replication[0] != "the owner has no replica set: nobody is expected to hold it" {
		t.Errorf("Qe: %+v %q", v.Rows[0], v.Replication[0])
	}
	if _, err := report.CID(ctx, st, "Qzz", 1); !errors.Is(err, store.ErrNotInRun) {
		t.Errorf("unknown CID: %v, want ErrNotInRun", err)
	}
	if _, err := report.CID(ctx, st, "a b", 1); !errors.Is(err, report.ErrUsage) {
		t.Errorf("CID with a blank: %v, want ErrUsage", err)
	}
}

// TestSummariesAndTrend computes and stores the metrics of the hand-worked clock runs: run 1 has
// 1 of 4 users fully synced (user 4) and 2 missed slots (node 4's and node 3's), run 2 has 2 of
// 4 fully synced (node 4 answers) and 1 missed slot (node 3's).
func TestSummariesAndTrend(t *testing.T) {
	st, _ := storetest.Open(t)
	ctx := context.Background()
	now := time.Now().UTC()
	for run := int64(1); run <= 2; run++ {
		loadClockRun(t, st, run, now.Add(time.Duration(run)*time.Minute))
		samples, err := st.Compute(ctx, run, nil)
		if err != nil {
			t.Fatal(err)
		}
		samples = append(samples, store.Sample{Name: "audius_nm_run_duration_seconds", Value: float64(run) * 10})
		if err := st.SaveSamples(ctx, run, samples); err != nil {
			t.Fatal(err)
		}
	}
	sums, err := report.Summaries(ctx, st, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 2 || sums[0].ID != 2 {
		t.Fatalf("summaries %+v, want runs 2 and 1", sums)
	}
	for i, want := range []struct{ fully, missed, secs float64 }{{0.5, 1, 20}, {0.25, 2, 10}} {
		s := sums[i]
		if s.FullySynced == nil || *s.FullySynced != want.fully || s.MissedSlots == nil || *s.MissedSlots != want.missed ||
			s.Seconds == nil || *s.Seconds != want.secs || s.UnreplicatedCIDs != nil {
			t.Errorf("run %d: fully %v, missed %v, seconds %v, unreplicated %v; want %v", s.ID, deref(s.FullySynced),
				deref(s.MissedSlots), deref(s.Seconds), s.UnreplicatedCIDs, want)
		}
	}

	tr, err := report.TrendOf(ctx, st, "", "fully_synced_user_count", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Metric != "audius_nm_fully_synced_user_count" || len(tr.Runs) != 2 || tr.Runs[0].ID != 1 ||
		len(tr.Series) != 1 || *tr.Series[0].Values[0] != 1 || *tr.Series[0].Values[1] != 2 {
		t.Errorf("trend of fully synced users: %+v", tr)
	}
	tr, err = report.TrendOf(ctx, st, "", "audius_nm_missed_users_count", "4", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Series) != 1 || tr.Series[0].Labels["sp_id"] != "4" || *tr.Series[0].Values[0] != 1 || *tr.Series[0].Values[1] != 0 {
		t.Errorf("trend of node 4's missed slots: %+v", tr.Series)
	}
	// Per node: nodes 1 and 2 miss nothing in either run, and are left out.
	tr, err = report.TrendOf(ctx, st, "", "missed_users_count", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Series) != 2 || tr.Zero != 2 || tr.Series[0].Labels["sp_id"] != "3" {
		t.Errorf("trend of missed slots: %d series (sp %v first), %d zero; want nodes 3 and 4, 2 zero", len(tr.Series), tr.Series[0].Labels, tr.Zero)
	}
	for _, bad := range []struct{ metric, sp string }{{"no_such_metric", ""}, {"missed_users_count", "9"}} {
		if _, err := report.TrendOf(ctx, st, "", bad.metric, bad.sp, 10); !errors.Is(err, report.ErrUsage) {
			t.Errorf("trend of %s sp %q: %v, want a usage error", bad.metric, bad.sp, err)
		}
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
