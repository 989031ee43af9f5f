package planner

import "github.com/prometheus/client_golang/prometheus"

// Registerer takes the planner's own series (prometheus.Registerer).
type Registerer = prometheus.Registerer

// What started a run, and why a start was refused (label values).
const (
	triggerSchedule = "schedule"
	triggerRequest  = "request"
	triggerResume   = "resume"
	refusedActive   = "active"
	refusedError    = "error"
)

// controlMetrics are the planner's own series, served on its /metrics: netmon watching itself.
type controlMetrics struct {
	started        *prometheus.CounterVec
	refused        *prometheus.CounterVec
	nextRun        prometheus.Gauge
	activeStart    prometheus.Gauge
	activeDeadline prometheus.Gauge
}

// newControlMetrics registers the series on reg; with a nil reg they count into the void.
func newControlMetrics(reg Registerer) *controlMetrics {
	m := &controlMetrics{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "netmon_planner_runs_started_total",
			Help: "Runs this planner started, by trigger (schedule, request, resume).",
		}, []string{"trigger"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "netmon_planner_starts_refused_total",
			Help: "Run starts refused, by reason (active: another run was active; error: a dependency failed).",
		}, []string{"reason"}),
		nextRun: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "netmon_planner_next_scheduled_run_timestamp_seconds",
			Help: "Unix time of the next scheduled run; 0 without a schedule.",
		}),
		activeStart: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "netmon_planner_active_run_start_timestamp_seconds",
			Help: "Unix time at which the active run started; 0 when no run is active.",
		}),
		activeDeadline: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "netmon_planner_active_run_deadline_timestamp_seconds",
			Help: "Unix time of the active run's deadline, after which it is cut off; 0 when no run is active.",
		}),
	}
	for _, t := range []string{triggerSchedule, triggerRequest, triggerResume} {
		m.started.WithLabelValues(t)
	}
	for _, r := range []string{refusedActive, refusedError} {
		m.refused.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.started, m.refused, m.nextRun, m.activeStart, m.activeDeadline)
	}
	return m
}
