// Package stage wires each stage's plain logic (planner, fetcher, loader, aggregator) to its
// inputs and outputs: configuration, logging, the NATS bus, the databases, and the stage's own
// HTTP endpoints (/metrics, /healthz, /readyz). Each Run* function is what a stage binary's main
// calls, and what the embedded pipeline runs in one process.
package stage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/store"
)

// Default HTTP listen addresses of the stages' /metrics, /healthz and /readyz.
var DefaultHTTPAddr = map[config.Stage]string{
	"planner":    ":9101",
	"fetcher":    ":9102",
	"loader":     ":9103",
	"aggregator": ":9104",
}

// Logger builds the stage's logger: JSON lines, or a console format on a terminal (or when asked).
func Logger(cfg config.Config, stage string, w io.Writer) zerolog.Logger {
	return BaseLogger(cfg, w).With().Str("stage", stage).Logger()
}

// BaseLogger is Logger without the stage field, for a process that hosts several stages.
func BaseLogger(cfg config.Config, w io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(cfg.LogLevel)
	if err != nil || cfg.LogLevel == "" {
		level = zerolog.InfoLevel
	}
	console := cfg.LogFormat == "console"
	if cfg.LogFormat == "" || cfg.LogFormat == "auto" {
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			console = true
		}
	}
	if console {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// Deps are what every stage needs from its process.
type Deps struct {
	Config config.Config
	Log    zerolog.Logger
	// Registry collects the stage's metrics, served on /metrics.
	Registry *prometheus.Registry
	// HTTPAddr overrides the listen address; "-" disables the HTTP server (embedded mode).
	HTTPAddr string
}

func (d Deps) httpAddr(stage config.Stage) string {
	switch {
	case d.HTTPAddr != "":
		return d.HTTPAddr
	case d.Config.HTTPAddr != "":
		return d.Config.HTTPAddr
	}
	return DefaultHTTPAddr[stage]
}

func (d Deps) registry() *prometheus.Registry {
	if d.Registry != nil {
		return d.Registry
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// connect dials NATS, waiting for it as long as configured (waitFor), refuses a server that cannot
// host netmon (bus.CheckServer), and makes sure the streams exist.
func connect(ctx context.Context, d Deps, h *health, name string) (*bus.Conn, error) {
	conn, err := bus.Dial(d.Config, name, d.Log)
	if err != nil {
		return nil, err
	}
	what := "NATS at " + d.Config.Redacted()["NETMON_NATS_URL"]
	err = waitFor(ctx, d, h, what, func(ctx context.Context) error {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := conn.WaitConnected(wctx); err != nil {
			if last := conn.LastError(); last != nil {
				return fmt.Errorf("not connected: %w", last)
			}
			return errors.New("not connected")
		}
		return conn.CheckServer(ctx)
	})
	if err == nil {
		// A cluster electing leaders, or busy with other stages creating the same streams, can time
		// out a first attempt.
		err = waitFor(ctx, d, h, "NATS streams", func(ctx context.Context) error {
			return conn.EnsureStreams(ctx, bus.StreamOptions{Replicas: d.Config.StreamReplicas, MaxAge: d.Config.StreamMaxAge})
		})
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// withAckWait is spec with AckWait replaced by d when d is set (NETMON_ACK_WAIT).
func withAckWait(spec bus.ConsumerSpec, d time.Duration) bus.ConsumerSpec {
	if d > 0 {
		spec.AckWait = d
	}
	return spec
}

// openStore connects to the NM DB, waiting for it as long as configured, and migrates it.
func openStore(ctx context.Context, d Deps, h *health) (*store.Store, error) {
	st, err := store.Open(ctx, d.Config.NMDB.ConnString(), 16)
	if err != nil {
		return nil, err
	}
	if err := waitFor(ctx, d, h, "the NM DB", st.Migrate); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// openState opens the shared state bucket, waiting like the databases: a cluster may take a
// while to create it.
func openState(ctx context.Context, d Deps, h *health, conn *bus.Conn) (*bus.State, error) {
	var state *bus.State
	err := waitFor(ctx, d, h, "the NATS state bucket", func(ctx context.Context) error {
		var err error
		state, err = conn.OpenState(ctx, d.Config.StreamReplicas)
		return err
	})
	return state, err
}

// A stage started before its dependencies, or whose dependency is down, waits for them: its
// /healthz answers at once, its /readyz says "not ready" with what it waits for, and a line is
// logged at the first failure and every dependencyLogEvery. It waits NETMON_DEPENDENCY_TIMEOUT
// (default 0: forever); a NATS server that can never host netmon (bus.ErrServer) ends the wait
// at once, so the stage exits with the reason.
const (
	dependencyRetryMin = 200 * time.Millisecond
	dependencyRetryMax = 5 * time.Second
	dependencyLogEvery = 10 * time.Second
)

// waitFor calls fn until it succeeds, ctx ends or the configured time passes.
func waitFor(ctx context.Context, d Deps, h *health, what string, fn func(context.Context) error) error {
	start := time.Now()
	wait := dependencyRetryMin
	var logged time.Time
	h.waiting("waiting for " + what)
	for {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		var refused bus.ErrServer
		if errors.As(err, &refused) {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		waited := time.Since(start)
		h.waiting(fmt.Sprintf("waiting for %s for %s: %v", what, waited.Round(time.Second), err))
		if timeout := d.Config.DependencyTimeout; timeout > 0 && waited >= timeout {
			return fmt.Errorf("%s: not reachable after %s (NETMON_DEPENDENCY_TIMEOUT): %w", what, timeout, err)
		}
		if time.Since(logged) >= dependencyLogEvery {
			d.Log.Warn().Err(err).Str("dependency", what).Float64("waiting_seconds", waited.Round(time.Second).Seconds()).
				Msg("dependency not reachable; waiting for it")
			logged = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, dependencyRetryMax)
	}
}

// health is the stage's readiness: not ready, with the reason, while it starts and waits for its
// dependencies; ready once it works.
type health struct {
	ready  atomic.Bool
	reason atomic.Pointer[string]
	status *Status // served on /status
}

// waiting records why the stage is not ready yet.
func (h *health) waiting(why string) { h.reason.Store(&why) }

// up marks the stage ready.
func (h *health) up() { h.ready.Store(true) }

// notReady is the /readyz text of a stage that is not ready.
func (h *health) notReady() string {
	if r := h.reason.Load(); r != nil {
		return "not ready: " + *r
	}
	return "not ready: starting"
}

// serveHTTP serves /metrics, /healthz, /readyz and /status until ctx ends. A stage starts it
// first, so it answers while it waits for its dependencies.
func serveHTTP(ctx context.Context, addr string, reg *prometheus.Registry, h *health, log zerolog.Logger) error {
	if addr == "-" {
		<-ctx.Done()
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	if h.status != nil {
		mux.Handle("/status", h.status)
	}
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !h.ready.Load() {
			http.Error(w, h.notReady(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", addr, err)
	}
	log.Info().Str("addr", l.Addr().String()).Msg("serving /metrics, /healthz, /readyz, /status")
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http: %w", err)
	}
	return nil
}

// runStage serves the stage's HTTP endpoints at once and runs work beside them; when work returns
// (an error, or ctx ended), the endpoints stop too.
func runStage(ctx context.Context, d Deps, stage config.Stage, reg *prometheus.Registry, h *health,
	work func(ctx context.Context) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveHTTP(ctx, d.httpAddr(stage), reg, h, d.Log) })
	g.Go(func() error {
		err := work(ctx)
		if err == nil {
			// Stop the HTTP server too.
			return errStopped
		}
		return err
	})
	if err := g.Wait(); !errors.Is(err, errStopped) {
		return err
	}
	return nil
}

// errStopped ends a stage's errgroup when its work returned normally.
var errStopped = errors.New("stopped")
