package simnet

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/testenv"
)

// TestCIDTruthFromDatabaseAndHTTP recomputes the CID truth from what a client can observe: the
// CID rows read back from the seeded discovery database (with spec §4's filters written here in
// SQL) and the nodes' answers on the two CID routes, and compares it with Network.CIDTruth, for
// every CID and for a sample.
func TestCIDTruthFromDatabaseAndHTTP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := randomScenario(7)
	s.UserCount = 1500
	s.Shares.Deactivated = 0.05
	n, err := Build(s)
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
	rows := readCIDRows(t, ctx, url)
	deregistered := map[string]bool{}
	for _, ep := range nodes.Deregistered() {
		deregistered[ep] = true
	}
	endpoints := map[int64]string{}
	for _, sp := range n.SPIDs() {
		endpoints[sp] = nodes.Endpoint(sp)
	}
	answers := askCIDs(rows, endpoints, deregistered)

	for _, c := range []struct {
		mode string
		size int64
	}{{CIDChecksAll, 0}, {CIDChecksSample, int64(len(rows) / 3)}} {
		t.Run(c.mode, func(t *testing.T) {
			want := n.CIDTruth(nodes, c.mode, c.size)
			got := cidMetrics(rows, answers, c.mode, c.size)
			got.Nodes = slices.Clone(want.Nodes)
			for i := range got.Nodes {
				got.Nodes[i] = cidNode(rows, answers, c.mode, c.size, got.Nodes[i].SPID, got.Nodes[i].Endpoint)
			}
			t.Logf("%s: %d of %d CIDs checked (margin %.4f), by replication factor %v, users by synced nodes %v",
				c.mode, want.CheckedCIDs, want.SnapshotCIDs, want.MarginOfError, want.ByReplicationFactor, want.UsersBySyncedNodes)
			if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-12)); diff != "" {
				t.Fatalf("CID truth from memory (-) differs from the database and HTTP (+):\n%s", diff)
			}
			if want.ByReplicationFactor[0] == 0 || want.ByReplicationFactor[3] == 0 || want.UsersBySyncedNodes[3] == 0 {
				t.Errorf("scenario does not exercise the CID metrics: %+v", want)
			}
			if c.mode == CIDChecksSample && (want.CheckedCIDs == want.SnapshotCIDs || want.MarginOfError == 0) {
				t.Errorf("the sample is the whole snapshot: %+v", want)
			}
		})
	}
}

type dbCID struct {
	user  int64
	cid   string
	image bool
	nodes []int64 // distinct SPs of the owner's replica set
}

