// Package aggregator owns the end of every run. It consumes no messages: it works from the runs
// table (the only record of a run's state, package lifecycle), so nothing it needs can be lost in
// a stream or poisoned. One aggregator at a time leads (store.Leadership); every tick the leader
//   - cuts off the runs still loading at their deadline (lifecycle.Cut): the per-user tables are
//     built from what arrived, and the run is loaded with the reason it is incomplete;
//   - finishes the loaded runs: computes every metric of the catalogue with set-based SQL and
//     stores it with the run's final status (complete, or incomplete for a cut run), which frees
//     the active-run slot; a loaded run that cannot be finished by its finish deadline fails with
//     the last error;
//   - announces the runs that ended: their final event and, with metrics, their record, on the run
//     events stream (for watchers and replay), until that gets through;
//   - pushes the newest finished run's metrics to the Pushgateway until the push succeeds, with
//     capped backoff, forever (a newer run's push supersedes it): pushing is not finishing;
//   - posts the Slack summary of each finished run and prunes old runs.
package aggregator

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/store"
)

// Options configure the aggregator.
type Options struct {
	Foundation    []int64
	RetentionRuns int
	RetentionAge  time.Duration
	// Deadlines: Run is the deadline of a run whose row has none (created before deadlines were
	// recorded with the row); Finish bounds the loaded state.
	Deadlines lifecycle.Deadlines
	// Slack receives the end-of-run summary (spec §8); nil sends none.
	Slack *Slack
	// Registerer gets the aggregator's own series (runs by status, push state); nil: none.
	Registerer prometheus.Registerer
	// Activity is told what the aggregator does with each run, and the push state, for the
	// stage's /status; nil: nothing.
	Activity Activity
}

// Activity records the aggregator's steps on a run and facts such as the push state. It is
// called from the drive loop and must not block (stage.Status takes a mutex for a few fields).
type Activity interface {
	Begin(run int64, activity string)
	End(run int64, activity string, err error)
	Note(key string, value any)
}

// Publish publishes messages and waits until they are stored (bus.Conn.Publish).
type Publish func(ctx context.Context, outs ...message.Out) error

// Aggregator drives runs from loading to their end. Drive (or Step) must not be called from more
// than one goroutine at a time.
type Aggregator struct {
	store  *store.Store
	pusher *Pusher
	opts   Options
	log    zerolog.Logger
	now    func() time.Time
	// metrics are the aggregator's own series (metrics.go).
	metrics *stageMetrics
	// failing is why finishing each loaded run last failed, the reason it fails with at its
	// finish deadline.
	failing map[int64]error
	// push is the backoff of each network's pending push.
	push  map[lifecycle.Network]*pushRetry
	quiet quietLog
}

// New returns an aggregator.
func New(s *store.Store, p *Pusher, opts Options, log zerolog.Logger) *Aggregator {
	if opts.Activity == nil {
		opts.Activity = noActivity{}
	}
	return &Aggregator{store: s, pusher: p, opts: opts, log: log, now: time.Now,
		metrics: newStageMetrics(opts.Registerer), failing: map[int64]error{}, push: map[lifecycle.Network]*pushRetry{},
		quiet: quietLog{log: log}}
}

// finish computes, records and stores the metrics of a loaded run and gives it its final status.
func (a *Aggregator) finish(ctx context.Context, run store.Run) (err error) {
	a.opts.Activity.Begin(run.ID, "computing metrics")
	defer func() { a.opts.Activity.End(run.ID, "finished", err) }()
	t, reason := lifecycle.Finish, ""
	if run.Error != "" {
		// Cut off at its deadline: metrics of what arrived, flagged incomplete.
		t, reason = lifecycle.FinishIncomplete, run.Error
	}
	start := a.now()
	samples, seen, err := a.store.ComputeSeen(ctx, run.ID, a.opts.Foundation)
	if err != nil {
		return err
	}
	end := a.now()
	// The metrics stage runs from the moment the run was loaded (or cut), so that it includes the
	// wait for this tick, and the content stage (created → loaded) and it add up to the job.
	if run.LoadedAt != nil && run.LoadedAt.Before(start) {
		start = *run.LoadedAt
	}
	generating, total := end.Sub(start).Seconds(), end.Sub(run.CreatedAt).Seconds()
	own, err := a.ownSamples(ctx, run, t.To, generating, total)
	if err != nil {
		return err
	}
	samples = append(samples, own...)
	rec, err := a.record(ctx, run, t.To, reason, end, generating, total, seen)
	if err != nil {
		return err
	}
	data, err := proto.Marshal(rec)
	if err != nil {
		return fmt.Errorf("run %d: record: %w", run.ID, err)
	}
	moved, err := a.store.Finish(ctx, run.ID, t, reason, end, samples, data)
	if err != nil || !moved {
		return err
	}
	log := a.log.With().Int64("run_id", run.ID).Logger()
	log.Info().Str("status", string(t.To)).Str("reason", reason).Int("series", len(samples)).
		Msg("run finished; its metrics are stored and their push is pending")
	// At most once: after the run is marked, so a later tick does not post again. The summary is
	// the clocks run's (the original's Slack report); storage runs post none.
	if run.Network == lifecycle.Clocks {
		if err := a.opts.Slack.Post(ctx, SlackMessage(samples, run.CreatedAt, a.now(), t.To, reason)); err != nil {
			log.Warn().Err(err).Msg("slack report not sent")
		}
	}
	if pruned, err := a.store.Prune(ctx, a.opts.RetentionRuns, a.opts.RetentionAge); err != nil {
		log.Warn().Err(err).Msg("prune old runs")
	} else if len(pruned) > 0 {
		log.Info().Interface("runs", pruned).Msg("pruned old runs")
	}
	return nil
}

type noActivity struct{}

func (noActivity) Begin(int64, string)      {}
func (noActivity) End(int64, string, error) {}
func (noActivity) Note(string, any)         {}

// runLabel is the value of the optional run_id label.
func runLabel(run int64) string { return strconv.FormatInt(run, 10) }
