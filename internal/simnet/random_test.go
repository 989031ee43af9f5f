package simnet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/testenv"
)

// randomScenario is a small network with a lot of oddities and one node per fault; which SP gets
// which fault depends on the seed.
func randomScenario(seed int64) Scenario {
	sh := DefaultShares()
	sh.NoReplicaSet, sh.ShortSecondaries, sh.LongSecondaries = 0.03, 0.03, 0.02
	sh.OnUnreachable, sh.SameNodeTwice, sh.History = 0.05, 0.03, 0.2
	sh.MixedCase, sh.DuplicateWallet, sh.NoWallet = 0.05, 0.02, 0.02
	sh.Stale, sh.Unknown = 0.3, 0.05
	faults := []NodeSpec{
		{NoEndpoint: true},
		{Deregistered: true},
		{Faults: Faults{Down: true}},
		{Faults: Faults{Hang: true}},
		{Faults: Faults{ReadOnly: true}},
		{Faults: Faults{Truncated: true}},
		{Faults: Faults{Malformed: true}},
		{Faults: Faults{Oversized: true, OversizedBytes: 10 << 20}},
		{Faults: Faults{FailFirst: 2, Reorder: true}},
		{Faults: Faults{Duplicate: true, Unrequested: true}},
		{Faults: Faults{RateLimit: &RateLimit{Requests: 4, Window: Duration(300 * time.Millisecond)}}},
		{Faults: Faults{Latency: &Latency{Median: Duration(3 * time.Millisecond), P99: Duration(20 * time.Millisecond)}}},
	}
	const nodes = 16
	sps := rand.New(rand.NewPCG(uint64(seed), 0)).Perm(nodes)
	s := Scenario{Seed: seed, NodeCount: nodes, UserCount: 4000, Shares: &sh}
	for k, f := range faults {
		f.SPID = int64(sps[k] + 1)
		s.Nodes = append(s.Nodes, f)
	}
	return s
}

func TestRandomScenariosTruthFromDatabaseAndHTTP(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			checkScenario(t, randomScenario(seed))
		})
	}
}

// checkScenario recomputes the truth from what a client can observe, the discovery rows read back
// and the nodes' HTTP answers, and compares it with Network.Truth.
func checkScenario(t *testing.T, s Scenario) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
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
	d := readDiscovery(t, ctx, url)
	d.checkOddities(t)
	rc := n.Rows()
	if rc.Users-rc.CurrentUsers != d.history || rc.CurrentUsers != int64(len(d.users)) || rc.CurrentTracks != d.tracks || rc.Segments != d.segments {
		t.Errorf("Rows() = %+v; the database has %d current users, %d history rows, %d tracks, %d segments", rc, len(d.users), d.history, d.tracks, d.segments)
	}

	deregistered := map[string]bool{}
	for _, ep := range nodes.Deregistered() {
		deregistered[ep] = true
	}
	clocks := fetchClocks(t, d, deregistered)
	got := d.metrics(clocks, deregistered, n.Foundation())
	want := n.Truth(nodes)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("truth from memory (-) differs from truth from the database and HTTP (+):\n%s", diff)
	}

	// Properties that hold for any network.
	var fully, partially, unsynced, primaries, missed int64
	for _, nt := range want.Nodes {
		fully += nt.FullyByPrimary
		partially += nt.PartiallyByPrimary
		unsynced += nt.UnsyncedByPrimary
		primaries += nt.PrimaryUsers
		missed += nt.MissedUsers
		if nt.AllUsers < nt.PrimaryUsers || nt.FullyByReplica+nt.PartiallyByReplica+nt.UnsyncedByReplica > nt.AllUsers {
			t.Errorf("node %d: inconsistent counts %+v", nt.SPID, nt)
		}
	}
	if fully != want.FullySynced || partially != want.PartiallySynced || unsynced != want.Unsynced {
		t.Errorf("by-primary sums %d/%d/%d, totals %d/%d/%d", fully, partially, unsynced, want.FullySynced, want.PartiallySynced, want.Unsynced)
	}
	if primaries != want.UserCount-d.noPrimaryID {
		t.Errorf("sum of primary_user_count %d, users with a primary_id %d", primaries, want.UserCount-d.noPrimaryID)
	}
	if missed == 0 || want.UnhealthyReplica == 0 || want.NoPrimary <= d.noPrimaryID || want.Unsynced == 0 || want.PartiallySynced == 0 {
		t.Errorf("scenario does not exercise the metrics: %+v", want)
	}
	// The unreachable nodes were never asked by a client that skips them; the others were.
	for _, sp := range n.SPIDs() {
		st := nodes.Stats(sp)
		ni := n.nodes[n.nodeIdx[int32(sp)]]
		switch {
		case ni.spec.NoEndpoint, ni.spec.Deregistered, ni.spec.Faults.Down:
			if st.Requests != 0 {
				t.Errorf("node %d was asked %d times", sp, st.Requests)
			}
		case st.ClockRequests == 0:
			t.Errorf("node %d was never asked", sp)
		}
	}
}

