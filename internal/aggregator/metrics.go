package aggregator

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/audius-netmon/netmon/internal/lifecycle"
)

// stageMetrics are the aggregator's own series, served on its /metrics (not pushed): what the
// alert rules need when a run leaves nothing on the Pushgateway (a failed run, a pending push).
type stageMetrics struct {
	runs             *prometheus.CounterVec
	pushFailures     prometheus.Counter
	pushPending      prometheus.Gauge
	pushPendingSince prometheus.Gauge
	lastPush         prometheus.Gauge
}

// newStageMetrics registers the series on reg; with a nil reg they count into the void.
func newStageMetrics(reg prometheus.Registerer) *stageMetrics {
	m := &stageMetrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "netmon_aggregator_runs_total",
			Help: "Runs that ended, as this aggregator announced them, by final status (complete, incomplete, failed).",
		}, []string{"status"}),
		pushFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "netmon_aggregator_push_failures_total",
			Help: "Pushes of a run's metrics to the Pushgateway that failed (each is retried with backoff until one succeeds).",
		}),
		pushPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "netmon_aggregator_push_pending",
			Help: "1 while the newest finished run's metrics are not on the Pushgateway yet, else 0.",
		}),
		pushPendingSince: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "netmon_aggregator_push_pending_since_timestamp_seconds",
			Help: "Unix time since which the pending push has been pending; 0 when none is.",
		}),
		lastPush: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "netmon_aggregator_last_push_timestamp_seconds",
			Help: "Unix time of the last successful push of a run's metrics; 0 before the first.",
		}),
	}
	for _, s := range []lifecycle.Status{lifecycle.Complete, lifecycle.Incomplete, lifecycle.Failed} {
		m.runs.WithLabelValues(string(s))
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.pushFailures, m.pushPending, m.pushPendingSince, m.lastPush)
	}
	return m
}
