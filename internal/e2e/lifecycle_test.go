package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/testenv"
)

// The run lifecycle through the stage processes (issue 10): pushing is not finishing, run ids are
// never reused, a hung node costs only its own items, and a stage waits for its dependencies while
// it answers /healthz. The long outages (minutes, beyond every budget) are in the chaos suite
// (chaos_outage_test.go).

// stageMetric is the value of an unlabelled series (or the sum over its label sets) on a stage's
// /metrics; -1 when the stage does not serve it.
func stageMetric(t *testing.T, addr, name string) float64 {
	t.Helper()
	body := get(t, "http://"+addr+"/metrics")
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? (\S+)$`)
	ms := re.FindAllStringSubmatch(body, -1)
	if ms == nil {
		return -1
	}
	var sum float64
	for _, m := range ms {
		v, _ := strconv.ParseFloat(m[2], 64)
		sum += v
	}
	return sum
}

// TestPushgatewayDown: with nothing listening at PUSH_GATEWAY_URL, a run still completes (its
// metrics stored, the active-run slot freed) with its push pending, which `netmon status`,
// `runs list`, the aggregator's /status and /metrics show; the next run starts at once and
// supersedes it; when the Pushgateway comes up, the newest run's metrics land, exactly.
func TestPushgatewayDown(t *testing.T) {
	pgAddr := testenv.FreeAddr(t) // nothing listens there yet
	sc := simnet.Scenario{Seed: 21, UserCount: 120, NodeCount: 5}
	s := startStack(t, sc, "PUSH_GATEWAY_URL=http://"+pgAddr)
	s.pushgateway = "http://" + pgAddr

	code, out := runCLI(t, s.env, 2*time.Minute, "run", "--wait")
	t.Logf("$ netmon run --wait   (exit %d)\n%s", code, out)
	if code != 0 || !strings.Contains(out, "run 1: complete") {
		t.Fatalf("run 1 with the Pushgateway down: exit %d, want 0 and complete", code)
	}
	contains(t, "runs show in run --wait", out, `push\s+pending since \S+ \S+ UTC \(.*\), \d+ failed attempts, last: push run 1 to http://`+regexp.QuoteMeta(pgAddr))
	if push := pushState(s.nmDB, 1); push != "pending" {
		t.Errorf("run 1's push is %q, want pending", push)
	}
	out = cli(t, s.env, 0, "status")
	contains(t, "status", out, `no run is active; the last run is 1: complete`, `metrics of run 1: pending since`)
	contains(t, "runs list", cli(t, s.env, 0, "runs", "list"), `(?m)^1\s+clocks\s+complete\s.*\spending \S+`)
	if v := stageMetric(t, s.http["aggregator"], "netmon_aggregator_push_pending"); v != 1 {
		t.Errorf("netmon_aggregator_push_pending = %v, want 1", v)
	}
	if v := stageMetric(t, s.http["aggregator"], "netmon_aggregator_push_pending_since_timestamp_seconds"); v <= 0 {
		t.Errorf("netmon_aggregator_push_pending_since_timestamp_seconds = %v, want the time it became pending", v)
	}
	contains(t, "aggregator /status", get(t, "http://"+s.http["aggregator"]+"/status"),
		`"state": "pending"`, `"pending_since": "`, `"last_error": "push run 1 to`)

	// The next run is not refused: run 1 is over, only its push is waiting.
	code, out = runCLI(t, s.env, 2*time.Minute, "run", "--wait")
	if code != 0 || !strings.Contains(out, "run 2: complete") {
		t.Fatalf("run 2: exit %d, want 0 and complete:\n%s", code, out)
	}
	if push := pushState(s.nmDB, 1); push != "superseded" {
		t.Errorf("run 1's push is %q after run 2 finished, want superseded", push)
	}

	testenv.PushgatewayAt(t, pgAddr)
	waitPushed(t, s.nmDB, 2, time.Minute)
	got := scrape(t, s.pushgateway, "network-monitoring")
	if got["audius_nm_last_run_id{}"] != 2 {
		t.Errorf("pushed last_run_id = %v, want 2", got["audius_nm_last_run_id{}"])
	}
	checkTruth(t, got, s.truth)
	if push := pushState(s.nmDB, 1); push != "superseded" {
		t.Errorf("run 1's push is %q, want superseded (never pushed over run 2)", push)
	}
	waitFor(t, 10*time.Second, "the aggregator's push series back to 0", func() bool {
		return stageMetric(t, s.http["aggregator"], "netmon_aggregator_push_pending") == 0
	})
}

