package aggregator

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v4"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/contentnode"
	"github.com/audius-netmon/netmon/internal/fetcher"
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/planner"
	"github.com/audius-netmon/netmon/internal/testenv"
)

// nameRecorder is a Registerer that only notes the names of the metrics registered on it.
type nameRecorder struct{ names map[string]bool }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r nameRecorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.names[m[1]] = true
		}
	}
	return nil
}
func (r nameRecorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = r.Register(c)
	}
}
func (r nameRecorder) Unregister(prometheus.Collector) bool { return true }

// knownMetrics is every metric name the deploy/ artefacts may use: what the aggregator pushes,
// the stages' own series (fetcher, bus router, aggregator), and the Pushgateway's.
func knownMetrics() map[string]bool {
	names := map[string]bool{"push_time_seconds": true, "push_failure_time_seconds": true, "up": true}
	for _, s := range everySeries() {
		names[s.Name] = true
	}
	rec := nameRecorder{names}
	fetcher.New(&contentnode.Client{}, fetcher.Options{}, rec, zerolog.Nop())
	bus.NewRouterMetrics(rec)
	newStageMetrics(rec)
	if _, err := planner.NewControl(planner.New(planner.Options{}, zerolog.Nop()), planner.ControlDeps{},
		lifecycle.Deadlines{}, "off", rec, zerolog.Nop()); err != nil {
		panic(err)
	}
	return names
}

func TestKnownMetrics(t *testing.T) {
	known := knownMetrics()
	for _, n := range []string{"netmon_fetcher_request_duration_seconds", "netmon_bus_messages_total",
		"netmon_aggregator_runs_total", "audius_nm_user_count", LastSuccessMetric} {
		if !known[n] {
			t.Errorf("%s is not among the known metrics", n)
		}
	}
}

var metricRef = regexp.MustCompile(`\b(?:audius_nm|netmon|push)_[a-z0-9_]+|\baudius_nm:[a-z0-9_:]+|\bup\b`)

// checkExpr reports metric names in expr that neither exist nor are recorded by the rules.
func checkExpr(t *testing.T, where, expr string, known, recorded map[string]bool) {
	t.Helper()
	for _, name := range metricRef.FindAllString(expr, -1) {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if !known[name] && !known[base] && !recorded[name] {
			t.Errorf("%s: %q uses %s, which netmon does not publish", where, expr, name)
		}
	}
}

