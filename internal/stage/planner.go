package stage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/planner"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// leaseGrace is how long past a run's deadline its lease holds, so the aggregator can finish it.
const leaseGrace = 10 * time.Minute

// RunPlanner runs the planner until ctx ends: it starts a run on its schedule and whenever asked
// on message.StartSubject, one run at a time.
func RunPlanner(ctx context.Context, d Deps) error {
	reg := d.registry()
	schedule, err := config.ParseSchedule(d.Config.Schedule)
	if err != nil {
		return fmt.Errorf("NETMON_SCHEDULE: %w", err)
	}
	disc, err := store.OpenDiscovery(ctx, d.Config.DiscoveryDB.ConnString())
	if err != nil {
		return err
	}
	defer disc.Close()
	conn, err := connect(ctx, d, "netmon-planner")
	if err != nil {
		return err
	}
	defer conn.Close()
	state, err := openState(ctx, d, conn)
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
	if d.Config.ContentNodeSource == "static" {
		opts.StaticNodes = []store.DiscoveryNode{}
		for _, n := range d.Config.StaticContentNodes {
			opts.StaticNodes = append(opts.StaticNodes, store.DiscoveryNode{SPID: n.SPID, Endpoint: n.Endpoint})
		}
	}
	s := &starter{conn: conn, state: state, disc: disc, planner: planner.New(opts, d.Log), deadline: d.Config.RunDeadline, log: d.Log,
		plan: planFingerprint(opts)}
	h := newHealth("planner")
	s.status = h.status
	g, ctx := errgroup.WithContext(ctx)
	s.ctx = ctx
	s.resume() // a run this planner's predecessor died planning (resume.go)
	g.Go(func() error { return serveHTTP(ctx, d.httpAddr("planner"), reg, h, d.Log) })
	sub, err := conn.NC.Subscribe(message.StartSubject, func(m *nats.Msg) {
		var req netmonv1.StartRunRequest
		reply := &netmonv1.StartRunReply{}
		if err := proto.Unmarshal(m.Data, &req); err != nil {
			reply.Error = "bad request: " + err.Error()
		} else if run, err := s.start("request:" + req.GetRequestedBy()); err != nil {
			reply.Error = err.Error()
		} else {
			reply.RunId = run
		}
		data, _ := proto.Marshal(reply)
		_ = m.Respond(data)
	})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", message.StartSubject, err)
	}
	defer sub.Unsubscribe() //nolint:errcheck
	h.ready.Store(true)
	if schedule != nil {
		g.Go(func() error {
			if at, ok, err := missedRun(ctx, schedule, state, time.Now()); err != nil {
				d.Log.Warn().Err(err).Msg("missed schedule check")
			} else if ok {
				d.Log.Info().Time("missed", at).Msg("the planner was down at a scheduled time; starting that run now")
				if _, err := s.start("schedule (missed " + at.UTC().Format(time.RFC3339) + ")"); err != nil {
					d.Log.Warn().Err(err).Msg("missed scheduled run not started")
				}
			}
			for {
				next := schedule.Next(time.Now())
				d.Log.Info().Time("next_run", next).Msg("scheduled")
				h.status.Note("next_scheduled_run", next.UTC())
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(time.Until(next)):
				}
				if _, err := s.start("schedule"); err != nil {
					d.Log.Warn().Err(err).Msg("scheduled run not started")
				}
			}
		})
	}
	err = g.Wait()
	s.wg.Wait()
	return err
}

// starter starts runs: it allocates the run id, takes the lease, announces the run, and plans
// it in the background.
type starter struct {
	ctx      context.Context
	conn     *bus.Conn
	state    *bus.State
	disc     *store.Discovery
	planner  *planner.Planner
	deadline time.Duration
	log      zerolog.Logger
	status   *Status
	plan     string // fingerprint of the plan settings, kept in the lease (resume.go)
	mu       sync.Mutex
	wg       sync.WaitGroup
}

func (s *starter) start(by string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx := s.ctx
	if l, ok, err := s.state.Active(ctx); err != nil {
		return 0, err
	} else if ok && time.Now().Before(l.Until) {
		return 0, bus.ErrRunActive{Lease: l}
	}
	run, err := s.state.NextRunID(ctx)
	if err != nil {
		return 0, err
	}
	created := time.Now().UTC()
	if err := s.state.Acquire(ctx, bus.Lease{Run: run, Until: created.Add(s.deadline + leaseGrace), Created: created, Plan: s.plan}); err != nil {
		return 0, err
	}
	if err := s.conn.Publish(ctx, runEvent(run, "planned", netmonv1.RunStatus_RUN_STATUS_PLANNED, "")); err != nil {
		_ = s.state.Release(ctx, run)
		return 0, err
	}
	log := s.log.With().Int64("run_id", run).Logger()
	log.Info().Str("by", by).Msg("run started")
	s.status.Begin(run, "planning")
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := s.disc.Read(ctx, func(snap *store.Snapshot) error {
			m, err := s.planner.Plan(ctx, run, created, snap, s.conn.Emitter(256))
			if err == nil {
				log.Info().Int64("users", m.GetUsers()).Int64("work_items", m.GetWorkItems()).
					Float64("took_seconds", m.GetDiscoveryDuration().AsDuration().Seconds()).Msg("run planned")
			}
			return err
		})
		if err == nil {
			s.status.End(run, "planned", nil)
			return
		}
		s.status.End(run, "failed", err)
		log.Error().Err(err).Msg("planning failed")
		fctx := context.WithoutCancel(ctx)
		if perr := s.conn.Publish(fctx, runEvent(run, "failed", netmonv1.RunStatus_RUN_STATUS_FAILED, "plan: "+err.Error())); perr != nil {
			log.Error().Err(perr).Msg("announce failed run")
		}
		if rerr := s.state.Release(fctx, run); rerr != nil && !errors.Is(rerr, context.Canceled) {
			log.Error().Err(rerr).Msg("release lease")
		}
	}()
	return run, nil
}

func runEvent(run int64, token string, status netmonv1.RunStatus, reason string) message.Out {
	return message.Out{
		Subject: message.RunEventSubject(run, token),
		ID:      message.RunEventID(run, token),
		Msg:     &netmonv1.RunEvent{RunId: run, Status: status, At: timestamppb.Now(), Reason: reason},
	}
}
