//go:build chaos

package e2e

// The chaos tests' harness: stage processes that can be killed (SIGKILL, no chance to clean up)
// and restarted, external nats-server processes (single node with file storage, or a 3-node
// cluster), a private Postgres server that can be restarted without disturbing the shared one,
// and checks that a run lost nothing and counted nothing twice.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/stage"
	"github.com/audius-netmon/netmon/internal/testenv"
)

// service is a stage process that the test may kill and start again with the same environment
// and HTTP address. Its output, over every start, is logged if the test fails.
type service struct {
	t    *testing.T
	name string // netmon-fetcher, ...
	env  []string
	addr string // its /status, /metrics address

	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
	out   *bytes.Buffer
	outMu *sync.Mutex
	start int
}

func newService(t *testing.T, bin string, env []string) *service {
	t.Helper()
	s := &service{t: t, name: bin, addr: testenv.FreeAddr(t), out: &bytes.Buffer{}, outMu: &sync.Mutex{}}
	s.env = append(append([]string{}, env...), "NETMON_HTTP_ADDR="+s.addr)
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("--- output of %s (%s) ---\n%s", s.name, s.addr, s.output())
		}
	})
	s.run()
	return s
}

// run starts the process (again).
func (s *service) run() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start++
	w := lockedWriter{s.outMu, s.out}
	fmt.Fprintf(w, "=== start %d at %s ===\n", s.start, time.Now().Format(time.TimeOnly))
	cmd := exec.Command(filepath.Join(binaries(s.t), s.name))
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", s.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
}

// kill9 kills the process with SIGKILL and waits for it to be gone.
func (s *service) kill9() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	fmt.Fprintf(lockedWriter{s.outMu, s.out}, "=== killed (SIGKILL) at %s ===\n", time.Now().Format(time.TimeOnly))
	s.cmd = nil
}

// stop ends the process gracefully (SIGINT, then SIGKILL after 20s).
func (s *service) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

func (s *service) output() string {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	return s.out.String()
}

// status is the process's /status, or ok=false while it does not answer.
func (s *service) status() (stage.StatusReport, bool) {
	var r stage.StatusReport
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + s.addr + "/status")
	if err != nil {
		return r, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&r) != nil {
		return r, false
	}
	return r, true
}

// inFlight is how many messages of run the process is handling now, by sp_id ("" for all).
func (s *service) inFlight(run int64, sp string) int {
	r, ok := s.status()
	if !ok {
		return 0
	}
	for _, a := range r.Runs {
		if a.Run == run {
			if sp == "" {
				return a.InFlight
			}
			return a.InFlightBySPID[sp]
		}
	}
	return 0
}

// chaosStack is a deployment whose stage processes can be killed and restarted.
type chaosStack struct {
	*stack
	discovery  string
	planner    *service
	loader     *service
	aggregator *service
	fetchers   []*service
	registry   *simnet.Registry // the fake Ethereum registry, when chaosConfig.registry
}

// chaosConfig says what startChaosStack starts; zero values take the usual dependencies.
type chaosConfig struct {
	scenario    simnet.Scenario
	natsURL     string // "" starts an in-process JetStream server
	nmDB        string // "" creates a database on the shared Postgres
	discoveryDB string
	pushgateway string
	fetchers    int // default 1
	env         []string
	// registry serves the content-node list from simnet's fake Ethereum registry (the planner's
	// source: ETH_PROVIDER_URL and ETH_REGISTRY_ADDRESS, as an original .env has them).
	registry bool
}

