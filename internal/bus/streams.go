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

// EnsureStreams creates or updates the three streams. It is idempotent, and every stage calls it
// at start, so the order in which stages start does not matter.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, o StreamOptions) error {
	if o.Replicas < 1 {
		o.Replicas = 1
	}
	cfgs := []jetstream.StreamConfig{
		{
			Name:        message.StreamWork,
			Description: "netmon work items, consumed once by any fetcher",
			Subjects:    []string{"netmon.work.>"},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    o.Replicas,
			MaxAge:      o.MaxAge,
			Duplicates:  duplicateWindow,
			MaxMsgSize:  4 << 20,
		},
		{
			Name:        message.StreamData,
			Description: "netmon snapshot batches and fetch results, kept for replay",
			Subjects:    []string{"netmon.snapshot.>", "netmon.result.>"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    o.Replicas,
			MaxAge:      o.MaxAge,
			Duplicates:  duplicateWindow,
			MaxMsgSize:  4 << 20,
		},
		{
			Name:        message.StreamRuns,
			Description: "netmon run lifecycle events",
			Subjects:    []string{"netmon.run.>"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    o.Replicas,
			MaxAge:      o.MaxAge,
			Duplicates:  duplicateWindow,
		},
	}
	for _, cfg := range cfgs {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}