// TestRunIDsNeverReused: `netmon run --embedded` starts a fresh, embedded NATS every time (its
// run-id counter starts again), yet each run gets a new id above the NM DB's history: runs 1 and
// 2 are both kept, with their own times, and run 1 is not reported again.
func TestRunIDsNeverReused(t *testing.T) {
	sc := simnet.Scenario{Seed: 22, UserCount: 60, NodeCount: 4}
	net, err := simnet.Build(sc)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := net.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nodes.Close)
	discovery, nmDB := testenv.Database(t), testenv.Database(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := net.SeedDiscovery(ctx, discovery); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"NETMON_DB_URL=" + nmDB, "NETMON_DISCOVERY_DB_URL=" + discovery,
		"PUSH_GATEWAY_URL=" + testenv.Pushgateway(t),
		"DEREGISTERED_CONTENT_NODES=" + strings.Join(nodes.Deregistered(), ","),
		"NETMON_SCHEDULE=off", "NETMON_LOG_FORMAT=json", "NETMON_FETCH_TIMEOUT=2s",
	}
	var created []string
	for want := 1; want <= 2; want++ {
		code, out := runCLI(t, env, 2*time.Minute, "run", "--embedded")
		t.Logf("$ netmon run --embedded   (exit %d)\n%s", code, out)
		if code != 0 || !strings.Contains(out, fmt.Sprintf("run %d started", want)) ||
			!strings.Contains(out, fmt.Sprintf("run %d: complete", want)) {
			t.Fatalf("embedded run %d: exit %d, want 0 and run %d started and complete", want, code, want)
		}
		created = append(created, queryRow(nmDB, "SELECT created_at::text FROM runs WHERE run_id = $1", want))
	}
	if n := queryInt(nmDB, "SELECT count(*) FROM runs"); n != 2 {
		t.Errorf("%d runs in the NM DB, want 2", n)
	}
	if created[0] == "" || created[0] == created[1] {
		t.Errorf("runs created at %q: want two distinct, kept times", created)
	}
	if d := queryInt(nmDB, "SELECT count(*) FROM runs WHERE completed_at < created_at"); d != 0 {
		t.Errorf("%d runs ended before they started", d)
	}
}

// TestHungNode: one of ten nodes accepts connections and never answers, at the default fetch
// timeout. Its items cost one timeout each, in parallel, not three, and items of the nine healthy
// nodes never wait behind them: every healthy result is in before the hung node's first one. Its
// users count as not answered, as simnet's truth says, and the run is exact.
func TestHungNode(t *testing.T) {
	const hung = 10
	sc := simnet.Scenario{Seed: 23, UserCount: 3000, NodeCount: 10,
		Nodes: []simnet.NodeSpec{{SPID: hung, Faults: simnet.Faults{Hang: true}}}}
	// Many items per node (a batch of 60 wallets) so a queue forms behind the hung node; the
	// fetch policy is the default one (10 s timeout, 3 attempts, 4 requests per node, 16 in all).
	s := startStack(t, sc, "NETMON_FETCH_TIMEOUT=10s", "NETMON_WORK_BATCH_SIZE=60", "NETMON_USER_BATCH_SIZE=500")
	defer s.nodes.Close()
	run := startAndWaitStarted(t, s.env)
	expected := func() (total, healthy int64) {
		total = queryInt(s.nmDB, "SELECT coalesce(expected_work_items, -1) FROM runs WHERE run_id = $1", run)
		return total, total - queryInt(s.nmDB, `SELECT count(*) FROM fetch_results WHERE run_id = $1 AND sp_id = $2`, run, hung)
	}
	var healthyAtFirstHung, healthyItems int64
	waitFor(t, 2*time.Minute, "the hung node's first result", func() bool {
		healthy := queryInt(s.nmDB, "SELECT count(*) FROM fetch_results WHERE run_id = $1 AND sp_id <> $2", run, hung)
		if queryInt(s.nmDB, "SELECT count(*) FROM fetch_results WHERE run_id = $1 AND sp_id = $2", run, hung) > 0 {
			healthyAtFirstHung = healthy
			return true
		}
		return false
	})
	if status := waitRunStatus(t, s.nmDB, run, 2*time.Minute); status != "complete" {
		t.Fatalf("run %d ended %s, want complete", run, status)
	}
	_, healthyItems = expected()
	hungItems := queryInt(s.nmDB, "SELECT count(*) FROM fetch_results WHERE run_id = $1 AND sp_id = $2", run, hung)
	t.Logf("%d healthy items, %d of them in when the hung node's first item ended; %d items of the hung node",
		healthyItems, healthyAtFirstHung, hungItems)
	if healthyAtFirstHung != healthyItems {
		t.Errorf("only %d of %d healthy items were in when the hung node's first item ended: they waited behind it",
			healthyAtFirstHung, healthyItems)
	}
	if bad := queryInt(s.nmDB, `SELECT count(*) FROM fetch_results WHERE run_id = $1 AND sp_id = $2
		AND outcome NOT IN ('timeout', 'circuit_open')`, run, hung); bad != 0 {
		t.Errorf("%d items of the hung node ended otherwise than timeout or circuit_open", bad)
	}
	if to := queryInt(s.nmDB, `SELECT count(*) FROM fetch_results WHERE run_id = $1 AND sp_id = $2 AND outcome = 'timeout'`,
		run, hung); to < 1 || to > 4 {
		t.Errorf("%d items of the hung node timed out, want its first wave (1 to 4, the node's request slots)", to)
	}
	if n := s.nodes.Stats(hung).ClockRequests; n > 4 {
		t.Errorf("the hung node got %d requests, want at most 4 (one per item in flight, no retry of a timeout)", n)
	}
	waitPushed(t, s.nmDB, run, time.Minute)
	checkTruth(t, scrape(t, s.pushgateway, "network-monitoring"), s.truth)
}

