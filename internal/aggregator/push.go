package aggregator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/store"
)

// Pusher sends a run's series to the Pushgateway.
type Pusher struct {
	url, job   string
	runIDLabel bool
	client     *http.Client
	user, pass string // basic auth, when user is set
}

// WithBasicAuth makes p authenticate with HTTP basic auth (a Pushgateway started with
// --web.config.file, or behind a proxy); an empty user leaves it unauthenticated.
func (p *Pusher) WithBasicAuth(user, password string) *Pusher {
	p.user, p.pass = user, password
	return p
}

// NewPusher returns a pusher for the Pushgateway at url, job group job. With runIDLabel every
// series also gets the original's run_id label.
func NewPusher(url, job string, runIDLabel bool, client *http.Client) *Pusher {
	if client == nil {
		client = http.DefaultClient
	}
	return &Pusher{url: url, job: job, runIDLabel: runIDLabel, client: client}
}

// shownURL is u without a password, for error text.
func shownURL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return "the Pushgateway"
	}
	return parsed.Redacted()
}

// extraHelp is the help of every series that is not in the SQL catalogues (store.Catalogue,
// store.StorageCatalogue): the run's own series and the batch-job series of each network
// (ownSeries). A series added there gets its help here.
var extraHelp = map[string]string{
	"audius_nm_generating_metrics_duration": "Seconds from the run's load until its metrics were computed.",
	"audius_nm_total_job_duration":          "Seconds from the run's start until its metrics were computed.",
	"audius_nm_last_run_id":                 "Id of the run these metrics come from.",
	IncompleteMetric: "1 when the run was cut off at its deadline and its metrics count only what arrived " +
		"(missing answers as not answered), 0 when it completed.",
	LastCompletionMetric: "Unix time at which the last run (complete or incomplete) computed its metrics.",
	LastSuccessMetric:    "Unix time at which the last complete run computed its metrics; 0 if no complete run is known.",
	RunDurationMetric:    "Seconds from the run's start until its metrics were computed.",

	storageSeries.lastRunID:      "Id of the storage run these metrics come from.",
	storageSeries.incomplete:     "1 when the storage run was cut off at its deadline and its metrics count only what arrived, 0 when it completed.",
	storageSeries.lastCompletion: "Unix time at which the last storage run (complete or incomplete) computed its metrics.",
	storageSeries.lastSuccess:    "Unix time at which the last complete storage run computed its metrics; 0 if none is known.",
	storageSeries.runDuration:    "Seconds from the storage run's start until its metrics were computed.",
}

// Registry builds a registry holding samples as gauges.
func (p *Pusher) Registry(run int64, samples []store.Sample) (*prometheus.Registry, error) {
	help := make(map[string]string, len(store.Catalogue)+len(store.StorageCatalogue)+len(extraHelp))
	for _, m := range slices.Concat(store.Catalogue, store.StorageCatalogue) {
		help[m.Name] = m.Help
	}
	for k, v := range extraHelp {
		help[k] = v
	}
	byName := map[string][]store.Sample{}
	for _, s := range samples {
		byName[s.Name] = append(byName[s.Name], s)
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	reg := prometheus.NewRegistry()
	for _, name := range names {
		ss := byName[name]
		var labels []string
		for l := range ss[0].Labels {
			labels = append(labels, l)
		}
		sort.Strings(labels)
		if p.runIDLabel {
			labels = append(labels, "run_id")
		}
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help[name]}, labels)
		if err := reg.Register(g); err != nil {
			return nil, fmt.Errorf("register %s: %w", name, err)
		}
		for _, s := range ss {
			vals := prometheus.Labels{}
			for k, v := range s.Labels {
				vals[k] = v
			}
			if p.runIDLabel {
				vals["run_id"] = runLabel(run)
			}
			g.With(vals).Set(s.Value)
		}
	}
	return reg, nil
}

// Push replaces the job group's series with samples (HTTP PUT), so series of an earlier run,
// such as a node that has left, do not linger.
func (p *Pusher) Push(ctx context.Context, run int64, samples []store.Sample) error {
	reg, err := p.Registry(run, samples)
	if err != nil {
		return err
	}
	// Credentials in the URL become basic auth, so the push library never has them in the URL it
	// quotes in its errors.
	target, user, pass := p.url, p.user, p.pass
	if u, err := url.Parse(p.url); err == nil && u.User != nil {
		if user == "" {
			user = u.User.Username()
			pass, _ = u.User.Password()
		}
		u.User = nil
		target = u.String()
	}
	pusher := push.New(target, p.job).Gatherer(reg).Client(p.client)
	if user != "" {
		pusher = pusher.BasicAuth(user, pass)
	}
	if err := pusher.PushContext(ctx); err != nil {
		return fmt.Errorf("push run %d to %s: %w", run, shownURL(p.url), err)
	}
	return nil
}

// The pending push is retried with capped exponential backoff, forever: the Pushgateway may be
// down for hours, and netmon keeps finishing runs meanwhile. A newer run's metrics supersede a
// pending push (only the newest run is pushed), and its backoff starts afresh.
const (
	pushRetryMin = time.Second
	pushRetryMax = time.Minute
	// pushTimeout bounds one push, so a Pushgateway that hangs cannot stall the runs' lifecycle.
	pushTimeout = 30 * time.Second
)

