package planner

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/placement"
	"github.com/audius-netmon/netmon/internal/storagekeys"
	"github.com/audius-netmon/netmon/internal/storagenode"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// A storage run (lifecycle.Storage) checks storage v2 (docs/storage.md): its nodes are the
// registered content-node and validator endpoints (a NodeSource reading both), normalised as
// spec §2.2 says; its keys a uniform sample of a KeySource (or every key); each key's expected
// holders come from the sha256 rendezvous ranking with each node's R read from its health
// (§2.3), or its upload's placement_hosts. It publishes the run, the node list (with the R the
// plan gave each node), the key sample, one health work item per node, and per node work items
// of up to KeyBatchSize keys it should hold (plus, optionally, keys it should not, to find extra
// copies), and the manifest.

// ValidatorIDOffset is added to a validator's registry id to make it the node's id in a storage
// run: content nodes and validators are numbered separately in the registry, and a run's nodes
// need one id each. Content nodes keep theirs.
const ValidatorIDOffset = 1_000_000

// KeySource lists a storage run's keys. Sample returns a uniform random sample of n of them (all
// of them when n ≤ 0 or n is at least their number), each key once, the same sample for the same
// seed and keys, and the number of keys sampled from (the population). endpoints are the run's
// nodes, for sources that ask them (the upload lists).
type KeySource interface {
	Sample(ctx context.Context, endpoints []string, n int64, seed uint64) (keys []storagekeys.Key, population int64, err error)
}

// CollectedKeys is the key source of the configuration (NETMON_STORAGE_KEYS): storagekeys.Collect
// over one consistent read of discovery and/or the nodes' upload lists.
type CollectedKeys struct {
	Discovery, Uploads bool
	DB                 *store.Discovery    `json:"-"`
	Client             *storagenode.Client `json:"-"`
}

func (k CollectedKeys) Sample(ctx context.Context, endpoints []string, n int64, seed uint64) ([]storagekeys.Key, int64, error) {
	cfg := storagekeys.Config{Discovery: k.Discovery, Uploads: k.Uploads, Endpoints: endpoints, SampleSize: int(n), Seed: int64(seed)}
	var res storagekeys.Result
	var err error
	if !k.Discovery {
		res, err = storagekeys.Collect(ctx, nil, k.Client, cfg)
	} else {
		err = k.DB.Read(ctx, func(snap *store.Snapshot) error {
			var err error
			res, err = storagekeys.Collect(ctx, snap, k.Client, cfg)
			return err
		})
	}
	return res.Keys, res.Population, err
}

// HealthReader reads the replication factor a node reports in its /health_check (0 when it says
// none). The plan needs R before it can name holders; the run's health work items measure the
// rest.
type HealthReader interface {
	ReplicationFactor(ctx context.Context, endpoint string) (int, error)
}

// NodeHealth reads R from a node's health with one request, no retries (HealthReader).
type NodeHealth struct{ Client *storagenode.Client }

func (h NodeHealth) ReplicationFactor(ctx context.Context, endpoint string) (int, error) {
	health, err := h.Client.Health(ctx, endpoint)
	return health.ReplicationFactor, err
}

// StorageOptions shape a storage run's plan.
type StorageOptions struct {
	// Keys lists the keys; SampleSize is the sample's size (0: every key).
	Keys       KeySource
	SampleSize int64
	// DefaultR is the R of a node whose health gives none (unreadable, or silent).
	DefaultR int
	// KeyBatchSize is the number of keys per work item (one request each); KeysPerBatch the
	// number per snapshot batch.
	KeyBatchSize int
	KeysPerBatch int
	// NonHolderProbes is how many nodes that should not hold a key are asked about it too (the
	// same for the same key), to count extra copies; 0: none.
	NonHolderProbes int
	// Health reads each node's R, HealthTimeout bounding each read.
	Health        HealthReader `json:"-"`
	HealthTimeout time.Duration
}

func (o StorageOptions) withDefaults() StorageOptions {
	if o.DefaultR <= 0 {
		o.DefaultR = 4
	}
	if o.KeyBatchSize <= 0 {
		o.KeyBatchSize = 100
	}
	if o.KeysPerBatch <= 0 {
		o.KeysPerBatch = 5000
	}
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = 10 * time.Second
	}
	return o
}

// storageNode is a node of a storage run's plan.
type storageNode struct {
	id       int64
	host     string // normalised endpoint
	delegate string
	r        int // the R the plan gives it
	batch    int64
	keys     []string
	extra    []string // keys it should not hold, probed for extra copies
}

