// Package fetcher is the fetcher stage's logic, without NATS: it consumes a WorkItem (one content
// node, one batch of wallets), asks that node for the wallets' clocks through contentnode.Client,
// and produces exactly one FetchResult: the node's clocks on success, or a failure outcome with
// every wallet at -2 (spec §6). A CIDWorkItem (one node, one route, a batch of CIDs) likewise
// produces one CIDResult (cid.go). Handle takes a delivered work-stream message to its result
// message (handle.go). Content-node trouble is never an error; the fetcher returns an error only
// when its context ends, so the caller leaves the item unacked for redelivery.
//
// Policy (spec §12 item 5): short per-attempt timeouts, a bounded number of attempts with
// full-jitter backoff, a circuit breaker per (run, node) so a dead node costs a few timeouts per run
// instead of one per batch, and a per-endpoint limit on requests in flight from this process.
//
// A hung or black-holed node costs its own budget, not the run's: an attempt that times out is
// not retried (a node that did not answer in Timeout will not answer the next attempt sooner;
// refusals, resets and 5xx answers, which cost little, are), so its items end after one timeout,
// all at about the same time since the node's first items are in flight together, and their
// failures open its breaker for the rest; and items waiting for a slot of a node hold none of
// the process's request slots (Concurrency), so items of healthy nodes never wait behind them.
package fetcher

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/audius-netmon/netmon/internal/contentnode"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/storagenode"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// Defaults for zero Options fields.
const (
	DefaultTimeout         = 15 * time.Second
	DefaultAttempts        = 3
	DefaultConcurrency     = 16
	DefaultNodeConcurrency = 4
	DefaultBreakerFailures = 3
	DefaultBackoff         = 200 * time.Millisecond
	DefaultMaxRetryAfter   = 5 * time.Second
)

// maxBackoff caps one backoff wait however many attempts are configured.
const maxBackoff = 30 * time.Second

// Options tune the fetch policy. Zero fields take the defaults above.
type Options struct {
	// Timeout bounds each attempt (connect, headers and body).
	Timeout time.Duration
	// Attempts is the number of tries per item, the first included (a timeout ends the item).
	Attempts int
	// Concurrency bounds the requests this process has in flight over all nodes.
	Concurrency int
	// NodeConcurrency bounds the requests this process has in flight to one endpoint.
	NodeConcurrency int
	// BreakerFailures consecutive failed items of a node in a run open its breaker for the rest of
	// the run; negative disables the breaker.
	BreakerFailures int
	// Deregistered endpoints are never called (the original's DEREGISTERED_CONTENT_NODES). They
	// match exactly, after trailing "/" are trimmed on both sides.
	Deregistered []string
	// Backoff is the base of the full-jitter wait before retry k: uniform in [0, Backoff·2^k).
	Backoff time.Duration
	// MaxRetryAfter caps how long a node's Retry-After (on 429 or 503) may delay the next attempt.
	MaxRetryAfter time.Duration
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Attempts <= 0 {
		o.Attempts = DefaultAttempts
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.NodeConcurrency <= 0 {
		o.NodeConcurrency = DefaultNodeConcurrency
	}
	if o.BreakerFailures == 0 {
		o.BreakerFailures = DefaultBreakerFailures
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = DefaultMaxRetryAfter
	}
	return o
}

// Fetcher answers work items. It is safe for concurrent use: the caller may run many Handle calls
// at once, and the per-endpoint limit holds across them.
type Fetcher struct {
	client       *contentnode.Client
	opts         Options
	deregistered map[string]bool
	breaker      *breaker
	metrics      *metrics
	log          zerolog.Logger

	// requests are the process's request slots (Concurrency), taken after a node's slot.
	requests chan struct{}

	mu    sync.Mutex
	nodes map[string]*nodeState // by endpoint; one entry per content node, so bounded

	// storage answers storage runs' items (storage.go); storageRate paces each endpoint's probes.
	storage     *storagenode.Client
	storageRate float64
}

// New builds a Fetcher. Its metrics are registered on reg (none if reg is nil); registering two
// Fetchers on one registry panics.
func New(client *contentnode.Client, opts Options, reg prometheus.Registerer, log zerolog.Logger) *Fetcher {
	opts = opts.withDefaults()
	dereg := make(map[string]bool, len(opts.Deregistered))
	for _, e := range opts.Deregistered {
		dereg[strings.TrimRight(e, "/")] = true
	}
	return &Fetcher{
		client:       client,
		opts:         opts,
		deregistered: dereg,
		breaker:      newBreaker(opts.BreakerFailures),
		metrics:      newMetrics(reg),
		log:          log,
		requests:     make(chan struct{}, opts.Concurrency),
		nodes:        make(map[string]*nodeState),
	}
}

// FetchClocks answers one clock work item with one result. wallets in the result are the item's, in order;
// clocks are parallel to them. It returns an error only when ctx ends before the item is answered
// (shutdown or the caller's deadline); content-node failures are results.
func (f *Fetcher) FetchClocks(ctx context.Context, item *netmonv1.WorkItem) (*netmonv1.FetchResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", itemName(item), err)
	}
	n := targetOf(item.GetRunId(), item.GetSpId(), item.GetEndpoint(), message.KindClock)
	log := f.log.With().Int64("run_id", item.GetRunId()).Int64("sp_id", item.GetSpId()).
		Str("endpoint", item.GetEndpoint()).Int64("batch", item.GetBatch()).Logger()

	var res *netmonv1.FetchResult
	if outcome, detail, skip := f.skip(n.run, n.sp, n.endpoint); skip {
		res = failed(item, outcome, detail)
	} else {
		var err error
		res, err = f.fetch(ctx, item, n, log)
		if err != nil {
			return nil, fmt.Errorf("fetch %s: %w", itemName(item), err)
		}
	}

	f.observe(item, res)
	f.logEnd(log, res.GetOutcome(), res.GetMissing(), res.GetAttempts(), res.GetDetail())
	return res, nil
}

