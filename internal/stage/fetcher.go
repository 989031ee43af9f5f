package stage

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/contentnode"
	"github.com/audius-netmon/netmon/internal/fetcher"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/signing"
	"github.com/audius-netmon/netmon/internal/storagenode"
)

// fetcherConsumer is the fetchers' shared durable consumer of the work queue. AckWait is short
// because handlers send in-progress acks while a content node is slow. A fetcher holds
// itemsPerRequestSlot items for each of its concurrency request slots: items waiting for a busy
// (or hung) node's slot then leave the request slots to items of other nodes (fetcher.Fetcher).
func fetcherConsumer(concurrency int) bus.ConsumerSpec {
	return bus.ConsumerSpec{
		Stream:        message.StreamWork,
		Durable:       "fetcher",
		AckWait:       30 * time.Second,
		MaxDeliver:    5,
		MaxAckPending: 1024,
		Workers:       concurrency * itemsPerRequestSlot,
	}
}

// itemsPerRequestSlot is how many work items a fetcher holds per request it may have in flight.
const itemsPerRequestSlot = 4

// RunFetcher runs a fetcher until ctx ends. Any number of fetchers may run against one NATS.
func RunFetcher(ctx context.Context, d Deps) error {
	reg := d.registry()
	h := newHealth("fetcher")
	var signer *signing.Signer
	if d.Config.SignatureKey != "" {
		var err error
		if signer, err = signing.NewSigner(d.Config.SignatureSPID, d.Config.SignatureKey.Reveal()); err != nil {
			return fmt.Errorf("signing key: %w", err)
		}
	}
	return runStage(ctx, d, "fetcher", reg, h, func(ctx context.Context) error {
		conn, err := connect(ctx, d, h, "netmon-fetcher")
		if err != nil {
			return err
		}
		defer conn.Close()
		client := &contentnode.Client{Policy: cnPolicy(d.Config.EndpointPolicy), Signer: signer}
		f := fetcher.New(client, fetcher.Options{
			Timeout:         d.Config.FetchTimeout,
			Attempts:        d.Config.FetchAttempts,
			Concurrency:     d.Config.FetchConcurrency,
			NodeConcurrency: d.Config.NodeConcurrency,
			BreakerFailures: d.Config.BreakerFailures,
			Deregistered:    d.Config.Deregistered,
		}, reg, d.Log).WithStorage(&storagenode.Client{Policy: cnPolicy(d.Config.EndpointPolicy)}, float64(d.Config.Storage.NodeRate))
		h.up()
		return conn.Consume(ctx, withAckWait(fetcherConsumer(d.Config.FetchConcurrency), d.Config.AckWait), h.status.Track(f), bus.NewRouterMetrics(reg), d.Log)
	})
}

// cnPolicy is the content-node endpoint policy of the configuration. The networks were checked
// when the configuration was loaded.
func cnPolicy(p config.CNPolicy) contentnode.Policy {
	out := contentnode.Policy{BlockPrivate: p.BlockPrivate}
	for _, n := range p.AllowNetworks {
		if pfx, err := netip.ParsePrefix(n); err == nil {
			out.Allow = append(out.Allow, pfx)
		}
	}
	return out
}
