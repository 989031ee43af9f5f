package aggregator

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/store"
)

// stageMetrics are the aggregator's own series, served on its /metrics (not pushed): what the
// alert rules need when a run leaves nothing on the Pushgateway (a failed run, a failed push).
type stageMetrics struct {
	runs         *prometheus.CounterVec
	pushFailures prometheus.Counter
}

// newStageMetrics registers the series on reg; with a nil reg they count into the void.
func newStageMetrics(reg prometheus.Registerer) *stageMetrics {
	m := &stageMetrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "netmon_aggregator_runs_total",
			Help: "Runs this aggregator finished, by final status (complete, incomplete, failed).",
		}, []string{"status"}),
		pushFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "netmon_aggregator_push_failures_total",
			Help: "Pushes of a run's metrics to the Pushgateway that failed (each is retried by redelivery).",
		}),
	}
	for _, s := range []string{"complete", "incomplete", "failed"} {
		m.runs.WithLabelValues(s)
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.pushFailures)
	}
	return m
}

// failedCounted records a run whose planning failed, counting it once (not on redelivery).
func (a *Aggregator) failedCounted(ctx context.Context, run store.Run, reason string) ([]message.Out, error) {
	outs, err := a.failed(ctx, run, reason)
	if err == nil && !run.Finished() {
		a.metrics.runs.WithLabelValues("failed").Inc()
	}
	return outs, err
}
