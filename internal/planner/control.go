package planner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// Control starts runs and plans them: one at a time, on the schedule, when asked (Start), and,
// when the planner starts, the run its predecessor was planning when it died (resume). It owns
// the first part of a run's lifecycle:
//
//   - a run is created in the NM DB (store.CreateRun) before anything of it is published: its
//     row, in status planned with its deadline, is the active-run slot, so a second start is
//     refused while it is active, and the id is unique against the NM DB's history and the
//     streams' (RunIDs);
//   - the discovery block the plan reads is recorded before the first message is published,
//     and what the plan promised (the manifest) once every message is stored, which moves the
//     run to fetching (lifecycle.Publish);
//   - a plan that fails ends the run as failed with the reason (lifecycle.Fail).
//
// Whatever else goes wrong (this process killed, the NM DB unreachable when the run should be
// marked), the run's deadline bounds it: the aggregator cuts it off then.
//
// A planner that dies while publishing leaves a run planned and half published. The next
// planner to start resumes it: if the plan settings are the same (their fingerprint is in the
// run's row) and discovery is at the block the plan read, planning it again with the same id and
// creation time publishes the same messages (the stream drops the duplicates, the loader's
// keyed writes ignore the rest) and the run completes as if nothing had happened; otherwise the
// half-published run fails with the reason and a new run replaces it. This assumes one planner
// process per deployment (as docker-compose runs it).
type Control struct {
	planner   *Planner
	deps      ControlDeps
	deadlines lifecycle.Deadlines
	schedule  cron.Schedule // nil: runs start only when asked
	plan      string        // fingerprint of the plan settings
	log       zerolog.Logger
	metrics   *controlMetrics

	requests chan startRequest
	wg       sync.WaitGroup // planning goroutines
}

// ControlDeps are what run control works with. Package stage provides them from the NM DB, the
// discovery DB and the bus; the planner imports no NATS.
type ControlDeps struct {
	Store     *store.Store
	Discovery *store.Discovery
	IDs       RunIDs
	// Publish publishes messages and waits until they are stored.
	Publish func(ctx context.Context, outs ...message.Out) error
	// Emitter returns an emitter for one plan's messages.
	Emitter func() Emitter
	// LastMessage returns the data of the last message stored on subject in stream, if there is
	// one (bus.Conn.LastMessage): resume reads a run's manifest back with it.
	LastMessage func(ctx context.Context, stream, subject string) ([]byte, bool, error)
	// Activity is told what the planner is doing, for its /status; nil: nothing.
	Activity Activity
}

// RunIDs is the run-id high-water mark kept beside the streams (bus.State). RecordRunID raises
// the mark to id and never lowers it; concurrent callers (several planners) agree through a
// compare-and-set, so each id is handed out once.
type RunIDs interface {
	LastRunID(ctx context.Context) (int64, error)
	RecordRunID(ctx context.Context, id int64) error
}

// Activity records the planner's steps on a run and facts such as the next scheduled run. Its
// methods are called from the control loop and the planning goroutines at once, and must not
// block (stage.Status takes a mutex for a few field updates).
type Activity interface {
	Begin(run int64, activity string)
	End(run int64, activity string, err error)
	Note(key string, value any)
}

// NewControl returns run control. schedule is NETMON_SCHEDULE (config.ParseSchedule; "off": none);
// reg receives the planner's own series (nil: none).
func NewControl(p *Planner, deps ControlDeps, deadlines lifecycle.Deadlines, schedule string, reg Registerer,
	log zerolog.Logger) (*Control, error) {
	sched, err := config.ParseSchedule(schedule)
	if err != nil {
		return nil, fmt.Errorf("NETMON_SCHEDULE %q: %w", schedule, err)
	}
	if deps.Activity == nil {
		deps.Activity = noActivity{}
	}
	return &Control{planner: p, deps: deps, deadlines: deadlines, schedule: sched, plan: Fingerprint(p.opts),
		log: log, metrics: newControlMetrics(reg), requests: make(chan startRequest)}, nil
}

