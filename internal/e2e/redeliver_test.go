package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/loader"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/store"
)

// runTables are the NM DB tables holding a run's rows, with the order that makes a digest stable.
var runTables = map[string]string{
	"runs":           "run_id",
	"content_nodes":  "sp_id",
	"loaded_batches": "kind, batch",
	"fetch_results":  "sp_id, batch",
	"users":          "user_id",
	"clock_results":  "sp_id, batch",
	"run_parts":      "part",
	"user_status":    "user_id",
	"metric_values":  "name, labels",
}

// digest returns, per table, a hash of every row of the run (timestamps of the runs row included).
func digest(t *testing.T, dbURL string, run int64) map[string]string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	out := map[string]string{}
	for table, order := range runTables {
		var d string
		var n int64
		q := "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY " + order + ")), '') FROM " + table + " t WHERE run_id = $1"
		if err := conn.QueryRow(ctx, q, run).Scan(&n, &d); err != nil {
			t.Fatalf("digest %s: %v", table, err)
		}
		if n == 0 && table != "metric_values" {
			t.Fatalf("digest %s: no rows for run %d", table, run)
		}
		out[table] = d
	}
	return out
}

// redeliverAll hands every data-stream message of the run to a loader a second time, the way a
// redelivery after a crash would, and returns how many it handled.
func redeliverAll(t *testing.T, natsURL, dbURL string, run int64) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := bus.Connect(natsURL, "", "redeliver-test", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h, err := conn.History(ctx, message.StreamData, message.RunDataFilters(run))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dbURL, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := loader.New(st, zerolog.Nop())
	pending := int(h.Pending)
	for i := 0; i < pending; i++ {
		m, err := h.Next(5 * time.Second)
		if err != nil {
			t.Fatalf("message %d of %d: %v", i, pending, err)
		}
		subj, err := message.ParseSubject(m.Subject)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Handle(ctx, message.In{Subject: subj, Data: m.Data}); err != nil {
			t.Fatalf("redeliver %s: %v", m.Subject, err)
		}
	}
	return pending
}