// skip says whether an item for this node is answered without a call, and why: no endpoint, a
// deregistered endpoint, an endpoint that is no http(s) URL, or the node's breaker open.
func (f *Fetcher) skip(run, sp int64, endpoint string) (netmonv1.Outcome, string, bool) {
	switch {
	case endpoint == "":
		return netmonv1.Outcome_OUTCOME_SKIPPED_NO_ENDPOINT, "no endpoint", true
	case f.deregistered[endpoint]:
		return netmonv1.Outcome_OUTCOME_SKIPPED_DEREGISTERED, "endpoint is deregistered", true
	case f.client.CheckEndpoint(endpoint) != nil: // not http(s), or refused (SSRF): see contentnode.Policy
		return netmonv1.Outcome_OUTCOME_SKIPPED_NO_ENDPOINT, f.client.CheckEndpoint(endpoint).Error(), true
	case f.breaker.open(run, sp):
		return netmonv1.Outcome_OUTCOME_CIRCUIT_OPEN, f.circuitDetail(), true
	}
	return 0, "", false
}

// circuitDetail is the detail of an item failed fast by its node's breaker.
func (f *Fetcher) circuitDetail() string {
	return fmt.Sprintf("circuit open: %d consecutive failed items on this node in this run", f.opts.BreakerFailures)
}

// record feeds an item's outcome to the node's breaker (clock and CID items alike).
func (f *Fetcher) record(n target, ok bool, log zerolog.Logger) {
	if f.breaker.record(n.run, n.sp, ok) {
		log.Warn().Int("failures", f.opts.BreakerFailures).
			Msg("circuit open: the node's remaining items in this run fail fast")
	}
}

// logEnd logs an item that did not end well.
func (f *Fetcher) logEnd(log zerolog.Logger, o netmonv1.Outcome, missing, attempts int32, detail string) {
	switch {
	case o == netmonv1.Outcome_OUTCOME_OK && missing > 0:
		log.Warn().Int32("missing", missing).Msg("node answered without some requested items")
	case o != netmonv1.Outcome_OUTCOME_OK:
		// Skips and fail-fast items repeat for every batch of the node: one warning (the breaker
		// opening, or the node's first failures) says it already.
		ev := log.Warn()
		if attempts == 0 {
			ev = log.Debug()
		}
		ev.Str("outcome", outcomeLabel(o)).Int32("attempts", attempts).Str("detail", detail).Msg("item failed")
	}
}

