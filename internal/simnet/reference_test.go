package simnet

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/testenv"
)

// The numbers below are worked by hand from the table of spec §14, not taken from the code.
func TestReferenceTruthMatchesSpec14(t *testing.T) {
	n, err := Build(Reference())
	if err != nil {
		t.Fatal(err)
	}
	got := n.Truth(nil)
	want := Truth{
		Foundation:              []int64{1, 2, 3},
		Deregistered:            []string{},
		UserCount:               6,
		FullySynced:             2, // users 1 (5,5,5) and 5 (-1,-1,-1)
		PartiallySynced:         2, // users 2 (7,7,3) and 6 (3,3,-2)
		Unsynced:                1, // user 3 (4,1,2)
		NoPrimary:               1, // user 4
		UnhealthyReplica:        1, // user 6
		AllFoundationReplicaSet: 4, // users 1, 2, 3, 5
		NoFoundationReplicaSet:  0,
		// Secondaries of users whose primary holds them: 1 (5,5,5), 2 (7,7,3), 3 (4,1,2), 6 (3,3,-2).
		SecondaryLag: map[string]int64{
			"0":         4, // user 1 twice, user 2's first, user 6's first
			"2-10":      3, // user 2's second (7-3), user 3's two (4-1, 4-2)
			"no_answer": 1, // user 6's second (node 4 has no endpoint)
			"1":         0, "11-100": 0, "101-1000": 0, "1001+": 0, "ahead": 0, "not_held": 0,
		},
		Nodes: []NodeTruth{
			{SPID: 1, Endpoint: "http://cn1", PrimaryUsers: 3, AllUsers: 5,
				FullyByPrimary: 1, PartiallyByPrimary: 2, UnsyncedByPrimary: 0, // users 1 | 2, 6
				FullyByReplica: 2, PartiallyByReplica: 2, UnsyncedByReplica: 1, // 1, 5 | 2, 6 | 3
				UnknownWalletSlots: 1}, // user 5 (-1 everywhere)
			{SPID: 2, Endpoint: "http://cn2", PrimaryUsers: 1, AllUsers: 5,
				UnsyncedByPrimary: 1,                                              // user 3
				FullyByReplica:    2, PartiallyByReplica: 2, UnsyncedByReplica: 1, // 1, 5 | 2, 6 | 3
				UnknownWalletSlots: 1}, // user 5
			{SPID: 3, Endpoint: "http://cn3", PrimaryUsers: 1, AllUsers: 4,
				FullyByPrimary: 1,                                              // user 5
				FullyByReplica: 2, PartiallyByReplica: 1, UnsyncedByReplica: 1, // 1, 5 | 2 | 3
				UnknownWalletSlots: 1}, // user 5
			{SPID: 4, Endpoint: "", AllUsers: 1, PartiallyByReplica: 1, MissedUsers: 1}, // user 6
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("truth differs from spec §14 (-want +got):\n%s", diff)
	}

	samples := got.Samples()
	if len(samples) != 8+9+10*4 {
		t.Fatalf("got %d samples, want %d", len(samples), 8+9+10*4)
	}
	find := func(name, sp string) float64 {
		t.Helper()
		for _, s := range samples {
			if s.Name == name && s.Labels["sp_id"] == sp {
				return s.Value
			}
		}
		t.Fatalf("no sample %s{sp_id=%q}", name, sp)
		return 0
	}
	if v := find("audius_nm_missed_users_count", "4"); v != 1 {
		t.Errorf("missed_users{sp_id=4} = %v, want 1", v)
	}
	if v := find("audius_nm_all_user_count", "1"); v != 5 {
		t.Errorf("all_user_count{sp_id=1} = %v, want 5", v)
	}
	if v := find("audius_nm_user_count", ""); v != 6 {
		t.Errorf("user_count = %v, want 6", v)
	}
	for i := 1; i < len(samples); i++ {
		if samples[i-1].Name > samples[i].Name {
			t.Fatalf("samples not sorted by name at %d", i)
		}
	}
	if _, err := json.Marshal(got); err != nil {
		t.Fatalf("truth is not JSON-encodable: %v", err)
	}
}

func TestReferenceNetworkOverHTTPAndPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := Build(Reference())
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
	cn1, cn2, cn3 := nodes.Endpoint(1), nodes.Endpoint(2), nodes.Endpoint(3)
	if cn1 == "" || cn2 == "" || cn3 == "" || nodes.Endpoint(4) != "" {
		t.Fatalf("endpoints: %q %q %q %q", cn1, cn2, cn3, nodes.Endpoint(4))
	}

	// The discovery rows, read back.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	type userRow struct {
		ID       int32
		Wallet   *string
		CNE      *string
		Primary  *int32
		Secs     []int32
		Metadata *string
	}
	rows, err := conn.Query(ctx, `SELECT user_id, wallet, creator_node_endpoint, primary_id, secondary_ids, metadata_multihash
		FROM users WHERE is_current ORDER BY user_id`)
	if err != nil {
		t.Fatal(err)
	}
	gotUsers, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (userRow, error) {
		var u userRow
		err := r.Scan(&u.ID, &u.Wallet, &u.CNE, &u.Primary, &u.Secs, &u.Metadata)
		return u, err
	})
	if err != nil {
		t.Fatal(err)
	}
	s := func(v string) *string { return &v }
	i := func(v int32) *int32 { return &v }
	all := cn1 + "," + cn2 + "," + cn3
	wantUsers := []userRow{
		{1, s("0xa"), s(all), i(1), []int32{2, 3}, nil},
		{2, s("0xb"), s(all), i(1), []int32{2, 3}, nil},
		{3, s("0xc"), s(cn2 + "," + cn1 + "," + cn3), i(2), []int32{1, 3}, nil},
		{4, s("0xd"), nil, nil, nil, nil},
		{5, s("0xe"), s(cn3 + "," + cn1 + "," + cn2), i(3), []int32{1, 2}, nil},
		{6, s("0xf"), s(cn1 + "," + cn2 + ",None"), i(1), []int32{2, 4}, nil},
	}
	if diff := cmp.Diff(wantUsers, gotUsers); diff != "" {
		t.Errorf("users rows (-want +got):\n%s", diff)
	}
	var nodeRows [][2]string
	rows, err = conn.Query(ctx, `SELECT cnode_sp_id::text, endpoint FROM ursm_content_nodes WHERE is_current ORDER BY cnode_sp_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r [2]string
		if err := rows.Scan(&r[0], &r[1]); err != nil {
			t.Fatal(err)
		}
		nodeRows = append(nodeRows, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][2]string{{"1", cn1}, {"2", cn2}, {"3", cn3}, {"4", ""}}, nodeRows); diff != "" {
		t.Errorf("ursm_content_nodes (-want +got):\n%s", diff)
	}
	var block int
	if err := conn.QueryRow(ctx, `SELECT number FROM blocks WHERE is_current`).Scan(&block); err != nil || block != 1000 {
		t.Errorf("current block = %d, %v; want 1000", block, err)
	}

	// The nodes' answers, over real HTTP. Clocks from the §14 table.
	type entry struct {
		Wallet string `json:"walletPublicKey"`
		Clock  int64  `json:"clock"`
	}
	ask := func(endpoint string, wallets ...string) []entry {
		t.Helper()
		status, body := post(t, endpoint+"/users/batch_clock_status", map[string]any{"walletPublicKeys": wallets})
		if status != http.StatusOK {
			t.Fatalf("%s: status %d: %s", endpoint, status, body)
		}
		var resp struct {
			Data struct {
				Users []entry `json:"users"`
			} `json:"data"`
			Signer    string `json:"signer"`
			Timestamp string `json:"timestamp"`
			Signature string `json:"signature"`
		}
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatalf("%s: %v: %s", endpoint, err, body)
		}
		if resp.Signer == "" || resp.Timestamp == "" || len(resp.Signature) != 132 {
			t.Errorf("%s: envelope signer=%q timestamp=%q signature=%q", endpoint, resp.Signer, resp.Timestamp, resp.Signature)
		}
		return resp.Data.Users
	}
	// cn1 is user 1's, 2's and 6's primary and user 3's and 5's secondary; 0xA is 0xa in the wrong
	// case (unknown: the match is exact), 0xd has no replica set, 0xa is asked twice.
	got := ask(cn1, "0xa", "0xb", "0xc", "0xA", "0xd", "0xe", "0xf", "0xa")
	want := []entry{{"0xa", 5}, {"0xb", 7}, {"0xc", 1}, {"0xA", -1}, {"0xd", -1}, {"0xe", -1}, {"0xf", 3}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cn1 (-want +got):\n%s", diff)
	}
	got = ask(cn2, "0xf", "0xc", "0xb", "0xa")
	want = []entry{{"0xf", 3}, {"0xc", 4}, {"0xb", 7}, {"0xa", 5}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cn2 (-want +got):\n%s", diff)
	}
	got = ask(cn3, "0xa", "0xb", "0xc", "0xe", "0xf")
	want = []entry{{"0xa", 5}, {"0xb", 3}, {"0xc", 2}, {"0xe", -1}, {"0xf", -1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cn3 (-want +got):\n%s", diff)
	}

	tr := n.Truth(nodes)
	if tr.Nodes[0].Endpoint != cn1 || tr.Nodes[3].Endpoint != "" {
		t.Errorf("truth endpoints %q, %q", tr.Nodes[0].Endpoint, tr.Nodes[3].Endpoint)
	}
}

func post(t *testing.T, url string, body any) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: read: %v", url, err)
	}
	return resp.StatusCode, out
}
