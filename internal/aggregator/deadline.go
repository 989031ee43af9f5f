package aggregator

import (
	"context"
	"fmt"
	"time"

	"github.com/audius-netmon/netmon/internal/loader"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/store"
)

// Publish publishes messages and waits until they are stored (bus.Conn.Publish).
type Publish func(ctx context.Context, outs ...message.Out) error

// Deadlines ends runs whose deadline passes before they are loaded, until ctx ends. Every
// interval it looks in the runs table for overdue runs; for each it builds the per-user clock
// table from what arrived (store.ExpireRun), which marks the run loaded with the reason it is
// incomplete and records which messages the cut counted (the run's record carries them, for
// replay), and publishes the run's "loaded" event. The aggregator's consumer then finishes the
// run like any other, as incomplete: metrics computed, pushed with audius_nm_run_incomplete = 1,
// the run marked, the lease released, the "incomplete" event published. Going through the event
// keeps the ack rules in one place: a failed push is retried by redelivery.
//
// A loaded run that is past its deadline gets its "loaded" event again on every check; the stream
// drops it as a duplicate within its duplicate window, after which it is a retry.
// fallback is the deadline, from its creation, of a run whose opening message has not been loaded.
func (a *Aggregator) Deadlines(ctx context.Context, interval, fallback time.Duration, publish Publish) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := a.expire(ctx, fallback, publish); err != nil && ctx.Err() == nil {
			a.log.Warn().Err(err).Msg("run deadlines")
		}
	}
}

func (a *Aggregator) expire(ctx context.Context, fallback time.Duration, publish Publish) error {
	runs, err := a.store.OverdueRuns(ctx, a.now(), fallback)
	if err != nil {
		return err
	}
	for _, run := range runs {
		loaded, err := a.store.ExpireRun(ctx, run)
		if err != nil {
			return err
		}
		if !loaded {
			continue
		}
		if err := publish(ctx, loader.LoadedEvent(run, a.now())); err != nil {
			return fmt.Errorf("run %d: %w", run, err)
		}
	}
	return nil
}

// failed records a run whose planning failed (the planner's "failed" event) as failed in the
// runs table. The planner has released the lease and published the event; nothing is pushed.
func (a *Aggregator) failed(ctx context.Context, run store.Run, reason string) ([]message.Out, error) {
	switch run.Status {
	case "complete", "incomplete", "failed":
		return nil, nil
	}
	if reason == "" {
		reason = "failed"
	}
	if err := a.store.FailRun(ctx, run.ID, reason); err != nil {
		return nil, err
	}
	a.log.Warn().Int64("run_id", run.ID).Str("reason", reason).Msg("run failed")
	return nil, nil
}
