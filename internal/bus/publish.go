package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/message"
)

// natsMsg is o as a NATS message in namespace ns.
func natsMsg(o message.Out, ns Namespace) (*nats.Msg, error) {
	data, err := proto.Marshal(o.Msg)
	if err != nil {
		return nil, fmt.Errorf("marshal %s: %w", o.Subject, err)
	}
	m := nats.NewMsg(ns.subject(o.Subject))
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, o.ID)
	return m, nil
}

// Publish publishes outs and waits until the stream has stored every one of them. A message the
// server rejects is retried a few times with the same id (a duplicate is dropped by the stream).
func (c *Conn) Publish(ctx context.Context, outs ...message.Out) error {
	e := c.Emitter(len(outs) + 1)
	for _, o := range outs {
		if err := e.Emit(ctx, o); err != nil {
			return err
		}
	}
	return e.Flush(ctx)
}

// Emitter publishes a long sequence of messages asynchronously, at most window unacknowledged at
// a time and at most maxPendingBytes of payload. Flush waits for the rest. It is not safe for
// concurrent use.
type Emitter struct {
	js      jetstream.JetStream
	ns      Namespace
	window  int
	pending []pending
	bytes   int // payload of pending
}

// maxPendingBytes bounds the payload an Emitter keeps unacknowledged whatever its window: the
// planner's window of 256 messages held up to 256 user batches of 600 KB each (150 MB of its
// 218 MiB peak at a million users), while 16 MiB already keeps the broker busy.
const maxPendingBytes = 16 << 20

type pending struct {
	msg *nats.Msg
	fut jetstream.PubAckFuture
}

// Emitter returns an Emitter with the given window of unacknowledged messages.
func (c *Conn) Emitter(window int) *Emitter {
	if window < 1 {
		window = 1
	}
	return &Emitter{js: c.js, ns: c.ns, window: window}
}

// Emit publishes o, first waiting for older messages when the window is full.
func (e *Emitter) Emit(ctx context.Context, o message.Out) error {
	m, err := natsMsg(o, e.ns)
	if err != nil {
		return err
	}
	if len(e.pending) >= e.window || (len(e.pending) > 0 && e.bytes+len(m.Data) > maxPendingBytes) {
		// Settle the older half so the window keeps moving without a round trip per message.
		half := max(len(e.pending)/2, 1)
		if err := e.settle(ctx, e.pending[:half]); err != nil {
			return err
		}
		for _, p := range e.pending[:half] {
			e.bytes -= len(p.msg.Data)
		}
		e.pending = append(e.pending[:0], e.pending[half:]...)
	}
	fut, err := e.js.PublishMsgAsync(m)
	if err != nil {
		// The async queue refused (stalled or disconnected): fall back to a synchronous publish.
		if err := publishSync(ctx, e.js, m); err != nil {
			return err
		}
		return nil
	}
	e.pending = append(e.pending, pending{msg: m, fut: fut})
	e.bytes += len(m.Data)
	return nil
}

// Flush waits until every emitted message is stored.
func (e *Emitter) Flush(ctx context.Context) error {
	err := e.settle(ctx, e.pending)
	e.pending = e.pending[:0]
	e.bytes = 0
	return err
}

func (e *Emitter) settle(ctx context.Context, ps []pending) error {
	for _, p := range ps {
		select {
		case <-p.fut.Ok():
		case asyncErr := <-p.fut.Err():
			if err := publishSync(ctx, e.js, p.msg); err != nil {
				return fmt.Errorf("publish %s (async: %v): %w", p.msg.Subject, asyncErr, err)
			}
		case <-ctx.Done():
			return fmt.Errorf("publish %s: %w", p.msg.Subject, ctx.Err())
		}
	}
	return nil
}

// publishSync publishes one message, retrying with backoff while the broker is unavailable.
func publishSync(ctx context.Context, js jetstream.JetStream, m *nats.Msg) error {
	var last error
	for attempt := 0; attempt < 8; attempt++ {
		if attempt > 0 {
			wait := time.Duration(100<<min(attempt, 5)) * time.Millisecond
			select {
			case <-ctx.Done():
				return fmt.Errorf("publish %s: %w", m.Subject, errors.Join(ctx.Err(), last))
			case <-time.After(wait):
			}
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := js.PublishMsg(pctx, m)
		cancel()
		if err == nil {
			return nil
		}
		last = err
	}
	return fmt.Errorf("publish %s: %w", m.Subject, last)
}