type dbUser struct {
	id      int32
	wallet  *string
	primary *int32
	secs    []int32
}

type discovery struct {
	nodes       []NodeTruth // sp_id and endpoint only
	users       []dbUser
	noPrimaryID int64
	history     int64 // users rows with is_current = false
	tracks      int64
	segments    int64
	nodeHistory int64
}

func readDiscovery(t *testing.T, ctx context.Context, url string) *discovery {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	d := &discovery{}
	rows, err := conn.Query(ctx, `SELECT cnode_sp_id, endpoint FROM ursm_content_nodes WHERE is_current ORDER BY cnode_sp_id`)
	if err != nil {
		t.Fatal(err)
	}
	d.nodes, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (NodeTruth, error) {
		var nt NodeTruth
		var ep *string
		err := r.Scan(&nt.SPID, &ep)
		if ep != nil {
			nt.Endpoint = *ep
		}
		return nt, err
	})
	if err != nil {
		t.Fatal(err)
	}
	rows, err = conn.Query(ctx, `SELECT user_id, wallet, primary_id, secondary_ids FROM users WHERE is_current ORDER BY user_id`)
	if err != nil {
		t.Fatal(err)
	}
	d.users, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (dbUser, error) {
		var u dbUser
		err := r.Scan(&u.id, &u.wallet, &u.primary, &u.secs)
		return u, err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range d.users {
		if u.primary == nil {
			d.noPrimaryID++
		}
	}
	err = conn.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM users WHERE NOT is_current),
		(SELECT count(*) FROM tracks WHERE is_current),
		(SELECT coalesce(sum(jsonb_array_length(track_segments)), 0) FROM tracks WHERE is_current),
		(SELECT count(*) FROM ursm_content_nodes WHERE NOT is_current)`).Scan(&d.history, &d.tracks, &d.segments, &d.nodeHistory)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkOddities makes sure the scenario contains what it is meant to test.
func (d *discovery) checkOddities(t *testing.T) {
	t.Helper()
	var mixed, null, empty, short, same int
	seen := map[string]int{}
	for _, u := range d.users {
		switch {
		case u.wallet == nil:
			null++
		case *u.wallet == "":
			empty++
		default:
			if *u.wallet != strings.ToLower(*u.wallet) {
				mixed++
			}
			seen[strings.ToLower(*u.wallet)]++
		}
		if u.primary != nil && len(u.secs) < 2 {
			short++
		}
		if u.primary != nil && len(u.secs) >= 2 && (*u.primary == u.secs[0] || *u.primary == u.secs[1] || u.secs[0] == u.secs[1]) {
			same++
		}
	}
	dups := 0
	for _, c := range seen {
		if c > 1 {
			dups++
		}
	}
	for what, c := range map[string]int{
		"mixed-case wallets": mixed, "NULL wallets": null, "empty wallets": empty, "short secondary_ids": short,
		"repeated SPs": same, "duplicate wallets": dups, "users without primary": int(d.noPrimaryID),
		"history rows": int(d.history), "tracks": int(d.tracks), "segments": int(d.segments),
		"content-node history rows": int(d.nodeHistory),
	} {
		if c == 0 {
			t.Errorf("scenario has no %s", what)
		}
	}
}

type slotKey struct {
	sp     int64
	wallet string
}

// fetchClocks asks every node that a client should ask for the lower-cased wallets of its users,
// as netmon would: batches of 1000, three attempts with a 3 s timeout, waiting out 429s, strict
// JSON, and a node whose batch fails for good gives -2 for all its wallets.
func fetchClocks(t *testing.T, d *discovery, deregistered map[string]bool) map[slotKey]int64 {
	t.Helper()
	perNode := map[int64][]string{}
	queued := map[slotKey]bool{}
	for _, u := range d.users {
		if u.wallet == nil || *u.wallet == "" {
			continue
		}
		w := strings.ToLower(*u.wallet)
		for _, sp := range slots(u) {
			if sp != nil && !queued[slotKey{int64(*sp), w}] {
				queued[slotKey{int64(*sp), w}] = true
				perNode[int64(*sp)] = append(perNode[int64(*sp)], w)
			}
		}
	}
	out := map[slotKey]int64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 3 * time.Second}
	for _, nt := range d.nodes {
		if nt.Endpoint == "" || deregistered[nt.Endpoint] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			wallets := perNode[nt.SPID]
			failed := false
			for start := 0; start < len(wallets); start += 1000 {
				batch := wallets[start:min(start+1000, len(wallets))]
				var got map[string]int64
				if !failed {
					got = askClocks(client, nt.Endpoint, batch)
					failed = got == nil
				}
				mu.Lock()
				for _, w := range batch {
					c, ok := got[w]
					if !ok {
						c = -2
					}
					out[slotKey{nt.SPID, w}] = c
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// askClocks returns the clocks of the requested wallets, or nil when every attempt failed.
func askClocks(client *http.Client, endpoint string, wallets []string) map[string]int64 {
	body, _ := json.Marshal(map[string]any{"walletPublicKeys": wallets})
	for attempt, waits := 0, 0; attempt < 3; {
		resp, err := client.Post(endpoint+"/users/batch_clock_status", "application/json", bytes.NewReader(body))
		if err != nil {
			attempt++
			continue
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20+1))
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests && waits < 100 {
			waits++
			time.Sleep(50 * time.Millisecond)
			continue
		}
		attempt++
		if err != nil || resp.StatusCode != http.StatusOK || len(raw) > 8<<20 {
			continue
		}
		var ans clockAnswer
		if json.Unmarshal(raw, &ans) != nil {
			continue
		}
		requested := map[string]bool{}
		for _, w := range wallets {
			requested[w] = true
		}
		got := map[string]int64{}
		for _, e := range ans.Data.Users {
			if requested[e.Wallet] {
				got[e.Wallet] = e.Clock
			}
		}
		return got
	}
	return nil
}

func slots(u dbUser) [3]*int32 {
	s := [3]*int32{u.primary}
	for k := 0; k < 2 && k < len(u.secs); k++ {
		s[k+1] = &u.secs[k]
	}
	return s
}

// metrics applies netmon's metric definitions to the rows and the fetched clocks.
func (d *discovery) metrics(clocks map[slotKey]int64, deregistered map[string]bool, foundation []int64) Truth {
	const null = int64(-100)
	tr := Truth{Foundation: foundation, Deregistered: []string{}, UserCount: int64(len(d.users)),
		SecondaryLag: map[string]int64{}}
	for _, b := range LagBuckets {
		tr.SecondaryLag[b] = 0
	}
	endpoint := map[int64]string{}
	byNode := map[int64]*NodeTruth{}
	for _, nt := range d.nodes {
		endpoint[nt.SPID] = nt.Endpoint
		if deregistered[nt.Endpoint] {
			tr.Deregistered = append(tr.Deregistered, nt.Endpoint)
		}
		c := nt
		tr.Nodes = append(tr.Nodes, c)
	}
	for i := range tr.Nodes {
		byNode[tr.Nodes[i].SPID] = &tr.Nodes[i]
	}
	for _, u := range d.users {
		sl := slots(u)
		var v [3]int64
		for k, sp := range sl {
			switch {
			case sp == nil || u.wallet == nil || *u.wallet == "":
				v[k] = null
			case endpoint[int64(*sp)] == "" || deregistered[endpoint[int64(*sp)]]:
				v[k] = -2
			default:
				v[k] = clocks[slotKey{int64(*sp), strings.ToLower(*u.wallet)}]
			}
		}
		p, s1, s2 := v[0], v[1], v[2]
		known := p != null && s1 != null && s2 != null && p != -2
		fully := known && p == s1 && s1 == s2
		partially := known && (p == s1 || p == s2) && s1 != s2
		unsynced := known && p != s1 && p != s2
		count := func(b bool) int64 {
			if b {
				return 1
			}
			return 0
		}
		tr.FullySynced += count(fully)
		tr.PartiallySynced += count(partially)
		tr.Unsynced += count(unsynced)
		tr.NoPrimary += count(p == null)
		tr.UnhealthyReplica += count(p == -2 || s1 == -2 || s2 == -2)
		if p >= 0 {
			for _, s := range []int64{s1, s2} {
				if s != null {
					tr.SecondaryLag[LagBucket(p, s)]++
				}
			}
		}
		if sl[0] != nil && sl[1] != nil && sl[2] != nil {
			in := 0
			for _, sp := range sl {
				if slices.Contains(foundation, int64(*sp)) {
					in++
				}
			}
			tr.AllFoundationReplicaSet += count(in == 3)
			tr.NoFoundationReplicaSet += count(in == 0)
		}
		distinct := map[int64]bool{}
		for k, sp := range sl {
			if sp == nil {
				continue
			}
			nt := byNode[int64(*sp)]
			nt.MissedUsers += count(v[k] == -2)
			nt.UnknownWalletSlots += count(v[k] == -1)
			distinct[int64(*sp)] = true
		}
		for sp := range distinct {
			nt := byNode[sp]
			nt.AllUsers++
			nt.FullyByReplica += count(fully)
			nt.PartiallyByReplica += count(partially)
			nt.UnsyncedByReplica += count(unsynced)
		}
		if sl[0] != nil {
			nt := byNode[int64(*sl[0])]
			nt.PrimaryUsers++
			nt.FullyByPrimary += count(fully)
			nt.PartiallyByPrimary += count(partially)
			nt.UnsyncedByPrimary += count(unsynced)
		}
	}
	return tr
}
