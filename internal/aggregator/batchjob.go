package aggregator

import (
	"context"

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

// ownSeries names the series the aggregator adds to a run's catalogue series: its id, whether it
// is incomplete, the batch-job series and the metrics stage's duration (the other stages' come
// from the catalogue). Each network has its own names, so the two Pushgateway jobs never carry
// the same metric.
type ownSeries struct {
	lastRunID, incomplete, lastCompletion, lastSuccess, runDuration, stageDuration string
	// generating and total are the original's duration series (clocks runs only).
	generating, total string
}

var clocksSeries = ownSeries{
	lastRunID: "audius_nm_last_run_id", incomplete: IncompleteMetric, lastCompletion: LastCompletionMetric,
	lastSuccess: LastSuccessMetric, runDuration: RunDurationMetric, stageDuration: stageDurationMetric,
	generating: "audius_nm_generating_metrics_duration", total: "audius_nm_total_job_duration",
}

var storageSeries = ownSeries{
	lastRunID: "audius_nm_storage_last_run_id", incomplete: "audius_nm_storage_run_incomplete",
	lastCompletion: "audius_nm_storage_last_completion_timestamp_seconds",
	lastSuccess:    "audius_nm_storage_last_success_timestamp_seconds",
	runDuration:    "audius_nm_storage_run_duration_seconds", stageDuration: "audius_nm_storage_stage_duration_seconds",
}

func seriesOf(n lifecycle.Network) ownSeries {
	if n == lifecycle.Storage {
		return storageSeries
	}
	return clocksSeries
}

// ownSamples are the series of run the aggregator adds to its catalogue's, for a run ending with
// status after generating seconds of metrics and total seconds in all. The last success of an
// incomplete run is carried over from the newest earlier run of its network that has one stored.
func (a *Aggregator) ownSamples(ctx context.Context, run store.Run, status lifecycle.Status, generating, total float64) ([]store.Sample, error) {
	names := seriesOf(run.Network)
	completed := float64(run.CreatedAt.UnixMicro())/1e6 + total
	success := completed
	if status != lifecycle.Complete {
		prev, ok, err := a.store.LatestSample(ctx, names.lastSuccess, run.ID)
		if err != nil {
			return nil, err
		}
		success = 0
		if ok {
			success = prev
		}
	}
	return jobSamples(names, run.ID, status, completed, success, total, generating), nil
}

func jobSamples(names ownSeries, run int64, status lifecycle.Status, completed, success, total, generating float64) []store.Sample {
	incomplete := 0.0
	if status == lifecycle.Incomplete {
		incomplete = 1
	}
	var out []store.Sample
	if names.generating != "" {
		out = append(out, store.Sample{Name: names.generating, Value: generating}, store.Sample{Name: names.total, Value: total})
	}
	return append(out,
		store.Sample{Name: names.lastRunID, Value: float64(run)},
		store.Sample{Name: names.incomplete, Value: incomplete},
		store.Sample{Name: names.lastCompletion, Value: completed},
		store.Sample{Name: names.lastSuccess, Value: success},
		store.Sample{Name: names.runDuration, Value: total},
		store.Sample{Name: names.stageDuration, Labels: map[string]string{"stage": "metrics"}, Value: generating},
	)
}
