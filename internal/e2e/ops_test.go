package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/report"
	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/store"
	"github.com/audius-netmon/netmon/internal/testenv"
)

// opsStack is a stack driven through the netmon command.
type opsStack struct{ *stack }

// netmon runs the netmon command and checks its exit code.
func (s *opsStack) netmon(t *testing.T, want int, args ...string) string {
	t.Helper()
	return cli(t, s.env, want, args...)
}

func cli(t *testing.T, env []string, want int, args ...string) string {
	t.Helper()
	code, out := runCLI(t, env, 2*time.Minute, args...)
	t.Logf("$ netmon %s   (exit %d)\n%s", strings.Join(args, " "), code, out)
	if code != want {
		t.Fatalf("netmon %s exited %d, want %d:\n%s", strings.Join(args, " "), code, want, out)
	}
	return out
}

// contains fails the test unless out matches every pattern (regular expressions).
func contains(t *testing.T, what, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(out) {
			t.Errorf("%s: no match for %q in:\n%s", what, p, out)
		}
	}
}

func decode[T any](t *testing.T, what, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%s: not JSON (%v):\n%s", what, err, out)
	}
	return v
}

// TestOps drives every operator command against a running stack over a simulated network with a
// read-only node (its work items fail with HTTP 500) and a slow one (so a run lasts a moment).
func TestOps(t *testing.T) {
	sc := simnet.Scenario{Seed: 11, UserCount: 80, NodeCount: 4, Nodes: []simnet.NodeSpec{
		{SPID: 4, Faults: simnet.Faults{ReadOnly: true}},
		{SPID: 2, Faults: simnet.Faults{Latency: &simnet.Latency{Median: simnet.Duration(1500 * time.Millisecond)}}},
	}}
	s := &opsStack{startStack(t, sc, "NETMON_FETCH_ATTEMPTS=1")}

	// --help everywhere, exit 0; a wrong command line, exit 2.
	for _, cmd := range [][]string{{"run"}, {"status"}, {"runs", "list"}, {"runs", "show"}, {"runs", "diff"},
		{"runs", "trend"}, {"user"}, {"cid"}, {"serve"}, {"replay"}, {"prune"}, {"migrate"}, {"check"}, {"demo"}} {
		out := s.netmon(t, 0, append(cmd, "--help")...)
		contains(t, strings.Join(cmd, " ")+" --help", out, "^Usage: netmon "+cmd[0])
		if cmd[0] != "demo" {
			contains(t, strings.Join(cmd, " ")+" --help", out, "Exit codes")
		}
	}
	contains(t, "help", s.netmon(t, 0, "help"), "Exit codes:", "3  refused: another run is active")
	// The stage binaries too: --help exits 0 without connecting to anything (no environment at
	// all here); an argument is a usage error.
	for _, st := range []string{"planner", "fetcher", "loader", "aggregator"} {
		bin := filepath.Join(binaries(t), "netmon-"+st)
		out, err := exec.Command(bin, "--help").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "Usage: netmon-"+st+"\n") {
			t.Errorf("netmon-%s --help: %v\n%s", st, err, out)
		}
		if err := exec.Command(bin, "--bogus").Run(); exitCode(err) != 2 {
			t.Errorf("netmon-%s --bogus: %v, want exit 2", st, err)
		}
	}
	s.netmon(t, 2, "runs", "show")
	s.netmon(t, 2, "runs", "show", "x")
	s.netmon(t, 2, "status", "--bogus")
	s.netmon(t, 2, "nonsense")

	// check: configuration and every dependency, as a table.
	out := s.netmon(t, 0, "check")
	contains(t, "check", out, `(?m)^nats\s+nats://\S+\s+ok\s+nats-server \S+, JetStream`, `(?m)^nm db\s+\S+\s+ok`,
		`(?m)^discovery db\s+\S+\s+ok\s+block \d+, 4 content nodes`, `(?m)^pushgateway\s+http://\S+\s+ok`,
		`(?m)^cn 1\s+http://127\.0\.0\.1:\d+\s+ok\s+HTTP 200`, `(?m)^cn 4\s+http://\S+\s+ok`, "every configured dependency answered")
	t.Logf("netmon check:\n%s", out)
	bad := append(append([]string{}, s.env...), "PUSH_GATEWAY_URL=http://127.0.0.1:1")
	out = cli(t, bad, 1, "check")
	contains(t, "check with a dead Pushgateway", out, `(?m)^pushgateway\s+http://127\.0\.0\.1:1\s+fail\s+connection refused`, "1 of 8 checks failed")
	checks := decode[struct {
		Checks []struct{ Component, Status string }
	}](t, "check --json", cli(t, bad, 1, "check", "--json"))
	if len(checks.Checks) != 8 {
		t.Errorf("check --json: %d checks, want 8", len(checks.Checks))
	}
	s.netmon(t, 0, "check", "--offline")

	contains(t, "status before any run", s.netmon(t, 0, "status"), "no run is active, and there has been none")
	contains(t, "runs list before any run", s.netmon(t, 0, "runs", "list"), "no runs yet")

	// Run 1 with --wait; its progress, metrics and per-node health.
	out = s.netmon(t, 0, "run", "--wait")
	t.Logf("netmon run --wait:\n%s", out)
	contains(t, "run --wait", out, `run 1 started`, `run 1: .*work items fetched`, `run 1: complete`,
		`(?m)^4\s+http://\S+(\s+\d+){6}\s+\d+\s+http_error \d+\s`)
	before := testenv.RunDigest(t, s.nmDB, 1)
	pushed := scrape(t, s.pushgateway, "network-monitoring")

	// runs list and runs show, text and JSON.
	contains(t, "runs list", s.netmon(t, 0, "runs", "list"), `(?m)^run\s+network\s+status`, `(?m)^1\s+clocks\s+complete\s+\d{4}-\d\d-\d\d`)
	list := decode[[]store.Run](t, "runs list --json", s.netmon(t, 0, "runs", "list", "--json"))
	if len(list) != 1 || list[0].ID != 1 || list[0].Status != "complete" {
		t.Errorf("runs list --json = %+v", list)
	}
	out = s.netmon(t, 0, "runs", "show", "1")
	t.Logf("netmon runs show 1:\n%s", out)
	contains(t, "runs show", out, `run 1  complete`, `user_count\s+80`, `run_incomplete\s+0`,
		`(?m)^1\s+http://\S+.*\s\d+\s+ok \d+\s`, `(?m)^4\s+http://\S+.*\s\d+\s+http_error \d+\s`)
	show := decode[struct {
		Run   store.Run
		Nodes []struct {
			SPID     int64 `json:"sp_id"`
			Outcomes map[string]int64
			Metrics  map[string]float64
		}
	}](t, "runs show --json", s.netmon(t, 0, "runs", "show", "1", "--json"))
	if len(show.Nodes) != 4 || show.Nodes[3].Outcomes["http_error"] == 0 || len(show.Nodes[3].Outcomes) != 1 ||
		show.Nodes[0].Outcomes["ok"] == 0 || len(show.Nodes[0].Outcomes) != 1 {
		t.Errorf("runs show --json nodes = %+v", show.Nodes)
	}
	cli(t, s.env, 1, "runs", "show", "99")

	// Why is a user of the read-only node 4 where it is? Its category is simnet's truth, node 4's
	// slot says why it has no answer.
	var u simnet.UserTruth
	for id := int64(1); id <= s.truth.UserCount && u.UserID == 0; id++ {
		if ut, ok := s.net.UserTruth(id); ok && ut.Category != "" && ut.SPIDs[0] != 4 && slices.Contains(ut.SPIDs[:], 4) {
			u = ut
		}
	}
	if u.UserID == 0 {
		t.Fatal("no user with node 4 as a secondary and a category in the scenario")
	}
	out = s.netmon(t, 0, "user", fmt.Sprint(u.UserID))
	t.Logf("netmon user %d:\n%s", u.UserID, out)
	contains(t, "user", out, fmt.Sprintf(`user %d in run 1 \(complete`, u.UserID), `(?m)^\s+category\s+`+u.Category+`$`,
		`(?m)^secondary\d\s+4\s+http://\S+\s+-2: no answer: clock work item \d+: http_error \(HTTP 500\)`)
	uv := decode[struct {
		UserID   int64 `json:"user_id"`
		Category string
		Slots    []struct {
			SPID  *int64 `json:"sp_id"`
			Clock *int64
		}
	}](t, "user --json", s.netmon(t, 0, "user", fmt.Sprint(u.UserID), "--json"))
	for k, slot := range uv.Slots {
		if slot.Clock == nil || u.Clocks[k] == nil || *slot.Clock != *u.Clocks[k] {
			t.Errorf("user --json slot %d: %+v, truth %v", k, slot, u.Clocks[k])
		}
	}
	if uv.Category != u.Category {
		t.Errorf("user --json category %q, truth %q", uv.Category, u.Category)
	}
	cli(t, s.env, 1, "user", "999999")
	cli(t, s.env, 2, "user", "bob")
	cid := firstCID(t, s.nmDB, 1)
	out = s.netmon(t, 0, "cid", cid)
	t.Logf("netmon cid %s:\n%s", cid, out)
	contains(t, "cid", out, `cid \S+ in run 1 \(complete`, `held by \d of its \d expected nodes`)
	cli(t, s.env, 1, "cid", "QmNotInTheRun")

	// netmon serve: the web view's JSON names run 1 and its read-only node; the page says why
	// node 4 is red. (internal/web's browser test looks at every page.)
	base := startServe(t, s.env)
	contains(t, "GET /api/runs", get(t, base+"/api/runs"), `"run_id": 1`, `"status": "complete"`)
	contains(t, "GET /", get(t, base+"/"), `<tr class="bad" data-sp="4">`, `http_error`)

	// /status of every stage: JSON naming run 1.
	for st, addr := range s.http {
		body := get(t, "http://"+addr+"/status")
		t.Logf("GET %s /status:\n%s", st, body)
		rep := decode[struct {
			Stage string
			Ready bool
			Runs  []struct {
				Run     int64 `json:"run_id"`
				Handled int64
			}
		}](t, st+" /status", body)
		if rep.Stage != st || !rep.Ready || len(rep.Runs) == 0 || rep.Runs[0].Run != 1 || rep.Runs[0].Handled == 0 {
			t.Errorf("%s /status: %s", st, body)
		}
	}

	// Runs never overlap: while a run is active (here run 1, set back to fetching for the test),
	// `netmon run` is refused with exit 3, and `netmon status` shows the active run.
	execSQL(t, s.nmDB, "UPDATE runs SET status = 'fetching' WHERE run_id = 1")
	code, out := runCLI(t, s.env, time.Minute, "run", "--wait")
	t.Logf("$ netmon run --wait   (exit %d)\n%s", code, out)
	if code != 3 || !strings.Contains(out, "netmon run: refused: run 1 is still active (fetching, deadline") {
		t.Errorf("run while run 1 is active: exit %d, want 3 with a clear message:\n%s", code, out)
	}
	contains(t, "status with an active run", s.netmon(t, 0, "status"), `run 1 is fetching`, `deadline\s+\S+ \S+ UTC \(in `)
	st := decode[struct {
		Active bool
		Run    struct {
			ID int64 `json:"run_id"`
		}
	}](t, "status --json", s.netmon(t, 0, "status", "--json"))
	if !st.Active || st.Run.ID != 1 {
		t.Errorf("status --json = %+v", st)
	}
	execSQL(t, s.nmDB, "UPDATE runs SET status = 'complete' WHERE run_id = 1")

	// Run 2 after node 3 lost its endpoint: started without waiting, followed with
	// `status --watch`, then compared with run 1.
	execSQL(t, s.discovery, "UPDATE ursm_content_nodes SET endpoint = '' WHERE cnode_sp_id = 3")
	contains(t, "run", s.netmon(t, 0, "run"), `^run 2 started\n$`)
	out = s.netmon(t, 0, "status", "--watch")
	t.Logf("netmon status --watch:\n%s", out)
	contains(t, "status --watch", out, `run 2`)
	if !strings.Contains(out, "run 2: complete") && !strings.Contains(out, "the last run is 2: complete") {
		t.Errorf("status --watch did not follow run 2 to its end")
	}
	contains(t, "status after run 2", s.netmon(t, 0, "status"), `no run is active; the last run is 2: complete`)
	out = s.netmon(t, 0, "runs", "diff", "1", "2")
	t.Logf("netmon runs diff 1 2:\n%s", out)
	contains(t, "runs diff", out, `run 1 \(complete, .*\) → run 2 \(complete`,
		`(?m)^missed_users_count\s+sp_id=3\s+0\s+\d+\s+\+\d+`,
		`(?m)^3\s+endpoint\s+http://\S+ → ""\s+ok \d+\s+skipped_no_endpoint \d+`)
	diff := decode[struct {
		Metrics []struct{ Name, SPID string }
		Nodes   []struct {
			SPID   int64 `json:"sp_id"`
			Change string
		}
	}](t, "runs diff --json", s.netmon(t, 0, "runs", "diff", "1", "2", "--json"))
	if len(diff.Nodes) != 1 || diff.Nodes[0].SPID != 3 || diff.Nodes[0].Change != "endpoint" {
		t.Errorf("runs diff --json nodes = %+v", diff.Nodes)
	}
	for _, m := range diff.Metrics {
		if report.Timing(m.Name) {
			t.Errorf("runs diff --json lists timing series %s without --all", m.Name)
		}
	}
	contains(t, "runs diff --all", s.netmon(t, 0, "runs", "diff", "--all", "1", "2"), `last_run_id\s+1\s+2\s+\+1`)
	out = s.netmon(t, 0, "runs", "list")
	t.Logf("netmon runs list:\n%s", out)
	contains(t, "runs list with ratios", out, `(?m)^run\s+network\s+status\s+created \(UTC\)\s+took\s+users\s+fully synced\s+missed slots`,
		fmt.Sprintf(`(?m)^1\s+clocks\s+complete\s+\S+ \S+\s+\S+\s+80\s+%.1f%%\s+%d\s`, float64(s.truth.FullySynced)/80*100, missedSlots(s.truth)))
	out = s.netmon(t, 0, "runs", "trend", "--metric", "missed_users_count", "--sp", "3")
	t.Logf("netmon runs trend --metric missed_users_count --sp 3:\n%s", out)
	contains(t, "runs trend", out, `(?m)^series\s+run 1\s+run 2`, `(?m)^sp_id=3\s+0\s+\d+`)
	cli(t, s.env, 2, "runs", "trend", "--metric", "no_such_metric")

	// Replay: delete run 1's rows, rebuild them from stream history: identical rows and metric
	// values, and the live Pushgateway group untouched unless --push.
	stDB, err := store.Open(t.Context(), s.nmDB, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer stDB.Close()
	live := scrape(t, s.pushgateway, "network-monitoring")
	if err := stDB.DeleteRun(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	cli(t, s.env, 1, "runs", "show", "1")
	out = s.netmon(t, 0, "replay", "1")
	t.Logf("netmon replay 1:\n%s", out)
	contains(t, "replay", out, `replayed run 1 from stream history: \d+ messages; complete`, `pushed\s+no`)
	after := testenv.RunDigest(t, s.nmDB, 1)
	for table, d := range before {
		if after[table] != d {
			t.Errorf("replay: table %s differs from the original run", table)
		}
	}
	if got := scrape(t, s.pushgateway, "network-monitoring"); !sameSeries(got, live) {
		t.Errorf("replay without --push changed the Pushgateway")
	}
	rep := decode[struct {
		Pushed  bool
		Metrics []store.Sample
	}](t, "replay --push --json", s.netmon(t, 0, "replay", "1", "--push", "--json"))
	if !rep.Pushed || len(rep.Metrics) == 0 {
		t.Errorf("replay --push --json: pushed %v, %d series", rep.Pushed, len(rep.Metrics))
	}
	if got := scrape(t, s.pushgateway, "network-monitoring"); !sameSeries(got, pushed) {
		t.Errorf("replay --push: the Pushgateway does not hold run 1's original series")
	}
	for table, d := range before {
		if testenv.RunDigest(t, s.nmDB, 1)[table] != d {
			t.Errorf("a second replay changed table %s", table)
		}
	}
	cli(t, s.env, 1, "replay", "99")

	// migrate: up to date here; applies everything on a new database.
	contains(t, "migrate", s.netmon(t, 0, "migrate"), `0001_init\.sql\s+\d{4}-`, `schema up to date: \d+ migrations, 0 applied now`)
	fresh := append(append([]string{}, s.env...), "NETMON_DB_URL="+testenv.Database(t))
	contains(t, "migrate a new database", cli(t, fresh, 0, "migrate"), `0001_init\.sql\s+\S+ \S+\s+now`, `applied now`)

	// prune: a dry run lists, a real one deletes, the newest run stays.
	contains(t, "prune --dry-run", s.netmon(t, 0, "prune", "--keep", "1", "--dry-run"), `would delete 1 runs \(keeping the newest 1\): \[1\]`)
	contains(t, "prune", s.netmon(t, 0, "prune", "--keep", "1"), `deleted 1 runs .*: \[1\]`)
	list = decode[[]store.Run](t, "runs list --json", s.netmon(t, 0, "runs", "list", "--json"))
	if len(list) != 1 || list[0].ID != 2 {
		t.Errorf("after prune: runs %+v, want only run 2", list)
	}
	contains(t, "prune again", s.netmon(t, 0, "prune", "--keep", "1"), `nothing to prune`)
}

// startServe starts `netmon serve` on a free loopback port, stopped when the test ends, and
// returns its base URL (the address it prints).
func startServe(t *testing.T, env []string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binaries(t), "netmon"), "serve", "--addr", "127.0.0.1:0")
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "netmon serve: ")
	if err != nil || !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("netmon serve printed %q (%v), want its address", line, err)
	}
	return strings.TrimSuffix(url, "/")
}

// missedSlots is the truth's missed user slots over every node.
func missedSlots(tr simnet.Truth) int64 {
	var n int64
	for _, nt := range tr.Nodes {
		n += nt.MissedUsers
	}
	return n
}

// firstCID is the run's first CID in snapshot order.
func firstCID(t *testing.T, dbURL string, run int64) string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var cid string
	if err := conn.QueryRow(t.Context(), "SELECT cid FROM cids WHERE run_id = $1 ORDER BY batch, idx LIMIT 1", run).Scan(&cid); err != nil {
		t.Fatalf("first CID of run %d: %v", run, err)
	}
	return cid
}

// exitCode is a command's exit status from its Run error (-1: it did not run).
func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

func sameSeries(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	return string(body)
}
