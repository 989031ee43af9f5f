package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The read side: what the command line, the planner's resume, replay and the benchmarks read back
// from the streams. Streams are named and subjects given without the namespace (package
// message's names); subjects handed back are without it too.

// LastMessage returns the data of the last message stored on subject in stream; ok is false when
// there is none.
func (c *Conn) LastMessage(ctx context.Context, stream, subject string) (data []byte, ok bool, err error) {
	st, err := c.js.Stream(ctx, c.ns.name(stream))
	if err != nil {
		return nil, false, fmt.Errorf("stream %s: %w", stream, err)
	}
	m, err := st.GetLastMsgForSubject(ctx, c.ns.subject(subject))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("last message on %s: %w", subject, err)
	}
	return m.Data, true, nil
}

// Count is how many messages stream holds on the subjects matching filter.
func (c *Conn) Count(ctx context.Context, stream, filter string) (int64, error) {
	st, err := c.js.Stream(ctx, c.ns.name(stream))
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(c.ns.subject(filter)))
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	var n uint64
	for _, k := range info.State.Subjects {
		n += k
	}
	return int64(n), nil
}

// Backlog is how many messages a durable consumer of stream has not finished: not delivered yet,
// or delivered and not acknowledged. A consumer that does not exist (its stage has never run)
// has none.
func (c *Conn) Backlog(ctx context.Context, stream, durable string) (int64, error) {
	cons, err := c.js.Consumer(ctx, c.ns.name(stream), c.ns.name(durable))
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("consumer %s: %w", durable, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("consumer %s: %w", durable, err)
	}
	return int64(info.NumPending) + int64(info.NumAckPending), nil
}

// MissingStreams lists the streams of names that do not exist on the server (a stage creates
// them at start).
func (c *Conn) MissingStreams(ctx context.Context, names ...string) []string {
	var missing []string
	for _, n := range names {
		if _, err := c.js.Stream(ctx, c.ns.name(n)); err != nil {
			missing = append(missing, c.ns.name(n))
		}
	}
	return missing
}

// Stored is a message read back from a stream.
type Stored struct {
	Subject string
	Data    []byte    // nil when read with Headers
	Size    int64     // of the payload
	Time    time.Time // when the stream stored it
}

// History reads back what a stream holds on some subjects, oldest first, from a snapshot of
// its size when it was opened. It is not safe for concurrent use.
type History struct {
	cons jetstream.Consumer
	ns   Namespace
	// Pending is how many messages the history holds.
	Pending uint64
}

// History opens the stored messages of stream on the subjects matching filters.
func (c *Conn) History(ctx context.Context, stream string, filters []string) (*History, error) {
	return c.history(ctx, stream, filters, false)
}

// Headers is History without the payloads (Stored.Data is nil; Size and Time are set), for
// reading when and how much was stored without moving it.
func (c *Conn) Headers(ctx context.Context, stream string, filters []string) (*History, error) {
	return c.history(ctx, stream, filters, true)
}

func (c *Conn) history(ctx context.Context, stream string, filters []string, headersOnly bool) (*History, error) {
	cons, err := c.js.OrderedConsumer(ctx, c.ns.name(stream), jetstream.OrderedConsumerConfig{
		FilterSubjects: c.ns.subjects(filters),
		HeadersOnly:    headersOnly,
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	return &History{cons: cons, Pending: info.NumPending, ns: c.ns}, nil
}

// Next returns the next stored message, waiting at most wait for it.
func (h *History) Next(wait time.Duration) (Stored, error) {
	m, err := h.cons.Next(jetstream.FetchMaxWait(wait))
	if err != nil {
		return Stored{}, err
	}
	return stored(m, h.ns), nil
}

// stored is m as read back, without the namespace.
func stored(m jetstream.Msg, ns Namespace) Stored {
	s := Stored{Subject: ns.local(m.Subject()), Data: m.Data(), Size: int64(len(m.Data()))}
	if size := m.Headers().Get(nats.MsgSize); size != "" {
		s.Data = nil
		s.Size, _ = strconv.ParseInt(size, 10, 64)
	}
	if md, err := m.Metadata(); err == nil {
		s.Time = md.Timestamp
	}
	return s
}

// Follow calls fn with every message stream holds on the subjects matching filters, oldest
// first, then with each new one as it is stored, until stop is called. fn runs on one goroutine
// at a time.
func (c *Conn) Follow(ctx context.Context, stream string, filters []string, fn func(Stored)) (stop func(), err error) {
	cons, err := c.js.OrderedConsumer(ctx, c.ns.name(stream), jetstream.OrderedConsumerConfig{
		FilterSubjects: c.ns.subjects(filters),
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { fn(stored(m, c.ns)) })
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	return cc.Stop, nil
}
