package bench

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/audius-netmon/netmon/internal/contentnode"
	"github.com/audius-netmon/netmon/internal/store"
)

// Rate is n things (rows, messages, requests) in a time, with their payload bytes.
type Rate struct {
	N     int64
	Bytes int64
	Took  time.Duration
}

// PerSec is n per second.
func (r Rate) PerSec() float64 {
	if r.Took <= 0 {
		return 0
	}
	return float64(r.N) / r.Took.Seconds()
}

// keepFaster replaces r with o if o is the faster rate, or if r is not measured yet.
func (r *Rate) keepFaster(o Rate) {
	if r.Took == 0 || (o.Took > 0 && o.PerSec() > r.PerSec()) {
		*r = o
	}
}

// MBPerSec is payload MB (10^6 bytes) per second.
func (r Rate) MBPerSec() float64 {
	if r.Took <= 0 {
		return 0
	}
	return float64(r.Bytes) / 1e6 / r.Took.Seconds()
}

// Ceilings are what this machine does at most for each stage's main job, measured with the
// run's row counts, batch sizes and message sizes, right after the run, on the same servers.
type Ceilings struct {
	DiscoveryRead Rate // the planner's users query, streamed with pgx (rows)
	PubData       Rate // JetStream async publish of result-sized messages (window 256, with msg ids)
	ConsData      Rate // pull-consume + ack of those messages, 4 workers
	PubUsers      Rate // same for user-batch-sized messages
	ConsUsers     Rate
	CNRequests    Rate // batch_clock_status with the run's own work items, 16 in flight (wallets in Bytes)
	CopyUsers     Rate // pgx COPY of users rows in the run's batch size, 4 connections
	CopyStatus    Rate // pgx COPY of user_status rows a part at a time (NETMON_PART_USERS), 4 connections: the part builds' output
	CopyClocks    Rate // pgx COPY of clock results (a row of wallet and clock arrays per work item, rated in answers), 4 connections
	CopyClocks1   Rate // ... 1 connection
	CopyClocksUnl Rate // ... 4 connections into an UNLOGGED partition
	CopyClocksAsy Rate // ... 4 connections with synchronous_commit=off
	ScanFamilies  Rate // one sequential pass over the run's user_counts partition (rows): the user families' ceiling (fastest of familiesTries)
	ScanBuild     Rate // one sequential pass over the run's users and answers (every array read): the user status build's ceiling
	// Families is not a ceiling but what ScanFamilies is the ceiling of: the user families'
	// statement (store.Catalogue's, as the aggregator runs it), timed the same way, right after it
	// (fastest of familiesTries).
	Families Rate
}

// familiesTries is how often the families' statement and its ceiling are each timed.
const familiesTries = 5

func (r *runner) ceilings(ctx context.Context, ns *natsServer, nmDB string, run int64, foundation []int64, res *Result) (*Ceilings, error) {
	c := &Ceilings{}
	var err error
	if c.DiscoveryRead, err = discoveryRead(ctx, r.discoveryURL); err != nil {
		return nil, fmt.Errorf("discovery read: %w", err)
	}
	items := max(res.WorkItems, 1)
	resultSize := int(res.ResultBytes / items)
	n := int(min(max(res.WorkItems, 300), 2000))
	if c.PubData, c.ConsData, err = jetStreamRate(ctx, ns.URL, "BENCH_DATA", n, resultSize); err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	userSize := int(res.UserBytes / max(res.UserBatches, 1))
	n = int(min(max(res.UserBatches, 300), 2000))
	if c.PubUsers, c.ConsUsers, err = jetStreamRate(ctx, ns.URL, "BENCH_USERS", n, userSize); err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if c.CNRequests, err = r.cnRate(ctx, nmDB, run, 16); err != nil {
		return nil, fmt.Errorf("content nodes: %w", err)
	}
	userBatch := envInt(res.Spec.Env, "NETMON_USER_BATCH_SIZE", 5000)
	workBatch := envInt(res.Spec.Env, "NETMON_WORK_BATCH_SIZE", 5000)
	fake := 1_000_000 + run // a run id no run uses
	if c.CopyUsers, err = copyRate(ctx, nmDB, "users", fake, res.Users, userBatch, 4, false); err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	if c.CopyStatus, err = copyRate(ctx, nmDB, "user_status", fake, res.Users, envInt(res.Spec.Env, "NETMON_PART_USERS", 100_000), 4, false); err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	if c.CopyClocks, err = copyRate(ctx, nmDB, "clock_results", fake, res.ClockRows, workBatch, 4, false); err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	if c.CopyClocks1, err = copyRate(ctx, nmDB, "clock_results", fake, res.ClockRows, workBatch, 1, false); err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	if c.CopyClocksUnl, err = copyRate(ctx, nmDB, "clock_results", fake, res.ClockRows, workBatch, 4, true); err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	if c.CopyClocksAsy, err = copyRate(ctx, withParams(nmDB, "synchronous_commit=off"), "clock_results", fake, res.ClockRows, workBatch, 4, false); err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	// The families take tens of milliseconds at a million users, where one slower moment of this
	// machine moves either time by half: each is measured familiesTries times, alternately, and
	// the fastest of each kept.
	for range familiesTries {
		scan, err := scanRate(ctx, nmDB, fmt.Sprintf("SELECT count(*) FROM user_counts_r%d", run))
		if err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		fam, err := familiesRate(ctx, nmDB, run, foundation)
		if err != nil {
			return nil, fmt.Errorf("families: %w", err)
		}
		c.ScanFamilies.keepFaster(scan)
		c.Families.keepFaster(fam)
	}
	if c.ScanBuild, err = scanRate(ctx, nmDB, fmt.Sprintf("SELECT count(*) FROM users_r%d", run),
		fmt.Sprintf("SELECT coalesce(sum(cardinality(wallets) + cardinality(clocks)) / 2, 0) FROM clock_results_r%d", run)); err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	return c, nil
}

