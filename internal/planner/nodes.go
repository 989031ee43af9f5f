package planner

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/ethregistry"
	"github.com/audius-netmon/netmon/internal/store"
)

// NodeList is a run's content-node list and where it came from.
type NodeList struct {
	Nodes    []store.DiscoveryNode // by SP id; an empty Endpoint is an SP without one (never called)
	Source   string                // config.SourceDiscovery, SourceStatic or SourceEthereum
	Block    int64                 // discovery's block, or the Ethereum block the registry was read at; 0 for static
	Registry string                // for ethereum, the registry contract's address (0x-hex, lower case)
	Took     time.Duration         // how long reading it took (Planner.Nodes), part of the discovery stage
}

// NodeSource gives a run its content-node list. Nodes is called once per plan, from the goroutine
// planning the run, inside discovery's consistent read (snap, which sources other than discovery
// ignore); it returns the whole list or an error, which fails the run with its reason: never a
// partial list. at is the block an interrupted plan of the same run read the list at (0: none):
// a source that reads at a block of its own (the registry at latest) reads at that one again, so
// a resumed plan publishes the same list; discovery's block is pinned by the snapshot instead.
// Implementations are safe for concurrent use. Their exported fields identify them in the plan
// fingerprint (Control resumes a plan only with the same): two sources with the same fields give
// the same list for the same discovery block (for ethereum at latest, only as long as the
// registry does not change).
type NodeSource interface {
	Nodes(ctx context.Context, snap *store.Snapshot, at int64) (NodeList, error)
}

// NewNodeSource returns the source cfg names (NETMON_CONTENT_NODES_SOURCE).
func NewNodeSource(cfg config.Config) (NodeSource, error) {
	switch cfg.ContentNodeSource {
	case config.SourceDiscovery, "":
		return DiscoveryNodes{}, nil
	case config.SourceStatic:
		return staticNodes(cfg.StaticContentNodes), nil
	case config.SourceEthereum:
		return registryNodes(cfg, false)
	}
	return nil, fmt.Errorf("content-node source %q: want discovery, static or ethereum", cfg.ContentNodeSource)
}

// NewStorageNodeSource returns the storage runs' node source cfg names
// (NETMON_STORAGE_NODES_SOURCE): the registry's content-node and validator registrations, or the
// static list.
func NewStorageNodeSource(cfg config.Config) (NodeSource, error) {
	switch cfg.Storage.NodeSource {
	case config.SourceStatic:
		return staticNodes(cfg.Storage.StaticNodes), nil
	case config.SourceEthereum:
		return registryNodes(cfg, true)
	}
	return nil, fmt.Errorf("storage node source %q: want static or ethereum", cfg.Storage.NodeSource)
}

func staticNodes(list []config.ContentNode) StaticNodes {
	s := StaticNodes{List: []store.DiscoveryNode{}}
	for _, n := range list {
		s.List = append(s.List, store.DiscoveryNode{SPID: n.SPID, Endpoint: n.Endpoint})
	}
	return s
}

func registryNodes(cfg config.Config, storage bool) (NodeSource, error) {
	o, err := cfg.Ethereum.RegistryOptions()
	if err != nil {
		return nil, err
	}
	client, err := ethregistry.New(o)
	if err != nil {
		return nil, err
	}
	return RegistryNodes{Registry: o.Registry.String(), Block: o.Block, Storage: storage, client: client}, nil
}

// DiscoveryNodes reads discovery's ursm_content_nodes (store.Snapshot.ContentNodes).
type DiscoveryNodes struct{}

func (DiscoveryNodes) Nodes(ctx context.Context, snap *store.Snapshot, _ int64) (NodeList, error) {
	block, err := snap.BlockNumber(ctx)
	if err != nil {
		return NodeList{}, err
	}
	nodes, err := snap.ContentNodes(ctx)
	if err != nil {
		return NodeList{}, err
	}
	return NodeList{Nodes: nodes, Source: config.SourceDiscovery, Block: block}, nil
}

// StaticNodes is a fixed list (NETMON_CONTENT_NODES).
type StaticNodes struct {
	List []store.DiscoveryNode
}

func (s StaticNodes) Nodes(context.Context, *store.Snapshot, int64) (NodeList, error) {
	nodes := slices.Clone(s.List)
	slices.SortFunc(nodes, func(a, b store.DiscoveryNode) int { return cmp.Compare(a.SPID, b.SPID) })
	return NodeList{Nodes: nodes, Source: config.SourceStatic}, nil
}

// RegistryNodes reads the content-node list from the Audius registry on Ethereum, as the
// original's final version did (spec §2 step 3): SP ids 1..N of service type content-node, each
// with its endpoint, trailing slashes stripped; a deregistered SP keeps its id with an empty
// endpoint.
//
// With Storage, it reads the storage network's nodes instead (storage v2, spec §1.1): the
// content-node and the validator registrations, each endpoint as registered (the storage plan
// normalises it, §2.2) with its delegate wallet; a validator's id is its registry id plus
// ValidatorIDOffset.
type RegistryNodes struct {
	Registry string // the registry contract
	Block    int64  // 0: the chain head at each run
	Storage  bool
	client   *ethregistry.Client
}

func (r RegistryNodes) Nodes(ctx context.Context, _ *store.Snapshot, at int64) (NodeList, error) {
	client := r.client
	if at != 0 {
		client = client.At(at)
	}
	types := []string{ethregistry.ContentNode}
	if r.Storage {
		types = append(types, ethregistry.Validator)
	}
	l, err := client.Read(ctx, types...)
	if err != nil {
		return NodeList{}, err
	}
	nodes := make([]store.DiscoveryNode, len(l.Endpoints))
	for i, e := range l.Endpoints {
		switch {
		case !r.Storage:
			nodes[i] = store.DiscoveryNode{SPID: e.SPID, Endpoint: strings.TrimRight(e.Endpoint, "/")}
		case e.ServiceType == ethregistry.Validator:
			nodes[i] = store.DiscoveryNode{SPID: e.SPID + ValidatorIDOffset, Endpoint: e.Endpoint, Delegate: e.Delegate.String()}
		default:
			nodes[i] = store.DiscoveryNode{SPID: e.SPID, Endpoint: e.Endpoint, Delegate: e.Delegate.String()}
		}
	}
	return NodeList{Nodes: nodes, Source: config.SourceEthereum, Block: l.Block, Registry: r.Registry}, nil
}
