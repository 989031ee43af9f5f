//go:build chaos

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/store"
	"github.com/audius-netmon/netmon/internal/testenv"
)

// crashScenario is a network whose nodes answer slowly enough that a run is still fetching when
// a stage is killed: 12 nodes, 1200 users, 40 wallets per work item (about 130 items with the
// CID items), half the nodes slow, one down, one failing each request once.
func crashScenario(t *testing.T, seed int64) simnet.Scenario {
	t.Helper()
	faults, err := simnet.ParseFaults("1=slow:150ms:400ms,2=slow:150ms:400ms,3=slow:150ms:400ms,4=slow:150ms:400ms," +
		"5=slow:150ms:400ms,6=slow:150ms:400ms,7=down,8=failfirst:1")
	if err != nil {
		t.Fatal(err)
	}
	return simnet.Scenario{Seed: seed, UserCount: 1200, NodeCount: 12}.WithNodes(faults)
}

// crashEnv keeps each fetcher to a few items at a time, so fetching lasts seconds.
var crashEnv = []string{"NETMON_WORK_BATCH_SIZE=40", "NETMON_USER_BATCH_SIZE=200", "NETMON_FETCH_TIMEOUT=1s",
	"NETMON_FETCH_CONCURRENCY=4", "NETMON_NODE_CONCURRENCY=2"}

// poll calls cond every interval until it holds or timeout passes.
func poll(t *testing.T, timeout, interval time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, timeout)
		}
		time.Sleep(interval)
	}
}

// TestCrashFetcherMidBatch: one of two fetchers is killed with SIGKILL while it has content-node
// requests in flight, after some results are loaded, and started again. The items it held are
// redelivered (to either fetcher), the run completes, and every metric equals simnet's truth:
// no item lost, none counted twice.
func TestCrashFetcherMidBatch(t *testing.T) {
	s := startChaosStack(t, chaosConfig{scenario: crashScenario(t, 31), fetchers: 2, env: crashEnv})
	run := s.startRun(t)
	var victim *service
	var held int
	poll(t, time.Minute, 5*time.Millisecond, "a fetcher busy after the first results", func() bool {
		for _, f := range s.fetchers {
			if held = f.inFlight(run, ""); held > 0 &&
				queryInt(s.nmDB, "SELECT count(*) FROM fetch_results WHERE run_id = $1", run) > 0 {
				victim = f
				return true
			}
		}
		return false
	})
	victim.kill9()
	loaded := queryInt(s.nmDB, "SELECT count(*) FROM fetch_results WHERE run_id = $1", run)
	t.Logf("killed a fetcher with %d items in flight, %d results loaded", held, loaded)
	time.Sleep(500 * time.Millisecond)
	victim.run()
	s.checkComplete(t, run, fmt.Sprintf("SIGKILL of 1 of 2 fetchers with %d items in flight; restarted", held))
}