// Fingerprint identifies plan settings: two plans of the same discovery snapshot with the same
// fingerprint publish the same messages.
func Fingerprint(opts Options) string {
	b, err := json.Marshal(opts)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

type startRequest struct {
	by    string
	reply chan startResult
}

type startResult struct {
	run int64
	err error
}

// Start asks for a run now and returns its id once it is created; planning goes on in the
// background. It fails with lifecycle.ErrActive while another run is active. by says who asked.
// Safe for concurrent use; Run must be running.
func (c *Control) Start(ctx context.Context, by string) (int64, error) {
	req := startRequest{by: by, reply: make(chan startResult, 1)}
	select {
	case c.requests <- req:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case r := <-req.reply:
		return r.run, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// controlTick is how often Run refreshes the planner's series about the active run.
const controlTick = 5 * time.Second

// Run resumes an interrupted plan, then starts runs on the schedule and when asked until ctx
// ends, and waits for the plans in progress to stop. Starts are serialised here: one goroutine
// creates runs.
func (c *Control) Run(ctx context.Context) error {
	c.resume(ctx)
	var next <-chan time.Time
	arm := func(from time.Time) {
		if c.schedule == nil {
			return
		}
		at := c.schedule.Next(from)
		c.log.Info().Time("next_run", at).Msg("scheduled")
		c.deps.Activity.Note("next_scheduled_run", at.UTC())
		c.metrics.nextRun.Set(float64(at.Unix()))
		next = time.After(time.Until(at))
	}
	if c.schedule != nil {
		if at, ok, err := c.missed(ctx, time.Now()); err != nil {
			c.log.Warn().Err(err).Msg("missed schedule check")
		} else if ok {
			c.log.Info().Time("missed", at).Msg("the planner was down at a scheduled time; starting that run now")
			c.startLogged(ctx, triggerSchedule, "schedule (missed "+at.UTC().Format(time.RFC3339)+")")
		}
	}
	arm(time.Now())
	tick := time.NewTicker(controlTick)
	defer tick.Stop()
	c.observe(ctx)
	for {
		select {
		case <-ctx.Done():
			c.wg.Wait()
			return nil
		case req := <-c.requests:
			run, err := c.start(ctx, triggerRequest, req.by)
			req.reply <- startResult{run, err}
		case <-next:
			c.startLogged(ctx, triggerSchedule, "schedule")
			arm(time.Now())
		case <-tick.C:
			c.observe(ctx)
		}
	}
}

// Wait waits for the plans in progress to stop (after Run's context ended).
func (c *Control) Wait() { c.wg.Wait() }

// startLogged starts a run, logging why none was started.
func (c *Control) startLogged(ctx context.Context, trigger, by string) {
	if _, err := c.start(ctx, trigger, by); err != nil {
		c.log.Warn().Err(err).Str("by", by).Msg("run not started")
	}
}

// start creates a run and plans it in the background.
func (c *Control) start(ctx context.Context, trigger, by string) (int64, error) {
	last, err := c.deps.IDs.LastRunID(ctx)
	if err != nil {
		c.metrics.refused.WithLabelValues(refusedError).Inc()
		return 0, fmt.Errorf("start run: %w", err)
	}
	created := time.Now().UTC()
	run, err := c.deps.Store.CreateRun(ctx, store.NewRun{Floor: last + 1, CreatedAt: created,
		Deadline: c.deadlines.RunDeadline(created), Plan: c.plan, Network: c.planner.opts.Network})
	var active lifecycle.ErrActive
	switch {
	case errors.As(err, &active):
		c.metrics.refused.WithLabelValues(refusedActive).Inc()
		return 0, err
	case err != nil:
		c.metrics.refused.WithLabelValues(refusedError).Inc()
		return 0, fmt.Errorf("start run: %w", err)
	}
	log := c.log.With().Int64("run_id", run).Logger()
	if err := c.deps.IDs.RecordRunID(ctx, run); err != nil {
		// The run exists but cannot be published without the bus: end it now, with the reason.
		c.fail(ctx, run, "start: record the run id beside the streams: "+err.Error())
		c.metrics.refused.WithLabelValues(refusedError).Inc()
		return 0, fmt.Errorf("start run: %w", err)
	}
	c.metrics.started.WithLabelValues(trigger).Inc()
	log.Info().Str("by", by).Msg("run started")
	c.announce(ctx, run)
	c.planInBackground(ctx, run, created, pin{}, log)
	c.observe(ctx)
	return run, nil
}

// announce publishes the run's planned event (for watchers; the row is the state).
func (c *Control) announce(ctx context.Context, run int64) {
	if err := c.deps.Publish(ctx, lifecycle.Event(run, lifecycle.Planned, "", time.Now())); err != nil {
		c.log.Warn().Err(err).Int64("run_id", run).Msg("announce the run")
	}
}

// errDiscoveryMoved: discovery is not at the block the interrupted plan read.
var errDiscoveryMoved = errors.New("discovery moved")

// pin is what an interrupted plan of a run read, recorded in the run's row before it published
// anything; the zero pin: nothing was recorded, any block will do.
type pin struct {
	block int64 // discovery's block
	nodes int64 // the block the content-node list was read at (NodeSource)
}

// planInBackground reads discovery and publishes the run's plan at the blocks of p.
func (c *Control) planInBackground(ctx context.Context, run int64, created time.Time, p pin, log zerolog.Logger) {
	c.deps.Activity.Begin(run, "planning")
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		m, err := c.planRun(ctx, run, created, p)
		switch {
		case err == nil:
			log.Info().Int64("users", m.GetUsers()).Int64("work_items", m.GetWorkItems()).
				Float64("took_seconds", m.GetDiscoveryDuration().AsDuration().Seconds()).Msg("run planned")
			c.deps.Activity.End(run, "plan published", nil)
		case ctx.Err() != nil:
			// Stopping: the next planner resumes the run.
			c.deps.Activity.End(run, "interrupted", err)
		case errors.Is(err, errDiscoveryMoved):
			c.deps.Activity.End(run, "plan refused", err)
			c.replace(ctx, run, "its planner stopped mid-plan, and "+err.Error())
		default:
			c.deps.Activity.End(run, "plan failed", err)
			log.Error().Err(err).Msg("planning failed")
			c.fail(ctx, run, "plan: "+err.Error())
		}
	}()
}

// planRun is one plan of run from one consistent read of discovery: the blocks it reads are
// recorded first, the messages published, then what they promise.
func (c *Control) planRun(ctx context.Context, run int64, created time.Time, p pin) (*netmonv1.Manifest, error) {
	var m *netmonv1.Manifest
	var err error
	if c.planner.opts.Network == lifecycle.Storage {
		m, err = c.planStorage(ctx, run, created, p)
	} else {
		m, err = c.planClocks(ctx, run, created, p)
	}
	if err != nil {
		return nil, err
	}
	// Every message is stored. Record what they promise in the run's row, so it has its counts
	// whatever becomes of the manifest message; should the NM DB not take it now, the loader
	// records the same when it writes the manifest.
	if err := c.deps.Store.SaveManifest(ctx, m); err != nil {
		c.log.Warn().Err(err).Int64("run_id", run).Msg("record the plan's promise (the loader records it from the manifest)")
	}
	return m, nil
}

// planStorage plans a storage run: its node list (read at the block an interrupted plan read it
// at, recorded before anything is published), then the plan. It reads no discovery snapshot of
// its own; the key source reads what it reads.
func (c *Control) planStorage(ctx context.Context, run int64, created time.Time, p pin) (*netmonv1.Manifest, error) {
	list, err := c.planner.Nodes(ctx, nil, p.nodes)
	if err != nil {
		return nil, err
	}
	if p.nodes == 0 {
		if err := c.deps.Store.SetBlock(ctx, run, list.Block, list.Source, list.Block, list.Registry); err != nil {
			return nil, err
		}
	}
	return c.planner.PlanStorage(ctx, run, created, list, c.deps.Emitter())
}

// planClocks plans a clocks run from one consistent read of discovery.
func (c *Control) planClocks(ctx context.Context, run int64, created time.Time, p pin) (*netmonv1.Manifest, error) {
	var m *netmonv1.Manifest
	err := c.deps.Discovery.Read(ctx, func(snap *store.Snapshot) error {
		now, err := snap.BlockNumber(ctx)
		if err != nil {
			return err
		}
		if p.block != 0 && now != p.block {
			return fmt.Errorf("%w from block %d to %d", errDiscoveryMoved, p.block, now)
		}
		list, err := c.planner.Nodes(ctx, snap, p.nodes)
		if err != nil {
			return err
		}
		if p.block == 0 {
			if err := c.deps.Store.SetBlock(ctx, run, now, list.Source, list.Block, list.Registry); err != nil {
				return err
			}
		}
		m, err = c.planner.Plan(ctx, run, created, snap, list, c.deps.Emitter())
		return err
	})
	return m, err
}

// fail ends the run as failed with reason. If the NM DB does not take it, the run's deadline
// ends it instead.
func (c *Control) fail(ctx context.Context, run int64, reason string) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := c.deps.Store.Move(fctx, run, lifecycle.Fail, reason); err != nil {
		c.log.Error().Err(err).Int64("run_id", run).Str("reason", reason).
			Msg("cannot mark the run failed; its deadline will end it")
	}
}

// resume finishes the plan of the run its predecessor was planning when it died, or replaces
// that run (see Control). Problems are logged: a planner that cannot resume still starts runs.
func (c *Control) resume(ctx context.Context) {
	run, ok, err := c.deps.Store.ActiveRun(ctx, c.planner.opts.Network)
	if err != nil {
		c.log.Warn().Err(err).Msg("resume: read the active run")
		return
	}
	if !ok || run.Status != lifecycle.Planned || (run.Deadline != nil && !time.Now().Before(*run.Deadline)) {
		// Nothing interrupted (or past its deadline, which the aggregator ends).
		return
	}
	log := c.log.With().Int64("run_id", run.ID).Logger()
	m, published, err := c.manifest(ctx, run.ID)
	if err != nil {
		log.Warn().Err(err).Msg("resume: look for the run's manifest")
		return
	}
	if published {
		// Fully published; only the promise was not recorded.
		if err := c.deps.Store.SaveManifest(ctx, m); err != nil {
			log.Warn().Err(err).Msg("resume: record the plan's promise")
		}
		return
	}
	if run.Plan != c.plan {
		c.replace(ctx, run.ID, "its planner stopped mid-plan, and the plan settings changed since")
		return
	}
	var p pin
	if run.BlockNumber != nil {
		p.block = *run.BlockNumber
	}
	if run.NodeSourceBlock != nil {
		p.nodes = *run.NodeSourceBlock
	}
	log.Warn().Int64("block", p.block).Int64("nodes_block", p.nodes).Msg("run was interrupted mid-plan; planning it again with the same ids")
	c.metrics.started.WithLabelValues(triggerResume).Inc()
	c.announce(ctx, run.ID)
	c.planInBackground(ctx, run.ID, run.CreatedAt, p, log)
}

// replace ends the half-published run as failed, with why, and starts a new run in its place.
func (c *Control) replace(ctx context.Context, run int64, why string) {
	reason := "plan: " + why + "; a new run replaces it"
	c.fail(ctx, run, reason)
	c.log.Warn().Int64("run_id", run).Str("reason", reason).Msg("interrupted run replaced")
	go func() {
		next, err := c.Start(ctx, fmt.Sprintf("replacing run %d", run))
		if err != nil {
			c.log.Error().Err(err).Int64("run_id", run).Msg("start the replacing run")
			return
		}
		c.log.Info().Int64("run_id", run).Int64("new_run_id", next).Msg("replacing run started")
	}()
}

// missed returns the scheduled time that passed without a run: the first time the schedule
// names after the newest run's creation, if that is not after now. A planner that was down at a
// scheduled time starts that run once when it comes back; several missed times make one run.
// Before the first run there is nothing to catch up.
func (c *Control) missed(ctx context.Context, now time.Time) (time.Time, bool, error) {
	last, ok, err := c.deps.Store.LastRunCreated(ctx, c.planner.opts.Network)
	if err != nil || !ok {
		return time.Time{}, false, err
	}
	next := c.schedule.Next(last)
	if next.After(now) {
		return time.Time{}, false, nil
	}
	return next, true, nil
}

// observe sets the series about the active run.
func (c *Control) observe(ctx context.Context) {
	run, ok, err := c.deps.Store.ActiveRun(ctx, c.planner.opts.Network)
	if err != nil {
		return
	}
	if !ok {
		c.metrics.activeStart.Set(0)
		c.metrics.activeDeadline.Set(0)
		return
	}
	c.metrics.activeStart.Set(float64(run.CreatedAt.Unix()))
	if run.Deadline != nil {
		c.metrics.activeDeadline.Set(float64(run.Deadline.Unix()))
	}
}

type noActivity struct{}

func (noActivity) Begin(int64, string)      {}
func (noActivity) End(int64, string, error) {}
func (noActivity) Note(string, any)         {}

// manifest reads the run's manifest message back from the data stream, if it was published.
func (c *Control) manifest(ctx context.Context, run int64) (*netmonv1.Manifest, bool, error) {
	data, ok, err := c.deps.LastMessage(ctx, message.StreamData, message.SnapshotSubject(run, message.KindManifest))
	if err != nil || !ok {
		return nil, false, err
	}
	var m netmonv1.Manifest
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, false, fmt.Errorf("run %d: manifest: %w", run, err)
	}
	return &m, true, nil
}