// tries is how a call with retries went.
type tries struct {
	attempts int
	took     time.Duration
	status   int   // HTTP status of the accepted answer
	err      error // the last attempt's error; nil when an answer was accepted
}

// failure is the result outcome, HTTP status and detail of a call that ended in t.err.
func (f *Fetcher) failure(t tries) (netmonv1.Outcome, int32, string) {
	if errors.Is(t.err, errCircuitOpen) {
		return netmonv1.Outcome_OUTCOME_CIRCUIT_OPEN, 0, f.circuitDetail()
	}
	var ce *contentnode.Error
	if errors.As(t.err, &ce) {
		return ce.Reason.Outcome(), int32(ce.Status), t.err.Error()
	}
	return netmonv1.Outcome_OUTCOME_NETWORK_ERROR, 0, t.err.Error()
}

// retry makes up to Attempts attempts of call (one request each), waiting between them, until one
// is accepted, a failure is not worth retrying, or the node's breaker has opened meanwhile, and
// feeds the item's outcome to the node's breaker. It returns an error only when ctx ended.
//
// The outcome is recorded while the last attempt still holds its slot of the node: an item
// waiting for that slot then finds the breaker as this item left it, so when a hung node's first
// items time out together, the items queued behind them fail fast instead of taking their turn.
func (f *Fetcher) retry(ctx context.Context, n target, log zerolog.Logger,
	call func(ctx context.Context) (int, error)) (tries, error) {
	start := time.Now()
	var t tries
	var wait time.Duration
	for t.attempts < f.opts.Attempts {
		if t.attempts > 0 {
			if err := sleep(ctx, wait); err != nil {
				return t, err
			}
		}
		t.attempts++
		var release func()
		t.status, release, t.err = f.attempt(ctx, n, call)
		if errors.Is(t.err, errCircuitOpen) {
			t.attempts-- // no request was made
			break
		}
		if t.err != nil && ctx.Err() != nil {
			release()
			return t, ctx.Err()
		}
		retry, after := f.retryable(t.err)
		if t.err == nil || !retry || t.attempts == f.opts.Attempts {
			f.record(n, t.err == nil, log)
			release()
			break
		}
		release()
		wait = f.backoff(t.attempts-1, after)
		log.Debug().Err(t.err).Int("attempt", t.attempts).Float64("wait_seconds", wait.Seconds()).Msg("attempt failed, retrying")
	}
	t.took = time.Since(start)
	return t, nil
}

// fetch calls the node with retries. It returns an error only when ctx ended.
func (f *Fetcher) fetch(ctx context.Context, item *netmonv1.WorkItem, n target, log zerolog.Logger) (*netmonv1.FetchResult, error) {
	var ans contentnode.ClockAnswer
	t, err := f.retry(ctx, n, log,
		func(ctx context.Context) (int, error) {
			var err error
			ans, err = f.client.BatchClockStatus(ctx, n.endpoint, item.GetWallets())
			return ans.HTTPStatus, err
		})
	if err != nil {
		return nil, err
	}
	if t.err != nil {
		res := failed(item, netmonv1.Outcome_OUTCOME_NETWORK_ERROR, "")
		res.Outcome, res.HttpStatus, res.Detail = f.failure(t)
		res.Attempts = int32(t.attempts)
		res.Duration = durationpb.New(t.took)
		return res, nil
	}

	res := &netmonv1.FetchResult{
		RunId:      item.GetRunId(),
		SpId:       item.GetSpId(),
		Batch:      item.GetBatch(),
		Part:       item.GetPart(),
		Outcome:    netmonv1.Outcome_OUTCOME_OK,
		Wallets:    slices.Clone(item.GetWallets()),
		Clocks:     ans.Clocks, // parallel to the wallets, contentnode.NoAnswer (-2) where left out
		Missing:    int32(ans.Missing),
		Duration:   durationpb.New(t.took),
		Attempts:   int32(t.attempts),
		HttpStatus: int32(t.status),
	}
	if ans.Unrequested > 0 || ans.Duplicates > 0 {
		log.Warn().Int("unrequested", ans.Unrequested).Int("duplicates", ans.Duplicates).
			Msg("node answered with unrequested or duplicate wallets (ignored)")
	}
	return res, nil
}

