package fetcher

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/audius-netmon/netmon/internal/contentnode"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// fakeNode is a content node over real HTTP that counts requests and the most it had in flight.
// respond gets the 1-based request number; nil answers like a real node from known.
type fakeNode struct {
	URL         string
	known       map[string]int64
	respond     func(n int, w http.ResponseWriter, r *http.Request, wallets []string)
	requests    atomic.Int32
	inflight    atomic.Int32
	maxInflight atomic.Int32
}

func newNode(t *testing.T, known map[string]int64, respond func(n int, w http.ResponseWriter, r *http.Request, wallets []string)) *fakeNode {
	t.Helper()
	fn := &fakeNode{known: known, respond: respond}
	srv := httptest.NewServer(http.HandlerFunc(fn.serve))
	t.Cleanup(srv.Close)
	fn.URL = srv.URL
	return fn
}

func (fn *fakeNode) serve(w http.ResponseWriter, r *http.Request) {
	n := int(fn.requests.Add(1))
	cur := fn.inflight.Add(1)
	defer fn.inflight.Add(-1)
	for {
		m := fn.maxInflight.Load()
		if cur <= m || fn.maxInflight.CompareAndSwap(m, cur) {
			break
		}
	}
	var req struct {
		WalletPublicKeys []string `json:"walletPublicKeys"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, 400, map[string]string{"error": "walletPublicKeys is required"})
		return
	}
	if fn.respond != nil {
		fn.respond(n, w, r, req.WalletPublicKeys)
		return
	}
	answer(w, fn.known, req.WalletPublicKeys)
}

// answer replies as a real node: one entry per distinct wallet, in order, -1 when unknown.
func answer(w http.ResponseWriter, known map[string]int64, wallets []string) {
	type entry struct {
		WalletPublicKey string `json:"walletPublicKey"`
		Clock           int64  `json:"clock"`
	}
	users := []entry{}
	seen := map[string]bool{}
	for _, wallet := range wallets {
		if seen[wallet] {
			continue
		}
		seen[wallet] = true
		c, ok := known[wallet]
		if !ok {
			c = -1
		}
		users = append(users, entry{wallet, c})
	}
	writeJSON(w, 200, map[string]any{"data": map[string]any{"users": users}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// hang waits until the client gives up.
func hang(_ int, w http.ResponseWriter, r *http.Request, _ []string) {
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

func newFetcher(t *testing.T, opts Options) (*Fetcher, *prometheus.Registry) {
	t.Helper()
	if opts.Backoff == 0 {
		opts.Backoff = time.Millisecond
	}
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	reg := prometheus.NewPedanticRegistry()
	return New(&contentnode.Client{}, opts, reg, zerolog.New(zerolog.NewTestWriter(t))), reg
}

func workItem(endpoint string, wallets ...string) *netmonv1.WorkItem {
	return &netmonv1.WorkItem{RunId: 42, SpId: 3, Endpoint: endpoint, Batch: 7, Wallets: wallets}
}

func handle(t *testing.T, f *Fetcher, item *netmonv1.WorkItem) *netmonv1.FetchResult {
	t.Helper()
	res, err := f.FetchClocks(context.Background(), item)
	if err != nil {
		t.Fatalf("FetchClocks: %v", err)
	}
	return res
}

// check compares a result with want, ignoring duration and the wording of detail (only its
// presence is compared).
func check(t *testing.T, want, got *netmonv1.FetchResult) {
	t.Helper()
	if (want.GetDetail() == "") != (got.GetDetail() == "") {
		t.Errorf("detail = %q, want it empty: %t", got.GetDetail(), want.GetDetail() == "")
	}
	if got.GetOutcome() != netmonv1.Outcome_OUTCOME_OK && got.GetAttempts() > 0 && got.GetDuration() == nil {
		t.Error("no duration on an attempted item")
	}
	if diff := cmp.Diff(want, got, protocmp.Transform(),
		protocmp.IgnoreFields(&netmonv1.FetchResult{}, "duration", "detail")); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
}

func allFailed(item *netmonv1.WorkItem, o netmonv1.Outcome, attempts, status int32) *netmonv1.FetchResult {
	clocks := make([]int64, len(item.Wallets))
	for i := range clocks {
		clocks[i] = -2
	}
	return &netmonv1.FetchResult{RunId: item.RunId, SpId: item.SpId, Batch: item.Batch, Outcome: o, Detail: "x",
		Wallets: item.Wallets, Clocks: clocks, Attempts: attempts, HttpStatus: status}
}

func TestHappyPath(t *testing.T) {
	node := newNode(t, map[string]int64{"0xa": 5, "0xb": 0, "0xd": 123456789}, nil)
	f, _ := newFetcher(t, Options{})
	res := handle(t, f, workItem(node.URL+"/", "0xa", "0xb", "0xc", "0xd"))
	check(t, &netmonv1.FetchResult{RunId: 42, SpId: 3, Batch: 7, Outcome: netmonv1.Outcome_OUTCOME_OK,
		Wallets: []string{"0xa", "0xb", "0xc", "0xd"}, Clocks: []int64{5, 0, -1, 123456789},
		Attempts: 1, HttpStatus: 200}, res)
	if res.GetDuration().AsDuration() <= 0 {
		t.Errorf("duration = %v", res.GetDuration().AsDuration())
	}
}

func TestWalletCase(t *testing.T) {
	// The node echoes wallets in another case; the result keeps the item's wallets as sent.
	node := newNode(t, nil, func(_ int, w http.ResponseWriter, _ *http.Request, wallets []string) {
		swapped := make([]string, len(wallets))
		known := map[string]int64{}
		for i, wallet := range wallets {
			swapped[i] = strings.ToUpper(wallet[:2]) + strings.ToUpper(wallet[2:])
			known[swapped[i]] = int64(i + 10)
		}
		answer(w, known, swapped)
	})
	f, _ := newFetcher(t, Options{})
	res := handle(t, f, workItem(node.URL, "0xabc", "0xDeF"))
	check(t, &netmonv1.FetchResult{RunId: 42, SpId: 3, Batch: 7, Outcome: netmonv1.Outcome_OUTCOME_OK,
		Wallets: []string{"0xabc", "0xDeF"}, Clocks: []int64{10, 11}, Attempts: 1, HttpStatus: 200}, res)
}

func TestMissingWallets(t *testing.T) {
	// An otherwise valid answer that leaves out requested wallets, reorders, and adds a stranger.
	node := newNode(t, nil, func(_ int, w http.ResponseWriter, _ *http.Request, _ []string) {
		answer(w, map[string]int64{"0xc": 3, "0xzz": 1, "0xa": 1}, []string{"0xc", "0xzz", "0xa"})
	})
	f, reg := newFetcher(t, Options{})
	res := handle(t, f, workItem(node.URL, "0xa", "0xb", "0xc", "0xd"))
	check(t, &netmonv1.FetchResult{RunId: 42, SpId: 3, Batch: 7, Outcome: netmonv1.Outcome_OUTCOME_OK,
		Wallets: []string{"0xa", "0xb", "0xc", "0xd"}, Clocks: []int64{1, -2, 3, -2},
		Attempts: 1, Missing: 2, HttpStatus: 200}, res)
	labels := map[string]string{"sp_id": "3", "endpoint": node.URL}
	if got := metricValue(t, reg, "netmon_fetcher_wallets_total", with(labels, "outcome", "missing")); got != 2 {
		t.Errorf("missing wallets metric = %v, want 2", got)
	}
	if got := metricValue(t, reg, "netmon_fetcher_wallets_total", with(labels, "outcome", "ok")); got != 2 {
		t.Errorf("ok wallets metric = %v, want 2", got)
	}
}

func TestNodeDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "http://" + l.Addr().String()
	l.Close()
	f, _ := newFetcher(t, Options{Attempts: 3})
	item := workItem(ep, "0xa", "0xb")
	check(t, allFailed(item, netmonv1.Outcome_OUTCOME_REFUSED, 3, 0), handle(t, f, item))
}

func TestRetryThenOK(t *testing.T) {
	node := newNode(t, map[string]int64{"0xa": 9}, func(n int, w http.ResponseWriter, r *http.Request, wallets []string) {
		if n == 1 {
			writeJSON(w, 500, map[string]string{"error": "Server is in read-only mode at the moment"})
			return
		}
		answer(w, map[string]int64{"0xa": 9}, wallets)
	})
	f, _ := newFetcher(t, Options{Attempts: 3})
	res := handle(t, f, workItem(node.URL, "0xa"))
	check(t, &netmonv1.FetchResult{RunId: 42, SpId: 3, Batch: 7, Outcome: netmonv1.Outcome_OUTCOME_OK,
		Wallets: []string{"0xa"}, Clocks: []int64{9}, Attempts: 2, HttpStatus: 200}, res)
}

func TestNoRetry(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		body    string
		outcome netmonv1.Outcome
	}{
		{"400", 400, `{"error":"Too many wallets"}`, netmonv1.Outcome_OUTCOME_HTTP_ERROR},
		{"404", 404, `not found`, netmonv1.Outcome_OUTCOME_HTTP_ERROR},
		{"bad response", 200, `{"data":{"users":[{"walletPublicKey":"0xa","clock":"7"}]}}`, netmonv1.Outcome_OUTCOME_BAD_RESPONSE},
		{"garbage", 200, `<html>`, netmonv1.Outcome_OUTCOME_BAD_RESPONSE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node := newNode(t, nil, func(_ int, w http.ResponseWriter, _ *http.Request, _ []string) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			f, _ := newFetcher(t, Options{Attempts: 4})
			item := workItem(node.URL, "0xa", "0xb")
			res := handle(t, f, item)
			check(t, allFailed(item, tc.outcome, 1, int32(tc.status)), res)
			if n := node.requests.Load(); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
			if tc.status == 400 && !strings.Contains(res.GetDetail(), "Too many wallets") {
				t.Errorf("detail %q lacks the node's error", res.GetDetail())
			}
		})
	}
}

// TestTimeout: an attempt that times out is not retried: a hung node costs its items one timeout
// each, not Attempts of them (issue 10), and the item is recorded as a timeout.
func TestTimeout(t *testing.T) {
	node := newNode(t, nil, hang)
	const timeout = 100 * time.Millisecond
	f, _ := newFetcher(t, Options{Attempts: 3, Timeout: timeout})
	item := workItem(node.URL, "0xa")
	start := time.Now()
	res := handle(t, f, item)
	took := time.Since(start)
	check(t, allFailed(item, netmonv1.Outcome_OUTCOME_TIMEOUT, 1, 0), res)
	if n := node.requests.Load(); n != 1 {
		t.Errorf("the hung node got %d requests, want 1", n)
	}
	if took < timeout || took > timeout+time.Second {
		t.Errorf("took %v, want about one timeout (%v)", took, timeout)
	}
	if d := res.GetDuration().AsDuration(); d < timeout {
		t.Errorf("result duration %v, want at least %v", d, timeout)
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		min, max     time.Duration
	}{
		{"honoured", "1", 150 * time.Millisecond, time.Second}, // capped at MaxRetryAfter 150ms
		{"huge, capped", "3600", 150 * time.Millisecond, time.Second},
		{"absent", "", 0, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node := newNode(t, nil, func(n int, w http.ResponseWriter, _ *http.Request, wallets []string) {
				if n == 1 {
					if tc.header != "" {
						w.Header().Set("Retry-After", tc.header)
					}
					writeJSON(w, 429, map[string]string{"error": "Too many requests"})
					return
				}
				answer(w, nil, wallets)
			})
			f, _ := newFetcher(t, Options{Attempts: 2, MaxRetryAfter: 150 * time.Millisecond})
			start := time.Now()
			res := handle(t, f, workItem(node.URL, "0xa"))
			took := time.Since(start)
			if res.GetOutcome() != netmonv1.Outcome_OUTCOME_OK || res.GetAttempts() != 2 {
				t.Errorf("outcome %v after %d attempts, want OK after 2", res.GetOutcome(), res.GetAttempts())
			}
			if took < tc.min || took > tc.max {
				t.Errorf("took %v, want between %v and %v", took, tc.min, tc.max)
			}
		})
	}
}

func TestBreaker(t *testing.T) {
	node := newNode(t, nil, func(_ int, w http.ResponseWriter, _ *http.Request, _ []string) {
		writeJSON(w, 500, map[string]string{"error": "boom"})
	})
	f, _ := newFetcher(t, Options{Attempts: 1, BreakerFailures: 2})
	item := workItem(node.URL, "0xa")
	for i := range 2 {
		if o := handle(t, f, item).GetOutcome(); o != netmonv1.Outcome_OUTCOME_HTTP_ERROR {
			t.Fatalf("item %d: outcome %v, want HTTP_ERROR", i, o)
		}
	}
	check(t, allFailed(item, netmonv1.Outcome_OUTCOME_CIRCUIT_OPEN, 0, 0), handle(t, f, item))
	if n := node.requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2 (the open breaker makes no call)", n)
	}

	// The breaker is per (run, node): another run, or another node of this run, still calls.
	other := workItem(node.URL, "0xa")
	other.RunId++
	if o := handle(t, f, other).GetOutcome(); o != netmonv1.Outcome_OUTCOME_HTTP_ERROR {
		t.Errorf("next run: outcome %v, want HTTP_ERROR", o)
	}
	other = workItem(node.URL, "0xa")
	other.SpId++
	if o := handle(t, f, other).GetOutcome(); o != netmonv1.Outcome_OUTCOME_HTTP_ERROR {
		t.Errorf("other node: outcome %v, want HTTP_ERROR", o)
	}
	if n := node.requests.Load(); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
}

// TestBreakerStopsQueuedItems: items waiting for a hung node's only request slot fail fast once
// the breaker opens, instead of each waiting for the slot and then for its own timeout.
func TestBreakerStopsQueuedItems(t *testing.T) {
	node := newNode(t, nil, hang)
	f, _ := newFetcher(t, Options{Attempts: 1, Timeout: 100 * time.Millisecond, NodeConcurrency: 1, BreakerFailures: 2})
	const items = 8
	results := make([]*netmonv1.FetchResult, items)
	var wg sync.WaitGroup
	for i := range items {
		wg.Go(func() {
			item := workItem(node.URL, "0xa")
			item.Batch = int64(i)
			results[i] = handle(t, f, item)
		})
	}
	wg.Wait()
	var timeouts, open int
	for _, r := range results {
		switch r.GetOutcome() {
		case netmonv1.Outcome_OUTCOME_TIMEOUT:
			timeouts++
		case netmonv1.Outcome_OUTCOME_CIRCUIT_OPEN:
			open++
			if r.GetAttempts() != 0 || !strings.Contains(r.GetDetail(), "circuit open") {
				t.Errorf("failed fast with %d attempts, detail %q; want 0 attempts", r.GetAttempts(), r.GetDetail())
			}
		default:
			t.Errorf("outcome %v", r.GetOutcome())
		}
	}
	// Two items time out and open the breaker; the item that took the slot just before the second
	// one recorded its failure may make one request more. Without the look at the breaker behind
	// the slot, all eight would wait their turn and time out: 8 requests.
	if timeouts < 2 || timeouts > 3 || open != items-timeouts {
		t.Errorf("%d timed out, %d failed fast; want 2 or 3 and the rest", timeouts, open)
	}
	if n := node.requests.Load(); int(n) != timeouts {
		t.Errorf("%d requests to the hung node, want %d (one per timed-out item)", n, timeouts)
	}
}

func TestBreakerResetsOnSuccess(t *testing.T) {
	// Requests 1, 3, 4 fail; 2 succeeds. With a threshold of 2 the breaker opens only after 3 and 4.
	node := newNode(t, nil, func(n int, w http.ResponseWriter, _ *http.Request, wallets []string) {
		if n == 2 {
			answer(w, nil, wallets)
			return
		}
		writeJSON(w, 400, map[string]string{"error": "no"})
	})
	f, _ := newFetcher(t, Options{Attempts: 1, BreakerFailures: 2})
	item := workItem(node.URL, "0xa")
	var got []netmonv1.Outcome
	for range 5 {
		got = append(got, handle(t, f, item).GetOutcome())
	}
	want := []netmonv1.Outcome{
		netmonv1.Outcome_OUTCOME_HTTP_ERROR, netmonv1.Outcome_OUTCOME_OK, netmonv1.Outcome_OUTCOME_HTTP_ERROR,
		netmonv1.Outcome_OUTCOME_HTTP_ERROR, netmonv1.Outcome_OUTCOME_CIRCUIT_OPEN,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
}

func TestBreakerMemoryBounded(t *testing.T) {
	b := newBreaker(1)
	for run := int64(1); run <= 100; run++ {
		b.record(run, 1, false)
		b.record(run, 2, false)
	}
	if len(b.runs) != keepRuns {
		t.Errorf("state for %d runs, want %d", len(b.runs), keepRuns)
	}
	if !b.open(100, 1) || b.open(1, 1) {
		t.Error("want the newest run's breaker open and the oldest run's forgotten")
	}
	// A straggler of a forgotten run does not push out a current one.
	b.record(2, 1, false)
	if b.open(2, 1) || !b.open(97, 1) {
		t.Error("a forgotten run came back or evicted a newer one")
	}
}

func TestSkips(t *testing.T) {
	node := newNode(t, nil, nil)
	f, reg := newFetcher(t, Options{Deregistered: []string{node.URL + "/", "http://gone.example"}})
	for _, tc := range []struct {
		endpoint string
		outcome  netmonv1.Outcome
	}{
		{node.URL, netmonv1.Outcome_OUTCOME_SKIPPED_DEREGISTERED},
		{node.URL + "//", netmonv1.Outcome_OUTCOME_SKIPPED_DEREGISTERED},
		{"http://gone.example/", netmonv1.Outcome_OUTCOME_SKIPPED_DEREGISTERED},
		{"", netmonv1.Outcome_OUTCOME_SKIPPED_NO_ENDPOINT},
		{"/", netmonv1.Outcome_OUTCOME_SKIPPED_NO_ENDPOINT},
		{"None", netmonv1.Outcome_OUTCOME_SKIPPED_NO_ENDPOINT},
		{"cn1.example:4000", netmonv1.Outcome_OUTCOME_SKIPPED_NO_ENDPOINT},
		{"ftp://cn1.example", netmonv1.Outcome_OUTCOME_SKIPPED_NO_ENDPOINT},
		{"http://", netmonv1.Outcome_OUTCOME_SKIPPED_NO_ENDPOINT},
	} {
		item := workItem(tc.endpoint, "0xa", "0xb")
		res := handle(t, f, item)
		if res.GetOutcome() != tc.outcome {
			t.Errorf("endpoint %q: outcome %v, want %v", tc.endpoint, res.GetOutcome(), tc.outcome)
			continue
		}
		check(t, allFailed(item, tc.outcome, 0, 0), res)
	}
	if n := node.requests.Load(); n != 0 {
		t.Errorf("%d requests to a deregistered node, want 0", n)
	}
	if got := metricValue(t, reg, "netmon_fetcher_wallets_total",
		map[string]string{"sp_id": "3", "endpoint": "", "outcome": "skipped_no_endpoint"}); got != 2 {
		t.Errorf("skipped wallets metric for endpoint \"\" = %v, want 2", got)
	}
}

func TestNodeConcurrency(t *testing.T) {
	slow := func(_ int, w http.ResponseWriter, _ *http.Request, wallets []string) {
		time.Sleep(50 * time.Millisecond)
		answer(w, nil, wallets)
	}
	node, other := newNode(t, nil, slow), newNode(t, nil, slow)
	f, _ := newFetcher(t, Options{NodeConcurrency: 2})
	var wg sync.WaitGroup
	for i := range 8 {
		for _, ep := range []string{node.URL, other.URL} {
			wg.Go(func() {
				item := workItem(ep, "0xa")
				item.Batch = int64(i)
				if o := handle(t, f, item).GetOutcome(); o != netmonv1.Outcome_OUTCOME_OK {
					t.Errorf("outcome %v", o)
				}
			})
		}
	}
	wg.Wait()
	for _, n := range []*fakeNode{node, other} {
		if got := n.maxInflight.Load(); got != 2 {
			t.Errorf("node had at most %d requests in flight, want exactly 2", got)
		}
		if got := n.requests.Load(); got != 8 {
			t.Errorf("node got %d requests, want 8", got)
		}
	}
}

func TestContextCanceled(t *testing.T) {
	t.Run("during a request", func(t *testing.T) {
		node := newNode(t, nil, hang)
		f, _ := newFetcher(t, Options{Timeout: 5 * time.Second})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		res, err := f.FetchClocks(ctx, workItem(node.URL, "0xa"))
		if !errors.Is(err, context.Canceled) || res != nil {
			t.Errorf("FetchClocks = %v, %v; want no result and context.Canceled", res, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v to notice the cancel", d)
		}
	})
	t.Run("during backoff", func(t *testing.T) {
		node := newNode(t, nil, func(_ int, w http.ResponseWriter, _ *http.Request, _ []string) {
			writeJSON(w, 503, map[string]string{"error": "busy"})
		})
		f, _ := newFetcher(t, Options{Attempts: 5, Backoff: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		res, err := f.FetchClocks(ctx, workItem(node.URL, "0xa"))
		if !errors.Is(err, context.DeadlineExceeded) || res != nil {
			t.Errorf("FetchClocks = %v, %v; want no result and the deadline", res, err)
		}
	})
	t.Run("before", func(t *testing.T) {
		node := newNode(t, nil, nil)
		f, _ := newFetcher(t, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		res, err := f.FetchClocks(ctx, workItem(node.URL, "0xa"))
		if !errors.Is(err, context.Canceled) || res != nil {
			t.Errorf("FetchClocks = %v, %v; want no result and context.Canceled", res, err)
		}
		if n := node.requests.Load(); n != 0 {
			t.Errorf("%d requests, want 0", n)
		}
	})
}

func TestPoison(t *testing.T) {
	item := workItem("http://cn1.example", "0xa", "0xb", "0xc")
	res := PoisonClocks(item, "exhausted 5 deliveries")
	check(t, allFailed(item, netmonv1.Outcome_OUTCOME_POISON, 0, 0), res)
	if res.GetDetail() != "exhausted 5 deliveries" {
		t.Errorf("detail = %q", res.GetDetail())
	}
	res.Wallets[0] = "changed"
	if item.Wallets[0] != "0xa" {
		t.Error("the result shares its wallets with the item")
	}
}

func TestMetrics(t *testing.T) {
	node := newNode(t, map[string]int64{"0xa": 1}, func(n int, w http.ResponseWriter, _ *http.Request, wallets []string) {
		if n == 2 {
			writeJSON(w, 500, map[string]string{"error": "boom"})
			return
		}
		answer(w, map[string]int64{"0xa": 1}, wallets)
	})
	f, reg := newFetcher(t, Options{Attempts: 2, Deregistered: []string{"http://gone.example"}})
	handle(t, f, workItem(node.URL, "0xa", "0xb"))       // ok: request 1
	handle(t, f, workItem(node.URL, "0xa"))              // 500 then ok: requests 2, 3
	handle(t, f, workItem("http://gone.example", "0xa")) // skipped

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}

	node3 := map[string]string{"sp_id": "3", "endpoint": node.URL}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"netmon_fetcher_items_total", with(with(node3, "kind", "clock"), "outcome", "ok"), 2},
		{"netmon_fetcher_wallets_total", with(node3, "outcome", "ok"), 2},
		{"netmon_fetcher_wallets_total", with(node3, "outcome", "unknown_wallet"), 1}, // 0xb
		{"netmon_fetcher_requests_total", with(with(node3, "kind", "clock"), "code", "200"), 2},
		{"netmon_fetcher_requests_total", with(with(node3, "kind", "clock"), "code", "500"), 1},
		{"netmon_fetcher_request_duration_seconds", with(node3, "kind", "clock"), 3},
		{"netmon_fetcher_items_total", map[string]string{"sp_id": "3", "endpoint": "http://gone.example", "kind": "clock", "outcome": "skipped_deregistered"}, 1},
	} {
		if got := metricValue(t, reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

func with(labels map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for lk, lv := range labels {
		out[lk] = lv
	}
	return out
}

// metricValue is a counter's value, or a histogram's sample count, for exactly these labels.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !labelsEqual(m.GetLabel(), labels) {
				continue
			}
			if m.Histogram != nil {
				return float64(m.GetHistogram().GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func labelsEqual(pairs []*dto.LabelPair, want map[string]string) bool {
	if len(pairs) != len(want) {
		return false
	}
	for _, p := range pairs {
		if v, ok := want[p.GetName()]; !ok || v != p.GetValue() {
			return false
		}
	}
	return true
}
