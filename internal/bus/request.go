package bus

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
)

// Requests on core NATS (not a stream): `netmon run` asks the planner for a run on
// message.StartSubject and the planner answers. The subject is given without the namespace.

// Request sends data on subject (core NATS, not a stream) and returns the reply's data.
func (c *Conn) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	m, err := c.nc.RequestWithContext(ctx, c.ns.subject(subject), data)
	if err != nil {
		return nil, err
	}
	return m.Data, nil
}

// Serve answers requests on subject (core NATS) with reply, one at a time, until stop is called.
func (c *Conn) Serve(subject string, reply func(data []byte) []byte) (stop func(), err error) {
	sub, err := c.nc.Subscribe(c.ns.subject(subject), func(m *nats.Msg) {
		_ = m.Respond(reply(m.Data))
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", subject, err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// Notify calls fn for every message published on a subject matching filter (given without the
// namespace) from now on, stored by a stream or not, until stop is called. It is a core NATS
// subscription: nothing is acknowledged, and what is published while the connection is down is
// missed, so a notification is a hint to look sooner, never the only way work is found.
func (c *Conn) Notify(filter string, fn func()) (stop func(), err error) {
	sub, err := c.nc.Subscribe(c.ns.subject(filter), func(*nats.Msg) { fn() })
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", filter, err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}