// Controls are the run controls of the configured networks, one per network.
type Controls map[lifecycle.Network]*Control

// Run runs every control until ctx ends.
func (cs Controls) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.Run(ctx) // returns when ctx ends
		}()
	}
	wg.Wait()
}

// Answer answers a start request (a netmonv1.StartRunRequest, as `netmon run` sends it on
// message.StartSubject) with a netmonv1.StartRunReply: the new run of the network it names, or
// why none was started (the active run when one is).
func (cs Controls) Answer(ctx context.Context, request []byte) []byte {
	data, _ := proto.Marshal(cs.reply(ctx, request))
	return data
}

func (cs Controls) reply(ctx context.Context, request []byte) *netmonv1.StartRunReply {
	var req netmonv1.StartRunRequest
	if err := proto.Unmarshal(request, &req); err != nil {
		return &netmonv1.StartRunReply{Error: "bad request: " + err.Error()}
	}
	network, err := lifecycle.ParseNetwork(req.GetNetwork())
	if err != nil {
		return &netmonv1.StartRunReply{Error: "bad request: " + err.Error()}
	}
	control, ok := cs[network]
	if !ok {
		return &netmonv1.StartRunReply{Error: fmt.Sprintf("%s runs are not configured on this planner (no storage nodes: set NETMON_STORAGE_NODES or the Ethereum registry)", network)}
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
