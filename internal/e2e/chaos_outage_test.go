//go:build chaos

package e2e

// Long outages: each dependency is down, in the middle of a run, for longer than every budget of
// the stages that touch it (time is compressed by configuration: a 15 s run deadline, a 10 s
// finish timeout, a run every 20 s). Whatever was in flight, the run ends with its reason exactly
// once, the next run starts on schedule and is exact against simnet's truth, a pending push lands
// once the Pushgateway is back, and no item is lost or counted twice.

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/audius-netmon/netmon/internal/testenv"
)

// outageEnv compresses the lifecycle's budgets so that outages of tens of seconds exceed them.
var outageEnv = append([]string{"NETMON_RUN_DEADLINE=15s", "NETMON_FINISH_TIMEOUT=10s", "NETMON_SCHEDULE=@every 20s"},
	crashEnv...)

// nextRunAfter waits for the first run created after t to end, checks it completed exactly (every
// pushed series equal to the truth, nothing lost or doubled) and records it for the report.
func (s *chaosStack) nextRunAfter(t *testing.T, after time.Time, faults string) int64 {
	t.Helper()
	var run int64
	waitFor(t, 2*time.Minute, "a run started on schedule after the outage", func() bool {
		run = queryInt(s.nmDB, "SELECT coalesce(min(run_id), 0) FROM runs WHERE created_at > $1", after)
		return run > 0
	})
	s.checkComplete(t, run, faults)
	return run
}

// stageCounter reads a counter of a stage's /metrics with the given labels (all of them must be in
// the series' label set); 0 when absent.
func stageCounter(t *testing.T, s *service, name string, labels ...string) float64 {
	t.Helper()
	var sum float64
	body := httpGet(t, "http://"+s.addr+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(line, l)
		}
		if match {
			var v float64
			fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%g", &v)
			sum += v
		}
	}
	return sum
}

// switchedPushgateway is the real Pushgateway behind a listener the test can close (nothing
// listens: connection refused) and open again on the same address.
type switchedPushgateway struct {
	t    *testing.T
	addr string
	real string
	mu   sync.Mutex
	l    net.Listener
	srv  *http.Server
}

func startSwitchedPushgateway(t *testing.T) *switchedPushgateway {
	t.Helper()
	p := &switchedPushgateway{t: t, addr: testenv.FreeAddr(t), real: testenv.Pushgateway(t)}
	u, _ := url.Parse(p.real)
	p.srv = &http.Server{Handler: httputil.NewSingleHostReverseProxy(u), ReadHeaderTimeout: 5 * time.Second}
	p.up()
	t.Cleanup(p.down)
	return p
}

func (p *switchedPushgateway) url() string { return "http://" + p.addr }

func (p *switchedPushgateway) up() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	l, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("pushgateway switch: listen %s again: %v", p.addr, err)
	}
	p.l = l
	go func() { _ = p.srv.Serve(l) }()
}

func (p *switchedPushgateway) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		_ = p.l.Close()
		p.srv.SetKeepAlivesEnabled(false)
		p.l = nil
	}
}

// TestOutagePushgateway: the Pushgateway is down for 40 s, over two scheduled runs. Both complete
// (their metrics stored, the active-run slot freed at once), the older one's push is superseded,
// the newest is pushed as soon as the Pushgateway is back, and nothing is refused meanwhile.
func TestOutagePushgateway(t *testing.T) {
	pg := startSwitchedPushgateway(t)
	s := startChaosStack(t, chaosConfig{scenario: crashScenario(t, 61), env: outageEnv, pushgateway: pg.url()})
	s.pushgateway = pg.real
	first := s.startRun(t)
	s.checkComplete(t, first, "(before the outage)")
	pg.down()
	down := time.Now()
	var during []int64
	waitFor(t, 2*time.Minute, "two scheduled runs finished while the Pushgateway is down", func() bool {
		during = nil
		for _, id := range queryInts(s.nmDB, `SELECT run_id FROM runs WHERE created_at > $1 AND status = 'complete'
			ORDER BY run_id`, down) {
			during = append(during, id)
		}
		return len(during) >= 2
	})
	if st := pushState(s.nmDB, during[len(during)-1]); st != "pending" {
		t.Errorf("newest run %d's push is %q during the outage, want pending", during[len(during)-1], st)
	}
	for _, id := range during[:len(during)-1] {
		if st := pushState(s.nmDB, id); st != "superseded" {
			t.Errorf("run %d's push is %q after a newer run finished, want superseded", id, st)
		}
	}
	if n := stageCounter(t, s.planner, "netmon_planner_starts_refused_total"); n != 0 {
		t.Errorf("%v run starts refused during the Pushgateway outage, want 0", n)
	}
	if v := stageCounter(t, s.aggregator, "netmon_aggregator_push_pending"); v != 1 {
		t.Errorf("netmon_aggregator_push_pending = %v during the outage, want 1", v)
	}
	for time.Since(down) < 40*time.Second {
		time.Sleep(time.Second)
	}
	pg.up()
	outage := time.Since(down).Round(time.Second)
	newest := queryInt(s.nmDB, "SELECT max(run_id) FROM runs WHERE status = 'complete'")
	s.checkComplete(t, newest, fmt.Sprintf("Pushgateway down %s (nothing listening) over %d scheduled runs; the newest run's pending push lands when it is back",
		outage, len(during)))
}

