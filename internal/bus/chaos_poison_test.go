package bus_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/testenv"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// TestRouterPoisonWhenEveryDeliveryCrashes: a message whose handling kills the process every time
// is never acked nor nakked. After MaxDeliver such deliveries the next process to receive it
// records it through Poison without handling it again, instead of JetStream dropping it silently
// (which would leave its run waiting for a result that never comes).
func TestRouterPoisonWhenEveryDeliveryCrashes(t *testing.T) {
	s := testenv.NATS(t)
	ctx := context.Background()
	dial := func() *bus.Conn {
		c, err := bus.Connect(s.ClientURL(), "", "test", zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.WaitConnected(ctx); err != nil {
			t.Fatal(err)
		}
		return c
	}
	pub := dial()
	defer pub.Close()
	if err := pub.EnsureStreams(ctx, bus.StreamOptions{Replicas: 1, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx, workItem(1, 7, 0)); err != nil {
		t.Fatal(err)
	}
	const maxDeliver = 3
	spec := bus.ConsumerSpec{Stream: message.StreamWork, Durable: "crashy", AckWait: time.Second,
		MaxDeliver: maxDeliver, MaxAckPending: 4, Workers: 1}
	var handled, poisoned atomic.Int32
	release := make(chan struct{}) // a crashed handler never returns while the test looks
	defer close(release)
	stored := func() int64 {
		n, err := pub.Count(ctx, message.StreamData, message.ResultFilter(1))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Each "process" is a connection that dies (closed without draining: no ack, no nak) while
	// handling the message, like a kill -9; the next one starts after it.
	for process := 1; stored() == 0; process++ {
		if process > maxDeliver+1 {
			t.Fatalf("no result after %d processes", process-1)
		}
		c := dial()
		crashed := make(chan struct{})
		go c.Consume(context.Background(), spec, handler{ //nolint:errcheck // the process is dead
			handle: func(context.Context, message.In) ([]message.Out, error) {
				handled.Add(1)
				bus.CloseNow(c)
				close(crashed)
				<-release
				return nil, context.Canceled
			},
			poison: func(in message.In, cause error) []message.Out {
				poisoned.Add(1)
				return []message.Out{resultFor(decodeItem(in), netmonv1.Outcome_OUTCOME_POISON)}
			},
		}, bus.NewRouterMetrics(prometheus.NewRegistry()), zerolog.Nop())
		deadline := time.Now().Add(10 * time.Second)
	wait:
		for stored() == 0 {
			select {
			case <-crashed:
				break wait
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("process %d: neither handled nor recorded the message within 10s", process)
			}
		}
	}
	if got := results(t, pub, 1); got[0] != netmonv1.Outcome_OUTCOME_POISON {
		t.Fatalf("result %v, want POISON", got[0])
	}
	if n := handled.Load(); n != maxDeliver {
		t.Errorf("handler called %d times, want MaxDeliver=%d", n, maxDeliver)
	}
	if n := poisoned.Load(); n != 1 {
		t.Errorf("Poison called %d times, want 1", n)
	}
	// The router acknowledges the item after it publishes the poison result, and this process's
	// consumer is not stopped (drained) first: give the acknowledgement time to arrive.
	n := workLeft(t, pub)
	for deadline := time.Now().Add(10 * time.Second); n != 0 && time.Now().Before(deadline); n = workLeft(t, pub) {
		time.Sleep(20 * time.Millisecond)
	}
	if n != 0 {
		t.Errorf("%d work items left 10 s after the poison result", n)
	}
}
