// Package bus owns everything netmon does with NATS JetStream: the subjects and streams, the
// durable consumers, publishing with deterministic message ids, and the router that takes a
// delivered message through decode → handle → publish → ack for every stage. Ack rules live here
// and nowhere else: a message's outputs are published and their acks awaited before the message is
// acked, so a crash at any point loses nothing (the message is redelivered) and a redelivery
// changes nothing (outputs carry the same Nats-Msg-Id, and every consumer writes idempotently).
package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Conn is a NATS connection with its JetStream context, in one namespace.
type Conn struct {
	nc *nats.Conn
	js jetstream.JetStream
	ns Namespace
}

// Connect dials url (a comma-separated list is allowed), reconnecting forever with backoff, and
// logs connection state changes on log. Everything done through the connection is in namespace
// ns. opts add to the defaults (credentials, TLS: Dial adds the configured ones).
func Connect(url string, ns Namespace, name string, log zerolog.Logger, opts ...nats.Option) (*Conn, error) {
	nc, err := nats.Connect(url, append([]nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn().Err(err).Msg("nats disconnected")
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info().Str("url", c.ConnectedUrlRedacted()).Msg("nats reconnected")
		}),
		// Asynchronous errors (a slow consumer, a permissions violation) go through the logger:
		// without a handler nats.go writes them to stderr as plain text.
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			e := log.Warn().Err(err)
			if sub != nil {
				e = e.Str("subject", sub.Subject)
			}
			e.Msg("nats async error")
		}),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connect nats: %w", err)
	}
	// Without a timeout, an async publish whose ack is lost (a cluster losing the stream's leader
	// after storing or dropping the message) would never settle and the Emitter would wait
	// forever; with one, the Emitter publishes it again with the same id (a duplicate is dropped).
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(512), jetstream.WithPublishAsyncTimeout(publishAckTimeout))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Conn{nc: nc, js: js, ns: ns}, nil
}

// ServerVersion is the connected server's version ("" before the first connection).
func (c *Conn) ServerVersion() string { return c.nc.ConnectedServerVersion() }

// LastError is the connection's last error (why it is not connected yet), or nil.
func (c *Conn) LastError() error { return c.nc.LastError() }

// WaitConnected blocks until the connection is up or ctx ends; Connect returns before the first
// connection when the server is not reachable yet.
func (c *Conn) WaitConnected(ctx context.Context) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !c.nc.IsConnected() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for nats: %w", ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Close drains the connection: pending publishes are flushed and subscriptions finish.
func (c *Conn) Close() {
	if err := c.nc.Drain(); err != nil {
		c.nc.Close()
	}
}

// publishAckTimeout is how long an async publish waits for the stream's ack before the Emitter
// falls back to publishing it again synchronously: far above a healthy ack (milliseconds), well
// inside the streams' duplicate window.
const publishAckTimeout = 10 * time.Second

// MinServerVersion is the oldest nats-server netmon works with: consumers with several subject
// filters and the stream and key-value features it uses came with 2.10.
const MinServerVersion = "2.10.0"

// ErrServer is why a NATS server cannot host netmon (too old, or without JetStream).
type ErrServer struct{ Reason string }

func (e ErrServer) Error() string { return e.Reason }

// CheckServer refuses a server older than MinServerVersion or without JetStream, with a message
// that says what to do.
func (c *Conn) CheckServer(ctx context.Context) error {
	v := c.nc.ConnectedServerVersion()
	if !versionAtLeast(v, MinServerVersion) {
		return ErrServer{Reason: fmt.Sprintf("nats-server %s is too old: netmon needs %s or newer with JetStream "+
			"(go install github.com/nats-io/nats-server/v2@v2.15.2, or the nats:2.10+ image)", v, MinServerVersion)}
	}
	if _, err := c.js.AccountInfo(ctx); err != nil {
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return ErrServer{Reason: fmt.Sprintf("nats-server %s has no JetStream for this account: start it with -js "+
				"(or jetstream {} in its configuration)", v)}
		}
		return fmt.Errorf("jetstream account info: %w", err)
	}
	return nil
}

// versionAtLeast compares dotted versions numerically ("2.9.10" < "2.10.0"); anything after a
// "-" or "+" is ignored, and an unparsable version is not at least anything.
func versionAtLeast(v, min string) bool {
	parse := func(s string) ([3]int, bool) {
		var out [3]int
		s = strings.SplitN(strings.SplitN(s, "-", 2)[0], "+", 2)[0]
		parts := strings.Split(s, ".")
		if len(parts) < 2 {
			return out, false
		}
		for i := 0; i < len(parts) && i < 3; i++ {
			n, err := strconv.Atoi(parts[i])
			if err != nil {
				return out, false
			}
			out[i] = n
		}
		return out, true
	}
	a, ok1 := parse(v)
	b, ok2 := parse(min)
	if !ok1 || !ok2 {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return a[i] > b[i]
		}
	}
	return true
}
