// Package planner turns one consistent read of the discovery DB into a run: it consumes the
// discovery snapshot (current block, content nodes, users and, with CID checks on, the CIDs) and
// produces, through an Emitter, the run's opening message, the content-node list, user snapshot
// batches, one work item per content node and batch of distinct wallets, the CID snapshot batches
// and CID work items (cid.go), and finally the manifest of what it promised. It never holds the
// user or CID tables in memory: rows stream through and leave as batches (the wallets of the part
// being planned are remembered, asked.go).
package planner

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/audius-netmon/netmon/internal/contentnode"
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// Emitter publishes the planner's messages in order (bus.Emitter). Emit may block while too many
// are unacknowledged; Flush waits until every emitted message is stored. Neither is safe for
// concurrent use: one plan has one Emitter. A message emitted again with the same id (a resumed
// plan) is stored once. When ctx ends, or an error is returned, an unknown prefix of the messages
// is stored: the plan is then resumed or failed by Control, never continued.
type Emitter interface {
	Emit(ctx context.Context, o message.Out) error
	Flush(ctx context.Context) error
}

// Options shape the plan.
type Options struct {
	// Network is what the runs check (lifecycle.Clocks when empty): a Control starts, resumes and
	// schedules runs of its planner's network only.
	Network       lifecycle.Network
	UserBatchSize int // users per snapshot batch
	// PartUsers is the users of one part of a clocks run's plan (rounded up to whole user
	// batches): the loader builds a part's user status as soon as the part is fetched.
	PartUsers int
	// PartsAhead is how many parts' worth of messages the loader may have waiting (Loader) when
	// the planner starts another part of a clocks run: it waits until the loader's backlog is no
	// larger, so the loader's writes keep pace with the fetch instead of piling up behind it. The
	// backlog is of messages stored and not yet written, so a node that hangs (whose items are not
	// answered yet) holds nothing back. 0, or no Loader: the planner never waits.
	PartsAhead int
	// Loader says how many data messages the loader has not written yet.
	Loader        LoaderBacklog
	WorkBatchSize int           // distinct wallets per work item (≤ 5000, the content node's limit)
	Deadline      time.Duration // from the run's creation
	// Nodes gives each run its content-node list (nodes.go); nil reads discovery's
	// ursm_content_nodes.
	Nodes NodeSource
	// CIDChecks is off (or empty), all or sample; CIDSampleSize is the sample's target size.
	CIDChecks     string
	CIDSampleSize int64
	// CIDBatchSize is the number of distinct CIDs per CID work item (≤ 500, the node's limit).
	CIDBatchSize int
	// Storage shapes storage runs (storage.go).
	Storage StorageOptions
}

// LoaderBacklog says how many data messages are stored and not yet written by the loader (its
// consumer's pending and unacknowledged messages, whatever their run).
type LoaderBacklog interface {
	LoaderBacklog(ctx context.Context) (int64, error)
}

// paceStall is how long the planner waits for a loader whose backlog does not shrink before it
// stops waiting for the rest of the run: a loader that is down or stuck must not hold the plan
// back longer than that (the run's deadline ends a run that is never loaded).
var paceStall = time.Minute

// pacePoll is how often the planner looks at the loader's backlog while it waits.
const pacePoll = 20 * time.Millisecond

// DefaultPartUsers is the users of a part when Options.PartUsers is not set: at a million users,
// ten parts, each adding at most one partial work item per content node.
const DefaultPartUsers = 100_000

// Planner plans runs.
type Planner struct {
	opts Options
	log  zerolog.Logger
}

// New returns a planner.
func New(opts Options, log zerolog.Logger) *Planner {
	if opts.UserBatchSize <= 0 {
		opts.UserBatchSize = 5000
	}
	if opts.PartUsers <= 0 {
		opts.PartUsers = DefaultPartUsers
	}
	opts.PartUsers = (opts.PartUsers + opts.UserBatchSize - 1) / opts.UserBatchSize * opts.UserBatchSize
	if opts.WorkBatchSize <= 0 || opts.WorkBatchSize > 5000 {
		opts.WorkBatchSize = 5000
	}
	if opts.CIDBatchSize <= 0 || opts.CIDBatchSize > contentnode.MaxCIDs {
		opts.CIDBatchSize = contentnode.MaxCIDs
	}
	if opts.Network == "" {
		opts.Network = lifecycle.Clocks
	}
	if opts.CIDChecks == "" {
		opts.CIDChecks = CIDChecksOff
	}
	return &Planner{opts: opts, log: log}
}

// nodeBatch accumulates the next work item of one content node.
type nodeBatch struct {
	node    store.DiscoveryNode
	batch   int64
	wallets []string
}