// startAndWaitStarted starts a run without waiting for it and returns its id.
func startAndWaitStarted(t *testing.T, env []string) int64 {
	t.Helper()
	out := cli(t, env, 0, "run")
	m := regexp.MustCompile(`run (\d+) started`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("netmon run: %s", out)
	}
	run, _ := strconv.ParseInt(m[1], 10, 64)
	return run
}

// waitRunStatus waits until the run has a terminal status in the NM DB and returns it.
func waitRunStatus(t *testing.T, dbURL string, run int64, timeout time.Duration) string {
	t.Helper()
	var status string
	waitFor(t, timeout, fmt.Sprintf("run %d ended", run), func() bool {
		status = queryRow(dbURL, "SELECT status FROM runs WHERE run_id = $1", run)
		return status == "complete" || status == "incomplete" || status == "failed"
	})
	return status
}

// TestStartupWaits: a stage started before NATS serves /healthz at once and says on /readyz what
// it waits for; when NATS comes up it becomes ready.
func TestStartupWaits(t *testing.T) {
	natsPort := freePortNumber(t)
	httpAddr := testenv.FreeAddr(t)
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"NETMON_NATS_URL=" + fmt.Sprintf("nats://127.0.0.1:%d", natsPort),
		"NETMON_DB_URL=" + testenv.Database(t),
		"NETMON_LOG_FORMAT=json", "NETMON_HTTP_ADDR=" + httpAddr,
	}
	start := time.Now()
	p := startProc(t, "netmon-loader", env)
	waitFor(t, 10*time.Second, "/healthz of the loader waiting for NATS", func() bool {
		code, _ := httpStatus("http://" + httpAddr + "/healthz")
		return code == http.StatusOK
	})
	t.Logf("/healthz answered %s after start", time.Since(start).Round(time.Millisecond))
	waitFor(t, 10*time.Second, "/readyz saying it waits for NATS", func() bool {
		code, body := httpStatus("http://" + httpAddr + "/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "not ready: waiting for NATS at nats://127.0.0.1:")
	})
	testenv.NATSAt(t, natsPort)
	waitFor(t, 30*time.Second, "/readyz ready once NATS is up", func() bool {
		code, _ := httpStatus("http://" + httpAddr + "/readyz")
		return code == http.StatusOK
	})
	if p.cmd.ProcessState != nil {
		t.Fatalf("the loader exited: %s", p.cmd.ProcessState)
	}
}

// TestOldNATSRefused: a NATS server older than 2.10 (Debian's 2.9) is refused at start with a
// clear message, and `netmon check` reports it instead of calling NATS ok.
func TestOldNATSRefused(t *testing.T) {
	bin := os.Getenv("NETMON_OLD_NATS_SERVER")
	if bin == "" {
		bin = "/usr/sbin/nats-server"
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s (Debian's nats-server 2.9, `apt-get install nats-server`; make test installs it): %v", bin, err)
	}
	if !strings.Contains(string(out), "v2.9.") {
		t.Fatalf("%s is %s; this test needs a 2.9 server (Debian bookworm's), or NETMON_OLD_NATS_SERVER", bin, out)
	}
	port := freePortNumber(t)
	srv := exec.Command(bin, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", t.TempDir())
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	waitFor(t, 10*time.Second, "nats-server 2.9 listening", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "NETMON_NATS_URL=" + url,
		"NETMON_LOG_FORMAT=json", "NETMON_HTTP_ADDR=" + testenv.FreeAddr(t), "PUSH_GATEWAY_URL=http://127.0.0.1:1",
		"NETMON_DB_URL=" + testenv.Database(t)}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binaries(t), "netmon-aggregator"))
	cmd.Env = env
	stageOut, err := cmd.CombinedOutput()
	if ctx.Err() != nil || err == nil {
		t.Fatalf("the aggregator against nats-server 2.9: %v (want it to exit with an error at once):\n%s", err, stageOut)
	}
	if !strings.Contains(string(stageOut), "is too old: netmon needs 2.10.0 or newer") {
		t.Errorf("the aggregator's refusal does not say the server is too old:\n%s", stageOut)
	}
	code, checkOut := runCLI(t, env, time.Minute, "check")
	t.Logf("$ netmon check   (exit %d)\n%s", code, checkOut)
	if code == 0 || !regexp.MustCompile(`(?m)^nats\s+nats://\S+\s+fail\s+nats-server 2\.9\.\d+ is too old`).MatchString(checkOut) {
		t.Errorf("netmon check against nats-server 2.9: exit %d, want a failure naming the version", code)
	}
}

func httpStatus(url string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func freePortNumber(t *testing.T) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(testenv.FreeAddr(t))
	n, _ := strconv.Atoi(port)
	return n
}
