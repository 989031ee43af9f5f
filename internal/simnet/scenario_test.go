package simnet

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/testenv"
)

func TestScenarioFiles(t *testing.T) {
	s, err := LoadScenario("testdata/good/faulty.json")
	if err != nil {
		t.Fatal(err)
	}
	n, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	if n.Users() != 2000 || len(n.SPIDs()) != 8 {
		t.Fatalf("users %d, nodes %v", n.Users(), n.SPIDs())
	}
	f := n.nodes[n.nodeIdx[3]].spec.Faults
	if f.Latency == nil || time.Duration(f.Latency.Median) != 20*time.Millisecond || f.RateLimit == nil || f.RateLimit.Requests != 100 {
		t.Fatalf("node 3 faults %+v", f)
	}

	// Reference, written as JSON and read back, is the same network.
	path := filepath.Join(t.TempDir(), "reference.json")
	b, err := json.MarshalIndent(Reference(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := LoadScenario(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Reference(), back); diff != "" {
		t.Fatalf("reference round trip (-want +got):\n%s", diff)
	}

	bad, _ := filepath.Glob("testdata/bad/*.json")
	if len(bad) == 0 {
		t.Fatal("no bad fixtures")
	}
	for _, p := range bad {
		s, err := LoadScenario(p)
		if err == nil {
			_, err = Build(s)
		}
		if err == nil {
			t.Errorf("%s: accepted", p)
			continue
		}
		want, _ := os.ReadFile(strings.TrimSuffix(p, ".json") + ".err")
		if !strings.Contains(err.Error(), strings.TrimSpace(string(want))) {
			t.Errorf("%s: error %q does not contain %q", p, err, strings.TrimSpace(string(want)))
		}
		if len(want) > 0 && strings.Contains(p, "build") && !errors.Is(err, errScenario) {
			t.Errorf("%s: %v is not a scenario error", p, err)
		}
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	s := randomScenario(5)
	a, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.users, b.users) || !reflect.DeepEqual(a.Truth(nil), b.Truth(nil)) {
		t.Fatal("two builds of one scenario differ")
	}
	s.Seed = 6
	c, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a.users, c.users) {
		t.Fatal("another seed gives the same users")
	}

	// Seeded twice, the tables are identical.
	ctx := context.Background()
	var sums []string
	for range 2 {
		n, err := Build(s)
		if err != nil {
			t.Fatal(err)
		}
		url := testenv.Database(t)
		if err := n.SeedDiscovery(ctx, url); err != nil {
			t.Fatal(err)
		}
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		var sum string
		err = conn.QueryRow(ctx, `SELECT
			(SELECT md5(string_agg(u::text, '|' ORDER BY user_id, is_current, txhash)) FROM users u) ||
			(SELECT md5(string_agg(t::text, '|' ORDER BY track_id, is_current, txhash)) FROM tracks t) ||
			(SELECT md5(string_agg(c::text, '|' ORDER BY cnode_sp_id, is_current, txhash)) FROM ursm_content_nodes c)`).Scan(&sum)
		conn.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, sum)
	}
	if sums[0] != sums[1] {
		t.Fatal("two seedings of one scenario differ")
	}
}

