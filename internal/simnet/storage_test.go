package simnet

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/placement"
	"github.com/audius-netmon/netmon/internal/testenv"
)

// The spec's vectors (audius-storage-v2.md §2.5), checked against simnet's own ranking.

func TestStorageRankVectorA(t *testing.T) {
	b, err := os.ReadFile("../placement/testdata/vector_a_hosts.txt") // the spec's appendix
	if err != nil {
		t.Fatal(err)
	}
	hosts := strings.Fields(string(b))
	if len(hosts) != 69 {
		t.Fatalf("%d hosts, want 69", len(hosts))
	}
	order := rendezvous(hosts, "baeaaaiqsedziwknj44jsl5fak6vcbszzjlnl7pqtw2ipnyg7rsh5a2xnql2p2", len(hosts))
	want := []string{"blockdaemon-audius-content-09.bdnodes.net", "cn4.mainnet.audiusindex.org",
		"audius-content-4.figment.io", "cn0.mainnet.audiusindex.org",
		"creatornode.audius3.prod-eks-ap-northeast-1.staked.cloud", "blockdaemon-audius-content-07.bdnodes.net"}
	for k, w := range want {
		if got := hosts[order[k]]; got != "https://"+w {
			t.Errorf("rank %d = %s, want https://%s", k, got, w)
		}
	}
}

func TestStorageRankVectorB(t *testing.T) {
	hosts := []string{"a", "b", "c", "d", "e"}
	for key, want := range map[string]string{"": "dcbea", "foo": "eacbd", "bar": "badec"} {
		var got string
		for _, i := range rendezvous(hosts, key, len(hosts)) {
			got += hosts[i]
		}
		if got != want {
			t.Errorf("rank(%q) = %s, want %s", key, got, want)
		}
	}
}

// TestStorageRankMatchesPlacement compares simnet's ranking with internal/placement's over random
// host sets and keys, ties included (a host set with repeated digests cannot be made, but equal
// prefixes are common with few hosts).
func TestStorageRankMatchesPlacement(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		hosts := make([]string, 1+rng.IntN(40))
		for i := range hosts {
			hosts[i] = fmt.Sprintf("https://node%d-%x.example.org", i, rng.Uint32())
		}
		ring, _ := placement.NewRing(hosts)
		for k := 0; k < 20; k++ {
			key := fmt.Sprintf("baeaaaiqse%x", rng.Uint64())
			depth := rng.IntN(len(hosts) + 2)
			var mine []string
			for _, i := range rendezvous(hosts, key, depth) {
				mine = append(mine, hosts[i])
			}
			if theirs := ring.Rank(key)[:min(depth, len(hosts))]; !slices.Equal(mine, theirs) {
				t.Fatalf("seed %d key %s depth %d: simnet %v, placement %v", seed, key, depth, mine, theirs)
			}
		}
	}
}

// smallStorage is a storage scenario with a roll-out (two nodes at R 3), a node of each fault and
// placement hosts on a fifth of the uploads.
func smallStorage(seed int64) StorageScenario {
	shares := DefaultStorageShares()
	shares.Placement, shares.Lost, shares.Under = 0.2, 0.02, 0.1
	return StorageScenario{Seed: seed, NodeCount: 14, Validators: 5, Tracks: 60, Users: 40, Playlists: 15,
		OrphanUploads: 5, Shares: &shares, Nodes: []StorageNodeSpec{
			{ID: 2, R: 3, Format: FormatMediorum},
			{ID: 3, Faults: StorageFaults{Down: true}},
			{ID: 4, Faults: StorageFaults{DBDown: true}, Format: FormatMediorum},
			{ID: 5, Faults: StorageFaults{MissingShare: 0.5, ExtraShare: 0.3}},
			{ID: 6, Faults: StorageFaults{Lying: true, Signature: SigWrongSigner}},
			{ID: 7, Faults: StorageFaults{Unpulled: true, Signature: SigUnsigned}},
			{ID: 8, Faults: StorageFaults{Unregistered: true, ExtraShare: 0.1}, Format: FormatMediorum},
			{ID: 9, Faults: StorageFaults{StorageErrors: true, Signature: SigMalformed}},
			{ID: 10, Faults: StorageFaults{NoRoute: true, Signature: SigMismatch, StaleRepair: true}},
			{ID: 11, R: 3, Faults: StorageFaults{DiskFull: true, Latency: &Latency{Median: Duration(time.Millisecond)}}},
			{ID: 12, Faults: StorageFaults{Hang: true}},
		}}
}

func startStorage(t *testing.T, s StorageScenario) (*StorageNetwork, *StorageNodes) {
	t.Helper()
	n, err := BuildStorage(s)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := n.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nodes.Close)
	return n, nodes
}