// discoveryRead streams the planner's users query and decodes every row, nothing else.
func discoveryRead(ctx context.Context, url string) (Rate, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return Rate{}, err
	}
	defer conn.Close(ctx)
	start := time.Now()
	rows, err := conn.Query(ctx, `SELECT user_id, wallet, creator_node_endpoint, primary_id,
		secondary_ids[1], secondary_ids[2] FROM users WHERE is_current ORDER BY user_id`)
	if err != nil {
		return Rate{}, err
	}
	defer rows.Close()
	var r Rate
	var (
		id         int64
		wallet, rs *string
		p, s1, s2  *int64
	)
	for rows.Next() {
		if err := rows.Scan(&id, &wallet, &rs, &p, &s1, &s2); err != nil {
			return Rate{}, err
		}
		r.N++
	}
	r.Took = time.Since(start)
	return r, rows.Err()
}

// jetStreamRate publishes n messages of size bytes to a fresh file-backed stream the way the
// planner and the router do (async, a window of 256, a Nats-Msg-Id each), then consumes and acks
// them with a durable pull consumer and 4 workers, the way the stages do.
func jetStreamRate(ctx context.Context, url, stream string, n, size int) (pub, cons Rate, err error) {
	size = max(size, 64)
	nc, err := nats.Connect(url)
	if err != nil {
		return pub, cons, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(512))
	if err != nil {
		return pub, cons, err
	}
	subject := strings.ToLower(stream) + ".x"
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{subject},
		Storage: jetstream.FileStorage, Duplicates: 20 * time.Minute, MaxMsgSize: 8 << 20}); err != nil {
		return pub, cons, err
	}
	defer js.DeleteStream(context.WithoutCancel(ctx), stream) //nolint:errcheck
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	start := time.Now()
	var pending []jetstream.PubAckFuture
	settle := func(ps []jetstream.PubAckFuture) error {
		for _, f := range ps {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	for i := range n {
		if len(pending) >= 256 {
			half := len(pending) / 2
			if err := settle(pending[:half]); err != nil {
				return pub, cons, err
			}
			pending = append(pending[:0], pending[half:]...)
		}
		m := nats.NewMsg(subject)
		m.Data = payload
		m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("bench-%d", i))
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			return pub, cons, err
		}
		pending = append(pending, f)
	}
	if err := settle(pending); err != nil {
		return pub, cons, err
	}
	pub = Rate{N: int64(n), Bytes: int64(n * size), Took: time.Since(start)}

	c, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: "bench",
		AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 256, AckWait: time.Minute})
	if err != nil {
		return pub, cons, err
	}
	const workers = 4
	it, err := c.Messages(jetstream.PullMaxMessages(2 * workers))
	if err != nil {
		return pub, cons, err
	}
	var got atomic.Int64
	var wg sync.WaitGroup
	start = time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for got.Load() < int64(n) {
				m, err := it.Next()
				if err != nil {
					return
				}
				_ = m.Ack()
				if got.Add(1) >= int64(n) {
					it.Stop()
				}
			}
		}()
	}
	wg.Wait()
	cons = Rate{N: got.Load(), Bytes: got.Load() * int64(size), Took: time.Since(start)}
	return pub, cons, nil
}

// cnRate sends the run's own work items (the wallets each node was asked) to the simulated
// nodes with the real client, `workers` requests in flight, and counts requests and wallets.
func (r *runner) cnRate(ctx context.Context, nmDB string, run int64, workers int) (Rate, error) {
	conn, err := pgx.Connect(ctx, nmDB)
	if err != nil {
		return Rate{}, err
	}
	defer conn.Close(ctx)
	type item struct {
		endpoint string
		wallets  []string
	}
	rows, err := conn.Query(ctx, fmt.Sprintf(`SELECT n.endpoint, c.wallets FROM clock_results_r%d c
		JOIN content_nodes n ON n.run_id = c.run_id AND n.sp_id = c.sp_id`, run))
	if err != nil {
		return Rate{}, err
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (item, error) {
		var it item
		err := row.Scan(&it.endpoint, &it.wallets)
		return it, err
	})
	if err != nil {
		return Rate{}, err
	}
	client := &contentnode.Client{HTTP: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}}
	var next, wallets atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(items)) {
					return
				}
				it := items[i]
				if _, err := client.BatchClockStatus(ctx, it.endpoint, it.wallets); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				wallets.Add(int64(len(it.wallets)))
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return Rate{}, err
	}
	return Rate{N: int64(len(items)), Bytes: wallets.Load(), Took: time.Since(start)}, nil
}

