package stage

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/planner"
	"github.com/audius-netmon/netmon/internal/storagenode"
	"github.com/audius-netmon/netmon/internal/store"
)

// RunPlanner runs the planner until ctx ends: a run control (planner.Control) per configured
// network starts that network's runs on its schedule and whenever asked on message.StartSubject,
// one run of a network at a time.
func RunPlanner(ctx context.Context, d Deps) error {
	reg := d.registry()
	h := newHealth("planner")
	return runStage(ctx, d, "planner", reg, h, func(ctx context.Context) error {
		disc, err := store.OpenDiscovery(ctx, d.Config.DiscoveryDB.ConnString())
		if err != nil {
			return err
		}
		defer disc.Close()
		st, err := openStore(ctx, d, h)
		if err != nil {
			return err
		}
		defer st.Close()
		conn, err := connect(ctx, d, h, "netmon-planner")
		if err != nil {
			return err
		}
		defer conn.Close()
		state, err := openState(ctx, d, h, conn)
		if err != nil {
			return err
		}
		deps := planner.ControlDeps{
			Store:       st,
			Discovery:   disc,
			IDs:         state,
			Publish:     conn.Publish,
			Emitter:     func() planner.Emitter { return conn.Emitter(256) },
			LastMessage: conn.LastMessage,
			Activity:    h.status,
		}
		controls, err := planControls(d, deps, reg, disc, loaderBacklog{conn})
		if err != nil {
			return err
		}
		stop, err := conn.Serve(message.StartSubject, func(req []byte) []byte { return controls.Answer(ctx, req) })
		if err != nil {
			return err
		}
		defer stop()
		h.up()
		controls.Run(ctx)
		return nil
	})
}

// planControls are the run controls of the configured networks: clocks runs always, storage runs
// when they have nodes (config.Storage.Enabled). Each control's own series carry its network.
func planControls(d Deps, deps planner.ControlDeps, reg prometheus.Registerer, disc *store.Discovery,
	loader planner.LoaderBacklog) (planner.Controls, error) {
	cfg := d.Config
	clocks := planner.Options{
		Network:       lifecycle.Clocks,
		UserBatchSize: cfg.UserBatchSize,
		PartUsers:     cfg.PartUsers,
		PartsAhead:    cfg.PartsAhead,
		Loader:        loader,
		WorkBatchSize: cfg.WorkBatchSize,
		Deadline:      cfg.RunDeadline,
		CIDChecks:     cfg.CIDChecks,
		CIDSampleSize: int64(cfg.CIDSampleSize),
	}
	var err error
	if clocks.Nodes, err = planner.NewNodeSource(cfg); err != nil {
		return nil, err
	}
	schedules := map[lifecycle.Network]string{lifecycle.Clocks: cfg.Schedule}
	opts := map[lifecycle.Network]planner.Options{lifecycle.Clocks: clocks}
	if cfg.Storage.Enabled() {
		client := &storagenode.Client{Policy: cnPolicy(cfg.EndpointPolicy)}
		storage := planner.Options{
			Network:  lifecycle.Storage,
			Deadline: cfg.RunDeadline,
			Storage: planner.StorageOptions{
				Keys: planner.CollectedKeys{Discovery: cfg.Storage.Keys != "uploads", Uploads: cfg.Storage.Keys != "discovery",
					DB: disc, Client: client},
				SampleSize:      int64(cfg.Storage.SampleSize),
				DefaultR:        cfg.Storage.DefaultR,
				KeyBatchSize:    cfg.Storage.BatchSize,
				NonHolderProbes: cfg.Storage.NonHolderProbes,
				Health:          planner.NodeHealth{Client: client},
				HealthTimeout:   cfg.FetchTimeout,
			},
		}
		if storage.Nodes, err = planner.NewStorageNodeSource(cfg); err != nil {
			return nil, err
		}
		opts[lifecycle.Storage] = storage
		schedules[lifecycle.Storage] = cfg.Storage.Schedule
	}
	controls := planner.Controls{}
	for n, o := range opts {
		c, err := planner.NewControl(planner.New(o, d.Log.With().Str("network", string(n)).Logger()), deps, deadlines(d),
			schedules[n], prometheus.WrapRegistererWith(prometheus.Labels{"network": string(n)}, reg), d.Log)
		if err != nil {
			return nil, err
		}
		controls[n] = c
	}
	return controls, nil
}

// deadlines are the run lifecycle's deadlines of the configuration.
func deadlines(d Deps) lifecycle.Deadlines {
	return lifecycle.Deadlines{Run: d.Config.RunDeadline, Finish: d.Config.FinishTimeout}
}

// loaderBacklog is the loader's backlog: the data-stream messages its consumer (LoaderConsumer)
// has not finished.
type loaderBacklog struct{ conn *bus.Conn }

func (l loaderBacklog) LoaderBacklog(ctx context.Context) (int64, error) {
	return l.conn.Backlog(ctx, LoaderConsumer.Stream, LoaderConsumer.Durable)
}
