package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/store"
)

// goldenScenario is spec §14's network and users (nodes 1–4, node 4 without endpoint) grown into
// a generated network with tracks and CIDs: node 5 down, 6 read-only, 7 failing its first two
// requests per body, 8 answering truncated JSON, 9 healthy, and 10 deregistered. With no generated
// slot on an unreachable SP, node 4 has users in one role only (user 6's second secondary) and
// node 10 in none.
func goldenScenario() simnet.Scenario {
	ref := simnet.Reference()
	sh := simnet.DefaultShares()
	sh.OnUnreachable = 0
	sh.Artists, sh.Deactivated, sh.MissingCID, sh.Stale = 0.3, 0.05, 0.05, 0.2
	nodes := append(ref.Nodes,
		simnet.NodeSpec{SPID: 5, Faults: simnet.Faults{Down: true}},
		simnet.NodeSpec{SPID: 6, Faults: simnet.Faults{ReadOnly: true}},
		simnet.NodeSpec{SPID: 7, Faults: simnet.Faults{FailFirst: 2}},
		simnet.NodeSpec{SPID: 8, Faults: simnet.Faults{Truncated: true}},
		simnet.NodeSpec{SPID: 10, Deregistered: true},
	)
	return simnet.Scenario{Seed: 77, NodeCount: 9, Nodes: nodes, Foundation: ref.Foundation, Users: ref.Users,
		UserCount: 400, Shares: &sh}
}

// originalMetrics are spec §7's names, which keep the original's _count suffixes.
var originalMetrics = []string{
	"audius_nm_user_count", "audius_nm_all_user_count", "audius_nm_primary_user_count",
	"audius_nm_fully_synced_user_count", "audius_nm_partially_synced_user_count",
	"audius_nm_unsynced_user_count", "audius_nm_no_primary_user_count",
	"audius_nm_unhealthy_replica_users_count", "audius_nm_fully_synced_user_by_primary_count",
	"audius_nm_partially_synced_user_by_primary_count", "audius_nm_unsynced_user_by_primary_count",
	"audius_nm_fully_synced_user_by_replica_count", "audius_nm_partially_synced_user_by_replica_count",
	"audius_nm_unsynced_user_by_replica_count", "audius_nm_missed_users_count",
}

// TestGoldenMetrics runs the golden network through the four stage processes with CID checks on
// every CID, on a sample, and off, and checks every published metric family against simnet's
// ground truth: the clock families and the clock-lag distribution exactly, the CID families
// exactly (the margin of error to 1e-9), fetch outcomes against the outcomes each node's faults
// allow, and the run's timing series for consistency. Every per-node family has a series for
// every node, at 0 where nothing counts, and everything pushed passes the Prometheus linter.
func TestGoldenMetrics(t *testing.T) {
	cases := []struct {
		mode string
		size int64
	}{{simnet.CIDChecksAll, 0}, {simnet.CIDChecksSample, 600}, {"off", 0}}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			slack := newSlackReceiver(t)
			// Parts of one user batch: the user families add up the counts of several parts.
			env := []string{"NETMON_CID_CHECKS=" + c.mode, "NETMON_WORK_BATCH_SIZE=150", "NETMON_USER_BATCH_SIZE=200",
				"NETMON_PART_USERS=200", "NETMON_FETCH_TIMEOUT=2s", "SLACK_URL=" + slack.url}
			if c.size > 0 {
				env = append(env, fmt.Sprintf("NETMON_CID_SAMPLE_SIZE=%d", c.size))
			}
			sc := goldenScenario()
			s := startStack(t, sc, env...)
			net, err := simnet.Build(sc)
			if err != nil {
				t.Fatal(err)
			}
			started := time.Now()
			got := s.run(t)
			ended := time.Now()
			checkTruth(t, got, s.truth)
			if c.mode != "off" {
				checkCIDTruth(t, got, s.cidTruth(t, c.mode, c.size))
			}
			checkCIDSeries(t, got, c.mode != "off")
			checkFetchItems(t, got, s, net, c.mode != "off")
			checkTiming(t, got, started, ended)
			checkZeroFilled(t, got, s)
			checkUserCounts(t, s)
			lintPushed(t, s.pushgateway)
			checkSlack(t, slack, s.truth)
			for _, sp := range net.SPIDs() {
				st := s.nodes.Stats(sp)
				if c.mode == "off" && st.CIDRequests != 0 {
					t.Errorf("CID checks off, but node %d got %d CID requests", sp, st.CIDRequests)
				}
				if sp == 10 && st.Requests != 0 {
					t.Errorf("deregistered node 10 got %d requests", st.Requests)
				}
			}
		})
	}
}

