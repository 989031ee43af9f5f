package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/message"
)

// Handler is a stage's message logic: package fetcher's Fetcher and package loader's Loader.
// The router takes each delivered message through it: decode the subject once (a subject that
// does not parse is poison at once), Handle, publish what Handle returned and wait until it is
// stored, and only then ack. Its contract:
//
//   - Concurrency: Handle runs on ConsumerSpec.Workers goroutines at once, for different messages
//     in no particular order (a redelivery may overtake a newer message).
//   - Idempotence: a message may be handled more than once (a crash after its outputs were
//     published and before its ack, a lost ack, AckWait passed): handling it again must change
//     nothing and return outputs with the same ids (the stream drops the duplicates).
//   - Errors: an error marked message.Permanent makes the message poison at once; one marked
//     message.Unavailable (a dependency down) is tried again in place, without spending a
//     delivery, until it succeeds or ctx ends; any other error is redelivered with backoff until
//     MaxDeliver, where the message becomes poison.
//   - Cancellation: ctx ends a grace period (15 s) after the stage is told to stop; Handle should
//     then return promptly with ctx's error, and the message is left for redelivery (nothing it
//     returns is published).
//
// Poison returns the messages that record in as failed for good (its deliveries used up, it
// cannot be decoded, or each handling crashed the process), so its run still completes; nil
// means the message is only logged. It must not fail and is called at most once per message.
type Handler interface {
	Handle(ctx context.Context, in message.In) ([]message.Out, error)
	Poison(in message.In, cause error) []message.Out
}

// ConsumerSpec is a durable pull consumer and how many messages it processes at once.
type ConsumerSpec struct {
	Stream        string
	Durable       string
	Filters       []string
	AckWait       time.Duration
	MaxDeliver    int
	MaxAckPending int
	Workers       int
}

// RouterMetrics counts messages by consumer and outcome.
type RouterMetrics struct {
	messages *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewRouterMetrics registers the router's metrics on reg.
func NewRouterMetrics(reg prometheus.Registerer) *RouterMetrics {
	m := &RouterMetrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "netmon_bus_messages_total",
			Help: "Messages processed by a durable consumer, by outcome (ok, retry, poison).",
		}, []string{"consumer", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "netmon_bus_handle_duration_seconds",
			Help:    "Time to handle one message and publish its outputs.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}, []string{"consumer"}),
	}
	reg.MustRegister(m.messages, m.duration)
	return m
}

// Consume runs the consumer until ctx ends, then stops pulling, lets in-flight messages finish
// (at most grace), and returns. The consumer is created or updated idempotently.
func (c *Conn) Consume(ctx context.Context, spec ConsumerSpec, h Handler, m *RouterMetrics, log zerolog.Logger) error {
	if spec.Workers < 1 {
		spec.Workers = 1
	}
	cons, err := c.js.CreateOrUpdateConsumer(ctx, c.ns.name(spec.Stream), jetstream.ConsumerConfig{
		Durable:        c.ns.name(spec.Durable),
		FilterSubjects: c.ns.subjects(spec.Filters),
		AckPolicy:      jetstream.AckExplicitPolicy,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckWait:        spec.AckWait,
		MaxDeliver:     serverMaxDeliver(spec.MaxDeliver),
		MaxAckPending:  spec.MaxAckPending,
	})
	if err != nil {
		return fmt.Errorf("consumer %s: %w", spec.Durable, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(2 * spec.Workers))
	if err != nil {
		return fmt.Errorf("consumer %s: messages: %w", spec.Durable, err)
	}
	log = log.With().Str("consumer", spec.Durable).Logger()

	// Handlers run on workCtx, which outlives ctx by a grace period so in-flight work can finish.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	r := router{spec: spec, h: h, m: m, log: log, publish: c.Publish, ns: c.ns}

	var wg sync.WaitGroup
	for range spec.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				msg, err := it.Next()
				if err != nil {
					if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
						return
					}
					log.Warn().Err(err).Msg("next message")
					continue
				}
				r.process(workCtx, msg)
			}
		}()
	}
	<-ctx.Done()
	it.Drain()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(shutdownGrace):
		cancelWork()
		<-done
	}
	return nil
}

const shutdownGrace = 15 * time.Second

type router struct {
	spec    ConsumerSpec
	h       Handler
	m       *RouterMetrics
	log     zerolog.Logger
	publish func(context.Context, ...message.Out) error
	ns      Namespace
}