// readCIDRows lists the CID snapshot with spec §4's sources and filters.
func readCIDRows(t *testing.T, ctx context.Context, url string) []dbCID {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
WITH u AS (SELECT * FROM users WHERE is_current AND NOT is_deactivated),
c AS (
    SELECT user_id, metadata_multihash AS cid, false AS image FROM u
    UNION ALL SELECT user_id, profile_picture, false FROM u WHERE profile_picture <> '0'
    UNION ALL SELECT user_id, profile_picture_sizes, true FROM u
    UNION ALL SELECT user_id, cover_photo, false FROM u
    UNION ALL SELECT user_id, cover_photo_sizes, true FROM u
    UNION ALL SELECT owner_id, cover_art, false FROM tracks WHERE is_current AND NOT is_delete
    UNION ALL SELECT owner_id, cover_art_sizes, true FROM tracks WHERE is_current AND NOT is_delete
    UNION ALL SELECT owner_id, metadata_multihash, false FROM tracks WHERE is_current AND NOT is_delete
    UNION ALL SELECT owner_id, download ->> 'cid', false FROM tracks WHERE is_current AND NOT is_delete
    UNION ALL SELECT owner_id, s ->> 'multihash', false FROM tracks, jsonb_array_elements(track_segments) s
        WHERE is_current AND NOT is_delete
)
SELECT c.user_id, c.cid, c.image,
       ARRAY(SELECT DISTINCT x FROM unnest(ARRAY[u.primary_id, u.secondary_ids[1], u.secondary_ids[2]]) x WHERE x IS NOT NULL)
FROM c JOIN u USING (user_id)
WHERE c.cid IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (dbCID, error) {
		var c dbCID
		err := r.Scan(&c.user, &c.cid, &c.image, &c.nodes)
		return c, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type cidKey struct {
	sp    int64
	cid   string
	image bool
}

// askCIDs asks every reachable node about the CIDs of its users on the route netmon uses, in
// batches of 500 with three attempts; a node whose batch fails for good is not asked again. Only
// answered CIDs are in the map.
func askCIDs(rows []dbCID, endpoints map[int64]string, deregistered map[string]bool) map[cidKey]bool {
	perNode := map[cidKey][]string{} // cid "" : the node's list for a route
	seen := map[cidKey]bool{}
	for _, r := range rows {
		for _, sp := range r.nodes {
			k := cidKey{sp, r.cid, r.image}
			if !seen[k] {
				seen[k] = true
				perNode[cidKey{sp, "", r.image}] = append(perNode[cidKey{sp, "", r.image}], r.cid)
			}
		}
	}
	out := map[cidKey]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	client := &http.Client{Timeout: time.Second}
	for list, cids := range perNode {
		endpoint := endpoints[list.sp]
		if endpoint == "" || deregistered[endpoint] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := "/batch_cids_exist"
			if list.image {
				path = "/batch_image_cids_exist"
			}
			for start := 0; start < len(cids); start += 500 {
				got := askExist(client, endpoint+path, cids[start:min(start+500, len(cids))])
				if got == nil {
					return
				}
				mu.Lock()
				for c, e := range got {
					out[cidKey{list.sp, c, list.image}] = e
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

func askExist(client *http.Client, url string, cids []string) map[string]bool {
	body, _ := json.Marshal(map[string]any{"cids": cids})
	for attempt := 0; attempt < 3; attempt++ {
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			continue
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20+1))
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || len(raw) > 8<<20 {
			continue
		}
		var ans struct {
			Data struct {
				CIDs []struct {
					CID    string `json:"cid"`
					Exists bool   `json:"exists"`
				} `json:"cids"`
			} `json:"data"`
		}
		if json.Unmarshal(raw, &ans) != nil {
			continue
		}
		got := map[string]bool{}
		for _, e := range ans.Data.CIDs {
			got[e.CID] = e.Exists
		}
		return got
	}
	return nil
}

// sampled keeps the rows of the mode's sample.
func sampled(rows []dbCID, mode string, size int64) ([]dbCID, float64) {
	if mode != CIDChecksSample || size >= int64(len(rows)) {
		return rows, 1
	}
	rate := float64(size) / float64(len(rows))
	threshold := uint64(math.Floor(rate * (1 << 32)))
	var out []dbCID
	for _, r := range rows {
		if InSample(r.cid, threshold) {
			out = append(out, r)
		}
	}
	return out, rate
}

// state is what node sp said of a row: 1 held, 0 absent, -2 no answer.
func state(answers map[cidKey]bool, sp int64, r dbCID) int {
	e, ok := answers[cidKey{sp, r.cid, r.image}]
	switch {
	case !ok:
		return -2
	case e:
		return 1
	}
	return 0
}

func held(answers map[cidKey]bool, r dbCID) int {
	k := 0
	for _, sp := range r.nodes {
		if state(answers, sp, r) == 1 {
			k++
		}
	}
	return k
}

// cidMetrics applies the CID metric definitions to the rows and answers (network-wide series).
func cidMetrics(rows []dbCID, answers map[cidKey]bool, mode string, size int64) CIDTruth {
	checked, rate := sampled(rows, mode, size)
	t := CIDTruth{Mode: mode, SnapshotCIDs: int64(len(rows)), CheckedCIDs: int64(len(checked)), SampleRatio: rate}
	holdsAll := map[int64]map[int64]bool{}
	for _, r := range checked {
		t.ByReplicationFactor[held(answers, r)]++
		if holdsAll[r.user] == nil {
			holdsAll[r.user] = map[int64]bool{}
			for _, sp := range r.nodes {
				holdsAll[r.user][sp] = true
			}
		}
		for _, sp := range r.nodes {
			if state(answers, sp, r) != 1 {
				holdsAll[r.user][sp] = false
			}
		}
	}
	for _, m := range holdsAll {
		k := 0
		for _, all := range m {
			if all {
				k++
			}
		}
		t.UsersBySyncedNodes[k]++
	}
	if n, big := float64(t.CheckedCIDs), float64(t.SnapshotCIDs); n < big && n > 0 {
		t.MarginOfError = 1.96 * math.Sqrt(0.25/n) * math.Sqrt((big-n)/(big-1))
	}
	return t
}

// cidNode applies the per-node CID metric definitions.
func cidNode(rows []dbCID, answers map[cidKey]bool, mode string, size int64, sp int64, endpoint string) CIDNodeTruth {
	checked, _ := sampled(rows, mode, size)
	nt := CIDNodeTruth{SPID: sp, Endpoint: endpoint}
	for _, r := range checked {
		if !slices.Contains(r.nodes, sp) {
			continue
		}
		switch st := state(answers, sp, r); {
		case st == 1 && held(answers, r) >= 2:
			nt.ReplicatedAtLeastOnce++
		case st == 1:
			nt.NotReplicated++
		case st == 0:
			nt.Missing++
		default:
			nt.MissedChecks++
		}
	}
	return nt
}

// TestSampleHash holds the sampling hash to values PostgreSQL 15 gave for
// `SELECT hashtext(s)::bigint & 4294967295` on x86-64 (2026-12-06): every tail length from 0 to
// 11 bytes, a whole 12-byte word and more, and a CIDv0 and a CIDv1 string.
func TestSampleHash(t *testing.T) {
	for s, want := range map[string]uint32{
		"":              2817148525,
		"a":             1075015857,
		"Qm":            2642435594,
		"abc":           3509578647,
		"abcd":          3901032492,
		"abcde":         3849307716,
		"abcdefgh":      2334039091,
		"abcdefghi":     4202835807,
		"abcdefghijk":   2811163603,
		"abcdefghijkl":  2708880084,
		"abcdefghijklm": 405849808,
		"QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG":              1054849336,
		"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku": 1505456408,
	} {
		if got := SampleHash(s); got != want {
			t.Errorf("SampleHash(%q) = %d, want %d", s, got, want)
		}
	}
}