// reqLabels are the labels of one node's request metrics.
type reqLabels struct{ sp, endpoint, kind string }

// target is where an item's requests go: a node of a run, the URL called, the metric labels.
type target struct {
	run, sp  int64
	endpoint string // trailing "/" trimmed
	lbl      reqLabels
}

// targetOf is the target of an item of the given kind for the node registered at endpoint: logs
// and metric labels show the endpoint as the registry has it; calls (and the per-endpoint limit)
// use it without trailing slashes.
func targetOf(run, sp int64, endpoint, kind string) target {
	return target{run: run, sp: sp, endpoint: strings.TrimRight(endpoint, "/"),
		lbl: reqLabels{sp: strconv.FormatInt(sp, 10), endpoint: endpoint, kind: kind}}
}

// errCircuitOpen ends an item's attempts when its node's breaker opened while the item waited.
var errCircuitOpen = errors.New("circuit open")

// attempt makes one request under the endpoint's concurrency limit, then the process's, and its
// own timeout, and returns with the node's slot still held: the caller releases it (retry). An
// item waiting for its node's slot holds no request slot, so a hung node's queue delays no other
// node. Once it has the node's slot, the item looks at the node's breaker: open, it fails fast;
// suspect (the node's last item failed), it waits until the node's requests in flight have ended,
// so a node whose first requests are timing out together gets no new one before they have all
// been counted, and the breaker they open fails the rest fast.
func (f *Fetcher) attempt(ctx context.Context, n target, call func(ctx context.Context) (int, error)) (int, func(), error) {
	node := f.node(n.endpoint)
	select {
	case node.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, func() {}, ctx.Err()
	}
	release := func() { <-node.slots }
	for {
		if f.breaker.open(n.run, n.sp) {
			release()
			return 0, func() {}, errCircuitOpen
		}
		busy, changed := node.busy()
		if !busy || !f.breaker.suspect(n.run, n.sp) {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, release, ctx.Err()
		}
	}
	select {
	case f.requests <- struct{}{}:
	case <-ctx.Done():
		return 0, release, ctx.Err()
	}
	defer func() { <-f.requests }()
	lbl := n.lbl

	actx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	node.begin()
	start := time.Now()
	status, err := call(actx)
	node.end()
	f.metrics.duration.WithLabelValues(lbl.sp, lbl.endpoint, lbl.kind).Observe(time.Since(start).Seconds())
	f.metrics.requests.WithLabelValues(lbl.sp, lbl.endpoint, lbl.kind, requestCode(status, err)).Inc()
	return status, release, err
}

// retryable says whether err is worth another attempt, and how long the node asked us to wait.
func (f *Fetcher) retryable(err error) (bool, time.Duration) {
	var ce *contentnode.Error
	if !errors.As(err, &ce) {
		return false, 0
	}
	switch ce.Reason {
	case contentnode.Timeout:
		// The node took the whole Timeout without answering: another attempt would most likely
		// cost as much again, and a hung node would hold its items (and the run) for Attempts
		// timeouts each.
		return false, 0
	case contentnode.Refused, contentnode.Network:
		return true, 0
	case contentnode.HTTPStatus:
		if ce.Status == 429 || ce.Status >= 500 {
			return true, min(ce.RetryAfter, f.opts.MaxRetryAfter)
		}
	}
	return false, 0
}

