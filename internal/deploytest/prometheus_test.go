package deploytest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.yaml.in/yaml/v4"

	"github.com/audius-netmon/netmon/internal/livetest"
	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/testenv"
)

// prometheusBinary finds the Prometheus server: NETMON_PROMETHEUS_BIN, or Debian's prometheus on
// PATH. Missing, the test fails saying how to install it.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("NETMON_PROMETHEUS_BIN"); b != "" {
		return b
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("no prometheus on PATH: install it with `apt-get install prometheus` (make test does, through scripts/ensure-services.sh) or set NETMON_PROMETHEUS_BIN")
	}
	return p
}

// grafanaVars are the Grafana variables a dashboard query may use, replaced as Grafana does
// before the query reaches Prometheus.
var grafanaVars = strings.NewReplacer("$__rate_interval", "1m", "$__interval", "1s", "$__range", "1h")

// TestDashboardInPrometheus runs Debian's real Prometheus with deploy/'s configuration and rules
// (the targets moved to a live stack's loopback addresses, scrapes every second) against two
// live runs over simnet with a read-only node and CID checks, then requires every query of the
// clocks dashboard to return data (a value that is a number, not NaN), every rule to evaluate
// without error, and the run-history panel's SQL to return both runs from the NM DB.
func TestDashboardInPrometheus(t *testing.T) {
	sc := simnet.Scenario{Seed: 5, UserCount: 60, NodeCount: 4,
		Nodes: []simnet.NodeSpec{{SPID: 4, Faults: simnet.Faults{ReadOnly: true}}}}
	s := livetest.Start(t, sc)
	prom := startPrometheus(t, s)
	// Two runs: a fetcher's request-duration series are born in its first run, so only the
	// second one shows as an increase.
	runs(t, prom, s, 2, "audius_nm_last_run_id")
	if n := requireData(t, prom, s, "netmon.json", 2); n < 40 {
		t.Errorf("only %d dashboard queries", n)
	}
}