// runbookBase is where the alerts' runbook_url point: docs/runbooks.md on the main branch.
const runbookBase = "https://github.com/audius-netmon/netmon/blob/main/docs/runbooks.md#"

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record      string            `yaml:"record"`
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestAlertRules: every rule uses metrics netmon publishes, every alert has a severity, and the
// alerts the issue asks for are there. (`make test` runs promtool check and the rules' unit tests.)
func TestAlertRules(t *testing.T) {
	root := testenv.RepoRoot(t)
	files, _ := filepath.Glob(filepath.Join(root, "deploy/prometheus/rules/*.yml"))
	if len(files) == 0 {
		t.Fatal("no rule files in deploy/prometheus/rules")
	}
	known := knownMetrics()
	recorded := map[string]bool{}
	var alerts []string
	rb, err := os.ReadFile(filepath.Join(root, "docs/runbooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	runbooks := string(rb)
	var rf []ruleFile
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var r ruleFile
		if err := yaml.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		rf = append(rf, r)
		for _, g := range r.Groups {
			for _, rule := range g.Rules {
				if rule.Record != "" {
					recorded[rule.Record] = true
				}
			}
		}
	}
	for _, r := range rf {
		for _, g := range r.Groups {
			for _, rule := range g.Rules {
				checkExpr(t, "rule "+rule.Record+rule.Alert, rule.Expr, known, recorded)
				if rule.Alert != "" {
					alerts = append(alerts, rule.Alert)
					if rule.Labels["severity"] == "" {
						t.Errorf("alert %s has no severity label", rule.Alert)
					}
					// Every alert links its runbook: a section of docs/runbooks.md named after it.
					if want := runbookBase + strings.ToLower(rule.Alert); rule.Annotations["runbook_url"] != want {
						t.Errorf("alert %s: runbook_url %q, want %q", rule.Alert, rule.Annotations["runbook_url"], want)
					}
					if !strings.Contains(runbooks, "\n## "+rule.Alert+"\n") {
						t.Errorf("alert %s: docs/runbooks.md has no section \"## %s\"", rule.Alert, rule.Alert)
					}
				}
			}
		}
	}
	for _, want := range []string{"NetmonRunNotCompleted", "NetmonNoCompleteRun", "NetmonRunFailed", "NetmonRunIncomplete", "NetmonPushPending",
		"NetmonMissedUsersHigh", "NetmonMissedUsersCritical", "NetmonNodeUnreachable", "NetmonFullySyncedRatioDropping",
		"NetmonStageDown", "NetmonStageMissing", "NetmonPushgatewayDown"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}
}

type dashboard struct {
	UID    string  `json:"uid"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr       string `json:"expr"`
		RawSQL     string `json:"rawSql"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
}

// The provisioned datasources' fixed uids: Prometheus for PromQL queries, the NM DB for SQL.
const (
	promUID = "netmon-prometheus"
	nmdbUID = "netmon-nmdb"
)

// TestDashboards: each dashboard refers to the provisioned datasource by its fixed uid, queries
// only metrics netmon publishes (or the rules record), and covers run freshness, sync health,
// per-node health and CID replication.
// dashboardMusts are, by dashboard uid, the rows and metrics each dashboard must show: the clocks
// runs' dashboard, and the storage runs' (a dashboard of its own: TestDashboardInPrometheus checks
// the clocks one against live clocks runs, and storage runs are not among them).
var dashboardMusts = map[string]struct{ rows, metrics []string }{
	"netmon-network-monitoring": {
		rows: []string{"Run freshness", "Sync health", "Per-node health", "CID replication"},
		metrics: []string{"audius_nm_last_completion_timestamp_seconds", "audius_nm_fully_synced_user_count",
			"audius_nm_missed_users_count", "audius_nm_fetch_items", "audius_nm_cids_by_replication_factor",
			"audius_nm_secondaries_by_clock_lag"},
	},
	"netmon-storage": {
		rows: []string{"Storage"},
		metrics: []string{"audius_nm_storage_last_completion_timestamp_seconds", "audius_nm_storage_lost_share",
			"audius_nm_storage_keys_by_replicas", "audius_nm_storage_node_held_share",
			"audius_nm_storage_node_repair_age_seconds", "audius_nm_storage_node_replication_factor_disagrees"},
	},
}

func TestDashboards(t *testing.T) {
	root := testenv.RepoRoot(t)
	files, _ := filepath.Glob(filepath.Join(root, "deploy/grafana/dashboards/*.json"))
	if len(files) == 0 {
		t.Fatal("no dashboards in deploy/grafana/dashboards")
	}
	known := knownMetrics()
	recorded := map[string]bool{"audius_nm:fully_synced_ratio": true}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if d.UID == "" {
			t.Errorf("%s: no uid (provisioned dashboards need a fixed one)", f)
		}
		var rows []string
		used := map[string]bool{}
		for _, p := range d.Panels {
			if p.Type == "row" {
				rows = append(rows, p.Title)
				continue
			}
			if p.Datasource == nil || (p.Datasource.UID != promUID && p.Datasource.UID != nmdbUID) {
				t.Errorf("%s: panel %q uses neither the datasource uid %s nor %s", f, p.Title, promUID, nmdbUID)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", f, p.Title)
			}
			for _, tg := range p.Targets {
				want, query := promUID, tg.Expr
				if tg.RawSQL != "" {
					want, query = nmdbUID, tg.RawSQL
					if strings.Contains(tg.RawSQL, "$") {
						t.Errorf("%s: panel %q: SQL with a Grafana macro or variable; the dashboard test runs it as it is", f, p.Title)
					}
				}
				if tg.Datasource == nil || tg.Datasource.UID != want || p.Datasource.UID != want {
					t.Errorf("%s: a query of panel %q does not use the datasource uid %s", f, p.Title, want)
				}
				if query == "" {
					t.Errorf("%s: panel %q has an empty query", f, p.Title)
				}
				checkExpr(t, f+": panel "+p.Title, tg.Expr, known, recorded)
				for _, n := range metricRef.FindAllString(tg.Expr, -1) {
					used[n] = true
				}
			}
		}
		if !slices.ContainsFunc(d.Panels, func(p panel) bool { return p.Datasource != nil && p.Datasource.UID == nmdbUID }) {
			t.Errorf("%s: no run-history panel from the NM DB", f)
		}
		want, ok := dashboardMusts[d.UID]
		if !ok {
			t.Errorf("%s: dashboard uid %q has no entry in dashboardMusts", f, d.UID)
		}
		for _, row := range want.rows {
			if !slices.Contains(rows, row) {
				t.Errorf("%s: no row %q (rows %v)", f, row, rows)
			}
		}
		for _, must := range want.metrics {
			if !used[must] {
				t.Errorf("%s: no panel shows %s", f, must)
			}
		}
	}
}
