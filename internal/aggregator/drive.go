package aggregator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// publishTimeout bounds one publish of the drive loop, so NATS being down delays announcements,
// never the deadlines, finishing and pushing of the same loop.
const publishTimeout = 5 * time.Second

// Drive leads the runs' lifecycle until ctx ends: every interval, and as soon as wake receives
// (a run was loaded), while it holds the leadership (taking it over when its holder goes away),
// it makes one Step. Problems are logged and tried again on the next tick; nothing here gives up.
func (a *Aggregator) Drive(ctx context.Context, interval time.Duration, publish Publish, wake <-chan struct{}) error {
	var lead *store.Leadership
	defer func() {
		if lead != nil {
			lead.Release()
		}
	}()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if lead != nil && !lead.Held(ctx) {
			lead.Release()
			lead = nil
			a.log.Warn().Msg("lost the aggregator leadership (NM DB connection gone); taking it again when it can")
		}
		if lead == nil && ctx.Err() == nil {
			l, ok, err := a.store.TryLead(ctx)
			switch {
			case err != nil:
				a.quiet.warn("lead", err, "cannot take the aggregator leadership")
			case ok:
				lead = l
				a.log.Info().Msg("leading: this aggregator drives the runs")
			default:
				a.quiet.info("standby", "another aggregator leads; standing by")
			}
		}
		if lead != nil {
			a.Step(ctx, publish)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-wake:
		}
	}
}

// Step moves every run the aggregator owns on by one round: deadlines, finishing, pushing,
// announcing. The caller holds the leadership (tests call it directly).
func (a *Aggregator) Step(ctx context.Context, publish Publish) {
	if err := a.expire(ctx, publish); err != nil && ctx.Err() == nil {
		a.quiet.warn("deadlines", err, "run deadlines")
	}
	if err := a.finishLoaded(ctx); err != nil && ctx.Err() == nil {
		a.quiet.warn("finish", err, "finish loaded runs")
	}
	// Push before announcing: whoever waits for a run's end then finds its metrics on the
	// Pushgateway, or the push pending with its error.
	if err := a.pushPending(ctx); err != nil && ctx.Err() == nil {
		a.quiet.warn("push", err, "push the newest run's metrics")
	}
	if err := a.announce(ctx, publish); err != nil && ctx.Err() == nil {
		a.quiet.warn("announce", err, "announce ended runs")
	}
}

// expire cuts off every run still loading past its deadline (store.ExpireRun), which marks it
// loaded with the reason it is incomplete; the same Step then finishes it.
func (a *Aggregator) expire(ctx context.Context, publish Publish) error {
	runs, err := a.store.OverdueRuns(ctx, a.now(), a.opts.Deadlines.Run)
	if err != nil {
		return err
	}
	for _, run := range runs {
		loaded, err := a.store.ExpireRun(ctx, run)
		if err != nil {
			return err
		}
		if loaded {
			a.log.Warn().Int64("run_id", run).Msg("run deadline passed: loaded with what arrived")
			// Only watchers need the event: a lost one changes nothing.
			pctx, cancel := context.WithTimeout(ctx, publishTimeout)
			_ = publish(pctx, lifecycle.Event(run, lifecycle.Loaded, "", a.now()))
			cancel()
		}
	}
	return nil
}

// finishLoaded finishes every loaded run. One whose metrics cannot be computed is tried again on
// every tick until its finish deadline, then fails with the last error; an NM DB that cannot be
// reached fails nothing (the run is finished once it is back).
func (a *Aggregator) finishLoaded(ctx context.Context) error {
	runs, err := a.store.LoadedRuns(ctx)
	if err != nil {
		return err
	}
	for _, run := range runs {
		err := a.finish(ctx, run)
		if err == nil || ctx.Err() != nil {
			delete(a.failing, run.ID)
			continue
		}
		a.failing[run.ID] = err
		if store.Unavailable(err) {
			return err
		}
		deadline := run.CreatedAt.Add(a.opts.Deadlines.Run)
		if run.Deadline != nil {
			deadline = *run.Deadline
		}
		loadedAt := deadline
		if run.LoadedAt != nil {
			loadedAt = *run.LoadedAt
		}
		if a.now().Before(a.opts.Deadlines.FinishDeadline(deadline, loadedAt)) {
			a.quiet.warn(fmt.Sprint("finish ", run.ID), err, "finishing the run failed; trying again")
			continue
		}
		reason := "metrics not computed by the finish deadline: " + err.Error()
		moved, ferr := a.store.Move(ctx, run.ID, lifecycle.Fail, reason)
		if ferr != nil {
			return ferr
		}
		if moved {
			delete(a.failing, run.ID)
		}
	}
	return nil
}

// announce publishes the end of every run whose end is not published yet: its record (runs with
// metrics) and its final event, then marks it announced.
func (a *Aggregator) announce(ctx context.Context, publish Publish) error {
	runs, err := a.store.Unannounced(ctx)
	if err != nil {
		return err
	}
	for _, run := range runs {
		var outs []message.Out
		if run.Status.HasMetrics() {
			data, err := a.store.Record(ctx, run.ID)
			if err != nil {
				return err
			}
			rec := &netmonv1.RunRecord{}
			if err := proto.Unmarshal(data, rec); err != nil {
				return fmt.Errorf("run %d: stored record: %w", run.ID, err)
			}
			outs = append(outs, recordOut(rec))
		}
		at := a.now()
		if run.CompletedAt != nil {
			at = *run.CompletedAt
		}
		outs = append(outs, lifecycle.Event(run.ID, run.Status, run.Error, at))
		pctx, cancel := context.WithTimeout(ctx, publishTimeout)
		err := publish(pctx, outs...)
		cancel()
		if err != nil {
			return fmt.Errorf("run %d: %w", run.ID, err)
		}
		if err := a.store.MarkAnnounced(ctx, run.ID); err != nil {
			return err
		}
		a.metrics.runs.WithLabelValues(string(run.Status)).Inc()
		if run.Status == lifecycle.Failed {
			a.log.Warn().Int64("run_id", run.ID).Str("reason", run.Error).Msg("run failed")
		}
	}
	return nil
}

// quietLog logs a recurring problem once, then at most every quietEvery while it lasts, so an
// outage of minutes is a few lines, not one a tick.
type quietLog struct {
	log  zerolog.Logger
	mu   sync.Mutex
	last map[string]time.Time
}

const quietEvery = 10 * time.Second

func (q *quietLog) due(key string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.last == nil {
		q.last = map[string]time.Time{}
	}
	now := time.Now()
	if now.Sub(q.last[key]) < quietEvery {
		return false
	}
	q.last[key] = now
	return true
}

func (q *quietLog) warn(key string, err error, msg string) {
	if q.due(key) && !errors.Is(err, context.Canceled) {
		q.log.Warn().Err(err).Msg(msg)
	}
}

func (q *quietLog) info(key, msg string) {
	if q.due(key) {
		q.log.Info().Msg(msg)
	}
}
