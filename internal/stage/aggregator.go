package stage

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/audius-netmon/netmon/internal/aggregator"
	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/message"
)

// deadlineCheck is how often the aggregator looks for runs past their deadline.
const deadlineCheck = time.Second

// AggregatorConsumer is the aggregator's durable consumer of "loaded" and "failed" run events.
var AggregatorConsumer = bus.ConsumerSpec{
	Stream:        message.StreamRuns,
	Durable:       "aggregator",
	Filters:       []string{"netmon.run.*.loaded", "netmon.run.*.failed"},
	AckWait:       5 * time.Minute,
	MaxDeliver:    10,
	MaxAckPending: 1,
	Workers:       1,
}

// RunAggregator runs the aggregator until ctx ends.
func RunAggregator(ctx context.Context, d Deps) error {
	reg := d.registry()
	st, err := openStore(ctx, d)
	if err != nil {
		return err
	}
	defer st.Close()
	conn, err := connect(ctx, d, "netmon-aggregator")
	if err != nil {
		return err
	}
	defer conn.Close()
	state, err := openState(ctx, d, conn)
	if err != nil {
		return err
	}
	a := aggregator.New(st,
		Pusher(d.Config),
		state,
		aggregator.Options{
			Foundation:    d.Config.FoundationSPIDs,
			RetentionRuns: d.Config.RetentionRuns,
			RetentionAge:  d.Config.RetentionAge,
			Slack:         aggregator.NewSlack(d.Config.SlackURL.Reveal(), nil),
			Registerer:    reg,
		}, d.Log)
	h := newHealth("aggregator")
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveHTTP(ctx, d.httpAddr("aggregator"), reg, h, d.Log) })
	g.Go(func() error { return a.Deadlines(ctx, deadlineCheck, d.Config.RunDeadline, conn.Publish) })
	g.Go(func() error {
		h.ready.Store(true)
		return conn.Consume(ctx, withAckWait(AggregatorConsumer, d.Config.AckWait), h.status.Track(bus.Handler{
			Handle: func(ctx context.Context, m bus.Delivery) ([]message.Out, error) {
				return a.Handle(ctx, m.Data)
			},
		}), bus.NewRouterMetrics(reg), d.Log)
	})
	return g.Wait()
}

// Pusher is the Pushgateway client the configuration describes (URL, job group, run_id label,
// basic auth): the aggregator's, and `netmon replay --push`'s.
func Pusher(cfg config.Config) *aggregator.Pusher {
	return aggregator.NewPusher(cfg.PushGatewayURL, cfg.PushJob, cfg.RunIDLabel, nil).
		WithBasicAuth(cfg.PushAuth.Username, cfg.PushAuth.Password.Reveal())
}
