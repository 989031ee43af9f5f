package simnet

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/audius-netmon/netmon/internal/contentnode"
	"github.com/audius-netmon/netmon/internal/placement"
	"github.com/audius-netmon/netmon/internal/storagenode"
)

// The storagenode client against simnet's nodes, one of each fault: every answer must be what the
// truth says.

func TestStorageClientBlobInfo(t *testing.T) {
	n, nodes := startStorage(t, smallStorage(5))
	hosts := n.hostsSnapshot()
	var c storagenode.Client
	keys := KeyStrings(n.AllKeys())
	keys = append(keys[:40], keys[len(keys)-20:]...) // uploads and legacy keys
	keys = append(keys, "baeaaaiqsedr3brcctd6byfe27p2mrglpxescplsb4rsjxe2muskzsg3ykk4fk", "QmNotOurs/original.jpg")
	for _, id := range n.NodeIDs() {
		ks := keys
		timeout := 5 * time.Second
		if f := n.nodes[id-1].spec.Faults; f.Hang {
			ks, timeout = keys[:2], 100*time.Millisecond
		}
		for _, key := range ks {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			info, err := c.BlobInfo(ctx, nodes.Endpoint(id), key)
			cancel()
			want := n.probe(int(id-1), key, hosts)
			var got string
			var ce *contentnode.Error
			switch {
			case errors.As(err, &ce):
				got = ProbeNoAnswer
			case err != nil:
				t.Fatalf("node %d key %s: %v", id, key, err)
			default:
				got = info.Presence.String()
			}
			if got != want {
				t.Fatalf("node %d (%s) key %s: client says %s (%v), truth %s", id, n.nodes[id-1].spec, key, got, err, want)
			}
			if f := n.nodes[id-1].spec.Faults; f.DBDown && !info.DBDown {
				t.Fatalf("node %d: a db-down answer not marked DBDown", id)
			}
		}
	}
	// The probes never touch another route.
	for _, id := range n.NodeIDs() {
		if s := nodes.Stats(id); s.Other != 0 {
			t.Errorf("node %d: %d requests on other routes", id, s.Other)
		}
	}
}

func TestStorageClientHealth(t *testing.T) {
	n, nodes := startStorage(t, smallStorage(6))
	truth := n.StorageTruth(nodes, nil)
	delegates := map[string]string{}
	for _, entries := range n.RegistryEntries() {
		for _, e := range entries {
			delegates[placement.Normalize(e.Endpoint)] = e.Delegate
		}
	}
	var c storagenode.Client
	for _, nt := range truth.Nodes {
		timeout := 5 * time.Second
		if n.nodes[nt.ID-1].spec.Faults.Hang {
			timeout = 100 * time.Millisecond
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		h, err := c.Health(ctx, nt.Endpoint)
		cancel()
		want := nt.Health
		if !want.Readable {
			if err == nil {
				t.Errorf("node %d (%s): health read, truth says unreadable", nt.ID, nt.Faults)
			}
			continue
		}
		if err != nil {
			t.Fatalf("node %d (%s): %v", nt.ID, nt.Faults, err)
		}
		if sig := h.VerifySignature(delegates[nt.Host]).String(); sig != want.Signature {
			t.Errorf("node %d (%s): signature %s, truth %s", nt.ID, nt.Faults, sig, want.Signature)
		}
		if h.Format.String() != want.Format || h.HTTPStatus != want.HTTPStatus || h.Healthy != want.Healthy ||
			h.ReplicationFactor != want.R || h.WalletIsRegistered != want.Registered || h.Version != want.Version ||
			h.DiskHasSpace != want.DiskHasSpace || h.StorageExpectation != want.StorageExpectation ||
			h.MediorumPathUsed != want.MediorumPathUsed || h.UploadsCount != want.UploadsCount {
			t.Errorf("node %d (%s): health %+v, truth %+v", nt.ID, nt.Faults, h, want)
		}
		if !h.LastRepair.FinishedAt.Equal(want.LastRepair.FinishedAt) || h.LastRepair.AbortedReason != want.LastRepair.AbortedReason ||
			h.LastRepair.PullMineNeeded() != want.LastRepair.PullMineNeeded ||
			!h.LastCleanup.FinishedAt.Equal(want.LastCleanup.FinishedAt) ||
			h.LastCleanup.DeleteOverReplicatedNeeded() != want.LastCleanup.DeleteOverReplicatedNeeded {
			t.Errorf("node %d (%s): repair %+v / %+v, truth %+v / %+v", nt.ID, nt.Faults, h.LastRepair, h.LastCleanup, want.LastRepair, want.LastCleanup)
		}
		if !slices.Equal(h.UnreachablePeers, want.UnreachablePeers) || !slices.Equal(h.PeerHosts, want.PeerHosts) {
			t.Errorf("node %d: unreachable %v peers %v, truth %v %v", nt.ID, h.UnreachablePeers, h.PeerHosts, want.UnreachablePeers, want.PeerHosts)
		}
	}
}

// TestStorageClientUploads pages a network with more than two pages of uploads.
func TestStorageClientUploads(t *testing.T) {
	s := StorageScenario{Seed: 9, NodeCount: 5, Tracks: 3000, Users: 700, Playlists: 100, OrphanUploads: 10}
	n, nodes := startStorage(t, s)
	if len(n.uploads) <= 2*StorageUploadsPage {
		t.Fatalf("only %d uploads", len(n.uploads))
	}
	var c storagenode.Client
	var got []StorageKey
	after, pages := time.Time{}, 0
	for {
		page, err := c.Uploads(context.Background(), nodes.Endpoint(2), after)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, u := range page {
			placed := placement.ParsePlacementHosts(joinHosts(u.PlacementHosts))
			for _, k := range u.Keys() {
				sk := StorageKey{Key: k, PlacementHosts: placed}
				if k == previewOf(u) {
					sk.PlacementHosts = nil
				}
				got = append(got, sk)
			}
		}
		if len(page) < storagenode.UploadsPageSize {
			break
		}
		after = page[len(page)-1].CreatedAt
	}
	want := n.UploadKeys()
	if pages != len(n.uploads)/StorageUploadsPage+1 || len(got) != len(want) {
		t.Fatalf("%d pages, %d keys; want %d keys", pages, len(got), len(want))
	}
	for i := range want {
		if got[i].Key != want[i].Key || !slices.Equal(got[i].PlacementHosts, want[i].PlacementHosts) {
			t.Fatalf("key %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func joinHosts(h []string) string {
	s := ""
	for i, x := range h {
		if i > 0 {
			s += ","
		}
		s += x
	}
	return s
}

func previewOf(u storagenode.Upload) string {
	for name, k := range u.Results {
		if len(name) > len("320_preview") && name[:len("320_preview")] == "320_preview" {
			return k
		}
	}
	return ""
}