// backoff is the wait before retry k (0-based): full jitter over Backoff·2^k, but at least what the
// node asked for.
func (f *Fetcher) backoff(k int, atLeast time.Duration) time.Duration {
	ceiling := f.opts.Backoff
	for range k {
		if ceiling >= maxBackoff/2 {
			ceiling = maxBackoff
			break
		}
		ceiling *= 2
	}
	return max(time.Duration(rand.Int64N(int64(ceiling))), atLeast)
}

// node is the state of the endpoint's requests from this process.
func (f *Fetcher) node(endpoint string) *nodeState {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nodes[endpoint]
	if !ok {
		n = &nodeState{slots: make(chan struct{}, f.opts.NodeConcurrency), changed: make(chan struct{})}
		f.nodes[endpoint] = n
	}
	return n
}

// nodeState is one endpoint's requests from this process: its slots (NodeConcurrency), and how
// many requests are in flight, with a channel closed whenever one ends.
type nodeState struct {
	slots chan struct{}

	mu       sync.Mutex
	inflight int
	changed  chan struct{}
	// nextProbe is when the endpoint may get its next storage probe (Fetcher.pace).
	nextProbe time.Time
}

func (n *nodeState) begin() {
	n.mu.Lock()
	n.inflight++
	n.mu.Unlock()
}

func (n *nodeState) end() {
	n.mu.Lock()
	n.inflight--
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
}

// busy reports whether requests are in flight, and a channel closed when one of them ends.
func (n *nodeState) busy() (bool, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.inflight > 0, n.changed
}

func (f *Fetcher) observe(item *netmonv1.WorkItem, res *netmonv1.FetchResult) {
	sp, endpoint := strconv.FormatInt(item.GetSpId(), 10), item.GetEndpoint()
	outcome := outcomeLabel(res.GetOutcome())
	f.metrics.items.WithLabelValues(sp, endpoint, message.KindClock, outcome).Inc()
	missing, unknown := float64(res.GetMissing()), 0.0
	if res.GetOutcome() == netmonv1.Outcome_OUTCOME_OK {
		for _, c := range res.GetClocks() {
			if c == -1 {
				unknown++
			}
		}
	}
	f.metrics.wallets.WithLabelValues(sp, endpoint, outcome).Add(float64(len(res.GetWallets())) - missing - unknown)
	if missing > 0 {
		f.metrics.wallets.WithLabelValues(sp, endpoint, "missing").Add(missing)
	}
	if unknown > 0 {
		f.metrics.wallets.WithLabelValues(sp, endpoint, "unknown_wallet").Add(unknown)
	}
}

// PoisonClocks is the result for a clock item that exhausted its deliveries without an answer:
// outcome POISON and every wallet at -2, so the run still completes.
func PoisonClocks(item *netmonv1.WorkItem, detail string) *netmonv1.FetchResult {
	return failed(item, netmonv1.Outcome_OUTCOME_POISON, detail)
}

// failed is a result with every wallet at -2.
func failed(item *netmonv1.WorkItem, outcome netmonv1.Outcome, detail string) *netmonv1.FetchResult {
	clocks := make([]int64, len(item.GetWallets()))
	for i := range clocks {
		clocks[i] = contentnode.NoAnswer
	}
	return &netmonv1.FetchResult{
		RunId:   item.GetRunId(),
		SpId:    item.GetSpId(),
		Batch:   item.GetBatch(),
		Part:    item.GetPart(),
		Outcome: outcome,
		Detail:  detail,
		Wallets: slices.Clone(item.GetWallets()),
		Clocks:  clocks,
	}
}

// requestCode is the code label of one attempt: the HTTP status, or why there was none.
func requestCode(status int, err error) string {
	if err == nil {
		return strconv.Itoa(status)
	}
	var ce *contentnode.Error
	if !errors.As(err, &ce) {
		return "network"
	}
	if ce.Status != 0 {
		return strconv.Itoa(ce.Status)
	}
	switch ce.Reason {
	case contentnode.Timeout:
		return "timeout"
	case contentnode.Refused:
		return "refused"
	}
	return "network"
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func itemName(item *netmonv1.WorkItem) string {
	return fmt.Sprintf("run %d sp %d batch %d", item.GetRunId(), item.GetSpId(), item.GetBatch())
}