// cidTruth is the network's CID truth for the stack's nodes. The stack keeps the simnet network
// only through its truth, so the scenario is built again: simnet is deterministic, and the
// endpoints come from the running nodes.
func (s *stack) cidTruth(t *testing.T, mode string, size int64) simnet.CIDTruth {
	t.Helper()
	net, err := simnet.Build(goldenScenario())
	if err != nil {
		t.Fatal(err)
	}
	ct := net.CIDTruth(nil, mode, size)
	for i := range ct.Nodes {
		ct.Nodes[i].Endpoint = s.nodes.Endpoint(ct.Nodes[i].SPID)
	}
	if ct.CheckedCIDs == 0 || ct.ByReplicationFactor[0] == 0 || ct.ByReplicationFactor[3] == 0 {
		t.Fatalf("the golden network does not exercise the CID metrics: %+v", ct)
	}
	return ct
}

// checkCIDTruth compares every CID series of the truth with the pushed value.
func checkCIDTruth(t *testing.T, got map[string]float64, truth simnet.CIDTruth) {
	t.Helper()
	t.Logf("CID truth: %d of %d checked (margin of error %.4f), by replication factor %v, users by synced nodes %v",
		truth.CheckedCIDs, truth.SnapshotCIDs, truth.MarginOfError, truth.ByReplicationFactor, truth.UsersBySyncedNodes)
	for _, smp := range truth.Samples() {
		k := seriesKey(smp.Name, smp.Labels)
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s: not pushed (truth %v)", k, smp.Value)
		case smp.Name == "audius_nm_cid_sample_margin_of_error" && math.Abs(g-smp.Value) > 1e-9:
			t.Errorf("%s = %v, simnet truth %v", k, g, smp.Value)
		case smp.Name != "audius_nm_cid_sample_margin_of_error" && g != smp.Value:
			t.Errorf("%s = %v, simnet truth %v", k, g, smp.Value)
		}
	}
}

// cidFamilies are the metrics published only for runs with CID checks.
var cidFamilies = []string{
	"audius_nm_snapshot_cids", "audius_nm_checked_cids", "audius_nm_cid_sample_ratio",
	"audius_nm_cid_sample_margin_of_error", "audius_nm_cids_by_replication_factor",
	"audius_nm_users_by_cid_synced_nodes", "audius_nm_cids_replicated_at_least_once",
	"audius_nm_cids_not_replicated", "audius_nm_cids_missing", "audius_nm_missed_cid_checks",
}

func checkCIDSeries(t *testing.T, got map[string]float64, on bool) {
	t.Helper()
	for _, name := range cidFamilies {
		n := 0
		for k := range got {
			if strings.HasPrefix(k, name+"{") {
				n++
			}
		}
		if on && n == 0 {
			t.Errorf("%s: no series with CID checks on", name)
		}
		if !on && n != 0 {
			t.Errorf("%s: %d series with CID checks off", name, n)
		}
	}
}

// checkFetchItems: audius_nm_fetch_items has a series per node, kind and outcome; a node's items
// end only in the outcomes its faults allow; every node with users was asked about them.
func checkFetchItems(t *testing.T, got map[string]float64, s *stack, net *simnet.Network, cids bool) {
	t.Helper()
	kinds := []string{"clock"}
	if cids {
		kinds = append(kinds, "cid", "image_cid")
	}
	outcomes := []string{"ok", "skipped_deregistered", "skipped_no_endpoint", "circuit_open", "timeout",
		"refused", "http_error", "bad_response", "poison", "network_error"}
	for _, nt := range s.truth.Nodes {
		allowed := net.FetchOutcomes(nt.SPID)
		for _, kind := range kinds {
			total := 0.0
			for _, o := range outcomes {
				k := seriesKey("audius_nm_fetch_items", map[string]string{"endpoint": nt.Endpoint,
					"sp_id": fmt.Sprint(nt.SPID), "kind": kind, "outcome": o})
				v, ok := got[k]
				if !ok {
					t.Errorf("%s: not pushed", k)
					continue
				}
				total += v
				if v > 0 && !slices.Contains(allowed, o) {
					t.Errorf("%s = %v; node %d's faults allow only %v", k, v, nt.SPID, allowed)
				}
			}
			if kind == "clock" && (total > 0) != (nt.AllUsers > 0) {
				t.Errorf("node %d: %v clock items for %d users", nt.SPID, total, nt.AllUsers)
			}
		}
		if !cids {
			for _, kind := range []string{"cid", "image_cid"} {
				k := seriesKey("audius_nm_fetch_items", map[string]string{"endpoint": nt.Endpoint,
					"sp_id": fmt.Sprint(nt.SPID), "kind": kind, "outcome": "ok"})
				if _, ok := got[k]; ok {
					t.Errorf("%s pushed with CID checks off", k)
				}
			}
		}
	}
}