// Nodes reads the content-node list from the configured source (Options.Nodes; discovery when
// none) within the snapshot. at is the block an interrupted plan of the same run read the list
// at (0: none; see NodeSource). The list comes before the plan: a source that fails (the
// registry) fails the run before it has published anything.
func (p *Planner) Nodes(ctx context.Context, snap *store.Snapshot, at int64) (NodeList, error) {
	source := p.opts.Nodes
	if source == nil {
		source = DiscoveryNodes{}
	}
	start := time.Now()
	list, err := source.Nodes(ctx, snap, at)
	if err != nil {
		return NodeList{}, fmt.Errorf("content nodes: %w", err)
	}
	list.Took = time.Since(start)
	return list, nil
}

// runOut is a run's opening message: what it is of, when it was created, its deadline.
func (p *Planner) runOut(run, block int64, created time.Time) message.Out {
	return message.RunOut(&netmonv1.Run{RunId: run, BlockNumber: block, CreatedAt: timestamppb.New(created),
		Deadline: timestamppb.New(created.Add(p.opts.Deadline)), Network: string(p.opts.Network)})
}

// Plan reads the snapshot and emits run run's messages over the content nodes of list (Nodes).
// created is the run's creation time.
func (p *Planner) Plan(ctx context.Context, run int64, created time.Time, snap *store.Snapshot, list NodeList, emit Emitter) (*netmonv1.Manifest, error) {
	start := time.Now()
	if err := checkCIDMode(run, p.opts.CIDChecks); err != nil {
		return nil, err
	}
	block, err := snap.BlockNumber(ctx)
	if err != nil {
		return nil, err
	}
	nodes := list.Nodes
	if err := emit.Emit(ctx, p.runOut(run, block, created)); err != nil {
		return nil, err
	}

	nb := &netmonv1.ContentNodeBatch{RunId: run, Source: list.Source, SourceBlock: list.Block, Registry: list.Registry}
	batches := make(map[int64]*nodeBatch, len(nodes))
	for _, n := range nodes {
		nb.Nodes = append(nb.Nodes, &netmonv1.ContentNode{SpId: n.SPID, Endpoint: n.Endpoint})
		batches[n.SPID] = &nodeBatch{node: n}
	}
	if err := emit.Emit(ctx, message.NodesOut(nb)); err != nil {
		return nil, err
	}

	m := &netmonv1.Manifest{RunId: run, ContentNodes: int64(len(nodes)), CidChecks: p.opts.CIDChecks}
	// The CID snapshot is read beside the users, on a second connection in the same snapshot: its
	// statements (a count of millions of CIDs, then the sample) take as long as a good part of the
	// clock plan, and would otherwise come after it.
	var cids *cidRead
	if p.opts.CIDChecks != CIDChecksOff {
		fork, end, err := snap.Fork(ctx)
		if err != nil {
			return nil, err
		}
		cids = p.startCIDRead(ctx, fork, end)
		defer cids.stop()
	}
	part := &netmonv1.Part{RunId: run}
	// Each node is asked about each wallet once per part (asked.go).
	asked := newAskedWallets()
	var partMessages int64 // the last closed part's messages for the loader: user batches, results, Part
	flushWork := func(b *nodeBatch) error {
		if len(b.wallets) == 0 {
			return nil
		}
		item := &netmonv1.WorkItem{RunId: run, SpId: b.node.SPID, Endpoint: b.node.Endpoint, Batch: b.batch,
			Wallets: b.wallets, Part: part.Part}
		if err := emit.Emit(ctx, message.WorkOut(item)); err != nil {
			return err
		}
		m.WorkItems++
		m.WalletChecks += int64(len(b.wallets))
		part.WorkItems++
		b.batch++
		b.wallets = make([]string, 0, p.opts.WorkBatchSize)
		return nil
	}
	users := &snapshotBatches[*netmonv1.User]{emit: emit, size: p.opts.UserBatchSize, count: &m.UserBatches,
		out: func(n int64, rows []*netmonv1.User) message.Out {
			return message.UsersOut(&netmonv1.UserBatch{RunId: run, Batch: n, Users: rows, Part: part.Part})
		}}
	// closePart ends the current part: its last user batch and every node's partial work item go
	// out, then the Part message that names them, and the next part starts. A wallet shared by
	// users of two parts is asked again in the second: each part's answers are complete in
	// themselves.
	closePart := func() error {
		if part.Users == 0 {
			return nil
		}
		if err := users.flush(ctx); err != nil {
			return err
		}
		for _, n := range nodes {
			b := batches[n.SPID]
			if err := flushWork(b); err != nil {
				return err
			}
		}
		asked.forget()
		part.UserBatches = m.UserBatches - part.FirstUserBatch
		if err := emit.Emit(ctx, message.PartOut(part)); err != nil {
			return err
		}
		partMessages = part.UserBatches + part.WorkItems + 1
		m.Parts++
		part = &netmonv1.Part{RunId: run, Part: part.Part + 1, FirstUserBatch: m.UserBatches}
		return nil
	}

	var unknownSlots int64
	pace := p.opts.PartsAhead > 0 && p.opts.Loader != nil
	err = snap.Users(ctx, func(u store.DiscoveryUser) error {
		if pace && part.Users == 0 && part.Part > 0 {
			ok, err := p.waitForLoader(ctx, run, int64(p.opts.PartsAhead)*partMessages, emit)
			if err != nil {
				return err
			}
			pace = ok
		}
		m.Users++
		part.Users++
		if err := users.add(ctx, userMessage(u)); err != nil {
			return err
		}
		if err := p.ask(u, asked, batches, &unknownSlots, flushWork); err != nil {
			return err
		}
		if part.Users == int64(p.opts.PartUsers) {
			return closePart()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := closePart(); err != nil {
		return nil, err
	}
	if cids != nil {
		if err := p.planCIDs(ctx, run, cids, emit, nodes, m); err != nil {
			return nil, err
		}
	}
	if unknownSlots > 0 {
		p.log.Warn().Int64("run_id", run).Int64("slots", unknownSlots).
			Msg("replica slots name SP ids missing from the content-node list; they count as not answered (-2)")
	}
	return finish(ctx, emit, m, list.Took+time.Since(start))
}

// waitForLoader waits until the loader's backlog is at most limit messages, after making sure
// everything emitted so far is stored. It reports whether the plan should go on pacing itself:
// false once the backlog has not shrunk for paceStall (a loader down or stuck), for the rest of
// the run. A backlog that cannot be read counts as no progress.
func (p *Planner) waitForLoader(ctx context.Context, run, limit int64, emit Emitter) (bool, error) {
	if err := emit.Flush(ctx); err != nil {
		return false, err
	}
	least, progressed := int64(math.MaxInt64), time.Now()
	tick := time.NewTicker(pacePoll)
	defer tick.Stop()
	for {
		n, err := p.opts.Loader.LoaderBacklog(ctx)
		if err == nil && n <= limit {
			return true, nil
		}
		if err == nil && n < least {
			least, progressed = n, time.Now()
		}
		if time.Since(progressed) >= paceStall {
			p.log.Warn().Int64("run_id", run).Int64("backlog", least).Int64("limit", limit).AnErr("error", err).
				Dur("stalled", paceStall).Msg("the loader's backlog has not shrunk for a while; planning the rest of the run without waiting for it")
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-tick.C:
		}
	}
}

// ask adds u's wallet to the next work item of each distinct node of its replica set that was
// not asked about it in this part yet (asked), emitting an item when it is full. Slots naming a
// node outside the run's list are counted in unknownSlots: they are not asked, and count as not
// answered.
func (p *Planner) ask(u store.DiscoveryUser, asked *askedWallets, batches map[int64]*nodeBatch, unknownSlots *int64,
	flushWork func(*nodeBatch) error) error {
	wallet := store.WalletKey(u.Wallet)
	if wallet == "" {
		return nil
	}
	var nodes nodeSet
	slots := []*int64{u.Primary, u.Secondary1, u.Secondary2}
	for i, sp := range slots {
		switch {
		case sp == nil || slices.ContainsFunc(slots[:i], func(o *int64) bool { return o != nil && *o == *sp }):
			// no slot, or the same node in an earlier slot of this user
		case batches[*sp] == nil:
			*unknownSlots++
		default:
			nodes.add(*sp)
		}
	}
	nodes = asked.give(wallet, nodes)
	for _, sp := range nodes.sp[:nodes.n] {
		b := batches[sp]
		b.wallets = append(b.wallets, wallet)
		if len(b.wallets) >= p.opts.WorkBatchSize {
			if err := flushWork(b); err != nil {
				return err
			}
		}
	}
	return nil
}

// finish emits a plan's manifest, which took discovery to gather, last, and waits until every
// message of the plan is stored.
func finish(ctx context.Context, emit Emitter, m *netmonv1.Manifest, discovery time.Duration) (*netmonv1.Manifest, error) {
	m.DiscoveryDuration = durationpb.New(discovery)
	if err := emit.Emit(ctx, message.ManifestOut(m)); err != nil {
		return nil, err
	}
	if err := emit.Flush(ctx); err != nil {
		return nil, fmt.Errorf("plan run %d: %w", m.GetRunId(), err)
	}
	return m, nil
}

func userMessage(u store.DiscoveryUser) *netmonv1.User {
	m := &netmonv1.User{
		UserId:         u.UserID,
		WalletNull:     u.Wallet == nil,
		ReplicaSetNull: u.ReplicaSet == nil,
		PrimarySpId:    u.Primary,
		Secondary1SpId: u.Secondary1,
		Secondary2SpId: u.Secondary2,
	}
	if u.Wallet != nil {
		m.Wallet = *u.Wallet
	}
	if u.ReplicaSet != nil {
		m.ReplicaSet = *u.ReplicaSet
	}
	return m
}