// TestStorageDashboardInPrometheus is TestDashboardInPrometheus for the storage dashboard: one
// storage run over a simulated storage network (every key checked) with lost keys, a node that
// lost keys and runs another R, and one whose health signature does not match its delegate and whose
// repair is stale, then every query of the storage dashboard returns data, every rule evaluates,
// and the storage alerts pending are those simnet's truth calls for.
func TestStorageDashboardInPrometheus(t *testing.T) {
	shares := simnet.DefaultStorageShares()
	shares.Lost = 0.1 // some keys on none of their holders
	ssc := simnet.StorageScenario{Seed: 7, NodeCount: 5, Validators: 1, Tracks: 20, Users: 10, Playlists: 2, Shares: &shares,
		Nodes: []simnet.StorageNodeSpec{
			{ID: 2, R: 3, Faults: simnet.StorageFaults{MissingShare: 0.5}},
			{ID: 3, Faults: simnet.StorageFaults{Signature: simnet.SigMismatch, StaleRepair: true}},
		}}
	s := livetest.StartStorage(t, ssc)
	prom := startPrometheus(t, s)
	runs(t, prom, s, 1, "audius_nm_storage_last_run_id")
	if n := requireData(t, prom, s, "netmon-storage.json", 1); n < 15 {
		t.Errorf("only %d storage dashboard queries", n)
	}

	// The storage alerts pending (their for: holds them back) are exactly those simnet's truth
	// calls for: lost keys if any, each node with another R than the consensus, each readable
	// node whose signature does not verify, each whose last repair is over 3 hours old. A rising
	// missing share needs a day-old run to compare with, so it is not among them.
	truth := s.Storage.StorageTruth(s.StorageNodes, simnet.KeyStrings(s.Storage.DiscoveryKeys()))
	want := map[string]bool{}
	if truth.Lost > 0 {
		want["NetmonStorageKeysLost "] = true
	}
	for _, id := range truth.Dissenters {
		want["NetmonStorageReplicationFactorDisagrees "+s.Storage.Host(id)] = true
	}
	for _, nt := range truth.Nodes {
		h := nt.Health
		if !nt.Registered || !h.Readable {
			continue
		}
		if h.Signature == "malformed" || h.Signature == "mismatch" || h.Signature == "wrong_signer" {
			want["NetmonStorageHealthSignatureInvalid "+nt.Host] = true
		}
		if !h.LastRepair.FinishedAt.IsZero() && time.Since(h.LastRepair.FinishedAt) > 3*time.Hour {
			want["NetmonStorageRepairStale "+nt.Host] = true
		}
	}
	if len(want) < 4 {
		t.Errorf("the scenario calls for only %d storage alerts: %v", len(want), want)
	}
	got := map[string]bool{}
	for _, a := range alerts(t, prom) {
		if name := a.Labels["alertname"]; strings.HasPrefix(name, "NetmonStorage") && a.State != "inactive" {
			got[name+" "+a.Labels["endpoint"]] = true
		}
	}
	t.Logf("storage alerts pending: %v", got)
	for k := range want {
		if !got[k] {
			t.Errorf("alert %s not pending after the storage run", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("alert %s pending after the storage run; simnet's truth does not call for it", k)
		}
	}
}

type alert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

// alerts are Prometheus's active alerts (pending or firing).
func alerts(t *testing.T, prom string) []alert {
	t.Helper()
	resp, err := http.Get(prom + "/api/v1/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Alerts []alert `json:"alerts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r.Data.Alerts
}

// startPrometheus starts Debian's Prometheus with deploy/'s configuration and rules pointed at
// the stack, and waits until it scrapes all five targets; it returns its base URL.
func startPrometheus(t *testing.T, s *livetest.Stack) string {
	t.Helper()
	bin := prometheusBinary(t)
	root := repoRoot(t)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "prometheus.yml")
	writePrometheusConfig(t, filepath.Join(root, "deploy/prometheus/prometheus.yml"), cfgFile, s,
		filepath.Join(root, "deploy/prometheus/rules"))
	addr := testenv.FreeAddr(t)
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	prom := "http://" + addr
	testenv.WaitHTTP(t, prom+"/-/ready", 30*time.Second)
	waitQuery(t, prom, `count(up == 1) == 5`, 30*time.Second)
	return prom
}

// runs runs n complete runs of the stack's network; after each, every target was scraped
// successfully after it ended, lastRunID (the network's run-id series) names it, and the rules
// evaluated on its metrics.
func runs(t *testing.T, prom string, s *livetest.Stack, n int, lastRunID string) {
	t.Helper()
	for range n {
		run, status := s.Run(t, time.Minute)
		if status != "complete" {
			t.Fatalf("run %d ended %s", run, status)
		}
		ended := time.Now()
		waitQuery(t, prom, fmt.Sprintf(`count(timestamp(up == 1) > %d) == 5`, ended.Unix()+1), 30*time.Second)
		waitQuery(t, prom, fmt.Sprintf(`%s == %d`, lastRunID, run), 30*time.Second)
		waitRules(t, prom, ended.Add(time.Second), 30*time.Second)
	}
}

// requireData requires every PromQL query of the dashboard file (in deploy/grafana/dashboards)
// to return a number in Prometheus, and every SQL query to return the stack's runs rows from the
// NM DB; it returns how many queries it checked.
func requireData(t *testing.T, prom string, s *livetest.Stack, file string, runs int) int {
	t.Helper()
	dash := readDashboard(t, filepath.Join(repoRoot(t), "deploy/grafana/dashboards", file))
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			switch {
			case tg.Expr != "":
				n++
				expr := grafanaVars.Replace(tg.Expr)
				if !hasNumber(t, prom, expr, tg.Instant) {
					t.Errorf("%s: panel %q query %s returns no data in a real Prometheus after a run:\n%s", file, p.Title, tg.RefID, expr)
				}
			case tg.RawSQL != "":
				n++
				if rows := sqlRows(t, s.NMDB, tg.RawSQL); rows != runs {
					t.Errorf("%s: panel %q: its SQL returns %d rows from the NM DB after %d runs", file, p.Title, rows, runs)
				}
			}
		}
	}
	return n
}

