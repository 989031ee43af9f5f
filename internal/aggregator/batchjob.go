package aggregator

import (
	"context"
	"time"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/store"
)

// The batch-job series Prometheus recommends (https://prometheus.io/docs/practices/instrumentation/#batch-jobs),
// computed from the run's own timing, so that a replayed run gets exactly the values its live run
// pushed: the completion time is the run's creation plus its recorded total seconds.
const (
	LastCompletionMetric = "audius_nm_last_completion_timestamp_seconds"
	LastSuccessMetric    = "audius_nm_last_success_timestamp_seconds"
	RunDurationMetric    = "audius_nm_run_duration_seconds"
	stageDurationMetric  = "audius_nm_stage_duration_seconds"
)

// batchJobSamples are the run's completion and last-success timestamps, its duration, and the
// metrics stage's duration (the other stages' come from the catalogue). The last success of an
// incomplete run is carried over from the newest earlier run that has one stored.
func (a *Aggregator) batchJobSamples(ctx context.Context, run int64, created time.Time, status lifecycle.Status,
	generating, total float64) ([]store.Sample, error) {
	completed := float64(created.UnixMicro())/1e6 + total
	success := completed
	if status != lifecycle.Complete {
		prev, ok, err := a.store.LatestSample(ctx, LastSuccessMetric, run)
		if err != nil {
			return nil, err
		}
		success = 0
		if ok {
			success = prev
		}
	}
	return jobSamples(completed, success, total, generating), nil
}

func jobSamples(completed, success, total, generating float64) []store.Sample {
	return []store.Sample{
		{Name: LastCompletionMetric, Value: completed},
		{Name: LastSuccessMetric, Value: success},
		{Name: RunDurationMetric, Value: total},
		{Name: stageDurationMetric, Labels: map[string]string{"stage": "metrics"}, Value: generating},
	}
}
