package storagekeys

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/storagenode"
	"github.com/audius-netmon/netmon/internal/testenv"
)

// A storage network with several pages of uploads, placement hosts on a tenth of them, and a
// down node and a node whose database is down listed first for the upload list (the pager must
// move on to the next).
func storageNet(t *testing.T) (*simnet.StorageNetwork, *simnet.StorageNodes, *pgx.Conn) {
	t.Helper()
	shares := simnet.DefaultStorageShares()
	shares.Placement = 0.1
	n, err := simnet.BuildStorage(simnet.StorageScenario{Seed: 11, NodeCount: 6, Tracks: 2600, Users: 900, Playlists: 200,
		OrphanUploads: 30, Shares: &shares, Nodes: []simnet.StorageNodeSpec{
			{ID: 1, Faults: simnet.StorageFaults{Down: true}}, {ID: 2, Faults: simnet.StorageFaults{DBDown: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := n.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nodes.Close)
	url := testenv.Database(t)
	if err := n.SeedDiscovery(context.Background(), url); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return n, nodes, conn
}

func endpoints(nodes *simnet.StorageNodes) []string {
	return []string{nodes.Endpoint(1), nodes.Endpoint(2), nodes.Endpoint(3)}
}

// asTruth converts keys for comparison with simnet's, sorted by key.
func asTruth(keys []Key) []simnet.StorageKey {
	out := make([]simnet.StorageKey, len(keys))
	for i, k := range keys {
		out[i] = simnet.StorageKey{Key: k.Key, PlacementHosts: k.PlacementHosts}
	}
	slices.SortFunc(out, func(a, b simnet.StorageKey) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func sortedTruth(keys []simnet.StorageKey) []simnet.StorageKey {
	out := slices.Clone(keys)
	slices.SortFunc(out, func(a, b simnet.StorageKey) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func union(a, b []simnet.StorageKey) []simnet.StorageKey {
	m := map[string]simnet.StorageKey{}
	for _, k := range append(slices.Clone(a), b...) {
		if old, ok := m[k.Key]; !ok || old.PlacementHosts == nil {
			m[k.Key] = k
		}
	}
	var out []simnet.StorageKey
	for _, k := range m {
		out = append(out, k)
	}
	return sortedTruth(out)
}

func sameKeys(t *testing.T, what string, got, want []simnet.StorageKey) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d keys, truth %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i].Key != want[i].Key || !slices.Equal(got[i].PlacementHosts, want[i].PlacementHosts) {
			t.Fatalf("%s: key %d is %+v, truth %+v", what, i, got[i], want[i])
		}
	}
}

// TestCollectEveryKey: each source, and both, name exactly the truth's keys with their placement
// hosts.
func TestCollectEveryKey(t *testing.T) {
	n, nodes, conn := storageNet(t)
	ctx := context.Background()
	var c storagenode.Client
	discovery, uploads := sortedTruth(n.DiscoveryKeys()), sortedTruth(n.UploadKeys())
	for _, tc := range []struct {
		name string
		cfg  Config
		want []simnet.StorageKey
	}{
		{"discovery", Config{Discovery: true, Endpoints: endpoints(nodes)}, discovery},
		{"uploads", Config{Uploads: true, Endpoints: endpoints(nodes)}, uploads},
		{"both", Config{Discovery: true, Uploads: true, Endpoints: endpoints(nodes)}, union(discovery, uploads)},
	} {
		res, err := Collect(ctx, conn, &c, tc.cfg)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		sameKeys(t, tc.name, asTruth(res.Keys), tc.want)
		if res.Population != int64(len(tc.want)) || len(res.Unresolved) != 0 {
			t.Errorf("%s: population %d (truth %d), unresolved %v", tc.name, res.Population, len(tc.want), res.Unresolved)
		}
		if res.UploadPages < 2 {
			t.Errorf("%s: %d upload pages", tc.name, res.UploadPages)
		}
	}
	// Every page was asked of the node whose database is down (500), then served by node 3.
	if s2, s3 := nodes.Stats(2), nodes.Stats(3); s2.Uploads != s3.Uploads || s3.Uploads < 6 {
		t.Errorf("upload requests: node 2 %d, node 3 %d", s2.Uploads, s3.Uploads)
	}
	// Without the upload list, discovery's upload ids stay unresolved; everything else is found.
	res, err := Collect(ctx, conn, nil, Config{Discovery: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Unresolved[UnresolvedUpload] == 0 {
		t.Errorf("no unresolved upload ids without the upload list: %v", res.Unresolved)
	}
	want := map[string]bool{}
	for _, k := range discovery {
		want[k.Key] = true
	}
	for _, k := range res.Keys {
		if !want[k.Key] {
			t.Fatalf("key %s is not discovery's", k.Key)
		}
	}
}

// TestCollectSample: a sample has the requested size, is drawn from the population, is the same
// for the same seed whatever the sources' overlap, and another for another seed.
func TestCollectSample(t *testing.T) {
	n, nodes, conn := storageNet(t)
	ctx := context.Background()
	var c storagenode.Client
	population := union(n.DiscoveryKeys(), n.UploadKeys())
	inPopulation := map[string]simnet.StorageKey{}
	for _, k := range population {
		inPopulation[k.Key] = k
	}
	cfg := Config{Discovery: true, Uploads: true, Endpoints: endpoints(nodes), SampleSize: 500, Seed: 42}
	a, err := Collect(ctx, conn, &c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Collect(ctx, conn, &c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Keys) != 500 || a.Population != int64(len(population)) {
		t.Fatalf("%d keys of population %d; want 500 of %d", len(a.Keys), a.Population, len(population))
	}
	if !slices.EqualFunc(a.Keys, b.Keys, func(x, y Key) bool { return x.Key == y.Key }) {
		t.Fatal("the same seed drew another sample")
	}
	for _, k := range a.Keys {
		want, ok := inPopulation[k.Key]
		if !ok || !slices.Equal(k.PlacementHosts, want.PlacementHosts) {
			t.Fatalf("sampled %+v, population has %+v (%v)", k, want, ok)
		}
	}
	cfg.Seed = 43
	other, err := Collect(ctx, conn, &c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if slices.EqualFunc(a.Keys, other.Keys, func(x, y Key) bool { return x.Key == y.Key }) {
		t.Fatal("another seed drew the same sample")
	}
}

// TestSampleUniform: over 400 seeds, every one of 300 keys (each offered twice, in a seed-dependent
// order) is drawn about 400 × 30/300 = 40 times; a biased draw (by position or by key) would put
// some far outside [15, 70] (4 standard deviations of Binomial(400, 0.1)).
func TestSampleUniform(t *testing.T) {
	keys := make([]string, 300)
	for i := range keys {
		keys[i] = fmt.Sprintf("baeaaaiqse%04d", i)
	}
	count := map[string]int{}
	for seed := int64(0); seed < 400; seed++ {
		s := NewSample(30, seed)
		for pass := 0; pass < 2; pass++ {
			for i := range keys {
				s.Add(Key{Key: keys[(i*7+int(seed))%len(keys)]})
			}
		}
		got := s.Keys()
		if len(got) != 30 || s.Population() != 300 {
			t.Fatalf("seed %d: %d keys of %d", seed, len(got), s.Population())
		}
		for _, k := range got {
			count[k.Key]++
		}
	}
	for _, k := range keys {
		if c := count[k]; c < 15 || c > 70 {
			t.Errorf("key %s drawn %d times in 400 samples, expected about 40", k, c)
		}
	}
}

// TestScanUploadsSharedInstants: uploads sharing created_at across page boundaries are all seen
// once (mediorum's own scroller skips them).
func TestScanUploadsSharedInstants(t *testing.T) {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var all []storagenode.Upload
	for i := 0; i < 4500; i++ {
		all = append(all, storagenode.Upload{ID: fmt.Sprintf("%026d", i), Template: storagenode.TemplateImgSquare,
			OrigFileCID: fmt.Sprintf("cid%d", i), CreatedAt: base.Add(time.Duration(i/3) * time.Second)})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		after, _ := time.Parse(time.RFC3339Nano, r.URL.Query().Get("after"))
		page := []storagenode.Upload{}
		for _, u := range all {
			if u.CreatedAt.After(after) && len(page) < storagenode.UploadsPageSize {
				page = append(page, u)
			}
		}
		_ = json.NewEncoder(w).Encode(page)
	}))
	defer srv.Close()
	var c storagenode.Client
	seen := map[string]int{}
	pages, err := ScanUploads(context.Background(), &c, []string{srv.URL}, func(u storagenode.Upload) error {
		seen[u.ID]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(all) || pages < 3 {
		t.Fatalf("%d of %d uploads in %d pages", len(seen), len(all), pages)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("upload %s seen %d times", id, n)
		}
	}
}

// TestResolve covers what simnet's data does not: placeholders and values of no known shape.
func TestResolve(t *testing.T) {
	ix := NewUploadIndex()
	ix.Add(storagenode.Upload{ID: "01J0ABCDEFGHJKMNPQRSTVWXYZ", Template: storagenode.TemplateAudio, OrigFileCID: "orig",
		Results:        map[string]string{"320": "t320", "320_preview|30": "prev"},
		PlacementHosts: []string{"HTTPS://A.example/", "https://b.example"}})
	placed := []string{"https://a.example", "https://b.example"}
	for _, tc := range []struct {
		ref  Ref
		want []Key
		why  string
	}{
		{Ref{RefUpload, "01J0ABCDEFGHJKMNPQRSTVWXYZ", ""}, []Key{{"orig", placed}, {"t320", placed}, {"prev", nil}}, ""},
		{Ref{RefSizes, "01J0ABCDEFGHJKMNPQRSTVWXYZ", ""}, []Key{{"orig", placed}}, ""},
		{Ref{RefSingle, "01J0ABCDEFGHJKMNPQRSTVWXYZ", ""}, []Key{{"orig", placed}}, ""},
		{Ref{RefSizes, "01J0ABCDEFGHJKMNPQRSTVWXY0", ""}, nil, UnresolvedUpload},
		{Ref{RefSizes, "QmP8Wuu1kN9iHBoBptB4UrTN3orna3Z6ZW2xevNkoE2y22", ""}, []Key{{"QmP8Wuu1kN9iHBoBptB4UrTN3orna3Z6ZW2xevNkoE2y22/original.jpg", nil}}, ""},
		{Ref{RefSizes, "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi", ""}, nil, UnresolvedSizes},
		{Ref{RefSingle, "QmP8Wuu1kN9iHBoBptB4UrTN3orna3Z6ZW2xevNkoE2y22", ""}, []Key{{"QmP8Wuu1kN9iHBoBptB4UrTN3orna3Z6ZW2xevNkoE2y22", nil}}, ""},
		{Ref{RefCID, "baeaaaiqsex", " http://C.example/ ,http://c.example"}, []Key{{"baeaaaiqsex", []string{"http://c.example"}}}, ""},
		{Ref{RefPreview, "baeaaaiqsey", ""}, []Key{{"baeaaaiqsey", nil}}, ""},
	} {
		got, why := Resolve(tc.ref, ix)
		if why != tc.why || !slices.EqualFunc(got, tc.want, func(a, b Key) bool {
			return a.Key == b.Key && slices.Equal(a.PlacementHosts, b.PlacementHosts)
		}) {
			t.Errorf("Resolve(%+v) = %+v %q, want %+v %q", tc.ref, got, why, tc.want, tc.why)
		}
	}
}

// TestDiscoverySQLSkips: placeholders, empty values, deleted and old rows name nothing; a sizes
// value of no known shape is counted, not guessed.
func TestDiscoverySQLSkips(t *testing.T) {
	n, err := simnet.BuildStorage(simnet.StorageScenario{Seed: 1, NodeCount: 4})
	if err != nil {
		t.Fatal(err)
	}
	url := testenv.Database(t)
	ctx := context.Background()
	if err := n.SeedDiscovery(ctx, url); err != nil { // empty tables
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `
		INSERT INTO users (user_id, is_current, txhash, profile_picture, profile_picture_sizes, cover_photo, is_deactivated) VALUES
			(1, true, 'a', '0', '', 'QmKeep', false), (2, true, 'b', 'QmGone', NULL, NULL, true), (1, false, 'c', 'QmOld', NULL, NULL, false);
		INSERT INTO tracks (track_id, is_current, txhash, owner_id, cover_art_sizes, track_cid, is_delete) VALUES
			(1, true, 'a', 1, 'bafyunknownshape', 'baeaaaiqsekeep', false), (2, true, 'b', 1, NULL, 'baeaaaiqsegone', true);
		INSERT INTO playlists (playlist_id, is_current, txhash, playlist_owner_id, playlist_image_multihash, is_delete) VALUES
			(1, true, 'a', 1, 'QmPlaylist', false)`)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Collect(ctx, conn, nil, Config{Discovery: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range res.Keys {
		got = append(got, k.Key)
	}
	slices.Sort(got)
	if want := []string{"QmKeep", "QmPlaylist", "baeaaaiqsekeep"}; !slices.Equal(got, want) || res.Refs != 4 || res.Unresolved[UnresolvedSizes] != 1 {
		t.Fatalf("keys %v (want %v), refs %d, unresolved %v", got, want, res.Refs, res.Unresolved)
	}
}