// TestCrashLoaderMidCOPY: the loader is killed with SIGKILL while its COPY of clock rows is in
// progress (held on a table lock the test takes, seen in pg_stat_activity), and started again.
// The open transactions roll back, the results are redelivered and written once; the run completes
// exactly.
func TestCrashLoaderMidCOPY(t *testing.T) {
	s := startChaosStack(t, chaosConfig{scenario: crashScenario(t, 32), env: crashEnv})
	// The run will be 1. Its clock results partition is made now (the planner creates a run's partitions
	// when it creates the run, and leaves one that exists alone) so the test can hold a lock on it
	// before any COPY.
	ctx := context.Background()
	st, err := store.Open(ctx, s.nmDB, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st.Close()
	execSQL(t, s.nmDB, "CREATE TABLE clock_results_r1 PARTITION OF clock_results FOR VALUES IN (1)")
	lockConn, err := pgx.Connect(ctx, s.nmDB)
	if err != nil {
		t.Fatal(err)
	}
	defer lockConn.Close(ctx)
	lock, err := lockConn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// SHARE lets the loader read the table's columns (pgx does, before COPY) but holds its COPY,
	// which has started: the statement is sent and its rows are streaming.
	if _, err := lock.Exec(ctx, "LOCK TABLE clock_results_r1 IN SHARE MODE"); err != nil {
		t.Fatal(err)
	}

	if run := s.startRun(t); run != 1 {
		t.Fatalf("run %d, want 1", run)
	}
	copying := `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
		AND query ILIKE 'copy%clock_results_r1%' AND wait_event_type = 'Lock'`
	poll(t, time.Minute, 20*time.Millisecond, "the loader's COPY waiting mid-transaction", func() bool {
		return queryInt(s.nmDB, copying) > 0
	})
	n := queryInt(s.nmDB, copying)
	s.loader.kill9()
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// The killed loader's backends find their client gone and roll back.
	poll(t, 30*time.Second, 50*time.Millisecond, "the killed loader's COPYs rolled back", func() bool {
		return queryInt(s.nmDB, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND query ILIKE 'copy%clock_results_r1%' AND state <> 'idle'`) == 0
	})
	t.Logf("killed the loader with %d COPYs in progress", n)
	s.loader.run()
	s.checkComplete(t, 1, fmt.Sprintf("SIGKILL of the loader with %d COPYs in progress; restarted", n))
}

// TestCrashAggregatorMidPush: the aggregator is killed with SIGKILL while its PUT to the
// Pushgateway is in progress (a proxy holds the request), and started again. The run is complete
// already (its metrics are stored; pushing is not finishing) with its push pending, and the
// restarted aggregator pushes it: metrics pushed once more, exactly.
func TestCrashAggregatorMidPush(t *testing.T) {
	pg := startPushgatewayBehindGate(t)
	s := startChaosStack(t, chaosConfig{scenario: crashScenario(t, 33), env: crashEnv, pushgateway: pg.url})
	s.pushgateway = pg.real // scrape the real one
	run := s.startRun(t)
	select {
	case <-pg.held:
	case <-time.After(2 * time.Minute):
		t.Fatal("no push arrived")
	}
	if st, push := runStatus(s.nmDB, run), pushState(s.nmDB, run); st != "complete" || push != "pending" {
		t.Fatalf("run %d is %q with push %q while its push is held, want complete with the push pending", run, st, push)
	}
	s.aggregator.kill9()
	pg.open()
	if push := pushState(s.nmDB, run); push != "pending" {
		t.Fatalf("run %d's push is %q after the aggregator died mid-push, want pending", run, push)
	}
	s.aggregator.run()
	s.checkComplete(t, run, "SIGKILL of the aggregator during its Pushgateway PUT; restarted")
	if n := pg.puts.Load(); n < 2 {
		t.Errorf("%d PUTs reached the gate, want the held one and the retry", n)
	}
}

// gatedPushgateway is the real Pushgateway behind a proxy that holds the first PUT until the
// client goes away or the gate opens.
type gatedPushgateway struct {
	url, real string
	held      chan struct{}
	opened    chan struct{}
	puts      atomic.Int32
	open      func()
}

func startPushgatewayBehindGate(t *testing.T) *gatedPushgateway {
	t.Helper()
	real := testenv.Pushgateway(t)
	u, _ := url.Parse(real)
	proxy := httputil.NewSingleHostReverseProxy(u)
	g := &gatedPushgateway{real: real, held: make(chan struct{}), opened: make(chan struct{})}
	var once, openOnce atomic.Bool
	g.open = func() {
		if openOnce.CompareAndSwap(false, true) {
			close(g.opened)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/metrics/job/") {
			g.puts.Add(1)
			if once.CompareAndSwap(false, true) {
				close(g.held)
				select {
				case <-r.Context().Done():
					return // the aggregator died mid-push
				case <-g.opened:
				}
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(g.open)
	g.url = srv.URL
	return g
}