// startChaosStack seeds discovery from the scenario, starts its content nodes and the stage
// processes. Messages a killed stage held are redelivered after NETMON_ACK_WAIT (2s here, 30s to
// 5m by default), so recoveries take seconds.
func startChaosStack(t *testing.T, c chaosConfig) *chaosStack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sn, err := simnet.Build(c.scenario)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := sn.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nodes.Close)
	if c.discoveryDB == "" {
		c.discoveryDB = testenv.Database(t)
	}
	if err := sn.SeedDiscovery(ctx, c.discoveryDB); err != nil {
		t.Fatal(err)
	}
	if c.nmDB == "" {
		c.nmDB = testenv.Database(t)
	}
	if c.pushgateway == "" {
		c.pushgateway = testenv.Pushgateway(t)
	}
	if c.natsURL == "" {
		c.natsURL = testenv.NATS(t).ClientURL()
	}
	if c.fetchers == 0 {
		c.fetchers = 1
	}
	s := &chaosStack{stack: &stack{pushgateway: c.pushgateway, nmDB: c.nmDB, natsURL: c.natsURL,
		truth: sn.Truth(nodes), nodes: nodes}, discovery: c.discoveryDB}
	var foundation []string
	for _, f := range sn.Foundation() {
		foundation = append(foundation, fmt.Sprint(f))
	}
	s.env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"NETMON_NATS_URL=" + c.natsURL,
		"NETMON_DB_URL=" + c.nmDB,
		"NETMON_DISCOVERY_DB_URL=" + c.discoveryDB,
		"PUSH_GATEWAY_URL=" + c.pushgateway,
		"FOUNDATION_NODES_SPIDS=" + strings.Join(foundation, ","),
		"DEREGISTERED_CONTENT_NODES=" + strings.Join(nodes.Deregistered(), ","),
		"NETMON_SCHEDULE=off",
		"NETMON_LOG_FORMAT=json",
		"NETMON_FETCH_TIMEOUT=2s",
		"NETMON_RUN_DEADLINE=5m",
		"NETMON_ACK_WAIT=2s",
		// Parts of a few user batches, so runs of tests that set small batches have several.
		"NETMON_PART_USERS=500",
	}, c.env...)
	if c.registry {
		if s.registry, err = sn.StartRegistry(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.registry.Close)
		s.env = append(s.env, "ETH_PROVIDER_URL="+s.registry.URL, "ETH_REGISTRY_ADDRESS="+simnet.RegistryAddress)
	}
	s.planner = newService(t, "netmon-planner", s.env)
	s.loader = newService(t, "netmon-loader", s.env)
	s.aggregator = newService(t, "netmon-aggregator", s.env)
	for range c.fetchers {
		s.fetchers = append(s.fetchers, newService(t, "netmon-fetcher", s.env))
	}
	return s
}

var startedRun = regexp.MustCompile(`run (\d+) started`)

// startRun asks the planner for a run (`netmon run`, not waiting) and returns its id.
func (s *chaosStack) startRun(t *testing.T) int64 {
	t.Helper()
	var code int
	var out string
	// The planner may still be connecting.
	for range 20 {
		if code, out = runCLI(t, s.env, 30*time.Second, "run"); code == 0 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	m := startedRun.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("netmon run exited %d:\n%s", code, out)
	}
	run, _ := strconv.ParseInt(m[1], 10, 64)
	return run
}

// waitRun waits until the run has a final status in the NM DB and returns it.
func (s *chaosStack) waitRun(t *testing.T, run int64, timeout time.Duration) string {
	t.Helper()
	var status string
	waitFor(t, timeout, fmt.Sprintf("run %d finished", run), func() bool {
		status = runStatus(s.nmDB, run)
		return status == "complete" || status == "incomplete" || status == "failed"
	})
	return status
}

// runStatus is the run's status, or "" when the NM DB does not answer or know it.
func runStatus(dbURL string, run int64) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return ""
	}
	defer conn.Close(ctx)
	var status string
	_ = conn.QueryRow(ctx, "SELECT status FROM runs WHERE run_id = $1", run).Scan(&status)
	return status
}

// checkComplete checks that the run completed with every pushed metric equal to simnet's truth
// and every item loaded exactly once, and records the scenario for docs/reliability.md.
func (s *chaosStack) checkComplete(t *testing.T, run int64, faults string) {
	t.Helper()
	if status := s.waitRun(t, run, 3*time.Minute); status != "complete" {
		st, reason := runRow(t, s.nmDB, run)
		t.Fatalf("run %d ended %s (%s), want complete", run, st, reason)
	}
	waitPushed(t, s.nmDB, run, time.Minute)
	got := scrape(t, s.pushgateway, "network-monitoring")
	if got["audius_nm_last_run_id{}"] != float64(run) {
		t.Fatalf("pushed audius_nm_last_run_id = %v, want %d", got["audius_nm_last_run_id{}"], run)
	}
	checkTruth(t, got, s.truth)
	c := countItems(t, s.nmDB, run)
	c.took = time.Duration(queryInt(s.nmDB, `SELECT (extract(epoch FROM completed_at - created_at) * 1000)::bigint
		FROM runs WHERE run_id = $1`, run)) * time.Millisecond
	if c.lost != 0 || c.doubled != 0 {
		t.Errorf("run %d: %d items lost, %d counted twice (%+v)", run, c.lost, c.doubled, c)
	}
	chaosReport(t, faults, c)
}