// checkTiming: the run's durations and the batch-job timestamps are there and consistent.
func checkTiming(t *testing.T, got map[string]float64, started, ended time.Time) {
	t.Helper()
	completion := got["audius_nm_last_completion_timestamp_seconds{}"]
	if completion < float64(started.Unix())-1 || completion > float64(ended.Unix())+1 {
		t.Errorf("last completion %v is not within the run (%d..%d)", completion, started.Unix(), ended.Unix())
	}
	if s := got["audius_nm_last_success_timestamp_seconds{}"]; s != completion {
		t.Errorf("last success %v, want the completion %v of this complete run", s, completion)
	}
	total := got["audius_nm_run_duration_seconds{}"]
	if total <= 0 || total > ended.Sub(started).Seconds()+1 || total != got["audius_nm_total_job_duration{}"] {
		t.Errorf("run duration %v (total_job_duration %v), run took %s", total, got["audius_nm_total_job_duration{}"], ended.Sub(started))
	}
	for stage, old := range map[string]string{"discovery": "audius_nm_indexing_discovery_duration",
		"content": "audius_nm_indexing_content_duration", "metrics": "audius_nm_generating_metrics_duration"} {
		k := seriesKey("audius_nm_stage_duration_seconds", map[string]string{"stage": stage})
		v, ok := got[k]
		if !ok || v <= 0 || v > total {
			t.Errorf("%s = %v (pushed %v), run duration %v", k, v, ok, total)
		}
		if got[old+"{}"] != v {
			t.Errorf("%s = %v, but the original's %s = %v", k, v, old, got[old+"{}"])
		}
	}
	// The stages add up to the job: content runs from the run's start to its load (discovery
	// inside it), metrics from the load to the metrics.
	stage := func(name string) float64 {
		return got[seriesKey("audius_nm_stage_duration_seconds", map[string]string{"stage": name})]
	}
	if sum := stage("content") + stage("metrics"); math.Abs(sum-total) > 1 {
		t.Errorf("stages content %v + metrics %v = %v, but the job took %v", stage("content"), stage("metrics"), sum, total)
	}
	if stage("discovery") > stage("content") {
		t.Errorf("discovery %v is longer than the content stage %v that contains it", stage("discovery"), stage("content"))
	}
	if got["audius_nm_run_incomplete{}"] != 0 {
		t.Errorf("run_incomplete = %v", got["audius_nm_run_incomplete{}"])
	}
}

// checkZeroFilled: every per-node catalogue family has exactly one series per node of the run.
func checkZeroFilled(t *testing.T, got map[string]float64, s *stack) {
	t.Helper()
	for _, m := range store.Catalogue {
		if !slices.Equal(m.Labels, []string{"endpoint", "sp_id"}) {
			continue
		}
		if _, on := got["audius_nm_checked_cids{}"]; !on && slices.Contains(cidFamilies, m.Name) {
			continue
		}
		for _, nt := range s.truth.Nodes {
			k := seriesKey(m.Name, map[string]string{"endpoint": nt.Endpoint, "sp_id": fmt.Sprint(nt.SPID)})
			if _, ok := got[k]; !ok {
				t.Errorf("%s: no series", k)
			}
		}
	}
}

