package stage

import (
	"context"
	"time"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/loader"
	"github.com/audius-netmon/netmon/internal/message"
)

// LoaderConsumer is the loader's durable consumer of the data stream. An NM DB that is down is
// waited out in place (the loader's errors are Unavailable then), so MaxDeliver only bounds
// messages that fail for another reason.
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
	h := newHealth("loader")
	return runStage(ctx, d, "loader", reg, h, func(ctx context.Context) error {
		st, err := openStore(ctx, d, h)
		if err != nil {
			return err
		}
		defer st.Close()
		conn, err := connect(ctx, d, h, "netmon-loader")
		if err != nil {
			return err
		}
		defer conn.Close()
		l := loader.New(st, d.Log)
		h.up()
		return conn.Consume(ctx, withAckWait(LoaderConsumer, d.Config.AckWait), h.status.Track(l), bus.NewRouterMetrics(reg), d.Log)
	})
}