// itemCounts compares what the run's manifest promised with the rows loaded.
type itemCounts struct {
	items   int64         // work items (clock and CID) and user batches promised
	rows    int64         // user, clock and CID-check rows loaded
	lost    int64         // promised but never loaded
	doubled int64         // rows loaded more than once
	took    time.Duration // from the run's creation to its completion
}

// countItems counts, for one run: work items and user batches promised by the manifest but with
// no ledger row (lost), and rows of users, clocks and CID checks that appear twice (doubled), and
// clock rows beyond what the results' ledger says was answered.
func countItems(t *testing.T, dbURL string, run int64) itemCounts {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var c itemCounts
	var workItems, results, userBatches, loadedUserBatches, users, distinctUsers int64
	var clocks, distinctClocks, clockWallets, checks, distinctChecks int64
	err = conn.QueryRow(ctx, `SELECT
		coalesce(r.expected_work_items, 0), coalesce(r.expected_user_batches, 0) + coalesce(r.expected_cid_batches, 0),
		(SELECT count(*) FROM fetch_results WHERE run_id = $1),
		(SELECT count(*) FROM loaded_batches WHERE run_id = $1 AND kind IN ('users', 'cids')),
		(SELECT count(*) FROM users WHERE run_id = $1),
		(SELECT count(DISTINCT user_id) FROM users WHERE run_id = $1),
		(SELECT count(*) FROM clock_answers WHERE run_id = $1),
		(SELECT count(*) FROM (SELECT DISTINCT sp_id, batch, wallet FROM clock_answers WHERE run_id = $1) d),
		(SELECT coalesce(sum(wallets), 0) FROM fetch_results WHERE run_id = $1 AND kind = 'clock'),
		(SELECT count(*) FROM cid_checks WHERE run_id = $1),
		(SELECT count(*) FROM (SELECT DISTINCT sp_id, route, batch, cid FROM cid_checks WHERE run_id = $1) d)
		FROM runs r WHERE r.run_id = $1`, run).Scan(&workItems, &userBatches, &results, &loadedUserBatches,
		&users, &distinctUsers, &clocks, &distinctClocks, &clockWallets, &checks, &distinctChecks)
	if err != nil {
		t.Fatalf("count items of run %d: %v", run, err)
	}
	c.items = workItems + userBatches
	c.rows = users + clocks + checks
	c.lost = max(0, workItems-results) + max(0, userBatches-loadedUserBatches)
	c.doubled = (users - distinctUsers) + (clocks - distinctClocks) + max(0, clocks-clockWallets) + (checks - distinctChecks)
	return c
}

// chaosReport appends one line per checked run to $NETMON_CHAOS_REPORT (make chaos prints
// them as the table in docs/reliability.md).
func chaosReport(t *testing.T, faults string, c itemCounts) {
	t.Logf("reliability: %s | faults: %s | run took %s | items %d, rows %d, lost %d, double-counted %d",
		t.Name(), faults, c.took.Round(100*time.Millisecond), c.items, c.rows, c.lost, c.doubled)
	path := os.Getenv("NETMON_CHAOS_REPORT")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("chaos report: %v", err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "| %s | %s | 1 | %s | %d | %d | %d | %d |\n", t.Name(), faults, c.took.Round(100*time.Millisecond),
		c.items, c.rows, c.lost, c.doubled)
}

// ---- External NATS servers -----------------------------------------------------------------

var (
	natsBinOnce sync.Once
	natsBin     string
	natsBinErr  error
)

// natsServerBinary builds nats-server from the version netmon depends on (go.mod), once per test
// process, so the external-server tests need nothing installed.
func natsServerBinary(t *testing.T) string {
	t.Helper()
	natsBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "netmon-nats-bin-")
		if err != nil {
			natsBinErr = err
			return
		}
		natsBin = filepath.Join(dir, "nats-server")
		cmd := exec.Command("go", "build", "-o", natsBin, "github.com/nats-io/nats-server/v2")
		cmd.Dir = filepath.Join(testenv.RepoRoot(t), "internal")
		if out, err := cmd.CombinedOutput(); err != nil {
			natsBinErr = fmt.Errorf("build nats-server: %v\n%s", err, out)
		}
	})
	if natsBinErr != nil {
		t.Fatal(natsBinErr)
	}
	return natsBin
}

