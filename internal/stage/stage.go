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

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/config"
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

// connect dials NATS and makes sure the streams exist.
func connect(ctx context.Context, d Deps, name string) (*bus.Conn, error) {
	conn, err := bus.Connect(d.Config.NATSURL, name, d.Log, NATSOptions(d.Config)...)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := conn.WaitConnected(wctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("nats %s: %w", d.Config.NATSURL, err)
	}
	// A cluster electing leaders, or busy with other stages creating the same streams, can time
	// out a first attempt.
	if err := retry(ctx, d, "nats streams", func() error {
		return bus.EnsureStreams(ctx, conn.JS, bus.StreamOptions{Replicas: d.Config.StreamReplicas, MaxAge: d.Config.StreamMaxAge})
	}); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// health is the stage's readiness, flipped once it consumes.
type health struct {
	ready  atomic.Bool
	status *Status // served on /status
}

// serveHTTP serves /metrics, /healthz, /readyz and /status until ctx ends.
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
			http.Error(w, "not ready", http.StatusServiceUnavailable)
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