// TestOutageNMDB: the NM DB's Postgres crashes mid-run and stays down 30 s, past the run's
// deadline. Every stage waits in place (no message is poisoned); when it is back the run is cut
// and ends incomplete with the reason, once; its late messages are written; the next scheduled
// run (the one due during the outage could not be created) is exact.
func TestOutageNMDB(t *testing.T) {
	pg := startPrivatePostgres(t, "", "")
	s := startChaosStack(t, chaosConfig{scenario: crashScenario(t, 62), env: outageEnv, nmDB: pg.database("netmon")})
	run := s.startRun(t)
	poll(t, time.Minute, 10*time.Millisecond, "results being loaded", func() bool {
		return queryInt(s.nmDB, "SELECT count(*) FROM fetch_results WHERE run_id = $1", run) > 0
	})
	loaded := queryInt(s.nmDB, "SELECT count(*) FROM fetch_results WHERE run_id = $1", run)
	pg.crash()
	down := time.Now()
	time.Sleep(30 * time.Second)
	pg.start()
	outage := time.Since(down).Round(time.Second)
	t.Logf("NM DB down %s with %d results of run %d loaded", outage, loaded, run)
	if st := s.waitRun(t, run, time.Minute); st != "incomplete" {
		t.Fatalf("run %d ended %s, want incomplete (cut at its deadline)", run, st)
	}
	if _, reason := runRow(t, s.nmDB, run); !strings.Contains(reason, "deadline passed") {
		t.Errorf("run %d's reason %q does not say its deadline passed", run, reason)
	}
	// Everything the run published is written in the end: the late messages too.
	waitFor(t, time.Minute, "every message of the cut run written", func() bool {
		c := countItems(t, s.nmDB, run)
		return c.lost == 0
	})
	if c := countItems(t, s.nmDB, run); c.doubled != 0 {
		t.Errorf("run %d: %d rows counted twice", run, c.doubled)
	}
	if n := stageCounter(t, s.loader, "netmon_bus_messages_total", `outcome="poison"`); n != 0 {
		t.Errorf("the loader poisoned %v messages during the outage, want 0", n)
	}
	s.nextRunAfter(t, down, fmt.Sprintf("NM DB's Postgres crashed mid-run (%d results loaded), down %s, past the 15 s run deadline: "+
		"run %d ended incomplete with the reason, no message poisoned; the next scheduled run", loaded, outage, run))
}

// TestOutageDiscovery: the discovery database is down when a run is due: the run fails at once,
// with the reason, and frees the active-run slot; once discovery is back the next scheduled run is
// exact. (Discovery is stopped, not crashed: simnet's discovery tables are unlogged.)
func TestOutageDiscovery(t *testing.T) {
	pg := startPrivatePostgres(t, "", "")
	s := startChaosStack(t, chaosConfig{scenario: crashScenario(t, 63), env: outageEnv, discoveryDB: pg.database("discovery")})
	pg.stop()
	down := time.Now()
	var failed int64
	waitFor(t, time.Minute, "a scheduled run failed for want of discovery", func() bool {
		failed = queryInt(s.nmDB, "SELECT coalesce(min(run_id), 0) FROM runs WHERE status = 'failed'")
		return failed > 0
	})
	if _, reason := runRow(t, s.nmDB, failed); !strings.Contains(reason, "plan: ") || !strings.Contains(reason, "discovery") {
		t.Errorf("run %d failed with %q, want the planning error naming discovery", failed, reason)
	}
	for time.Since(down) < 25*time.Second {
		time.Sleep(time.Second)
	}
	pg.start()
	back := time.Now()
	s.nextRunAfter(t, back, fmt.Sprintf("discovery's Postgres down %s: the run due then failed with the reason (run %d); the next scheduled run",
		back.Sub(down).Round(time.Second), failed))
}

