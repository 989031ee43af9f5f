package bus_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/testenv"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

func connect(t *testing.T) *bus.Conn {
	t.Helper()
	s := testenv.NATS(t)
	c, err := bus.Connect(s.ClientURL(), "", "test", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx := context.Background()
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureStreams(ctx, bus.StreamOptions{Replicas: 1, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	// Idempotent: a second stage starting does the same.
	if err := c.EnsureStreams(ctx, bus.StreamOptions{Replicas: 1, MaxAge: time.Hour}); err != nil {
		t.Fatalf("second EnsureStreams: %v", err)
	}
	return c
}

func workItem(run, sp, batch int64) message.Out {
	return message.WorkOut(&netmonv1.WorkItem{RunId: run, SpId: sp, Batch: batch, Wallets: []string{"0xa"}})
}

func resultFor(item *netmonv1.WorkItem, o netmonv1.Outcome) message.Out {
	return message.ResultOut(&netmonv1.FetchResult{RunId: item.GetRunId(), SpId: item.GetSpId(), Batch: item.GetBatch(), Outcome: o})
}

// consume runs the router on the work stream with handler h until the returned stop is called.
func consume(t *testing.T, c *bus.Conn, maxDeliver int, h bus.Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Consume(ctx, bus.ConsumerSpec{
			Stream: message.StreamWork, Durable: "test", AckWait: 5 * time.Second,
			MaxDeliver: maxDeliver, MaxAckPending: 16, Workers: 2,
		}, h, bus.NewRouterMetrics(prometheus.NewRegistry()), zerolog.Nop())
	}()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consume: %v", err)
		}
	}
}

// results waits until the data stream holds n results of run 1 and returns their outcomes by
// batch.
func results(t *testing.T, c *bus.Conn, n int) map[int64]netmonv1.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		got, err := c.Count(ctx, message.StreamData, message.ResultFilter(1))
		if err != nil {
			t.Fatal(err)
		}
		if got >= int64(n) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d results after 20s, want %d", got, n)
		case <-time.After(50 * time.Millisecond):
		}
	}
	out := map[int64]netmonv1.Outcome{}
	h, err := c.History(ctx, message.StreamData, []string{message.ResultFilter(1)})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		m, err := h.Next(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var r netmonv1.FetchResult
		if err := proto.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		if _, dup := out[r.GetBatch()]; dup {
			t.Errorf("batch %d has two results", r.GetBatch())
		}
		out[r.GetBatch()] = r.GetOutcome()
	}
	return out
}

// workLeft is how many work items of run 1 the work queue still holds.
func workLeft(t *testing.T, c *bus.Conn) int64 {
	t.Helper()
	n, err := c.Count(context.Background(), message.StreamWork, message.WorkFilter(1))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func decodeItem(in message.In) *netmonv1.WorkItem {
	var item netmonv1.WorkItem
	if err := proto.Unmarshal(in.Data, &item); err != nil {
		panic(err)
	}
	return &item
}

// handler is a bus.Handler made of functions; a nil poison records nothing.
type handler struct {
	handle func(ctx context.Context, in message.In) ([]message.Out, error)
	poison func(in message.In, cause error) []message.Out
}

func (h handler) Handle(ctx context.Context, in message.In) ([]message.Out, error) {
	return h.handle(ctx, in)
}

func (h handler) Poison(in message.In, cause error) []message.Out {
	if h.poison == nil {
		return nil
	}
	return h.poison(in, cause)
}

// TestRouterPublishesThenAcks: every input gets its output, the work queue empties, and a
// republished input (same message id) is dropped as a duplicate.
func TestRouterPublishesThenAcks(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	var outs []message.Out
	for b := int64(0); b < 10; b++ {
		outs = append(outs, workItem(1, 7, b))
	}
	if err := c.Publish(ctx, outs...); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, outs[3]); err != nil { // a planner republishing after a crash
		t.Fatal(err)
	}
	stop := consume(t, c, 3, handler{handle: func(_ context.Context, in message.In) ([]message.Out, error) {
		return []message.Out{resultFor(decodeItem(in), netmonv1.Outcome_OUTCOME_OK)}, nil
	}})
	got := results(t, c, 10)
	stop()
	if len(got) != 10 {
		t.Fatalf("%d distinct results, want 10", len(got))
	}
	if n := workLeft(t, c); n != 0 {
		t.Fatalf("%d work items left unacked", n)
	}
}

