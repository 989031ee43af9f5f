package stage

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/planner"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// RunPlanner runs the planner until ctx ends: its run control (planner.Control) starts a run on
// its schedule and whenever asked on message.StartSubject, one run at a time.
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
		opts := planner.Options{
			UserBatchSize: d.Config.UserBatchSize,
			WorkBatchSize: d.Config.WorkBatchSize,
			Deadline:      d.Config.RunDeadline,
			CIDChecks:     d.Config.CIDChecks,
			CIDSampleSize: int64(d.Config.CIDSampleSize),
		}
		if opts.Nodes, err = planner.NewNodeSource(d.Config); err != nil {
			return err
		}
		control, err := planner.NewControl(planner.New(opts, d.Log), planner.ControlDeps{
			Store:     st,
			Discovery: disc,
			IDs:       state,
			Publish:   conn.Publish,
			Emitter:   func() planner.Emitter { return conn.Emitter(256) },
			Manifest: func(ctx context.Context, run int64) (*netmonv1.Manifest, bool, error) {
				return manifest(ctx, conn, run)
			},
			Activity: h.status,
		}, deadlines(d), d.Config.Schedule, reg, d.Log)
		if err != nil {
			return err
		}
		stop, err := conn.Serve(message.StartSubject, func(req []byte) []byte {
			data, _ := proto.Marshal(startReply(ctx, control, req))
			return data
		})
		if err != nil {
			return err
		}
		defer stop()
		h.up()
		return control.Run(ctx)
	})
}

// startReply answers a start request: the new run, or why none was started.
func startReply(ctx context.Context, control *planner.Control, data []byte) *netmonv1.StartRunReply {
	var req netmonv1.StartRunRequest
	if err := proto.Unmarshal(data, &req); err != nil {
		return &netmonv1.StartRunReply{Error: "bad request: " + err.Error()}
	}
	run, err := control.Start(ctx, "request:"+req.GetRequestedBy())
	var active lifecycle.ErrActive
	switch {
	case errors.As(err, &active):
		return &netmonv1.StartRunReply{Error: err.Error(), ActiveRunId: active.Run, ActiveStatus: string(active.Status),
			ActiveDeadline: timestamppb.New(active.Deadline)}
	case err != nil:
		return &netmonv1.StartRunReply{Error: err.Error()}
	}
	return &netmonv1.StartRunReply{RunId: run}
}

// manifest reads the run's manifest message back from the data stream, if it was published.
func manifest(ctx context.Context, conn *bus.Conn, run int64) (*netmonv1.Manifest, bool, error) {
	data, ok, err := conn.LastMessage(ctx, message.StreamData, message.SnapshotSubject(run, message.KindManifest))
	if err != nil || !ok {
		return nil, false, err
	}
	var m netmonv1.Manifest
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, false, fmt.Errorf("run %d: manifest: %w", run, err)
	}
	return &m, true, nil
}

// deadlines are the run lifecycle's deadlines of the configuration.
func deadlines(d Deps) lifecycle.Deadlines {
	return lifecycle.Deadlines{Run: d.Config.RunDeadline, Finish: d.Config.FinishTimeout}
}