func TestCIDRoutes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, missing := range []float64{0, 0.5} {
		sh := DefaultShares()
		sh.MissingCID = missing
		sh.Artists = 0.5
		n, err := Build(Scenario{Seed: 11, NodeCount: 6, UserCount: 300, Shares: &sh})
		if err != nil {
			t.Fatal(err)
		}
		nodes, err := n.Start(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer nodes.Close()
		url := testenv.Database(t)
		if err := n.SeedDiscovery(ctx, url); err != nil {
			t.Fatal(err)
		}
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		// Every current CID with its kind and its owner's replica set, from the rows.
		rows, err := conn.Query(ctx, `
			WITH cids AS (
				SELECT user_id AS owner, metadata_multihash AS cid, false AS dir FROM users WHERE is_current
				UNION ALL SELECT user_id, profile_picture_sizes, true FROM users WHERE is_current
				UNION ALL SELECT owner_id, cover_art_sizes, true FROM tracks WHERE is_current
				UNION ALL SELECT owner_id, metadata_multihash, false FROM tracks WHERE is_current
				UNION ALL SELECT owner_id, download->>'cid', false FROM tracks WHERE is_current
				UNION ALL SELECT owner_id, s->>'multihash', false FROM tracks, jsonb_array_elements(track_segments) s WHERE is_current
			)
			SELECT c.cid, c.dir, array_remove(ARRAY[u.primary_id, u.secondary_ids[1], u.secondary_ids[2]], NULL)
			FROM cids c JOIN users u ON u.user_id = c.owner AND u.is_current
			WHERE c.cid IS NOT NULL AND u.primary_id IS NOT NULL ORDER BY 1 LIMIT 2000`)
		if err != nil {
			t.Fatal(err)
		}
		type cidRow struct {
			CID     string
			Dir     bool
			Holders []int32
		}
		cids, err := pgx.CollectRows(rows, pgx.RowToStructByPos[cidRow])
		if err != nil {
			t.Fatal(err)
		}
		if len(cids) < 500 {
			t.Fatalf("only %d CIDs", len(cids))
		}
		var onReplica, present int
		for _, sp := range n.SPIDs() {
			for _, route := range []string{"/batch_cids_exist", "/batch_image_cids_exist"} {
				for start := 0; start < len(cids); start += MaxCIDs {
					batch := cids[start:min(start+MaxCIDs, len(cids))]
					req := make([]string, len(batch))
					for i, c := range batch {
						req[i] = c.CID
					}
					status, body := post(t, nodes.Endpoint(sp)+route, map[string]any{"cids": req})
					var ans struct {
						Data struct {
							CIDs []struct {
								CID    string `json:"cid"`
								Exists bool   `json:"exists"`
							} `json:"cids"`
						} `json:"data"`
					}
					if status != 200 || json.Unmarshal(body, &ans) != nil || len(ans.Data.CIDs) != len(batch) {
						t.Fatalf("%s on %d: %d %s", route, sp, status, body)
					}
					for i, c := range batch {
						e := ans.Data.CIDs[i]
						holds := false
						for _, h := range c.Holders {
							holds = holds || int64(h) == sp
						}
						possible := holds && (route == "/batch_cids_exist" || c.Dir)
						if e.CID != c.CID || e.Exists && !possible || missing == 0 && e.Exists != possible {
							t.Fatalf("%s on node %d: %s exists=%v, on replica set %v, dir %v", route, sp, c.CID, e.Exists, c.Holders, c.Dir)
						}
						if possible {
							onReplica++
							if e.Exists {
								present++
							}
						}
					}
				}
			}
		}
		if missing > 0 && (present == onReplica || present == 0) {
			t.Errorf("missing share %v: %d of %d present", missing, present, onReplica)
		}
		tooMany := make([]string, MaxCIDs+1)
		if status, body := post(t, nodes.Endpoint(1)+"/batch_cids_exist", map[string]any{"cids": tooMany}); status != 400 || !strings.Contains(string(body), "error") {
			t.Fatalf("501 CIDs: %d %s", status, body)
		}
	}
}

// ProductionShares gives the shape issue 15 reports of the original's production network: 68 %
// fully synced, 20 % partially and 10 % unsynced, plus 2 % with one secondary's node lacking the
// wallet (partially synced as well: the primary agrees with the other secondary), and half as
// many current tracks as users.
func TestProductionShares(t *testing.T) {
	sh := ProductionShares()
	const users = 20000
	n, err := Build(Scenario{Seed: 3, NodeCount: 20, UserCount: users, Shares: &sh})
	if err != nil {
		t.Fatal(err)
	}
	tr := n.Truth(nil)
	near := func(name string, got int64, want float64) {
		t.Helper()
		if share := float64(got) / users; share < want-0.015 || share > want+0.015 {
			t.Errorf("%s: %.3f of the users, want %.2f", name, share, want)
		}
	}
	near("fully synced", tr.FullySynced, 0.68)
	near("partially synced", tr.PartiallySynced, 0.22)
	near("unsynced", tr.Unsynced, 0.10)
	near("no primary", tr.NoPrimary, 0)
	near("current tracks", n.Rows().CurrentTracks, 0.5)
	missing := tr.SecondaryLag["not_held"]
	near("secondary slots not held", missing, 0.02)
}
