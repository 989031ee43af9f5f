package planner_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/ethregistry"
	"github.com/audius-netmon/netmon/internal/planner"
	"github.com/audius-netmon/netmon/internal/simnet"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// nodeBatch is the plan's content-node message.
func nodeBatch(t *testing.T, rec *recorder) *netmonv1.ContentNodeBatch {
	t.Helper()
	for _, o := range rec.outs {
		if b, ok := o.Msg.(*netmonv1.ContentNodeBatch); ok {
			return b
		}
	}
	t.Fatal("no content-node message")
	return nil
}

// TestNodeSources plans spec §14's network (nodes 1–3, node 4 registered without endpoint) from
// each source and checks the list and its record, written out by hand.
func TestNodeSources(t *testing.T) {
	net, err := simnet.Build(simnet.Reference())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := net.StartRegistry(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	nodes := []*netmonv1.ContentNode{{SpId: 1, Endpoint: "http://cn1"}, {SpId: 2, Endpoint: "http://cn2"},
		{SpId: 3, Endpoint: "http://cn3"}, {SpId: 4, Endpoint: ""}}
	for _, tc := range []struct {
		name string
		cfg  config.Config
		want *netmonv1.ContentNodeBatch
	}{
		{"discovery", config.Config{ContentNodeSource: config.SourceDiscovery},
			&netmonv1.ContentNodeBatch{RunId: 9, Nodes: nodes, Source: "discovery", SourceBlock: 1000}},
		// The registry lists node 2 as "http://cn2/" (simnet adds a slash to even SP ids).
		{"ethereum", config.Config{ContentNodeSource: config.SourceEthereum,
			Ethereum: config.Ethereum{ProviderURL: config.Secret(reg.URL), Registry: simnet.RegistryAddress}},
			&netmonv1.ContentNodeBatch{RunId: 9, Nodes: nodes, Source: "ethereum", SourceBlock: simnet.DefaultRegistryBlock,
				Registry: strings.ToLower(simnet.RegistryAddress)}},
		{"ethereum at a block", config.Config{ContentNodeSource: config.SourceEthereum,
			Ethereum: config.Ethereum{ProviderURL: config.Secret(reg.URL), Registry: simnet.RegistryAddress, Block: 20000000}},
			&netmonv1.ContentNodeBatch{RunId: 9, Nodes: nodes, Source: "ethereum", SourceBlock: 20000000,
				Registry: strings.ToLower(simnet.RegistryAddress)}},
		{"static", config.Config{ContentNodeSource: config.SourceStatic, StaticContentNodes: []config.ContentNode{
			{SPID: 7, Endpoint: "http://cn7"}, {SPID: 2, Endpoint: ""}}},
			&netmonv1.ContentNodeBatch{RunId: 9, Nodes: []*netmonv1.ContentNode{{SpId: 2}, {SpId: 7, Endpoint: "http://cn7"}}, Source: "static"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := planner.NewNodeSource(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			rec, m, err := planNetwork(t, net, planner.Options{Nodes: src, Deadline: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, nodeBatch(t, rec), protocmp.Transform()); diff != "" {
				t.Errorf("content-node message (-want +got):\n%s", diff)
			}
			if m.GetContentNodes() != int64(len(tc.want.GetNodes())) {
				t.Errorf("manifest content nodes %d, want %d", m.GetContentNodes(), len(tc.want.GetNodes()))
			}
		})
	}
}

// TestRegistryFailurePublishesNothing: a registry that fails fails the plan before any message,
// with the reason; no list, not even a partial one, is published.
func TestRegistryFailurePublishesNothing(t *testing.T) {
	net, err := simnet.Build(simnet.Reference())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := net.StartRegistry(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	reg.SetFaults(simnet.RegistryFaults{Revert: true})
	src, err := planner.NewNodeSource(config.Config{ContentNodeSource: config.SourceEthereum,
		Ethereum: config.Ethereum{ProviderURL: config.Secret(reg.URL), Registry: simnet.RegistryAddress}})
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := planNetwork(t, net, planner.Options{Nodes: src, Deadline: time.Hour})
	if !errors.Is(err, ethregistry.ErrRevert) || !strings.Contains(err.Error(), "content nodes: ethereum registry: getServiceEndpointInfo(content-node, 4)") {
		t.Fatalf("plan error %v, want the revert of SP 4 with the call named", err)
	}
	if len(rec.outs) != 0 {
		t.Errorf("a failed registry read published %d messages, first %s", len(rec.outs), rec.outs[0].Subject)
	}
}

func TestNewNodeSourceRejects(t *testing.T) {
	for _, cfg := range []config.Config{
		{ContentNodeSource: "ethereal"},
		{ContentNodeSource: config.SourceEthereum, Ethereum: config.Ethereum{ProviderURL: "http://x", Registry: "0x12"}},
		{ContentNodeSource: config.SourceEthereum, Ethereum: config.Ethereum{ProviderURL: "ws://x", Registry: simnet.RegistryAddress}},
	} {
		if _, err := planner.NewNodeSource(cfg); err == nil {
			t.Errorf("NewNodeSource(%+v): no error", cfg)
		}
	}
}

// TestRegistryReadsAtPinnedBlock: a source reading the registry at the chain head reads at the
// block it is given instead (a resumed plan reads where its first attempt read), asking nothing at
// the head: no eth_blockNumber, every eth_call at that block.
func TestRegistryReadsAtPinnedBlock(t *testing.T) {
	net, err := simnet.Build(simnet.Reference())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := net.StartRegistry(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	src, err := planner.NewNodeSource(config.Config{ContentNodeSource: config.SourceEthereum,
		Ethereum: config.Ethereum{ProviderURL: config.Secret(reg.URL), Registry: simnet.RegistryAddress}})
	if err != nil {
		t.Fatal(err)
	}
	const pinned = simnet.DefaultRegistryBlock - 7
	list, err := src.Nodes(t.Context(), nil, pinned)
	if err != nil {
		t.Fatal(err)
	}
	if list.Block != pinned || len(list.Nodes) != 4 {
		t.Errorf("read %d nodes at block %d, want 4 at %d", len(list.Nodes), list.Block, pinned)
	}
	if st := reg.Stats(); st.BlockNumber != 0 || len(st.Blocks) != 1 || st.Blocks[0] != "0x1406f39" {
		t.Errorf("registry calls %+v: want no eth_blockNumber and every eth_call at 0x1406f39 (21000000 - 7)", st)
	}
}
