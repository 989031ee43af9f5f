package stage

import (
	"context"
	"time"

	"github.com/audius-netmon/netmon/internal/aggregator"
	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/message"
)

// driveInterval is how often the aggregator moves runs on (deadlines, finishing, announcing,
// pushing).
const driveInterval = time.Second

// RunAggregator runs the aggregator until ctx ends.
func RunAggregator(ctx context.Context, d Deps) error {
	reg := d.registry()
	h := newHealth("aggregator")
	return runStage(ctx, d, "aggregator", reg, h, func(ctx context.Context) error {
		st, err := openStore(ctx, d, h)
		if err != nil {
			return err
		}
		defer st.Close()
		conn, err := connect(ctx, d, h, "netmon-aggregator")
		if err != nil {
			return err
		}
		defer conn.Close()
		a := aggregator.New(st, Pusher(d.Config), aggregator.Options{
			Foundation:    d.Config.FoundationSPIDs,
			RetentionRuns: d.Config.RetentionRuns,
			RetentionAge:  d.Config.RetentionAge,
			Deadlines:     deadlines(d),
			Slack:         aggregator.NewSlack(d.Config.SlackURL.Reveal(), nil),
			Registerer:    reg,
			Activity:      h.status,
		}, d.Log)
		// A loaded run is finished and pushed at once, not at the next tick.
		wake := make(chan struct{}, 1)
		stop, err := conn.Notify(message.RunEventFilter(string(lifecycle.Loaded)), func() {
			select {
			case wake <- struct{}{}:
			default: // a Step is already due
			}
		})
		if err != nil {
			return err
		}
		defer stop()
		h.up()
		return a.Drive(ctx, driveInterval, conn.Publish, wake)
	})
}

// Pusher is the Pushgateway client the configuration describes (URL, job group, run_id label,
// basic auth): the aggregator's, and `netmon replay --push`'s.
func Pusher(cfg config.Config) *aggregator.Pusher {
	return aggregator.NewPusher(cfg.PushGatewayURL, cfg.PushJob, cfg.RunIDLabel, nil).
		WithBasicAuth(cfg.PushAuth.Username, cfg.PushAuth.Password.Reveal())
}
