package planner

import (
	"context"
	"fmt"
	"math"

	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// CID check modes (NETMON_CID_CHECKS).
const (
	CIDChecksOff    = "off"
	CIDChecksAll    = "all"
	CIDChecksSample = "sample"
)

// maxCIDSnapshotBatch bounds the CID rows per snapshot message (about 100 bytes each), well under
// the streams' 4 MiB message limit.
const maxCIDSnapshotBatch = 5000

// SampleRate is the share of a snapshot of n CIDs that a sample of the target size keeps (1 when
// the target covers the snapshot), and the sampling threshold it gives: a CID is in the sample
// when its sampling hash (hashtext, as an unsigned number) is below the threshold. Each CID is
// drawn independently, so the sample's size is close to the target, not exactly it.
func SampleRate(n, target int64) (rate float64, threshold int64) {
	if n <= 0 || target >= n {
		return 1, store.SampleAll
	}
	if target <= 0 {
		return 0, 0
	}
	rate = float64(target) / float64(n)
	return rate, int64(math.Floor(rate * float64(store.SampleAll)))
}

// CIDRoute is the route a CID of type t is checked with. A content node answers
// /batch_image_cids_exist for an image directory (it looks for <dir>/original.jpg), so the image
// directories (the *_sizes columns) go there; everything else, single images included, is a file
// the node finds by its multihash on /batch_cids_exist. (The original would have sent the single
// images to the image route, where the node never finds them: spec §5.4.)
func CIDRoute(t netmonv1.CIDType) netmonv1.CIDRoute {
	if t == netmonv1.CIDType_CID_TYPE_DIR {
		return netmonv1.CIDRoute_CID_ROUTE_IMAGES
	}
	return netmonv1.CIDRoute_CID_ROUTE_CIDS
}

// cidBatch accumulates the next CID work item of one content node and route.
type cidBatch struct {
	node  store.DiscoveryNode
	route netmonv1.CIDRoute
	batch int64
	cids  []string
	seen  map[string]struct{}
}

// cidReadAhead is how many CID rows a CID read holds for the plan before its query waits: the
// read runs beside the clock plan, and the rows wait for the plan to get to them.
var cidReadAhead = 10_000

// cidRead is a read of the CID snapshot (all of it, or in sample mode its count and then the
// sample of the target size drawn from it) by a goroutine of its own, on a snapshot no other
// statement uses, so that it runs beside the clock plan; its rows wait in a channel until
// planCIDs takes them.
type cidRead struct {
	rows   chan store.DiscoveryCID
	cancel context.CancelFunc
	done   chan struct{}
	// Set before rows is closed: the snapshot's CID rows (sample mode), the sampling threshold,
	// and the read's error.
	n, threshold int64
	rate         float64
	err          error
}

// checkCIDMode checks a CID check mode; off reads and emits nothing about CIDs.
func checkCIDMode(run int64, mode string) error {
	switch mode {
	case CIDChecksOff, CIDChecksAll, CIDChecksSample:
		return nil
	}
	return fmt.Errorf("plan run %d: CID checks %q: want off, all or sample", run, mode)
}

// startCIDRead starts reading the CID snapshot of the plan's mode on snap; end is called when the
// read is over. stop ends it early.
func (p *Planner) startCIDRead(ctx context.Context, snap *store.Snapshot, end func()) *cidRead {
	ctx, cancel := context.WithCancel(ctx)
	r := &cidRead{rows: make(chan store.DiscoveryCID, cidReadAhead), cancel: cancel, done: make(chan struct{}),
		threshold: store.SampleAll, rate: 1}
	go func() {
		defer close(r.done)
		defer end()
		defer close(r.rows)
		if p.opts.CIDChecks == CIDChecksSample {
			if r.n, r.err = snap.CIDCount(ctx); r.err != nil {
				return
			}
			r.rate, r.threshold = SampleRate(r.n, p.opts.CIDSampleSize)
		}
		r.err = snap.CIDs(ctx, r.threshold, func(c store.DiscoveryCID) error {
			select {
			case r.rows <- c:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return r
}

// stop ends the read, if it is still going, and waits for its goroutine.
func (r *cidRead) stop() {
	r.cancel()
	<-r.done
}

// planCIDs takes the CID rows of read and emits the CID snapshot batches and, per content node of
// the owner's replica set and route, CID work items of distinct CIDs. It fills the manifest's CID
// fields and adds the CID work items to its work items.
func (p *Planner) planCIDs(ctx context.Context, run int64, read *cidRead, emit Emitter,
	nodes []store.DiscoveryNode, m *netmonv1.Manifest) error {
	batches := make(map[int64]*[3]*cidBatch, len(nodes))
	for _, n := range nodes {
		var rb [3]*cidBatch
		for _, r := range []netmonv1.CIDRoute{netmonv1.CIDRoute_CID_ROUTE_CIDS, netmonv1.CIDRoute_CID_ROUTE_IMAGES} {
			rb[r] = &cidBatch{node: n, route: r, seen: make(map[string]struct{})}
		}
		batches[n.SPID] = &rb
	}
	flushWork := func(b *cidBatch) error {
		if len(b.cids) == 0 {
			return nil
		}
		item := &netmonv1.CIDWorkItem{RunId: run, SpId: b.node.SPID, Endpoint: b.node.Endpoint, Route: b.route,
			Batch: b.batch, Cids: b.cids}
		if err := emit.Emit(ctx, message.CIDWorkOut(item)); err != nil {
			return err
		}
		m.WorkItems++
		m.CidWorkItems++
		m.CidNodeChecks += int64(len(b.cids))
		b.batch++
		b.cids = make([]string, 0, p.opts.CIDBatchSize)
		clear(b.seen)
		return nil
	}
	snapshot := &snapshotBatches[*netmonv1.CID]{emit: emit, size: min(p.opts.UserBatchSize, maxCIDSnapshotBatch),
		count: &m.CidBatches, out: func(n int64, rows []*netmonv1.CID) message.Out {
			return message.CIDsOut(&netmonv1.CIDBatch{RunId: run, Batch: n, Cids: rows})
		}}

	for c := range read.rows {
		m.SampledCids++
		route := CIDRoute(c.Type)
		if err := snapshot.add(ctx, &netmonv1.CID{UserId: c.UserID, Type: c.Type, Cid: c.CID, Route: route}); err != nil {
			return err
		}
		slots := [3]*int64{c.Primary, c.Secondary1, c.Secondary2}
		for k, sp := range slots {
			if sp == nil || (k > 0 && sameNode(slots[:k], *sp)) {
				continue
			}
			rb, ok := batches[*sp]
			if !ok {
				continue // not a node of the run: the check counts as not answered
			}
			b := rb[route]
			if _, dup := b.seen[c.CID]; dup {
				continue
			}
			b.seen[c.CID] = struct{}{}
			b.cids = append(b.cids, c.CID)
			if len(b.cids) >= p.opts.CIDBatchSize {
				if err := flushWork(b); err != nil {
					return err
				}
			}
		}
	}
	if read.err != nil {
		return read.err
	}
	if err := snapshot.flush(ctx); err != nil {
		return err
	}
	for _, n := range nodes {
		for _, b := range batches[n.SPID] {
			if b == nil {
				continue
			}
			if err := flushWork(b); err != nil {
				return err
			}
		}
	}
	m.CidChecks, m.SnapshotCids, m.CidSampleRate = p.opts.CIDChecks, read.n, read.rate
	if p.opts.CIDChecks == CIDChecksAll {
		m.SnapshotCids = m.SampledCids
	}
	return nil
}

// sameNode reports whether sp is one of the earlier slots (a replica set naming a node twice is
// checked once on it).
func sameNode(earlier []*int64, sp int64) bool {
	for _, e := range earlier {
		if e != nil && *e == sp {
			return true
		}
	}
	return false
}
