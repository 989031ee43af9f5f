package loader_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/audius-netmon/netmon/internal/loader"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/store"
	"github.com/audius-netmon/netmon/internal/testenv"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// loaderSubjects are the subjects the loader consumes, by the fuzzer's choice; %d is the run.
var loaderSubjects = []string{
	"netmon.result.%d.3", "netmon.snapshot.%d.run", "netmon.snapshot.%d.nodes", "netmon.snapshot.%d.users",
	"netmon.snapshot.%d.manifest", "netmon.snapshot.%d.cids", "netmon.result.%d.3.cid", "netmon.result.%d.3.image_cid",
	"netmon.snapshot.%d.unknown", "netmon.work.%d.3", "netmon.result.%d",
}

// FuzzLoaderHandle hands the loader arbitrary bytes on each of its subjects (and a few it does
// not expect), as a hostile or broken publisher could. The loader must not panic; a message
// that does not decode must fail permanently (recorded as poison at once, never retried); and a
// message of one run must never write rows of another run, whatever its body says.
func FuzzLoaderHandle(f *testing.F) {
	seeds := []struct {
		subject int
		run     int64
		msg     proto.Message
	}{
		{0, 1, &netmonv1.FetchResult{RunId: 1, SpId: 3, Batch: 0, Outcome: netmonv1.Outcome_OUTCOME_OK, Wallets: []string{"0xa"}, Clocks: []int64{4}}},
		{0, 1, &netmonv1.FetchResult{RunId: 2, SpId: 3, Batch: 0, Outcome: netmonv1.Outcome_OUTCOME_OK, Wallets: []string{"0xa"}, Clocks: []int64{4}}},
		{0, 1, &netmonv1.FetchResult{RunId: 1, SpId: 3, Batch: 1, Wallets: []string{"0xa", "0xb"}, Clocks: []int64{4}}},
		{1, 1, &netmonv1.Run{RunId: 1, BlockNumber: 7, CreatedAt: timestamppb.New(time.Unix(1, 0)), Deadline: timestamppb.New(time.Unix(2, 0))}},
		{1, 1, &netmonv1.Run{RunId: 2, BlockNumber: 7}},
		{2, 1, &netmonv1.ContentNodeBatch{RunId: 2, Nodes: []*netmonv1.ContentNode{{SpId: 3, Endpoint: "http://x"}}}},
		{3, 1, &netmonv1.UserBatch{RunId: 2, Batch: 0, Users: []*netmonv1.User{{UserId: 1, Wallet: "0xa"}}}},
		{3, 1, &netmonv1.UserBatch{RunId: 1, Batch: 0, Users: []*netmonv1.User{{UserId: 1, Wallet: "0xa"}, {UserId: 1, Wallet: "0xb"}}}},
		{4, 1, &netmonv1.Manifest{RunId: 2, UserBatches: 1, Users: 1, ContentNodes: 1, WorkItems: 1}},
		{4, 1, &netmonv1.Manifest{RunId: 1, UserBatches: -1, WorkItems: -5}},
	}
	for _, s := range seeds {
		b, err := proto.Marshal(s.msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(s.subject), s.run, b)
	}
	f.Add(uint8(0), int64(1), []byte{0x0a, 0xff, 0xff})
	f.Add(uint8(9), int64(3), []byte{})
	f.Add(uint8(10), int64(0), []byte{0x08, 0x01})

	ctx := context.Background()
	url := testenv.Database(f)
	st, err := store.Open(ctx, url, 4)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(st.Close)
	if err := st.Migrate(ctx); err != nil {
		f.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { conn.Close(context.Background()) })
	// Three runs exist, so a message of one could reach another's tables.
	for run := int64(1); run <= 3; run++ {
		if err := st.EnsureRun(ctx, run); err != nil {
			f.Fatal(err)
		}
	}
	l := loader.New(st, zerolog.Nop())

	f.Fuzz(func(t *testing.T, which uint8, run int64, data []byte) {
		run = 1 + ((run-1)%3+3)%3 // runs 1..3
		subject := fmt.Sprintf(loaderSubjects[int(which)%len(loaderSubjects)], run)
		before := otherRuns(t, conn, run)
		hctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		subj, err := message.ParseSubject(subject)
		if err != nil {
			return // the router makes it poison without handing it to the loader
		}
		_, err = l.Handle(hctx, message.In{Subject: subj, Data: data})
		if err != nil && undecodable(subject, data) && !message.IsPermanent(err) {
			t.Fatalf("%s: undecodable message failed with a retryable error: %v", subject, err)
		}
		if after := otherRuns(t, conn, run); after != before {
			t.Fatalf("a message on %s wrote rows of another run:\nbefore %s\nafter  %s", subject, before, after)
		}
	})
}

// otherRuns summarises every row that belongs to a run other than run.
func otherRuns(t *testing.T, conn *pgx.Conn, run int64) string {
	t.Helper()
	var s string
	err := conn.QueryRow(context.Background(), `SELECT concat_ws(' ',
		(SELECT count(*) FROM fetch_results WHERE run_id <> $1),
		(SELECT count(*) FROM loaded_batches WHERE run_id <> $1),
		(SELECT count(*) FROM content_nodes WHERE run_id <> $1),
		(SELECT count(*) FROM users WHERE run_id <> $1),
		(SELECT count(*) FROM clock_answers WHERE run_id <> $1),
		(SELECT count(*) FROM cids WHERE run_id <> $1),
		(SELECT count(*) FROM cid_checks WHERE run_id <> $1),
		(SELECT string_agg(concat_ws(',', run_id, status, block_number, created_at, deadline, manifest_at,
			expected_user_batches, expected_work_items), ';' ORDER BY run_id) FROM runs WHERE run_id <> $1))`, run).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// undecodable reports whether data is not a valid message of the type the subject carries.
func undecodable(subject string, data []byte) bool {
	var m proto.Message
	switch {
	case len(subject) > 14 && subject[:14] == "netmon.result.":
		if n := len(subject); n > 4 && (subject[n-4:] == ".cid" || subject[n-10:] == ".image_cid") {
			m = &netmonv1.CIDResult{}
		} else {
			m = &netmonv1.FetchResult{}
		}
	default:
		kinds := map[string]proto.Message{".run": &netmonv1.Run{}, ".nodes": &netmonv1.ContentNodeBatch{},
			".users": &netmonv1.UserBatch{}, ".manifest": &netmonv1.Manifest{}, ".cids": &netmonv1.CIDBatch{}}
		for suffix, msg := range kinds {
			if len(subject) > len(suffix) && subject[len(subject)-len(suffix):] == suffix {
				m = msg
			}
		}
	}
	if m == nil {
		return false
	}
	return proto.Unmarshal(data, m) != nil
}