// copyRate COPYs rows rows of table's shape into a fresh partition for run fake, in batches of
// batch rows, one transaction per batch (as the loader does), over conns connections at once.
func copyRate(ctx context.Context, url, table string, fake, rows int64, batch, conns int, unlogged bool) (rate Rate, err error) {
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		return Rate{}, err
	}
	defer admin.Close(ctx)
	part := fmt.Sprintf("%s_r%d", table, fake)
	persistence := ""
	if unlogged {
		persistence = "UNLOGGED "
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf("DROP TABLE IF EXISTS %s; CREATE %sTABLE %s PARTITION OF %s FOR VALUES IN (%d)",
		part, persistence, part, table, fake)); err != nil {
		return Rate{}, err
	}
	defer admin.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+part) //nolint:errcheck

	var cols []string
	row := func(i int64) []any { return nil }
	switch table {
	case "users":
		cols = []string{"run_id", "user_id", "wallet", "replica_set", "primary_sp_id", "secondary1_sp_id", "secondary2_sp_id"}
		rs := "http://127.0.0.1:40001,http://127.0.0.1:40002,http://127.0.0.1:40003"
		row = func(i int64) []any {
			w := fmt.Sprintf("0x%040x", i*2654435761)
			return []any{fake, i, &w, &rs, i%50 + 1, (i+7)%50 + 1, (i+13)%50 + 1}
		}
	case "user_status":
		cols = []string{"run_id", "user_id", "has_wallet", "primary_sp_id", "secondary1_sp_id", "secondary2_sp_id",
			"primary_clock", "secondary1_clock", "secondary2_clock"}
		row = func(i int64) []any {
			return []any{fake, i, true, i%50 + 1, (i+7)%50 + 1, (i+13)%50 + 1, i % 1000, i % 1000, i%1000 - i%3}
		}
	case "clock_results":
		// A row per work item, as the loader writes them: rows counts answers, a COPY sends one
		// item of batch answers.
		cols = []string{"run_id", "sp_id", "batch", "part", "wallets", "clocks"}
		wallets, clocks := make([]string, batch), make([]int64, batch)
		for i := range wallets {
			wallets[i], clocks[i] = fmt.Sprintf("0x%040x", int64(i)*2654435761), int64(i%1000)
		}
		row = func(i int64) []any { return []any{fake, i%50 + 1, i, int32(0), wallets, clocks} }
		answers := rows
		rows, batch = (rows+int64(batch)-1)/int64(batch), 1
		defer func() { rate.N = answers }()
	}
	// Rows are made before the clock starts: the ceiling is the database's, not fmt's. At most
	// about a million are made (a whole number of batches) and sent again as often as needed:
	// making all of a 10M-user run's 29M clock rows took the bench past 10 GiB.
	pool := min(rows, (1<<20+int64(batch)-1)/int64(batch)*int64(batch))
	all := make([][]any, pool)
	for i := range all {
		all[i] = row(int64(i))
	}
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			defer conn.Close(ctx)
			for {
				lo := next.Add(int64(batch)) - int64(batch)
				if lo >= rows {
					return
				}
				n := min(int64(batch), rows-lo)
				off := lo % pool // a whole number of batches: off+n ≤ pool
				if _, err := conn.CopyFrom(ctx, pgx.Identifier{part}, cols, pgx.CopyFromRows(all[off:off+n])); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return Rate{}, err
	}
	return Rate{N: rows, Took: time.Since(start)}, nil
}

// scanRate times counts, each one sequential pass over a table, and rates their sum.
func scanRate(ctx context.Context, url string, counts ...string) (Rate, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return Rate{}, err
	}
	defer conn.Close(ctx)
	var r Rate
	start := time.Now()
	for _, q := range counts {
		var n int64
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			return Rate{}, err
		}
		r.N += n
	}
	r.Took = time.Since(start)
	return r, nil
}

// familiesRate runs the user families' statement of store.Catalogue for the run, as the
// aggregator does, and reads every row (N: the rows it returns).
func familiesRate(ctx context.Context, url string, run int64, foundation []int64) (Rate, error) {
	i := slices.IndexFunc(store.Catalogue, func(m store.Metric) bool { return m.Name == "audius_nm_user_count" })
	if i < 0 {
		return Rate{}, fmt.Errorf("no audius_nm_user_count in the catalogue")
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return Rate{}, err
	}
	defer conn.Close(ctx)
	start := time.Now()
	rows, err := conn.Query(ctx, store.Catalogue[i].SQL, pgx.NamedArgs{"run": run, "foundation": foundation})
	if err != nil {
		return Rate{}, err
	}
	var r Rate
	for rows.Next() {
		r.N++
	}
	rows.Close()
	r.Took = time.Since(start)
	return r, rows.Err()
}

func envInt(env []string, name string, def int) int {
	v := def
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			fmt.Sscan(val, &v)
		}
	}
	return v
}
