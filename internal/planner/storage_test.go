package planner_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/planner"
	"github.com/audius-netmon/netmon/internal/storagekeys"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// fixedKeys is a key source of a fixed list, every key "sampled".
type fixedKeys []storagekeys.Key

func (k fixedKeys) Sample(context.Context, []string, int64, uint64) ([]storagekeys.Key, int64, error) {
	return k, int64(len(k)), nil
}

// healthR reports R by host; a host missing from the map cannot be read.
type healthR map[string]int

func (h healthR) ReplicationFactor(_ context.Context, host string) (int, error) {
	if r, ok := h[host]; ok {
		return r, nil
	}
	return 0, errors.New("unreachable")
}

// TestPlanStorage plans a storage run over spec vector B's hosts a–e, whose sha256 orders are
// given by the spec (§2.5 B): key "" d,c,b,e,a; "foo" e,a,c,b,d; "bar" b,a,d,e,c. Registered
// as "A", "b/", "c", "d", "e", a duplicate "D/" and a deregistered "", normalised to a–e (§2.2).
// Node e reports R 3, b cannot be read (the default R 2), the others report 2. Holders, by hand:
// "" d,c (b is third, e fourth: 3 is not below its R 3); "foo" e,a (c is third); "bar" b,a (d is
// third, e fourth); "placed" exactly its placement host c.
func TestPlanStorage(t *testing.T) {
	list := planner.NodeList{Source: "static", Nodes: []store.DiscoveryNode{
		{SPID: 1, Endpoint: "A", Delegate: "0xa"}, {SPID: 2, Endpoint: "b/"}, {SPID: 3, Endpoint: "c"},
		{SPID: 4, Endpoint: "d"}, {SPID: 5, Endpoint: "e"}, {SPID: 6, Endpoint: "D/"}, {SPID: 7, Endpoint: ""}}}
	keys := fixedKeys{{Key: ""}, {Key: "foo"}, {Key: "bar"}, {Key: "placed", PlacementHosts: []string{"C/"}}}
	p := planner.New(planner.Options{Network: lifecycle.Storage, Deadline: time.Hour, Storage: planner.StorageOptions{
		Keys: keys, DefaultR: 2, KeyBatchSize: 1, NonHolderProbes: 1,
		Health: healthR{"a": 2, "c": 2, "d": 2, "e": 3}}}, zerolog.Nop())
	rec := &recorder{}
	m, err := p.PlanStorage(context.Background(), 9, time.Now(), list, rec)
	if err != nil {
		t.Fatal(err)
	}
	var nodes *netmonv1.ContentNodeBatch
	var keyBatches []*netmonv1.StorageKeyBatch
	probes := map[int64][]string{} // node → keys asked as an expected holder
	extra := map[int64][]string{}  // node → keys asked as a non-holder
	health := 0
	for _, o := range rec.outs {
		switch msg := o.Msg.(type) {
		case *netmonv1.ContentNodeBatch:
			nodes = msg
		case *netmonv1.StorageKeyBatch:
			keyBatches = append(keyBatches, msg)
		case *netmonv1.HealthWorkItem:
			health++
		case *netmonv1.StorageWorkItem:
			if msg.GetNonHolder() {
				extra[msg.GetSpId()] = append(extra[msg.GetSpId()], msg.GetKeys()...)
			} else {
				probes[msg.GetSpId()] = append(probes[msg.GetSpId()], msg.GetKeys()...)
			}
		}
	}
	wantNodes := map[int64]struct {
		host string
		r    int32
	}{1: {"a", 2}, 2: {"b", 2}, 3: {"c", 2}, 4: {"d", 2}, 5: {"e", 3}}
	if nodes == nil || len(nodes.GetNodes()) != len(wantNodes) {
		t.Fatalf("node list %v, want nodes 1-5", nodes)
	}
	for _, n := range nodes.GetNodes() {
		if w := wantNodes[n.GetSpId()]; n.GetEndpoint() != w.host || n.GetReplicationFactor() != w.r {
			t.Errorf("node %d: %s R %d, want %s R %d", n.GetSpId(), n.GetEndpoint(), n.GetReplicationFactor(), w.host, w.r)
		}
	}
	if nodes.GetNodes()[0].GetDelegateWallet() != "0xa" {
		t.Errorf("node 1's delegate wallet %q, want 0xa", nodes.GetNodes()[0].GetDelegateWallet())
	}
	wantHolders := map[string][]int64{"": {4, 3}, "foo": {5, 1}, "bar": {2, 1}, "placed": {3}}
	if len(keyBatches) != 1 || len(keyBatches[0].GetKeys()) != 4 {
		t.Fatalf("key batches %v, want one of 4 keys", keyBatches)
	}
	for _, k := range keyBatches[0].GetKeys() {
		if !slices.Equal(k.GetHolders(), wantHolders[k.GetKey()]) || k.GetPlaced() != (k.GetKey() == "placed") {
			t.Errorf("key %q: holders %v placed %v, want %v", k.GetKey(), k.GetHolders(), k.GetPlaced(), wantHolders[k.GetKey()])
		}
	}
	wantProbes := map[int64][]string{1: {"foo", "bar"}, 2: {"bar"}, 3: {"", "placed"}, 4: {""}, 5: {"foo"}}
	for sp, want := range wantProbes {
		if !slices.Equal(probes[sp], want) {
			t.Errorf("node %d probed for %q, want %q", sp, probes[sp], want)
		}
	}
	nExtra := 0
	for sp, ks := range extra {
		for _, k := range ks {
			nExtra++
			if slices.Contains(wantHolders[k], sp) {
				t.Errorf("node %d asked about %q as a non-holder, but it is a holder", sp, k)
			}
		}
	}
	if nExtra != 4 {
		t.Errorf("%d non-holder probes, want one per key (4)", nExtra)
	}
	if health != 5 || m.GetHealthItems() != 5 || m.GetStorageWorkItems() != 11 || m.GetWorkItems() != 16 ||
		m.GetKeyProbes() != 11 || m.GetKeyBatches() != 1 || m.GetPopulationKeys() != 4 || m.GetSampledKeys() != 4 ||
		m.GetKeyMode() != "all" || m.GetContentNodes() != 5 {
		t.Errorf("manifest %v, health items %d", m, health)
	}
	if !rec.flushed {
		t.Error("the plan was not flushed")
	}
}
