// Package aggregator finishes a loaded run: it consumes the run's "loaded" event, computes every
// metric of the catalogue with set-based SQL, pushes them to the Pushgateway (one job group, PUT,
// so series of a previous run never linger), stores them for later comparison, marks the run
// complete, prunes old runs, releases the run lease, and produces the run's record and its
// "complete" event. A run still loading at its deadline is cut off and finished the same way as
// "incomplete" (deadline.go); a run whose planning failed (the planner's "failed" event) is
// marked failed.
package aggregator

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// Lease is the run lease the aggregator releases when a run is finished.
type Lease interface {
	Release(ctx context.Context, run int64) error
}

// Options configure the aggregator.
type Options struct {
	Foundation    []int64
	RetentionRuns int
	RetentionAge  time.Duration
	// Slack receives the end-of-run summary (spec §8); nil sends none.
	Slack *Slack
	// Registerer gets the aggregator's own series (runs by status, push failures); nil: none.
	Registerer prometheus.Registerer
}

// Aggregator computes and publishes a run's metrics.
type Aggregator struct {
	store  *store.Store
	pusher *Pusher
	lease  Lease
	opts   Options
	log    zerolog.Logger
	now    func() time.Time
	// metrics are the aggregator's own series (metrics.go).
	metrics *stageMetrics
}

// New returns an aggregator.
func New(s *store.Store, p *Pusher, lease Lease, opts Options, log zerolog.Logger) *Aggregator {
	return &Aggregator{store: s, pusher: p, lease: lease, opts: opts, log: log, now: time.Now,
		metrics: newStageMetrics(opts.Registerer)}
}

// Handle finishes the run named by a "loaded" event.
func (a *Aggregator) Handle(ctx context.Context, data []byte) ([]message.Out, error) {
	var ev netmonv1.RunEvent
	if err := proto.Unmarshal(data, &ev); err != nil {
		return nil, message.Permanent(fmt.Errorf("decode run event: %w", err))
	}
	run, err := a.store.GetRun(ctx, ev.GetRunId())
	if errors.Is(err, store.ErrNoRun) && ev.GetStatus() == netmonv1.RunStatus_RUN_STATUS_FAILED {
		// Planning failed before the loader saw any message of the run.
		return a.failedCounted(ctx, store.Run{ID: ev.GetRunId()}, ev.GetReason())
	}
	if err != nil {
		if errors.Is(err, store.ErrNoRun) {
			return nil, message.Permanent(err)
		}
		return nil, err
	}
	if ev.GetStatus() == netmonv1.RunStatus_RUN_STATUS_FAILED {
		return a.failedCounted(ctx, run, ev.GetReason())
	}
	switch run.Status {
	case "complete", "incomplete", "failed":
		// A redelivered event: the run is done, only repeat the event.
		return []message.Out{finishedEvent(run.ID, run.Status, run.Error, a.now())}, nil
	case "loaded":
	default:
		return nil, fmt.Errorf("run %d is %s, not loaded", run.ID, run.Status)
	}
	if run.Error != "" {
		// Cut off at its deadline (ExpireRun): metrics of what arrived, flagged incomplete.
		return a.finish(ctx, run, "incomplete", run.Error)
	}
	return a.finish(ctx, run, "complete", "")
}

// finish computes, pushes and records the run's metrics and gives it its final status.
func (a *Aggregator) finish(ctx context.Context, run store.Run, status, reason string) ([]message.Out, error) {
	start := a.now()
	samples, seen, err := a.store.ComputeSeen(ctx, run.ID, a.opts.Foundation)
	if err != nil {
		return nil, err
	}
	end := a.now()
	generating, total := end.Sub(start).Seconds(), end.Sub(run.CreatedAt).Seconds()
	samples = append(samples, runSamples(run.ID, status, generating, total)...)
	jobSamples, err := a.batchJobSamples(ctx, run.ID, run.CreatedAt, status, generating, total)
	if err != nil {
		return nil, err
	}
	samples = append(samples, jobSamples...)
	if err := a.store.SaveSamples(ctx, run.ID, samples); err != nil {
		return nil, err
	}
	if err := a.pusher.Push(ctx, run.ID, samples); err != nil {
		a.metrics.pushFailures.Inc()
		return nil, err
	}
	if err := a.store.FinishRun(ctx, run.ID, status, reason); err != nil {
		return nil, err
	}
	a.metrics.runs.WithLabelValues(status).Inc()
	record, err := a.record(ctx, run.ID, generating, total, seen)
	if err != nil {
		return nil, err
	}
	log := a.log.With().Int64("run_id", run.ID).Logger()
	log.Info().Str("status", status).Str("reason", reason).Int("series", len(samples)).Msg("run finished, metrics pushed")
	// At most once: after the run is marked, so a redelivered event does not post again.
	if err := a.opts.Slack.Post(ctx, SlackMessage(samples, run.CreatedAt, a.now(), status, reason)); err != nil {
		log.Warn().Err(err).Msg("slack report not sent")
	}
	if pruned, err := a.store.Prune(ctx, a.opts.RetentionRuns, a.opts.RetentionAge); err != nil {
		log.Warn().Err(err).Msg("prune old runs")
	} else if len(pruned) > 0 {
		log.Info().Interface("runs", pruned).Msg("pruned old runs")
	}
	if err := a.lease.Release(ctx, run.ID); err != nil {
		return nil, err
	}
	return []message.Out{record, finishedEvent(run.ID, status, reason, a.now())}, nil
}

func finishedEvent(run int64, status, reason string, at time.Time) message.Out {
	st := map[string]netmonv1.RunStatus{
		"complete":   netmonv1.RunStatus_RUN_STATUS_COMPLETE,
		"incomplete": netmonv1.RunStatus_RUN_STATUS_INCOMPLETE,
		"failed":     netmonv1.RunStatus_RUN_STATUS_FAILED,
	}[status]
	return message.Out{
		Subject: message.RunEventSubject(run, status),
		ID:      message.RunEventID(run, status),
		Msg:     &netmonv1.RunEvent{RunId: run, Status: st, At: timestamppb.New(at), Reason: reason},
	}
}

// runLabel is the value of the optional run_id label.
func runLabel(run int64) string { return strconv.FormatInt(run, 10) }