// lintPushed lints the audius_nm_* families as the Pushgateway serves them. Only spec §7's names
// may break the naming guide, and only as the original did (a _count suffix on a gauge).
func lintPushed(t *testing.T, pushgateway string) {
	t.Helper()
	resp, err := http.Get(pushgateway + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var mine []*dto.MetricFamily
	for name, f := range fams {
		if strings.HasPrefix(name, "audius_nm_") {
			mine = append(mine, f)
		}
	}
	if len(mine) < 30 {
		t.Fatalf("only %d audius_nm_ families on the Pushgateway", len(mine))
	}
	problems, err := promlint.NewWithMetricFamilies(mine).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if slices.Contains(originalMetrics, p.Metric) && strings.Contains(p.Text, `"_count" suffix`) {
			continue
		}
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
}

// slackReceiver is a local Slack incoming webhook.
type slackReceiver struct {
	url  string
	mu   sync.Mutex
	msgs []string
}

func newSlackReceiver(t *testing.T) *slackReceiver {
	r := &slackReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var m struct {
			Text string `json:"text"`
		}
		if err := json.NewDecoder(req.Body).Decode(&m); err != nil {
			t.Errorf("slack receiver: %v", err)
		}
		r.mu.Lock()
		r.msgs = append(r.msgs, m.Text)
		r.mu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/services/T0/B0/hook"
	return r
}

// checkSlack: one report, in spec §8's form, with the truth's shares.
func checkSlack(t *testing.T, r *slackReceiver, truth simnet.Truth) {
	t.Helper()
	r.mu.Lock()
	msgs := slices.Clone(r.msgs)
	r.mu.Unlock()
	if len(msgs) != 1 {
		t.Fatalf("slack got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if !strings.HasPrefix(m, "```{\n  \"fullySyncedUsersCount\": ") || !strings.HasSuffix(m, "\n}```") {
		t.Fatalf("slack message is not spec §8's fenced, indented JSON:\n%s", m)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(strings.Trim(m, "`")), &got); err != nil {
		t.Fatal(err)
	}
	share := func(v int64) string { return fmt.Sprintf("%.2f%%", float64(v)/float64(truth.UserCount)*100) }
	want := map[string]string{
		"fullySyncedUsersCount":                     share(truth.FullySynced),
		"partiallySyncedUsersCount":                 share(truth.PartiallySynced),
		"unsyncedUsersCount":                        share(truth.Unsynced),
		"usersWithNullPrimaryClock":                 share(truth.NoPrimary),
		"usersWithAllFoundationNodeReplicaSetCount": share(truth.AllFoundationReplicaSet),
		"usersWithNoFoundationNodeReplicaSetCount":  share(truth.NoFoundationReplicaSet),
		"usersWithUnhealthyReplica":                 share(truth.UnhealthyReplica),
	}
	if d := got["runDuration"]; !regexp.MustCompile(`^00hr [0-5][0-9]min$`).MatchString(d) {
		t.Errorf("slack runDuration = %q, want 00hr MMmin", d)
	}
	delete(got, "runDuration")
	for k, v := range want {
		if got[k] != v {
			t.Errorf("slack %s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("slack report has keys %v", got)
	}
}

// checkUserCounts holds the counts the loader's part builds wrote (store/counts.go, in Go, from
// the rows of each part) to the same keys derived in SQL from the user_category view over the
// whole run, by the statement migration 0010 backfills older runs with: the view is the one
// definition of the sync categories people query, and the two must count every user alike.
func checkUserCounts(t *testing.T, s *stack) {
	t.Helper()
	ctx := context.Background()
	migration, err := os.ReadFile("../store/migrations/0010_user_counts.sql")
	if err != nil {
		t.Fatal(err)
	}
	sql := string(migration)
	at := strings.Index(sql, "INSERT INTO user_counts")
	if at < 0 {
		t.Fatal("migration 0010 has no INSERT INTO user_counts")
	}
	derived := "SELECT * FROM (" + strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(sql[at:], "INSERT INTO user_counts")), ";") + ") AS d"
	conn, err := pgx.Connect(ctx, s.nmDB)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	read := func(q string) []string {
		t.Helper()
		rows, err := conn.Query(ctx, `SELECT format('%s %s %s %s %s %s %s %s = %s', run_id, primary_key, secondary1_key, secondary2_key,
			user_key, replica_low, replica_mid, replica_high, sum(users)) FROM (`+q+`) AS c
			GROUP BY run_id, primary_key, secondary1_key, secondary2_key, user_key, replica_low, replica_mid, replica_high ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	want, got := read(derived), read("SELECT * FROM user_counts")
	var parts int
	if err := conn.QueryRow(ctx, "SELECT count(DISTINCT part) FROM user_counts").Scan(&parts); err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 || parts < 2 {
		t.Fatalf("user counts: %d keys from %d parts; the golden run should count several parts", len(want), parts)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("user counts of the part builds against the keys derived from user_category (-derived +built):\n%s", diff)
	}
}