// TestStorageTruthMatchesPlacement: for every key of networks of several seeds, the holders the
// truth expects are internal/placement's holders over the registry's messy endpoints, with each
// readable node's R and the scenario's for the others.
func TestStorageTruthMatchesPlacement(t *testing.T) {
	for seed := int64(1); seed <= 6; seed++ {
		n, nodes := startStorage(t, smallStorage(seed))
		ring, dropped := placement.NewRing(n.StaticEndpoints())
		reasons := map[string]int{}
		for _, d := range dropped {
			reasons[d.Reason]++
		}
		if want := map[string]int{placement.DropEmpty: 1, placement.DropUnparsable: 1, placement.DropDuplicate: 1}; !maps.Equal(reasons, want) {
			t.Fatalf("seed %d: dropped %v, want one empty, one unparsable, one duplicate", seed, dropped)
		}
		if got := ring.Hosts(); !slices.Equal(sorted(got), sorted(n.Candidates())) {
			t.Fatalf("seed %d: candidates %v, want %v", seed, got, n.Candidates())
		}
		truth := n.StorageTruth(nodes, KeyStrings(n.AllKeys()))
		rep := placement.Replication{Default: n.R(), Reported: map[string]int{}}
		hostID := map[string]int64{}
		for _, nt := range truth.Nodes {
			hostID[nt.Host] = nt.ID
			if nt.Health.Readable {
				rep.Reported[nt.Host] = nt.Health.R
			}
		}
		for _, k := range n.AllKeys() {
			kt, ok := n.KeyTruth(k.Key)
			if !ok {
				t.Fatalf("seed %d: KeyTruth(%s) not found", seed, k.Key)
			}
			var want []int64
			for _, h := range ring.Holders(k.Key, k.PlacementHosts, rep) {
				want = append(want, hostID[h])
			}
			if !slices.Equal(kt.Expected, want) {
				t.Fatalf("seed %d key %s (placement %v): truth expects %v, placement says %v", seed, k.Key, k.PlacementHosts, kt.Expected, want)
			}
		}
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// TestStorageTruthShape checks the truth's bookkeeping against hand-derived consequences of the
// faults.
func TestStorageTruthShape(t *testing.T) {
	n, nodes := startStorage(t, smallStorage(3))
	keys := KeyStrings(n.AllKeys())
	truth := n.StorageTruth(nodes, keys)
	if truth.Keys != int64(len(keys)) || truth.Keys == 0 {
		t.Fatalf("truth counts %d keys of %d", truth.Keys, len(keys))
	}
	var sum int64
	for _, c := range truth.ByPresent {
		sum += c
	}
	if sum != truth.Keys {
		t.Errorf("ByPresent sums to %d, want %d", sum, truth.Keys)
	}
	for _, nt := range truth.Nodes {
		if nt.Held+nt.Missing+nt.Unknown+nt.NoAnswer != nt.Should {
			t.Errorf("node %d: answers %d+%d+%d+%d != should %d", nt.ID, nt.Held, nt.Missing, nt.Unknown, nt.NoAnswer, nt.Should)
		}
		if nt.Should+nt.NotExpected != truth.Keys {
			t.Errorf("node %d: should %d + not expected %d != %d keys", nt.ID, nt.Should, nt.NotExpected, truth.Keys)
		}
	}
	node := func(id int) StorageNodeTruth { return truth.Nodes[id-1] }
	if nt := node(3); nt.NoAnswer != nt.Should || nt.Should == 0 || nt.Health.Readable {
		t.Errorf("down node: %+v", nt)
	}
	if nt := node(4); nt.Unknown != nt.Should || nt.Health.HTTPStatus != 503 || nt.Health.Healthy {
		t.Errorf("db-down node: unknown %d of %d, health %+v", nt.Unknown, nt.Should, nt.Health)
	}
	if nt := node(5); nt.Missing*4 < nt.Should || nt.ExtraHolds == 0 {
		t.Errorf("node missing half: missing %d of %d, extras %d", nt.Missing, nt.Should, nt.ExtraHolds)
	}
	if nt := node(6); nt.Held != nt.Should || nt.ExtraHeld != nt.NotExpected || nt.Health.Signature != "wrong_signer" {
		t.Errorf("lying node: %+v", nt)
	}
	if nt := node(7); nt.Holds != 0 || nt.Should == 0 || !nt.Health.LastRepair.FinishedAt.IsZero() {
		t.Errorf("unpulled node: %+v", nt)
	}
	if nt := node(8); nt.Registered || nt.Should != 0 || nt.Health.HTTPStatus != 506 || nt.Health.Signature != "no_delegate" {
		t.Errorf("unregistered node: %+v", nt)
	}
	if nt := node(9); nt.Unknown != nt.Should {
		t.Errorf("storage-error node: %+v", nt)
	}
	if nt := node(10); nt.NoAnswer != nt.Should || !nt.Health.LastRepair.FinishedAt.Equal(truth.Started.Add(-10*time.Hour).Truncate(time.Second)) {
		t.Errorf("no-route, stale node: %+v", nt)
	}
	if truth.ConsensusR != 4 || !slices.Equal(truth.Dissenters, []int64{2, 11}) {
		t.Errorf("consensus %d, dissenters %v; want 4, [2 11]", truth.ConsensusR, truth.Dissenters)
	}
	if truth.TrulyLost == 0 || truth.Lost < truth.TrulyLost || truth.UnderReplicated < truth.TrulyUnder {
		t.Errorf("lost %d (truly %d), under %d (truly %d)", truth.Lost, truth.TrulyLost, truth.UnderReplicated, truth.TrulyUnder)
	}
}

// TestStorageKeysDecode: every key and upload id decodes to itself; strings that are not the
// network's (another seed's, altered) do not.
func TestStorageKeysDecode(t *testing.T) {
	n, err := BuildStorage(smallStorage(1))
	if err != nil {
		t.Fatal(err)
	}
	other, err := BuildStorage(smallStorage(2))
	if err != nil {
		t.Fatal(err)
	}
	all := n.AllKeys()
	if len(all) != n.keyCount {
		t.Fatalf("%d keys, keyCount %d", len(all), n.keyCount)
	}
	seen := map[string]bool{}
	for _, k := range all {
		if seen[k.Key] {
			t.Fatalf("key %s twice", k.Key)
		}
		seen[k.Key] = true
		r, ok := n.decodeKey(k.Key)
		if !ok || n.key(r) != k.Key {
			t.Fatalf("key %s does not decode to itself", k.Key)
		}
		if _, ok := other.decodeKey(k.Key); ok {
			t.Fatalf("key %s decodes in another network", k.Key)
		}
		if !strings.HasPrefix(k.Key, "baeaaaiqse") && !strings.HasPrefix(k.Key, "Qm") {
			t.Fatalf("key %s has no real shape", k.Key)
		}
		alt := []byte(k.Key)
		alt[len(alt)/2] ^= 1
		if _, ok := n.decodeKey(string(alt)); ok {
			t.Fatalf("altered key %s decodes", alt)
		}
	}
	for i := range n.uploads {
		id := n.ulid(uint32(i))
		if j, ok := n.decodeULID(id); !ok || j != uint32(i) {
			t.Fatalf("upload %d: id %s decodes to %d %v", i, id, j, ok)
		}
		if i > 0 && !(n.ulid(uint32(i-1)) < id) {
			t.Fatalf("upload ids not in created_at order at %d", i)
		}
	}
}

func TestParseStorageFaults(t *testing.T) {
	specs, err := ParseStorageFaults("3=down, 4=slow:20ms:80ms+r:3+mediorum,5=missing:0.25+extra:0.5+wrongsigner,6=unregistered+stalerepair+diskfull")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range specs {
		got = append(got, fmt.Sprintf("%d=%s", s.ID, s))
	}
	want := []string{"3=down", "4=r:3+mediorum+slow:20ms:80ms", "5=missing:0.25+extra:0.5+wrongsigner", "6=unregistered+stalerepair+diskfull"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"3", "0=down", "3=down,3=hang", "3=missing", "3=missing:2", "3=r:0", "3=slow:x", "3=nope", "3=down:1"} {
		if _, err := ParseStorageFaults(bad); err == nil {
			t.Errorf("ParseStorageFaults(%q) accepted", bad)
		}
	}
}

// TestStorageSeedDiscovery: the seeded rows name exactly the truth's discovery keys when read
// the way spec §5.3 says, here with a plain scan in Go (storagekeys has the SQL).
func TestStorageSeedDiscovery(t *testing.T) {
	n, _ := startStorage(t, smallStorage(4))
	url := testenv.Database(t)
	ctx := context.Background()
	if err := n.SeedDiscovery(ctx, url); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	uploads := map[string][]string{} // upload id → keys
	for i := range n.uploads {
		n.uploadRefs(uint32(i), func(r blobRef) {
			uploads[n.ulid(uint32(i))] = append(uploads[n.ulid(uint32(i))], n.key(r))
		})
	}
	got := map[string]bool{}
	// image: an image column (an upload id is an image's: its original); sizes: a sizes column
	// (a Qm value is a legacy directory).
	add := func(v *string, image, sizes bool) {
		switch {
		case v == nil || *v == "":
		case uploads[*v] != nil && image:
			got[uploads[*v][0]] = true
		case uploads[*v] != nil:
			for _, k := range uploads[*v] {
				got[k] = true
			}
		case sizes:
			got[*v+"/original.jpg"] = true
		default:
			got[*v] = true
		}
	}
	rows, err := conn.Query(ctx, `SELECT track_cid, orig_file_cid, preview_cid, audio_upload_id, cover_art_sizes, cover_art
		FROM tracks WHERE is_current AND NOT is_delete`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c [6]*string
		if err := rows.Scan(&c[0], &c[1], &c[2], &c[3], &c[4], &c[5]); err != nil {
			t.Fatal(err)
		}
		add(c[0], false, false)
		add(c[1], false, false)
		add(c[2], false, false)
		add(c[3], false, false)
		add(c[4], true, true)
		add(c[5], true, false)
	}
	for _, q := range []string{
		`SELECT profile_picture_sizes, profile_picture FROM users WHERE is_current AND NOT is_deactivated`,
		`SELECT cover_photo_sizes, cover_photo FROM users WHERE is_current AND NOT is_deactivated`,
		`SELECT playlist_image_sizes_multihash, playlist_image_multihash FROM playlists WHERE is_current AND NOT is_delete`,
	} {
		rows, err := conn.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var sizes, single *string
			if err := rows.Scan(&sizes, &single); err != nil {
				t.Fatal(err)
			}
			add(sizes, true, true)
			add(single, true, false)
		}
	}
	want := KeyStrings(n.DiscoveryKeys())
	if gotKeys := slices.Sorted(maps.Keys(got)); !slices.Equal(gotKeys, want) {
		var extra, lack []string
		for _, k := range gotKeys {
			if !slices.Contains(want, k) {
				extra = append(extra, k)
			}
		}
		for _, k := range want {
			if !got[k] {
				lack = append(lack, k)
			}
		}
		t.Fatalf("discovery names %d keys, truth %d; not in truth %v, missing %v", len(gotKeys), len(want), extra, lack)
	}
	var history int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM tracks WHERE NOT is_current`).Scan(&history); err != nil || history == 0 {
		t.Fatalf("history rows: %d %v", history, err)
	}
}

func TestStorageScenarioFile(t *testing.T) {
	s, err := LoadStorageScenario("testdata/storage.json")
	if err != nil {
		t.Fatal(err)
	}
	n, err := BuildStorage(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := n.nodes[1]; got.r != 3 || got.format != FormatMediorum || n.nodes[11].service != "validator" || len(n.Candidates()) != 11 {
		t.Fatalf("node 2 %+v, node 12 %s, %d candidates", got, n.nodes[11].service, len(n.Candidates()))
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"seed": 1, "node_count": 5, "colour": "red"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadStorageScenario(bad); !errors.Is(err, errScenario) {
		t.Errorf("unknown field: %v", err)
	}
	share := func(f func(*StorageShares)) *StorageShares { s := DefaultStorageShares(); f(&s); return &s }
	for name, s := range map[string]StorageScenario{
		"no nodes":      {NodeCount: 0},
		"r too large":   {NodeCount: 3},
		"validators":    {NodeCount: 5, Validators: 6},
		"unknown node":  {NodeCount: 5, Nodes: []StorageNodeSpec{{ID: 6}}},
		"node twice":    {NodeCount: 5, Nodes: []StorageNodeSpec{{ID: 2}, {ID: 2}}},
		"format":        {NodeCount: 5, Nodes: []StorageNodeSpec{{ID: 2, Format: "xml"}}},
		"signature":     {NodeCount: 5, Nodes: []StorageNodeSpec{{ID: 2, Faults: StorageFaults{Signature: "forged"}}}},
		"missing share": {NodeCount: 5, Nodes: []StorageNodeSpec{{ID: 2, Faults: StorageFaults{MissingShare: 1.5}}}},
		"all unregistered": {NodeCount: 4, Nodes: []StorageNodeSpec{{ID: 1, Faults: StorageFaults{Unregistered: true}},
			{ID: 2, Faults: StorageFaults{Unregistered: true}}, {ID: 3, Faults: StorageFaults{Unregistered: true}},
			{ID: 4, Faults: StorageFaults{Unregistered: true}}}},
		"share":    {NodeCount: 5, Shares: share(func(s *StorageShares) { s.Lost = -0.1 })},
		"negative": {NodeCount: 5, Tracks: -1},
		"latency":  {NodeCount: 5, Nodes: []StorageNodeSpec{{ID: 2, Faults: StorageFaults{Latency: &Latency{Median: Duration(time.Second), P99: Duration(time.Millisecond)}}}}},
	} {
		if _, err := BuildStorage(s); !errors.Is(err, errScenario) {
			t.Errorf("%s: %v, want a scenario error", name, err)
		}
	}
}