// TestOutageNATS: the only nats-server is killed mid-run and stays down 30 s, past the run's
// deadline. The aggregator cuts and finishes the run without NATS (announcing it once NATS is
// back), a run due meanwhile ends failed with the reason, and the next scheduled run is exact.
func TestOutageNATS(t *testing.T) {
	nodes := startNATSCluster(t, 1, "")
	s := startChaosStack(t, chaosConfig{scenario: crashScenario(t, 64), env: outageEnv, natsURL: nodes[0].url()})
	run := s.startRun(t)
	poll(t, time.Minute, 10*time.Millisecond, "results being loaded", func() bool {
		return queryInt(s.nmDB, "SELECT count(*) FROM fetch_results WHERE run_id = $1", run) > 0
	})
	loaded := queryInt(s.nmDB, "SELECT count(*) FROM fetch_results WHERE run_id = $1", run)
	nodes[0].kill()
	down := time.Now()
	if st := s.waitRun(t, run, time.Minute); st != "incomplete" && st != "complete" {
		t.Fatalf("run %d ended %s while NATS is down, want it finished (cut at its deadline)", run, st)
	}
	for time.Since(down) < 30*time.Second {
		time.Sleep(time.Second)
	}
	nodes[0].restart()
	outage := time.Since(down).Round(time.Second)
	waitFor(t, time.Minute, "the run's end announced once NATS is back", func() bool {
		return queryRow(s.nmDB, "SELECT announced::text FROM runs WHERE run_id = $1", run) == "true"
	})
	s.nextRunAfter(t, down.Add(outage), fmt.Sprintf("the only nats-server killed mid-run (%d results loaded), down %s, past the 15 s run deadline: "+
		"run %d ended with the reason, announced when NATS was back; the next scheduled run", loaded, outage, run))
}

// TestOutageAtStart: the four stages start while neither NATS nor the NM DB is up, and wait 35 s
// (longer than the 30 s after which a stage used to give up): each answers /healthz at once and
// says on /readyz what it waits for. When both come up, the first scheduled run is exact.
func TestOutageAtStart(t *testing.T) {
	nodes := startNATSCluster(t, 1, "")
	nodes[0].kill()
	pg := startPrivatePostgres(t, "", "")
	nmDB := pg.database("netmon")
	pg.crash()
	s := startChaosStack(t, chaosConfig{scenario: crashScenario(t, 65), env: outageEnv, natsURL: nodes[0].url(), nmDB: nmDB})
	start := time.Now()
	for _, svc := range []*service{s.planner, s.loader, s.aggregator, s.fetchers[0]} {
		waitFor(t, 15*time.Second, svc.name+" /healthz while its dependencies are down", func() bool {
			code, _ := httpStatus("http://" + svc.addr + "/healthz")
			return code == http.StatusOK
		})
		if code, body := httpStatus("http://" + svc.addr + "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not ready: waiting for") {
			t.Errorf("%s /readyz = %d %q, want 503 saying what it waits for", svc.name, code, body)
		}
	}
	for time.Since(start) < 35*time.Second {
		time.Sleep(time.Second)
	}
	for _, svc := range []*service{s.planner, s.loader, s.aggregator, s.fetchers[0]} {
		if code, _ := httpStatus("http://" + svc.addr + "/healthz"); code != http.StatusOK {
			t.Fatalf("%s stopped answering /healthz after %s without its dependencies", svc.name, time.Since(start).Round(time.Second))
		}
	}
	pg.start()
	nodes[0].restart()
	up := time.Now()
	for _, svc := range []*service{s.planner, s.loader, s.aggregator, s.fetchers[0]} {
		waitFor(t, time.Minute, svc.name+" ready once its dependencies are up", func() bool {
			code, _ := httpStatus("http://" + svc.addr + "/readyz")
			return code == http.StatusOK
		})
	}
	s.nextRunAfter(t, start, fmt.Sprintf("stages started with NATS and the NM DB down for %s; the first scheduled run",
		up.Sub(start).Round(time.Second)))
}

// queryInts returns the first column of every row as int64.
func queryInts(dbURL, sql string, args ...any) []int64 {
	var out []int64
	for _, s := range strings.Fields(queryRow(dbURL, "SELECT coalesce(string_agg(x::text, ' '), '') FROM ("+sql+") q(x)", args...)) {
		var n int64
		if _, err := fmt.Sscan(s, &n); err == nil {
			out = append(out, n)
		}
	}
	return out
}