// PlanStorage emits storage run run's messages over the nodes of list (Nodes; their ids and
// delegate wallets as the source gives them) and returns its manifest.
func (p *Planner) PlanStorage(ctx context.Context, run int64, created time.Time, list NodeList, emit Emitter) (*netmonv1.Manifest, error) {
	start := time.Now()
	o := p.opts.Storage.withDefaults()
	if o.Keys == nil {
		return nil, fmt.Errorf("storage run: no key source")
	}
	if err := emit.Emit(ctx, p.runOut(run, list.Block, created)); err != nil {
		return nil, err
	}

	// Candidates (§2.2): the first registration of each normalised host names its node.
	endpoints := make([]string, len(list.Nodes))
	for i, n := range list.Nodes {
		endpoints[i] = n.Endpoint
	}
	ring, dropped := placement.NewRing(endpoints)
	hosts := ring.Hosts()
	for _, d := range dropped {
		p.log.Info().Int64("run_id", run).Str("endpoint", d.Endpoint).Str("reason", d.Reason).Msg("not a candidate host")
	}
	nodes := make([]*storageNode, 0, len(hosts))
	byHost := make(map[string]*storageNode, len(hosts))
	for _, n := range list.Nodes {
		h := placement.Normalize(n.Endpoint)
		if _, taken := byHost[h]; taken || !slices.Contains(hosts, h) {
			continue
		}
		sn := &storageNode{id: n.SPID, host: h, delegate: n.Delegate}
		nodes = append(nodes, sn)
		byHost[h] = sn
	}
	rep := placement.Replication{Default: o.DefaultR, Reported: p.readR(ctx, run, o, hosts)}
	nb := &netmonv1.ContentNodeBatch{RunId: run, Source: list.Source, SourceBlock: list.Block, Registry: list.Registry}
	m := &netmonv1.Manifest{RunId: run, ContentNodes: int64(len(nodes)), KeyMode: "sample"}
	for _, n := range nodes {
		n.r = rep.Of(n.host)
		nb.Nodes = append(nb.Nodes, &netmonv1.ContentNode{SpId: n.id, Endpoint: n.host, DelegateWallet: n.delegate,
			ReplicationFactor: int32(n.r)})
	}
	if err := emit.Emit(ctx, message.NodesOut(nb)); err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if err := emit.Emit(ctx, message.HealthWorkOut(&netmonv1.HealthWorkItem{RunId: run, SpId: n.id, Endpoint: n.host,
			DelegateWallet: n.delegate})); err != nil {
			return nil, err
		}
		m.WorkItems++
		m.HealthItems++
	}

	keys, population, err := o.Keys.Sample(ctx, hosts, o.SampleSize, uint64(run))
	if err != nil {
		return nil, fmt.Errorf("storage keys: %w", err)
	}
	if o.SampleSize <= 0 || int64(len(keys)) >= population {
		m.KeyMode = "all"
	}
	m.PopulationKeys, m.SampledKeys = population, int64(len(keys))

	flush := func(n *storageNode, nonHolder bool) error {
		keys := &n.keys
		if nonHolder {
			keys = &n.extra
		}
		if len(*keys) == 0 {
			return nil
		}
		item := &netmonv1.StorageWorkItem{RunId: run, SpId: n.id, Endpoint: n.host, Batch: n.batch, Keys: *keys, NonHolder: nonHolder}
		if err := emit.Emit(ctx, message.StorageWorkOut(item)); err != nil {
			return err
		}
		m.WorkItems++
		m.StorageWorkItems++
		m.KeyProbes += int64(len(*keys))
		n.batch++
		*keys = nil
		return nil
	}
	snapshot := &snapshotBatches[*netmonv1.StorageKey]{emit: emit, size: o.KeysPerBatch, count: &m.KeyBatches,
		out: func(n int64, rows []*netmonv1.StorageKey) message.Out {
			return message.KeysOut(&netmonv1.StorageKeyBatch{RunId: run, Batch: n, Keys: rows})
		}}
	for _, k := range keys {
		placed := normalizedHosts(k.PlacementHosts)
		sk := &netmonv1.StorageKey{Key: k.Key, Placed: len(placed) > 0}
		holders := ring.Holders(k.Key, placed, rep)
		isHolder := make(map[string]bool, len(holders))
		for _, h := range holders {
			n, ok := byHost[h]
			if !ok {
				// A placement host that is no registered node: nobody can be asked.
				p.log.Warn().Int64("run_id", run).Str("key", k.Key).Str("host", h).Msg("placement host is not a registered node")
				continue
			}
			isHolder[h] = true
			sk.Holders = append(sk.Holders, n.id)
			n.keys = append(n.keys, k.Key)
			if len(n.keys) >= o.KeyBatchSize {
				if err := flush(n, false); err != nil {
					return nil, err
				}
			}
		}
		for _, h := range nonHolders(ring, k.Key, isHolder, o.NonHolderProbes) {
			n := byHost[h]
			n.extra = append(n.extra, k.Key)
			if len(n.extra) >= o.KeyBatchSize {
				if err := flush(n, true); err != nil {
					return nil, err
				}
			}
		}
		if err := snapshot.add(ctx, sk); err != nil {
			return nil, err
		}
	}
	if err := snapshot.flush(ctx); err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if err := flush(n, false); err != nil {
			return nil, err
		}
		if err := flush(n, true); err != nil {
			return nil, err
		}
	}
	return finish(ctx, emit, m, list.Took+time.Since(start))
}

// readR reads every host's R from its health, all at once, each read bounded by HealthTimeout.
// A host whose health cannot be read reports none (the default applies); its health work item
// records why.
func (p *Planner) readR(ctx context.Context, run int64, o StorageOptions, hosts []string) map[string]int {
	out := make(map[string]int, len(hosts))
	if o.Health == nil {
		return out
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, o.HealthTimeout)
			defer cancel()
			r, err := o.Health.ReplicationFactor(rctx, h)
			if err != nil {
				p.log.Info().Int64("run_id", run).Str("endpoint", h).Err(err).Msg("R not read: the default applies")
				return
			}
			mu.Lock()
			out[h] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// nonHolders picks n hosts of key's ranking that are not among its holders, the same for the
// same key: starting at a position given by a hash of the key, in ranking order, wrapping.
func nonHolders(ring *placement.Ring, key string, holder map[string]bool, n int) []string {
	if n <= 0 {
		return nil
	}
	var others []string
	for _, h := range ring.Rank(key) {
		if !holder[h] {
			others = append(others, h)
		}
	}
	if n >= len(others) {
		return others
	}
	f := fnv.New64a()
	f.Write([]byte(key))
	start := int(f.Sum64() % uint64(len(others)))
	out := make([]string, n)
	for i := range out {
		out[i] = others[(start+i)%len(others)]
	}
	return out
}

func normalizedHosts(hs []string) []string {
	if len(hs) == 0 {
		return nil
	}
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = placement.Normalize(h)
	}
	return out
}