// TestRouterPoison: a message whose handler always fails is retried MaxDeliver times, then
// recorded once through Poison; a permanent error goes to Poison at once.
func TestRouterPoison(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	if err := c.Publish(ctx, workItem(1, 7, 0), workItem(1, 7, 1)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	calls := map[int64]int{}
	var poisoned atomic.Int32
	stop := consume(t, c, 3, handler{
		handle: func(_ context.Context, in message.In) ([]message.Out, error) {
			item := decodeItem(in)
			mu.Lock()
			calls[item.GetBatch()]++
			mu.Unlock()
			if item.GetBatch() == 1 {
				return nil, message.Permanent(errors.New("cannot ever work"))
			}
			return nil, errors.New("node exploded")
		},
		poison: func(in message.In, cause error) []message.Out {
			poisoned.Add(1)
			return []message.Out{resultFor(decodeItem(in), netmonv1.Outcome_OUTCOME_POISON)}
		},
	})
	got := results(t, c, 2)
	stop()
	for b, o := range got {
		if o != netmonv1.Outcome_OUTCOME_POISON {
			t.Errorf("batch %d: outcome %v, want POISON", b, o)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if calls[0] != 3 {
		t.Errorf("failing item handled %d times, want MaxDeliver=3", calls[0])
	}
	if calls[1] != 1 {
		t.Errorf("permanently failing item handled %d times, want 1", calls[1])
	}
	if poisoned.Load() != 2 {
		t.Errorf("Poison called %d times, want 2", poisoned.Load())
	}
	if n := workLeft(t, c); n != 0 {
		t.Errorf("%d poisoned items left in the work queue", n)
	}
}

// TestStateRunIDs: the run-id high-water mark only ever rises, whatever order concurrent
// planners record their ids in.
func TestStateRunIDs(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	st, err := c.OpenState(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if last, err := st.LastRunID(ctx); err != nil || last != 0 {
		t.Fatalf("before any run: last = %d (%v), want 0", last, err)
	}
	var wg sync.WaitGroup
	for id := int64(1); id <= 20; id++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := st.RecordRunID(ctx, id); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if last, err := st.LastRunID(ctx); err != nil || last != 20 {
		t.Fatalf("after recording 1..20 concurrently: last = %d (%v), want 20", last, err)
	}
	if err := st.RecordRunID(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if last, _ := st.LastRunID(ctx); last != 20 {
		t.Errorf("recording 7 lowered the mark to %d", last)
	}
}

// TestBacklog: a consumer's backlog counts its messages not delivered yet and those delivered and
// not acknowledged; a consumer that does not exist has none.
func TestBacklog(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	backlog := func() int64 {
		t.Helper()
		n, err := c.Backlog(ctx, message.StreamWork, "test")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := backlog(); n != 0 {
		t.Fatalf("backlog of a consumer never created: %d", n)
	}
	var outs []message.Out
	for b := int64(0); b < 5; b++ {
		outs = append(outs, workItem(1, 7, b))
	}
	if err := c.Publish(ctx, outs...); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var handling atomic.Int32
	stop := consume(t, c, 3, handler{handle: func(_ context.Context, in message.In) ([]message.Out, error) {
		handling.Add(1)
		<-release
		return []message.Out{resultFor(decodeItem(in), netmonv1.Outcome_OUTCOME_OK)}, nil
	}})
	for handling.Load() < 2 { // both workers hold a message: 2 unacknowledged, 3 not delivered or buffered
		time.Sleep(10 * time.Millisecond)
	}
	if n := backlog(); n != 5 {
		t.Errorf("backlog with 5 messages, none acknowledged: %d", n)
	}
	close(release)
	results(t, c, 5)
	deadline := time.Now().Add(10 * time.Second)
	n := backlog()
	for ; n != 0 && time.Now().Before(deadline); n = backlog() {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if n != 0 {
		t.Errorf("backlog once every message is handled: %d", n)
	}
}
