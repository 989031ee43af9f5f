package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/audius-netmon/netmon/internal/message"
)

// StreamOptions sizes the streams.
type StreamOptions struct {
	Replicas int           // 1 on one server, 3 on a cluster
	MaxAge   time.Duration // how long run history (data and events) is kept for replay
}

// Duplicate window: long enough to cover a stage restart and republish.
const duplicateWindow = 20 * time.Minute

// EnsureStreams creates or updates the three streams of the connection's namespace. It is
// idempotent, and every stage calls it at start, so the order in which stages start does not
// matter.
func (c *Conn) EnsureStreams(ctx context.Context, o StreamOptions) error {
	if o.Replicas < 1 {
		o.Replicas = 1
	}
	cfgs := []jetstream.StreamConfig{
		{
			Name:        c.ns.name(message.StreamWork),
			Description: "netmon work items, consumed once by any fetcher",
			Subjects:    c.ns.subjects(message.WorkStreamSubjects),
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    o.Replicas,
			MaxAge:      o.MaxAge,
			Duplicates:  duplicateWindow,
			MaxMsgSize:  4 << 20,
		},
		{
			Name:        c.ns.name(message.StreamData),
			Description: "netmon snapshot batches and fetch results, kept for replay",
			Subjects:    c.ns.subjects(message.DataStreamSubjects),
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    o.Replicas,
			MaxAge:      o.MaxAge,
			Duplicates:  duplicateWindow,
			MaxMsgSize:  4 << 20,
		},
		{
			Name:        c.ns.name(message.StreamRuns),
			Description: "netmon run lifecycle events",
			Subjects:    c.ns.subjects(message.RunsStreamSubjects),
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    o.Replicas,
			MaxAge:      o.MaxAge,
			Duplicates:  duplicateWindow,
		},
	}
	for _, cfg := range cfgs {
		if _, err := c.js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}
