// Package pipeline runs the whole netmon pipeline in one process: an embedded JetStream server
// and the four stages, each exactly as its own binary runs it, talking over real NATS. It is what
// `netmon run --embedded` and `netmon demo` use.
package pipeline

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/stage"
)

// Embedded is a running in-process pipeline.
type Embedded struct {
	// URL is the embedded NATS server's client URL.
	URL    string
	server *server.Server
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	dir    string
}

// StartNATS starts an embedded JetStream server on a random loopback port with a fresh store in
// a temporary directory.
func StartNATS() (*server.Server, string, error) {
	dir, err := os.MkdirTemp("", "netmon-nats-")
	if err != nil {
		return nil, "", err
	}
	s, err := server.NewServer(&server.Options{
		ServerName: "netmon-embedded",
		Host:       "127.0.0.1",
		Port:       -1,
		JetStream:  true,
		StoreDir:   dir,
		NoLog:      true,
		NoSigs:     true,
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", fmt.Errorf("embedded nats: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		os.RemoveAll(dir)
		return nil, "", fmt.Errorf("embedded nats: not ready within 10s")
	}
	return s, dir, nil
}

// Start starts an embedded NATS server and the four stages with cfg (its NATS URL is replaced by
// the embedded server's). Stages log to log and serve no HTTP.
func Start(ctx context.Context, cfg config.Config, log zerolog.Logger) (*Embedded, error) {
	return StartServing(ctx, cfg, log, nil)
}

// StartServing is Start with each stage named in addrs (planner, fetcher, loader, aggregator)
// serving its /metrics, /healthz, /readyz and /status on that address, as its binary does.
func StartServing(ctx context.Context, cfg config.Config, log zerolog.Logger, addrs map[string]string) (*Embedded, error) {
	s, dir, err := StartNATS()
	if err != nil {
		return nil, err
	}
	cfg.NATSURL = s.ClientURL()
	ctx, cancel := context.WithCancel(ctx)
	e := &Embedded{URL: cfg.NATSURL, server: s, cancel: cancel, done: make(chan struct{}), dir: dir}
	g, gctx := errgroup.WithContext(ctx)
	stages := []struct {
		name string
		run  func(context.Context, stage.Deps) error
	}{
		{"planner", stage.RunPlanner},
		{"fetcher", stage.RunFetcher},
		{"loader", stage.RunLoader},
		{"aggregator", stage.RunAggregator},
	}
	for _, st := range stages {
		deps := stage.Deps{
			Config:   cfg,
			Log:      log.With().Str("stage", st.name).Logger(),
			Registry: prometheus.NewRegistry(),
			HTTPAddr: "-",
		}
		if a := addrs[st.name]; a != "" {
			deps.HTTPAddr = a
		}
		g.Go(func() error {
			if err := st.run(gctx, deps); err != nil {
				return fmt.Errorf("%s: %w", st.name, err)
			}
			return nil
		})
	}
	go func() {
		e.err = g.Wait()
		close(e.done)
	}()
	return e, nil
}

// Done is closed when the stages have stopped (on Stop, or when one fails); Err then says why.
func (e *Embedded) Done() <-chan struct{} { return e.done }

// Err is the first stage error, valid once Done is closed.
func (e *Embedded) Err() error { return e.err }

// Stop stops the stages and the server and removes the server's store.
func (e *Embedded) Stop() error {
	e.cancel()
	<-e.done
	e.server.Shutdown()
	e.server.WaitForShutdown()
	os.RemoveAll(e.dir)
	return e.err
}
