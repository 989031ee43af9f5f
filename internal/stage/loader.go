package stage

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/loader"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/store"
)

// LoaderConsumer is the loader's durable consumer of the data stream.
var LoaderConsumer = bus.ConsumerSpec{
	Stream:        message.StreamData,
	Durable:       "loader",
	AckWait:       time.Minute,
	MaxDeliver:    20,
	MaxAckPending: 256,
	Workers:       4,
}

// RunLoader runs the loader until ctx ends.
func RunLoader(ctx context.Context, d Deps) error {
	reg := d.registry()
	st, err := openStore(ctx, d)
	if err != nil {
		return err
	}
	defer st.Close()
	conn, err := connect(ctx, d, "netmon-loader")
	if err != nil {
		return err
	}
	defer conn.Close()
	l := loader.New(st, d.Log)
	h := newHealth("loader")
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveHTTP(ctx, d.httpAddr("loader"), reg, h, d.Log) })
	g.Go(func() error {
		h.ready.Store(true)
		return conn.Consume(ctx, withAckWait(LoaderConsumer, d.Config.AckWait), h.status.Track(bus.Handler{
			Handle: func(ctx context.Context, m bus.Delivery) ([]message.Out, error) {
				return l.Handle(ctx, m.Subject, m.Data)
			},
		}), bus.NewRouterMetrics(reg), d.Log)
	})
	return g.Wait()
}

// openStore connects to the NM DB and migrates it.
func openStore(ctx context.Context, d Deps) (*store.Store, error) {
	st, err := store.Open(ctx, d.Config.NMDB.ConnString(), 16)
	if err != nil {
		return nil, err
	}
	if err := retry(ctx, d, "nm db", func() error { return st.Migrate(ctx) }); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// retry calls fn until it succeeds, ctx ends, or a minute has passed, so stages started together
// with their databases wait for them instead of failing.
func retry(ctx context.Context, d Deps, what string, fn func() error) error {
	deadline := time.Now().Add(time.Minute)
	wait := 200 * time.Millisecond
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		d.Log.Warn().Err(err).Str("dependency", what).Msg("not reachable yet, retrying")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}