// natsNode is one nats-server process with JetStream on file storage.
type natsNode struct {
	t       *testing.T
	name    string
	port    int
	monitor int
	dir     string
	conf    string
	cmd     *exec.Cmd
	done    chan struct{}
	out     *bytes.Buffer
	outMu   *sync.Mutex
}

// freePort is a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(testenv.FreeAddr(t))
	n, _ := strconv.Atoi(p)
	return n
}

// startNATSCluster starts n nats-server processes (n = 1: a single server) with JetStream on
// file storage, each on its own loopback ports, and waits until JetStream answers on each.
// extra is added to every server's configuration (authorization, tls blocks).
func startNATSCluster(t *testing.T, n int, extra string) []*natsNode {
	t.Helper()
	bin := natsServerBinary(t)
	nodes := make([]*natsNode, n)
	routes := make([]int, n)
	for i := range nodes {
		nodes[i] = &natsNode{t: t, name: fmt.Sprintf("n%d", i+1), port: freePort(t), monitor: freePort(t),
			dir: t.TempDir(), out: &bytes.Buffer{}, outMu: &sync.Mutex{}}
		routes[i] = freePort(t)
	}
	for i, nd := range nodes {
		var b strings.Builder
		fmt.Fprintf(&b, "server_name: %s\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\n", nd.name, nd.port, nd.monitor)
		// sync_interval always: a message is on disk when the server acks it, so a SIGKILL of
		// the server loses nothing it acknowledged (the default syncs every 2 minutes and
		// relies on replicas or a clean shutdown).
		fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n  sync_interval: always\n}\n", filepath.Join(nd.dir, "js"))
		if n > 1 {
			var rs []string
			for j, p := range routes {
				if j != i {
					rs = append(rs, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
				}
			}
			fmt.Fprintf(&b, "cluster {\n  name: netmon\n  listen: 127.0.0.1:%d\n  routes: [%s]\n}\n", routes[i], strings.Join(rs, ", "))
		}
		b.WriteString(extra)
		nd.conf = filepath.Join(nd.dir, "nats.conf")
		if err := os.WriteFile(nd.conf, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		nd.start(bin)
		t.Cleanup(func() {
			nd.kill()
			if t.Failed() {
				nd.outMu.Lock()
				t.Logf("--- output of nats-server %s ---\n%s", nd.name, nd.out.String())
				nd.outMu.Unlock()
			}
		})
	}
	for _, nd := range nodes {
		nd.waitReady(30 * time.Second)
	}
	return nodes
}

func (nd *natsNode) start(bin string) {
	nd.t.Helper()
	w := lockedWriter{nd.outMu, nd.out}
	fmt.Fprintf(w, "=== start at %s ===\n", time.Now().Format(time.TimeOnly))
	nd.cmd = exec.Command(bin, "-c", nd.conf)
	nd.cmd.Stdout, nd.cmd.Stderr = w, w
	if err := nd.cmd.Start(); err != nil {
		nd.t.Fatalf("start nats-server %s: %v", nd.name, err)
	}
	nd.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(nd.cmd, nd.done)
}

// restart starts the killed server again on the same ports and store.
func (nd *natsNode) restart() {
	nd.t.Helper()
	nd.start(natsServerBinary(nd.t))
	nd.waitReady(30 * time.Second)
}

// kill stops the server with SIGKILL.
func (nd *natsNode) kill() {
	if nd.cmd == nil {
		return
	}
	_ = nd.cmd.Process.Kill()
	<-nd.done
	fmt.Fprintf(lockedWriter{nd.outMu, nd.out}, "=== killed (SIGKILL) at %s ===\n", time.Now().Format(time.TimeOnly))
	nd.cmd = nil
}

// waitReady waits until the server's /healthz says JetStream is up.
func (nd *natsNode) waitReady(timeout time.Duration) {
	nd.t.Helper()
	deadline := time.Now().Add(timeout)
	c := http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", nd.monitor))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			nd.t.Fatalf("nats-server %s not healthy after %s", nd.name, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (nd *natsNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", nd.port) }

func clusterURL(nodes []*natsNode) string {
	urls := make([]string, len(nodes))
	for i, nd := range nodes {
		urls[i] = nd.url()
	}
	return strings.Join(urls, ",")
}

// ---- A private Postgres ----------------------------------------------------------------------