// writePrometheusConfig rewrites deploy's prometheus.yml for the live stack: the same jobs
// (names and honor_labels kept), each target replaced by the stack's address of that service,
// rules from rules, and everything every second.
func writePrometheusConfig(t *testing.T, from, to string, s *livetest.Stack, rules string) {
	t.Helper()
	var cfg map[string]any
	readYAML(t, from, &cfg)
	cfg["global"] = map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"}
	cfg["rule_files"] = []string{filepath.Join(rules, "*.yml")}
	pushgateway := strings.TrimPrefix(s.Pushgateway, "http://")
	where := map[string]string{"pushgateway:9091": pushgateway}
	for _, st := range livetest.Stages {
		where[st] = s.Metrics[st]
	}
	jobs, _ := cfg["scrape_configs"].([]any)
	seen := map[string]bool{}
	for _, j := range jobs {
		job := j.(map[string]any)
		var addr string
		if sc, ok := job["static_configs"].([]any); ok && len(sc) > 0 {
			targets := sc[0].(map[string]any)["targets"].([]any)
			target := targets[0].(string)
			addr = where[target]
			if addr == "" {
				addr = where[strings.Split(target, ":")[0]]
			}
		}
		if dns, ok := job["dns_sd_configs"].([]any); ok && len(dns) > 0 {
			names := dns[0].(map[string]any)["names"].([]any)
			addr = where[names[0].(string)]
			delete(job, "dns_sd_configs")
		}
		if addr == "" {
			t.Fatalf("%s: job %v scrapes nothing this test knows", from, job["job_name"])
		}
		seen[addr] = true
		labels := map[string]any{}
		if sc, ok := job["static_configs"].([]any); ok && len(sc) > 0 {
			if l, ok := sc[0].(map[string]any)["labels"].(map[string]any); ok {
				labels = l
			}
		}
		job["static_configs"] = []any{map[string]any{"targets": []string{addr}, "labels": labels}}
	}
	if len(seen) != 5 {
		t.Fatalf("%s: %d of the 5 targets (Pushgateway and four stages) scraped", from, len(seen))
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

type dashQuery struct {
	RefID   string `json:"refId"`
	Expr    string `json:"expr"`
	RawSQL  string `json:"rawSql"`
	Instant bool   `json:"instant"`
}

type dashPanels struct {
	Panels []struct {
		Title   string      `json:"title"`
		Targets []dashQuery `json:"targets"`
	} `json:"panels"`
}

func readDashboard(t *testing.T, path string) dashPanels {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d dashPanels
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return d
}

// promResult is the part of a /api/v1/query(_range) answer this test reads.
type promResult struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Value  []any   `json:"value"`
			Values [][]any `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

func query(t *testing.T, prom, expr string, instant bool) promResult {
	t.Helper()
	now := time.Now()
	q := url.Values{"query": {expr}}
	path := "/api/v1/query"
	if !instant {
		path = "/api/v1/query_range"
		q.Set("start", strconv.FormatInt(now.Add(-time.Minute).Unix(), 10))
		q.Set("end", strconv.FormatInt(now.Unix(), 10))
		q.Set("step", "1")
	}
	resp, err := http.Get(prom + path + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r promResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	if r.Status != "success" {
		t.Errorf("query %s: %s", expr, r.Error)
	}
	return r
}

// hasNumber reports whether the query returns at least one value that is a number (not NaN).
func hasNumber(t *testing.T, prom, expr string, instant bool) bool {
	t.Helper()
	r := query(t, prom, expr, instant)
	number := func(v []any) bool {
		if len(v) != 2 {
			return false
		}
		s, _ := v[1].(string)
		f, err := strconv.ParseFloat(s, 64)
		return err == nil && !math.IsNaN(f)
	}
	for _, res := range r.Data.Result {
		if number(res.Value) {
			return true
		}
		for _, v := range res.Values {
			if number(v) {
				return true
			}
		}
	}
	return false
}

// waitQuery waits until the instant query returns data.
func waitQuery(t *testing.T, prom, expr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !hasNumber(t, prom, expr, true) {
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus: %s still empty after %s", expr, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitRules waits until every rule has been evaluated after since, and requires each to be
// healthy.
func waitRules(t *testing.T, prom string, since time.Time, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var r struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name           string    `json:"name"`
						Health         string    `json:"health"`
						LastError      string    `json:"lastError"`
						LastEvaluation time.Time `json:"lastEvaluation"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		resp, err := http.Get(prom + "/api/v1/rules")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		rules, fresh := 0, 0
		var bad []string
		for _, g := range r.Data.Groups {
			for _, rule := range g.Rules {
				rules++
				if rule.LastEvaluation.After(since) {
					fresh++
				}
				if rule.Health != "ok" {
					bad = append(bad, fmt.Sprintf("%s: %s %s", rule.Name, rule.Health, rule.LastError))
				}
			}
		}
		if rules > 0 && fresh == rules {
			for _, b := range bad {
				t.Errorf("rule %s", b)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus: %d of %d rules evaluated after the run within %s", fresh, rules, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sqlRows runs a panel's SQL on the NM DB, as Grafana's datasource would, and counts the rows.
func sqlRows(t *testing.T, nmDB, sql string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), nmDB)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	rows, err := conn.Query(t.Context(), sql)
	if err != nil {
		t.Fatalf("panel SQL: %v\n%s", err, sql)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("panel SQL: %v", err)
	}
	return n
}