func (r router) process(ctx context.Context, msg jetstream.Msg) {
	start := time.Now()
	md, err := msg.Metadata()
	if err != nil {
		r.log.Error().Err(err).Str("subject", msg.Subject()).Msg("message without metadata")
		_ = msg.Term()
		return
	}
	subject := r.ns.local(msg.Subject())
	subj, perr := message.ParseSubject(subject)
	in := message.In{Subject: subj, Data: msg.Data()}
	delivered := md.NumDelivered
	// The final delivery the consumer allows: if the handler fails now, the message is recorded
	// as poison instead of being retried.
	last := r.spec.MaxDeliver > 0 && delivered >= uint64(r.spec.MaxDeliver)
	log := r.msgLog(subject, subj)
	var outs []message.Out
	switch {
	case perr != nil:
		err = message.Permanent(perr)
	case unsettled(r.spec.MaxDeliver, delivered):
		// Every allowed delivery ended without an ack or a nak: the handler crashed the process
		// or hung each time. Do not hand it over again; record it as poison.
		err = message.Permanent(fmt.Errorf("delivered %d times without being settled: each handling crashed or hung", delivered-1))
	default:
		stop := r.keepAlive(ctx, msg)
		outs, err = r.handleWaiting(ctx, in, log)
		stop()
	}

	outcome := "ok"
	switch {
	case err != nil && ctx.Err() != nil:
		// Shutting down: leave it for redelivery.
		_ = msg.Nak()
		return
	case err != nil && (message.IsPermanent(err) || last):
		outcome = "poison"
		log.Error().Err(err).Uint64("delivered", delivered).Msg("message failed for good")
		outs = r.h.Poison(in, err)
	case err != nil:
		log.Warn().Err(err).Uint64("delivered", delivered).Msg("message failed, will retry")
		r.m.messages.WithLabelValues(r.spec.Durable, "retry").Inc()
		_ = msg.NakWithDelay(retryDelay(delivered))
		return
	}
	if len(outs) > 0 {
		stop := r.keepAlive(ctx, msg)
		err := r.publishWaiting(ctx, outs, log)
		stop()
		if err != nil {
			// Shutting down: leave it for redelivery.
			_ = msg.Nak()
			return
		}
	}
	if outcome == "poison" {
		_ = msg.Term()
	} else if err := msg.Ack(); err != nil {
		log.Warn().Err(err).Msg("ack failed; the message will be redelivered and handled idempotently")
	}
	r.m.messages.WithLabelValues(r.spec.Durable, outcome).Inc()
	r.m.duration.WithLabelValues(r.spec.Durable).Observe(time.Since(start).Seconds())
}

// msgLog is the router's logger with the message's subject and, when the subject names them
// (s parsed; zero when it did not), its run_id and sp_id, so every line about a message can be
// found by run and node.
func (r router) msgLog(subject string, s message.Subject) zerolog.Logger {
	c := r.log.With().Str("subject", subject)
	if s.Run != 0 {
		c = c.Int64("run_id", s.Run)
		if sp, ok := s.SPID(); ok {
			c = c.Int64("sp_id", sp)
		}
	}
	return c.Logger()
}

// A dependency that is down is waited out in place: the message stays with this worker (kept
// alive by in-progress acks) and is tried again until the dependency is back or the stage stops,
// instead of being redelivered until its deliveries run out and it ends as poison. Nothing is
// lost however long the outage; what bounds a run's wait is its deadline, whose owner ends the
// run (lifecycle). The wait between tries doubles up to dependencyRetryMax; a line is logged at
// the first failure and every dependencyLogEvery.
const (
	dependencyRetryMin = 250 * time.Millisecond
	dependencyRetryMax = 5 * time.Second
	dependencyLogEvery = 10 * time.Second
)

// handleWaiting calls the handler until it returns something other than an Unavailable error,
// or ctx ends.
func (r router) handleWaiting(ctx context.Context, in message.In, log zerolog.Logger) ([]message.Out, error) {
	var outs []message.Out
	err := waitOut(ctx, log, "dependency unavailable; waiting to handle the message", func() error {
		var err error
		outs, err = r.handle(ctx, in)
		return err
	})
	return outs, err
}

// publishWaiting publishes outs until they are stored, or ctx ends: a stream that cannot store
// them now (NATS reconnecting, a cluster electing a leader) is waited out like any dependency.
func (r router) publishWaiting(ctx context.Context, outs []message.Out, log zerolog.Logger) error {
	return waitOut(ctx, log, "publish outputs failed; waiting to publish them", func() error {
		return message.Unavailable(r.publish(ctx, outs...))
	})
}

// waitOut calls try until it returns an error that is not Unavailable, or ctx ends (then it
// returns ctx's error).
func waitOut(ctx context.Context, log zerolog.Logger, what string, try func() error) error {
	wait := dependencyRetryMin
	var first, logged time.Time
	for {
		err := try()
		if !message.IsUnavailable(err) {
			return err
		}
		now := time.Now()
		if first.IsZero() {
			first = now
		}
		if now.Sub(logged) >= dependencyLogEvery {
			log.Warn().Err(err).Float64("waiting_seconds", now.Sub(first).Round(time.Second).Seconds()).Msg(what)
			logged = now
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, dependencyRetryMax)
	}
}

// handle calls the handler, turning a panic into a permanent error so one bad message cannot
// crash-loop a stage.
func (r router) handle(ctx context.Context, in message.In) (outs []message.Out, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = message.Permanent(fmt.Errorf("handler panic: %v", p))
		}
	}()
	return r.h.Handle(ctx, in)
}

// keepAlive tells the server the message is still being worked on, so a long content-node call
// or a large COPY does not outlive AckWait and get redelivered to another worker.
func (r router) keepAlive(ctx context.Context, msg jetstream.Msg) (stop func()) {
	every := r.spec.AckWait / 3
	if every <= 0 {
		every = 10 * time.Second
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() { close(done) }
}

func retryDelay(delivered uint64) time.Duration {
	d := time.Duration(250<<min(delivered, 6)) * time.Millisecond
	return min(d, 15*time.Second)
}