// pushRetry is the backoff state of the pending push of run.
type pushRetry struct {
	run  int64
	wait time.Duration
	next time.Time
}

// StorageJobSuffix ends the Pushgateway job of storage runs: their metrics go to
// <job>-storage (network-monitoring-storage by default), so that a push of either network
// replaces only its own group and the clocks run's job keeps exactly the original's series.
const StorageJobSuffix = "-storage"

// forNetwork is p for network n's runs: the same Pushgateway, n's job group.
func (p *Pusher) forNetwork(n lifecycle.Network) *Pusher {
	if n != lifecycle.Storage {
		return p
	}
	q := *p
	q.job += StorageJobSuffix
	return &q
}

// pushPending pushes, for each network, the newest finished run's metrics if their push is
// pending and its backoff has passed, and records the outcome. A network's failing push delays
// no other network's.
func (a *Aggregator) pushPending(ctx context.Context) error {
	defer a.observePush(ctx)
	var errs []error
	for _, n := range lifecycle.Networks {
		if err := a.pushNetwork(ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

func (a *Aggregator) pushNetwork(ctx context.Context, n lifecycle.Network) error {
	run, ok, err := a.store.PendingPush(ctx, n)
	if err != nil {
		return err
	}
	retry := a.push[n]
	if !ok {
		delete(a.push, n)
		return nil
	}
	if retry == nil || retry.run != run.ID {
		retry = &pushRetry{run: run.ID}
		a.push[n] = retry
	}
	if a.now().Before(retry.next) {
		return nil
	}
	samples, err := a.store.Samples(ctx, run.ID)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, pushTimeout)
	err = a.pusher.forNetwork(n).Push(pctx, run.ID, samples)
	cancel()
	if err != nil {
		a.metrics.pushFailures.Inc()
		retry.wait = min(max(2*retry.wait, pushRetryMin), pushRetryMax)
		retry.next = a.now().Add(retry.wait)
		if rerr := a.store.PushFailed(ctx, run.ID, err.Error()); rerr != nil {
			return rerr
		}
		return fmt.Errorf("push pending (next attempt in %s): %w", retry.wait, err)
	}
	if err := a.store.MarkPushed(ctx, run.ID); err != nil {
		return err
	}
	delete(a.push, n)
	ev := a.log.Info().Int64("run_id", run.ID).Str("network", string(n)).Int("series", len(samples))
	if run.PushPendingSince != nil {
		ev = ev.Float64("pending_seconds", a.now().Sub(*run.PushPendingSince).Seconds())
	}
	ev.Int64("failed_attempts", run.PushAttempts).Msg("metrics pushed")
	return nil
}

// PushState is the push of a network's newest finished run, as /status shows it.
type PushState struct {
	Run         int64          `json:"run_id"`
	State       lifecycle.Push `json:"state"`
	Since       *time.Time     `json:"pending_since,omitempty"`
	PushedAt    *time.Time     `json:"pushed_at,omitempty"`
	Attempts    int64          `json:"failed_attempts,omitempty"`
	LastError   string         `json:"last_error,omitempty"`
	NextAttempt *time.Time     `json:"next_attempt,omitempty"`
}

// pushNote is the /status note of network n's push: "push" for clocks runs (as before storage
// runs existed), "push_storage" for storage runs.
func pushNote(n lifecycle.Network) string {
	if n == lifecycle.Clocks {
		return "push"
	}
	return "push_" + string(n)
}

// observePush sets the push series and the /status notes from the NM DB. The series cover every
// network: a push is pending while any network's is, since the oldest of them.
func (a *Aggregator) observePush(ctx context.Context) {
	pending, since := false, time.Time{}
	for _, n := range lifecycle.Networks {
		st, ok, err := a.store.LatestPush(ctx, n)
		if err != nil {
			return
		}
		if !ok {
			continue
		}
		ps := PushState{Run: st.ID, State: st.Push, PushedAt: st.PushedAt, Attempts: st.PushAttempts, LastError: st.PushError}
		if st.Push == lifecycle.PushPending {
			pending = true
			if st.PushPendingSince != nil {
				ps.Since = st.PushPendingSince
				if since.IsZero() || st.PushPendingSince.Before(since) {
					since = *st.PushPendingSince
				}
			}
			if r := a.push[n]; r != nil && !r.next.IsZero() {
				next := r.next
				ps.NextAttempt = &next
			}
		}
		a.opts.Activity.Note(pushNote(n), ps)
	}
	a.metrics.pushPending.Set(0)
	a.metrics.pushPendingSince.Set(0)
	if pending {
		a.metrics.pushPending.Set(1)
		if !since.IsZero() {
			a.metrics.pushPendingSince.Set(float64(since.UnixMilli()) / 1e3)
		}
	}
	if at, ok, err := a.store.LastPushed(ctx); err == nil && ok {
		a.metrics.lastPush.Set(float64(at.UnixMilli()) / 1e3)
	}
}