// pgBin is where Debian installs the server binaries; NETMON_TEST_PG_BIN overrides it.
func pgBin() string {
	if d := os.Getenv("NETMON_TEST_PG_BIN"); d != "" {
		return d
	}
	return "/usr/lib/postgresql/15/bin"
}

// privatePostgres is a Postgres server of the test's own (initdb into a temporary directory, on a
// free loopback port), so it can be restarted without touching the server other tests share.
type privatePostgres struct {
	t       *testing.T
	dir     string
	port    int
	runAs   string // "postgres" when the test runs as root (postgres refuses root)
	logFile string
}

// startPrivatePostgres initialises and starts a private server. extraConf is appended to its
// postgresql.conf, hba (if not empty) replaces pg_hba.conf, and files are copied into the data
// directory (readable by the server only), where the configuration can name them.
func startPrivatePostgres(t *testing.T, extraConf, hba string, files ...string) *privatePostgres {
	t.Helper()
	if _, err := os.Stat(filepath.Join(pgBin(), "initdb")); err != nil {
		t.Fatalf("no initdb in %s (install postgresql, or set NETMON_TEST_PG_BIN to its bin directory): %v", pgBin(), err)
	}
	dir, err := os.MkdirTemp("", "netmon-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p := &privatePostgres{t: t, dir: dir, port: freePort(t), logFile: filepath.Join(dir, "server.log")}
	if os.Getuid() == 0 {
		p.runAs = "postgres"
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, and no postgres user to run the server as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		p.pgctl("stop", "-m", "immediate")
		if t.Failed() {
			if b, err := os.ReadFile(p.logFile); err == nil {
				t.Logf("--- private postgres log ---\n%s", b)
			}
		}
		_ = os.RemoveAll(dir)
	})
	data := filepath.Join(dir, "data")
	if out, err := p.command("initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	conf := fmt.Sprintf("\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nfsync = off\n%s\n",
		p.port, dir, extraConf)
	p.appendFile(filepath.Join(data, "postgresql.conf"), conf)
	if hba != "" {
		p.writeFile(filepath.Join(data, "pg_hba.conf"), hba)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p.writeFile(filepath.Join(data, filepath.Base(f)), string(b))
	}
	p.start()
	return p
}

func (p *privatePostgres) command(name string, args ...string) *exec.Cmd {
	bin := filepath.Join(pgBin(), name)
	if p.runAs != "" {
		return exec.Command("runuser", append([]string{"-u", p.runAs, "--", bin}, args...)...)
	}
	return exec.Command(bin, args...)
}

func (p *privatePostgres) pgctl(args ...string) {
	all := append([]string{"-D", filepath.Join(p.dir, "data"), "-l", p.logFile, "-w", "-t", "60"}, args...)
	if out, err := p.command("pg_ctl", all...).CombinedOutput(); err != nil && args[0] != "stop" {
		p.t.Fatalf("pg_ctl %s: %v\n%s", args[0], err, out)
	}
}

// start starts the (stopped) server and waits until it accepts connections.
func (p *privatePostgres) start() { p.t.Helper(); p.pgctl("start") }

// crash stops the server the way a crash does (immediate: no checkpoint, connections cut).
func (p *privatePostgres) crash() { p.t.Helper(); p.pgctl("stop", "-m", "immediate") }

// stop shuts the server down cleanly (connections cut; unlogged tables, such as simnet's
// discovery tables, survive, which they do not across a crash).
func (p *privatePostgres) stop() { p.t.Helper(); p.pgctl("stop", "-m", "fast") }

// writeFile writes a file the server reads, owned by the server's user.
func (p *privatePostgres) writeFile(path, content string) {
	p.t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		p.t.Fatal(err)
	}
	p.chown(path)
}

func (p *privatePostgres) appendFile(path, content string) {
	p.t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		p.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		p.t.Fatal(err)
	}
}

func (p *privatePostgres) chown(path string) {
	if p.runAs == "" {
		return
	}
	u, _ := user.Lookup(p.runAs)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(path, uid, gid); err != nil {
		p.t.Fatal(err)
	}
}

// adminURL is the server's postgres database as the postgres user.
func (p *privatePostgres) adminURL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// database creates a database on the private server and returns its URL.
func (p *privatePostgres) database(name string) string {
	p.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.adminURL())
	if err != nil {
		p.t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		p.t.Fatal(err)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, name)
}
