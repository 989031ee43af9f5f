package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/store"
	"github.com/audius-netmon/netmon/internal/store/storetest"
	"github.com/audius-netmon/netmon/internal/testenv"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

const (
	present = netmonv1.CIDState_CID_STATE_PRESENT
	absent  = netmonv1.CIDState_CID_STATE_ABSENT
	none    = netmonv1.CIDState_CID_STATE_NOT_ANSWERED
	plain   = netmonv1.CIDRoute_CID_ROUTE_CIDS
	images  = netmonv1.CIDRoute_CID_ROUTE_IMAGES
)

func TestCIDStatusAndMetrics(t *testing.T) {
	st, url := openStore(t)
	ctx := context.Background()
	storetest.LoadCIDRun(t, st, 1)

	// Writing every batch and result again changes nothing.
	if wrote, err := st.SaveCIDBatch(ctx, &netmonv1.CIDBatch{RunId: 1, Batch: 0, Cids: []*netmonv1.CID{{UserId: 9, Cid: "Qz"}}}); err != nil || wrote {
		t.Fatalf("second SaveCIDBatch: wrote=%v err=%v", wrote, err)
	}
	if wrote, err := st.SaveCIDResult(ctx, &netmonv1.CIDResult{RunId: 1, SpId: 1, Route: plain, Batch: 0,
		Cids: []string{"Qa"}, States: []netmonv1.CIDState{absent}}); err != nil || wrote {
		t.Fatalf("second SaveCIDResult: wrote=%v err=%v", wrote, err)
	}
	if _, err := st.SaveCIDResult(ctx, &netmonv1.CIDResult{RunId: 1, SpId: 1, Batch: 9, Cids: []string{"Qa"}}); err == nil {
		t.Fatal("a result with more CIDs than states was accepted")
	}

	samples, err := st.Compute(ctx, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range samples {
		got[s.Key()] = s.Value
	}
	node := func(name string, sp string) string {
		return name + `{endpoint="http://cn` + sp + `",sp_id="` + sp + `"}`
	}
	want := map[string]float64{
		`audius_nm_snapshot_cids{}`:    50,
		`audius_nm_checked_cids{}`:     5,
		`audius_nm_cid_sample_ratio{}`: 0.1,
		// Qa on 3 nodes; Qb on 1; Qd on 1 (node 2; node 3 did not answer); Qc and Qe (no replica
		// set) on none.
		`audius_nm_cids_by_replication_factor{replicas="0"}`: 2,
		`audius_nm_cids_by_replication_factor{replicas="1"}`: 2,
		`audius_nm_cids_by_replication_factor{replicas="2"}`: 0,
		`audius_nm_cids_by_replication_factor{replicas="3"}`: 1,
		// User 1: no node holds Qa, Qb and Qc; user 2: node 2 holds Qd, node 3 did not answer; user 3: none.
		`audius_nm_users_by_cid_synced_nodes{nodes="0"}`:                                            2,
		`audius_nm_users_by_cid_synced_nodes{nodes="1"}`:                                            1,
		`audius_nm_users_by_cid_synced_nodes{nodes="2"}`:                                            0,
		`audius_nm_users_by_cid_synced_nodes{nodes="3"}`:                                            0,
		node("audius_nm_cids_replicated_at_least_once", "1"):                                        1, // Qa
		node("audius_nm_cids_not_replicated", "1"):                                                  1, // Qb
		node("audius_nm_cids_missing", "1"):                                                         1, // Qc
		node("audius_nm_missed_cid_checks", "1"):                                                    0,
		node("audius_nm_cids_replicated_at_least_once", "2"):                                        1, // Qa; Qd is held by node 2 only
		node("audius_nm_cids_not_replicated", "2"):                                                  1, // Qd
		node("audius_nm_cids_missing", "2"):                                                         2, // Qb, Qc
		node("audius_nm_missed_cid_checks", "2"):                                                    0,
		node("audius_nm_cids_replicated_at_least_once", "3"):                                        1, // Qa
		node("audius_nm_cids_not_replicated", "3"):                                                  0,
		node("audius_nm_cids_missing", "3"):                                                         0,
		node("audius_nm_missed_cid_checks", "3"):                                                    3, // Qb timed out, Qc left out, Qd never arrived
		`audius_nm_fetch_items{endpoint="http://cn3",kind="image_cid",outcome="timeout",sp_id="3"}`: 1,
		`audius_nm_fetch_items{endpoint="http://cn3",kind="cid",outcome="ok",sp_id="3"}`:            1,
		`audius_nm_fetch_items{endpoint="http://cn1",kind="clock",outcome="ok",sp_id="1"}`:          0,
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: no series", k)
		} else if g != v {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	// Worst-case 95% margin for 5 of 50, with the finite population correction.
	if moe := got[`audius_nm_cid_sample_margin_of_error{}`]; moe < 0.41 || moe > 0.42 {
		t.Errorf("margin of error = %v, want 1.96*sqrt(0.25/5)*sqrt(45/49) = 0.4200", moe)
	}
	// The original's CID tables, as views: the snapshot, and the CIDs a replica confirmed.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var fromDiscovery, fromContent int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM network_monitoring_cids_from_discovery WHERE run_id = 1),
		(SELECT count(*) FROM network_monitoring_cids_from_content WHERE run_id = 1)`).Scan(&fromDiscovery, &fromContent); err != nil {
		t.Fatal(err)
	}
	if fromDiscovery != 5 || fromContent != 5 { // Qa on nodes 1, 2 and 3, Qb on 1, Qd on 2
		t.Errorf("views: %d CIDs from discovery, %d from content; want 5 and 5", fromDiscovery, fromContent)
	}
}

func TestCIDMetricsAbsentWhenChecksOff(t *testing.T) {
	st, _ := openStore(t)
	loadRun(t, st, 1) // planned without CID checks
	samples, err := st.Compute(context.Background(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		if slices.Contains([]string{"audius_nm_snapshot_cids", "audius_nm_checked_cids", "audius_nm_cids_by_replication_factor",
			"audius_nm_cids_missing", "audius_nm_users_by_cid_synced_nodes"}, s.Name) || s.Labels["kind"] == "cid" {
			t.Errorf("run without CID checks has %s", s.Key())
		}
	}
}

// TestDiscoveryCIDs reads the CID snapshot from a hand-written discovery database: spec §4's ten
// sources, JSON values without quotes, deactivated users and deleted tracks left out, and the
// sampling rule (the CID's simnet.SampleHash below the threshold).
func TestDiscoveryCIDs(t *testing.T) {
	ctx := context.Background()
	url, _ := discoveryDB(t, `
INSERT INTO users VALUES
    (1, true, 'a', '0xa', '', 1, '{2,3}', 'Qum', '0', 'Qupd', 'Qucp', NULL, false),
    (1, false, 'o', '0xa', '', 1, '{2,3}', 'Qold', NULL, NULL, NULL, NULL, false),
    (2, true, 'b', '0xb', '', 2, '{1}', 'Qgone', 'Qgonepp', NULL, NULL, NULL, true),
    (3, true, 'c', '0xc', NULL, NULL, NULL, '', 'Q3pp', NULL, NULL, 'Q3cps', false);
INSERT INTO tracks VALUES
    (10, true, 't', 1, 'Qca', NULL, 'Qtm', '{"cid": "Qdl", "is_downloadable": true}', '[{"multihash": "Qs0", "duration": 6}, {"duration": 3}, {"multihash": ""}, {"multihash": null}, {"multihash": "Qs1"}]', false),
    (11, true, 't', 1, NULL, 'Qcas', 'Qtm2', '{"cid": null}', '[]', false),
    (12, true, 't', 1, NULL, NULL, 'Qdeleted', NULL, '[{"multihash": "Qsdel"}]', true),
    (10, false, 'o', 1, NULL, NULL, 'Qoldtrack', NULL, '[]', false),
    (13, true, 't', 2, NULL, NULL, 'Qdeactivated', NULL, '[{"multihash": "Qsdeact"}]', false),
    (14, true, 't', 3, NULL, NULL, NULL, 'null', '{"not": "an array"}', false);`)
	disc, err := store.OpenDiscovery(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer disc.Close()
	type row struct {
		User int64
		Type string
		CID  string
		Set  [3]int64
	}
	read := func(threshold int64) (rows []row, count int64) {
		err := disc.Read(ctx, func(s *store.Snapshot) error {
			var err error
			if count, err = s.CIDCount(ctx); err != nil {
				return err
			}
			return s.CIDs(ctx, threshold, func(c store.DiscoveryCID) error {
				r := row{User: c.UserID, Type: store.CIDTypeName(c.Type), CID: c.CID}
				for k, sp := range []*int64{c.Primary, c.Secondary1, c.Secondary2} {
					if sp != nil {
						r.Set[k] = *sp
					}
				}
				rows = append(rows, r)
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return rows, count
	}
	rows, count := read(store.SampleAll)
	set1, none := [3]int64{1, 2, 3}, [3]int64{}
	want := []row{
		{1, "metadata", "Qum", set1}, {1, "image", "Qucp", set1}, {1, "dir", "Qupd", set1},
		{1, "image", "Qca", set1}, {1, "metadata", "Qtm", set1}, {1, "track", "Qdl", set1},
		{1, "track", "Qs0", set1}, {1, "track", "Qs1", set1},
		{1, "dir", "Qcas", set1}, {1, "metadata", "Qtm2", set1},
		{3, "image", "Q3pp", none}, {3, "dir", "Q3cps", none},
	}
	sortRows := func(r []row) {
		slices.SortFunc(r, func(a, b row) int {
			if a.User != b.User {
				return int(a.User - b.User)
			}
			return map[bool]int{true: -1, false: 1}[a.CID < b.CID]
		})
	}
	sortRows(want)
	got := slices.Clone(rows)
	sortRows(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("CID snapshot (-want +got):\n%s", diff)
	}
	if count != int64(len(want)) {
		t.Errorf("CIDCount = %d, want %d", count, len(want))
	}
	for i := 1; i < len(rows); i++ {
		if rows[i].User < rows[i-1].User {
			t.Fatalf("rows not in user order: %v", rows)
		}
	}

	// Sampling keeps exactly the CIDs whose hash is below the threshold, as an unsigned number
	// (0xf0000000 keeps hashes that are negative as a signed int4, 1<<31 leaves them out).
	for _, threshold := range []int64{1 << 31, 0xf0000000} {
		sampled, _ := read(threshold)
		var wantSample []string
		for _, r := range want {
			if int64(simnet.SampleHash(r.CID)) < threshold {
				wantSample = append(wantSample, r.CID)
			}
		}
		var gotSample []string
		for _, r := range sampled {
			gotSample = append(gotSample, r.CID)
		}
		slices.Sort(wantSample)
		slices.Sort(gotSample)
		if diff := cmp.Diff(wantSample, gotSample); diff != "" || len(gotSample) == 0 ||
			(threshold == 1<<31 && len(gotSample) == len(want)) {
			t.Errorf("sample at threshold %#x (-want +got):\n%s", threshold, diff)
		}
	}
}

// TestSnapshotFork: a fork reads the snapshot it was forked from, not the database as it is
// when the fork starts, and runs its statements while the snapshot's own are open.
func TestSnapshotFork(t *testing.T) {
	ctx := context.Background()
	url, conn := discoveryDB(t, `INSERT INTO users (user_id, is_current, metadata_multihash) VALUES (1, true, 'Qa'), (2, true, 'Qb');`)
	disc, err := store.OpenDiscovery(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer disc.Close()
	var before, inFork int64
	var forked []string
	err = disc.Read(ctx, func(s *store.Snapshot) error {
		var err error
		if before, err = s.CIDCount(ctx); err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, `INSERT INTO users (user_id, is_current, metadata_multihash) VALUES (3, true, 'Qc')`); err != nil {
			return err
		}
		fork, end, err := s.Fork(ctx)
		if err != nil {
			return err
		}
		defer end()
		if inFork, err = fork.CIDCount(ctx); err != nil {
			return err
		}
		// The snapshot's users stream is open while the fork reads its CIDs.
		return s.Users(ctx, func(store.DiscoveryUser) error {
			if forked != nil {
				return nil
			}
			forked = []string{}
			return fork.CIDs(ctx, store.SampleAll, func(c store.DiscoveryCID) error {
				forked = append(forked, c.CID)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if before != 2 || inFork != 2 || !slices.Equal(forked, []string{"Qa", "Qb"}) {
		t.Errorf("snapshot counted %d CIDs, its fork %d and read %v; want 2, 2 and [Qa Qb] (user 3 came after the snapshot)",
			before, inFork, forked)
	}
	err = disc.Read(ctx, func(s *store.Snapshot) error {
		n, err := s.CIDCount(ctx)
		if err == nil && n != 3 {
			t.Errorf("a new snapshot counts %d CIDs, want 3", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// discoveryDB is a new database with discovery's users and tracks tables (the columns netmon
// reads) and rows, and a connection to it.
func discoveryDB(t *testing.T, rows string) (url string, conn *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	url = testenv.Database(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	if _, err := conn.Exec(ctx, `
CREATE TABLE users (user_id int, is_current bool, txhash text, wallet text, creator_node_endpoint text,
    primary_id int, secondary_ids int[], metadata_multihash text, profile_picture text,
    profile_picture_sizes text, cover_photo text, cover_photo_sizes text, is_deactivated bool NOT NULL DEFAULT false);
CREATE TABLE tracks (track_id int, is_current bool, txhash text, owner_id int NOT NULL, cover_art text,
    cover_art_sizes text, metadata_multihash text, download jsonb, track_segments jsonb NOT NULL, is_delete bool);`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, rows); err != nil {
		t.Fatal(err)
	}
	return url, conn
}

// The CID status rows themselves, worked by hand for the cases the build folds together: a node
// named twice in a replica set, a replica set with a hole, none at all, an owner missing from the
// users, a node never asked, and a node asked the same CID twice on a route (the lowest batch's
// answer wins).
func TestCIDStatusRows(t *testing.T) {
	st, url := openStore(t)
	ctx := context.Background()
	const run = 1
	startClocksRun(t, st, run)
	if _, err := st.SaveUserBatch(ctx, &netmonv1.UserBatch{RunId: run, Users: []*netmonv1.User{
		{UserId: 1, Wallet: "0xa", PrimarySpId: sp(1), Secondary1SpId: sp(1), Secondary2SpId: sp(2)},
		{UserId: 2, Wallet: "0xb", Secondary1SpId: sp(3)},
		{UserId: 3, Wallet: "0xc"},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveCIDBatch(ctx, &netmonv1.CIDBatch{RunId: run, Batch: 0, Cids: []*netmonv1.CID{
		{UserId: 1, Type: netmonv1.CIDType_CID_TYPE_METADATA, Cid: "Qa", Route: plain},
		{UserId: 2, Type: netmonv1.CIDType_CID_TYPE_TRACK, Cid: "Qb", Route: plain},
		{UserId: 3, Type: netmonv1.CIDType_CID_TYPE_TRACK, Cid: "Qc", Route: plain},
		{UserId: 4, Type: netmonv1.CIDType_CID_TYPE_TRACK, Cid: "Qd", Route: plain},
	}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*netmonv1.CIDResult{
		{RunId: run, SpId: 1, Route: plain, Batch: 1, Outcome: netmonv1.Outcome_OUTCOME_OK,
			Cids: []string{"Qa"}, States: []netmonv1.CIDState{absent}},
		{RunId: run, SpId: 1, Route: plain, Batch: 0, Outcome: netmonv1.Outcome_OUTCOME_OK,
			Cids: []string{"Qa"}, States: []netmonv1.CIDState{present}},
		{RunId: run, SpId: 3, Route: plain, Batch: 0, Outcome: netmonv1.Outcome_OUTCOME_OK,
			Cids: []string{"Qb"}, States: []netmonv1.CIDState{present}},
	} {
		if _, err := st.SaveCIDResult(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SaveManifest(ctx, &netmonv1.Manifest{RunId: run, UserBatches: 1, Users: 3, ContentNodes: 3,
		WorkItems: 4, CidChecks: "all", CidBatches: 1, CidWorkItems: 4, SnapshotCids: 4, SampledCids: 4}); err != nil {
		t.Fatal(err)
	}
	if loaded, err := st.ExpireRun(ctx, run); err != nil || !loaded {
		t.Fatalf("ExpireRun: loaded = %v (%v)", loaded, err)
	}

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT idx, user_id, coalesce(sp_id, 0), coalesce(state, 9), replicas
		FROM cid_status WHERE run_id = $1 ORDER BY idx, sp_id`, run)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([5]int64, error) {
		var v [5]int64
		err := r.Scan(&v[0], &v[1], &v[2], &v[3], &v[4])
		return v, err
	})
	if err != nil {
		t.Fatal(err)
	}
	// idx, user, node (0: none), state (9: none), replicas
	want := [][5]int64{
		{0, 1, 1, 1, 1},  // Qa on node 1, named twice: one row, batch 0's answer (present), not batch 1's
		{0, 1, 2, -2, 1}, // Qa on node 2, never asked
		{1, 2, 3, 1, 1},  // Qb: user 2's only node is its first secondary
		{2, 3, 0, 9, 0},  // Qc: user 3 has no replica set
		{3, 4, 0, 9, 0},  // Qd: its owner is not among the run's users
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cid_status rows (-want +got):\n%s", diff)
	}
}
