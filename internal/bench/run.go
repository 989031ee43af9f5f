package bench

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// Spec is one complete run to measure.
type Spec struct {
	Name  string // label in the report
	Users int    // generated users
	Nodes int    // content nodes (SP ids 1..Nodes)
	// Shape is the network's shares: "" for simnet's defaults (a little of every oddity), or
	// ShapeProduction for the original's production network (simnet.ProductionShares).
	Shape    string
	Latency  time.Duration // every content node answers after this long (0: at once)
	Hung     []int64       // SP ids of nodes that accept connections and never answer
	Fetchers int           // fetcher processes (default 1)
	// Env is added to every stage's environment (NETMON_WORK_BATCH_SIZE=1000, ...).
	Env []string
	// LoaderDBParams are appended to the loader's NETMON_DB_URL query, for session settings such
	// as synchronous_commit=off (pgx sends unknown URL parameters as run-time parameters).
	LoaderDBParams string
	// Profile runs each stage through the bench binary with CPU and heap profiles.
	Profile bool
	// Ceilings measures COPY, JetStream and content-node ceilings after the run, with the run's
	// message sizes and row counts.
	Ceilings bool
	// FetchersAfterPlan starts the fetchers only once the planner has queued every work item, so
	// the fetch window measures the fetchers alone.
	FetchersAfterPlan bool
	// StorageKeys > 0 makes this a storage run (issue 12) over a simulated storage network of
	// Nodes nodes whose discovery database names about StorageKeys keys, of which the run checks
	// a sample as Env sets it (NETMON_STORAGE_SAMPLE_SIZE); Users is unused.
	StorageKeys int
	// LoaderAfterFetch (with FetchersAfterPlan) starts the loader only once every result is in
	// the stream, so that on a small machine the loader's Postgres writes do not share the cores
	// with the fetchers during the fetch window. The run then loads from stream history.
	LoaderAfterFetch bool
}

// Stage is what one stage process used over the run.
type Stage struct {
	Name    string
	PeakRSS int64
	CPU     time.Duration
	Profile string // CPU profile path, when profiled
}

// Result is a measured run. Offsets are from the moment the run was requested.
type Result struct {
	Spec Spec
	// Of the hung node (Spec.Hung): its items by outcome ("timeout 4, circuit_open 36") and the
	// requests it received.
	HungOutcomes string
	HungRequests int64
	Seed         time.Duration // simnet build + discovery seeding (not part of the run)

	Users, UserBatches, WorkItems, WalletChecks int64
	ClockRows                                   int64
	CIDs, CIDItems                              int64 // CIDs checked (sampled or all) and their work items
	UserBytes, ResultBytes                      int64 // payload bytes of user batches and results

	// Load is the machine's load average (1, 5, 15 min) just before the run was requested: other
	// sessions' work shares the cores.
	Load          string
	EndToEnd      time.Duration // run requested → "complete" event (metrics pushed)
	PlanDone      time.Duration // manifest stored in the stream (planner finished)
	Discovery     time.Duration // the planner's own measure (manifest.discovery_duration)
	FirstResult   time.Duration
	FetchStart    time.Duration // fetchers ready, when started after the plan (FetchersAfterPlan)
	LoadStart     time.Duration // loader ready, when started after the fetch (LoaderAfterFetch)
	Written       time.Duration // the loader's last batch or result row committed (sampled every 200 ms)
	LastResult    time.Duration
	FirstData     time.Duration // first snapshot message stored
	Loaded        time.Duration // "loaded" event
	Complete      time.Duration // "complete" event
	Status        string
	Stages        []Stage
	SimnetCPU     time.Duration // the bench process (fake content nodes, driver)
	NATSCPU       time.Duration // the nats-server process
	PostgresCPU   time.Duration // every postgres process (all databases)
	MachineCPU    time.Duration // the whole machine, other users' work included
	NMDBSize      int64         // pg_database_size after the run
	RunSize       int64         // the run's partitions and ledger rows
	TruthSeries   int
	TruthMismatch int

	Ceilings *Ceilings
	Storage  *StorageFacts // of a storage run
}

// runner holds what every run shares.
type runner struct {
	opts Options
	log  zerolog.Logger
	// pushgateway is the base URL of the Pushgateway all runs push to.
	pushgateway string
	// net is the simulated network of the last run, reused by the next run of the same shape.
	net          *seeded
	discoveryURL string
}

// seeded is a started simulated network and its seeded discovery database.
type seeded struct {
	key       string
	net       *simnet.Network
	nodes     *simnet.Nodes
	registry  *simnet.Registry // with Options.Source ethereum
	discovery string
	took      time.Duration
	storage   *storageSeeded // a storage network instead (Spec.StorageKeys)
}

// network returns the simulated network for spec, building, starting and seeding it unless the
// previous run used the same one (seeding is not part of a run's time; its duration is reported
// with the first run that needed it).
func (r *runner) network(ctx context.Context, spec Spec, res *Result) (*seeded, error) {
	key := fmt.Sprintf("%d/%d/%s/%v/%s/%d", spec.Users, spec.Nodes, spec.Latency, spec.Hung, spec.Shape, spec.StorageKeys)
	if r.net != nil && r.net.key == key {
		res.Seed = r.net.took
		return r.net, nil
	}
	r.closeNetwork()
	start := time.Now()
	if spec.StorageKeys > 0 {
		s, discovery, err := seedStorage(ctx, r.opts.Postgres, spec)
		if err != nil {
			return nil, err
		}
		r.net = &seeded{key: key, discovery: discovery, took: time.Since(start), storage: s}
		res.Seed = r.net.took
		return r.net, nil
	}
	sc := simnet.Scenario{Seed: 1, UserCount: spec.Users, NodeCount: spec.Nodes}
	if spec.Shape == ShapeProduction {
		sh := simnet.ProductionShares()
		sc.Shares = &sh
	}
	for sp := int64(1); sp <= int64(spec.Nodes); sp++ {
		var f simnet.Faults
		if spec.Latency > 0 {
			f.Latency = &simnet.Latency{Median: simnet.Duration(spec.Latency)}
		}
		f.Hang = slices.Contains(spec.Hung, sp)
		if f != (simnet.Faults{}) {
			sc.Nodes = append(sc.Nodes, simnet.NodeSpec{SPID: sp, Faults: f})
		}
	}
	network, err := simnet.Build(sc)
	if err != nil {
		return nil, err
	}
	// The nodes outlive this run's context: the next run may reuse them.
	nodes, err := network.Start(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	var registry *simnet.Registry
	if r.opts.Source == config.SourceEthereum {
		if registry, err = network.StartRegistry(context.WithoutCancel(ctx)); err != nil {
			nodes.Close()
			return nil, err
		}
	}
	discovery, err := store.CreateDatabase(ctx, r.opts.Postgres, "netmon_bench_discovery", true)
	if err == nil {
		err = network.SeedDiscovery(ctx, discovery)
	}
	if err != nil {
		nodes.Close()
		if registry != nil {
			registry.Close()
		}
		return nil, err
	}
	r.net = &seeded{key: key, net: network, nodes: nodes, registry: registry, discovery: discovery, took: time.Since(start)}
	r.discoveryURL = discovery
	res.Seed = r.net.took
	return r.net, nil
}

func (r *runner) closeNetwork() {
	if r.net != nil && r.net.storage != nil {
		r.net.storage.close()
		r.net = nil
	}
	if r.net != nil {
		r.net.nodes.Close()
		if r.net.registry != nil {
			r.net.registry.Close()
		}
		r.net = nil
	}
}

func (r *runner) run(ctx context.Context, spec Spec) (res *Result, err error) {
	if spec.Fetchers < 1 {
		spec.Fetchers = 1
	}
	res = &Result{Spec: spec}
	ctx, cancel := context.WithTimeout(ctx, r.opts.RunTimeout)
	defer cancel()

	net, err := r.network(ctx, spec, res)
	if err != nil {
		return nil, err
	}
	network, nodes, discovery := net.net, net.nodes, net.discovery
	var hungBefore int64
	var storageBefore []simnet.StorageStats
	if net.storage != nil {
		storageBefore = net.storage.stats()
	} else {
		hungBefore = hungRequests(nodes, spec.Hung)
	}
	nmDB, err := store.CreateDatabase(ctx, r.opts.Postgres, "netmon_bench_nm", true)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, nmDB, 4)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return nil, err
	}

	ns, err := startNATS(ctx, r.opts.NATSServer)
	if err != nil {
		return nil, err
	}
	defer ns.Close()

	env := append(os.Environ(),
		"NETMON_NATS_URL="+ns.URL,
		"NETMON_DB_URL="+nmDB,
		"NETMON_DISCOVERY_DB_URL="+discovery,
		"PUSH_GATEWAY_URL="+r.pushgateway,
		"NETMON_SCHEDULE=off",
		"NETMON_LOG_FORMAT=json",
		"NETMON_LOG_LEVEL=warn",
		"NETMON_RUN_DEADLINE=30m",
	)
	if net.storage != nil {
		env = append(env, net.storage.env()...)
	} else {
		env = append(env, "FOUNDATION_NODES_SPIDS="+joinInts(network.Foundation()),
			"DEREGISTERED_CONTENT_NODES="+strings.Join(nodes.Deregistered(), ","))
	}
	if net.registry != nil {
		env = append(env, "NETMON_CONTENT_NODES_SOURCE=ethereum", "ETH_PROVIDER_URL="+net.registry.URL,
			"ETH_REGISTRY_ADDRESS="+simnet.RegistryAddress)
	}
	if spec.FetchersAfterPlan {
		// The plan must be queued whole before the fetchers start: the planner must not pace
		// itself on a loader that is not meant to keep up yet.
		env = append(env, "NETMON_PARTS_AHEAD=0")
	}
	env = append(env, spec.Env...)
	var profDir string
	if spec.Profile {
		profDir = filepath.Join(r.opts.OutDir, "profiles", spec.Name)
		if err := os.MkdirAll(profDir, 0o755); err != nil {
			return nil, err
		}
	}
	names := []string{"planner", "loader", "aggregator"}
	for i := range spec.Fetchers {
		names = append(names, "fetcher"+strconv.Itoa(i+1))
	}
	procs := make([]*proc, 0, len(names)) // in start order; the fetchers start concurrently
	var procsMu sync.Mutex
	defer func() {
		for _, p := range procs {
			p.Stop(20 * time.Second)
		}
		if err != nil {
			for _, p := range procs {
				r.log.Error().Str("process", p.name).Msg(lastLines(p.Output(), 20))
			}
		}
	}()
	startStage := func(name string) error {
		kind := strings.TrimRight(name, "0123456789")
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		penv := append(slices.Clone(env), "NETMON_HTTP_ADDR="+addr)
		if kind == "loader" && spec.LoaderDBParams != "" {
			penv = append(penv, "NETMON_DB_URL="+withParams(nmDB, spec.LoaderDBParams))
		}
		bin, args := filepath.Join(r.opts.BinDir, "netmon-"+kind), []string(nil)
		if spec.Profile {
			bin, args = r.opts.Self, []string{"stage", "-profile", filepath.Join(profDir, name), kind}
		}
		p, err := startProc(name, bin, penv, args...)
		if err != nil {
			return err
		}
		procsMu.Lock()
		procs = append(procs, p)
		procsMu.Unlock()
		return waitHTTP(ctx, "http://"+addr+"/readyz", p, time.Minute)
	}
	for _, name := range names {
		if spec.FetchersAfterPlan && strings.HasPrefix(name, "fetcher") || spec.LoaderAfterFetch && name == "loader" {
			continue
		}
		if err := startStage(name); err != nil {
			return nil, err
		}
	}

	conn, err := bus.Connect(ns.URL, "", "netmon-bench", r.log)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	err = conn.WaitConnected(wctx)
	wcancel()
	if err != nil {
		return nil, err
	}
	events, stopEvents, err := runEvents(ctx, conn)
	if err != nil {
		return nil, err
	}
	defer stopEvents()

	res.Load = loadAvg()
	cpu0, pg0, mach0 := selfUsage(), postgresCPU(), machineCPU()
	nats0, _ := readUsage(ns.cmd.Process.Pid)
	start := time.Now()
	kind := ""
	if net.storage != nil {
		kind = "storage"
	}
	run, err := requestRun(ctx, conn, kind)
	if err != nil {
		return nil, err
	}
	if spec.FetchersAfterPlan {
		// The whole plan is queued before any fetcher exists: the fetch window then measures the
		// fetchers alone, not how fast the planner feeds them.
		manifest, err := waitManifest(ctx, conn, run)
		if err != nil {
			return nil, err
		}
		var fetchers []string
		for _, name := range names {
			if strings.HasPrefix(name, "fetcher") {
				fetchers = append(fetchers, name)
			}
		}
		errs := make(chan error, len(fetchers))
		for _, name := range fetchers {
			// Started together, so that none gets a head start on the queue.
			go func() { errs <- startStage(name) }()
		}
		for range fetchers {
			if err := <-errs; err != nil {
				return nil, err
			}
		}
		res.FetchStart = time.Since(start)
		if spec.LoaderAfterFetch {
			if err := waitResults(ctx, conn, run, manifest.GetWorkItems()); err != nil {
				return nil, err
			}
			if err := startStage("loader"); err != nil {
				return nil, err
			}
			res.LoadStart = time.Since(start)
		}
	}
	written := watchWrites(ctx, nmDB, run, start)
	var final *netmonv1.RunEvent
	for final == nil {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("run %d of %s: %w", run, spec.Name, ctx.Err())
		case ev := <-events:
			if ev.GetRunId() != run {
				continue
			}
			switch ev.GetStatus() {
			case netmonv1.RunStatus_RUN_STATUS_COMPLETE, netmonv1.RunStatus_RUN_STATUS_INCOMPLETE, netmonv1.RunStatus_RUN_STATUS_FAILED:
				final = ev
			}
		}
	}
	res.EndToEnd = time.Since(start)
	res.Written = written()
	res.SimnetCPU = selfUsage() - cpu0
	res.PostgresCPU, res.MachineCPU = postgresCPU()-pg0, machineCPU()-mach0
	if nats1, err := readUsage(ns.cmd.Process.Pid); err == nil {
		res.NATSCPU = nats1.CPU - nats0.CPU
	}
	res.Status = strings.ToLower(strings.TrimPrefix(final.GetStatus().String(), "RUN_STATUS_"))
	for _, p := range procs {
		u, uerr := readUsage(p.cmd.Process.Pid)
		if uerr != nil {
			return nil, fmt.Errorf("%s: %w (exited?)\n%s", p.name, uerr, lastLines(p.Output(), 20))
		}
		s := Stage{Name: p.name, PeakRSS: u.PeakRSS, CPU: u.CPU}
		if spec.Profile {
			s.Profile = filepath.Join(profDir, p.name) + ".cpu.pprof"
		}
		res.Stages = append(res.Stages, s)
	}
	slices.SortFunc(res.Stages, func(a, b Stage) int { return slices.Index(names, a.Name) - slices.Index(names, b.Name) })
	if final.GetStatus() != netmonv1.RunStatus_RUN_STATUS_COMPLETE {
		return nil, fmt.Errorf("run %d of %s ended %s: %s", run, spec.Name, res.Status, final.GetReason())
	}

	if err := streamTimes(ctx, conn, run, start, res); err != nil {
		return nil, err
	}
	if net.storage != nil {
		if err := net.storage.facts(ctx, st, nmDB, run, storageBefore, res); err != nil {
			return nil, err
		}
		return res, nil
	}
	if err := r.dbFacts(ctx, st, nmDB, run, res); err != nil {
		return nil, err
	}
	if err := compareTruth(ctx, st, run, network.Truth(nodes).Samples(), res); err != nil {
		return nil, err
	}
	if len(spec.Hung) > 0 {
		res.HungRequests = hungRequests(nodes, spec.Hung) - hungBefore
		health, err := st.NodeHealth(ctx, run)
		if err != nil {
			return nil, err
		}
		for _, h := range health {
			if slices.Contains(spec.Hung, h.SPID) {
				var parts []string
				for _, o := range slices.Sorted(maps.Keys(h.Outcomes)) {
					parts = append(parts, fmt.Sprintf("%s %d", o, h.Outcomes[o]))
				}
				res.HungOutcomes = strings.Join(parts, ", ")
			}
		}
	}
	if spec.Ceilings {
		c, err := r.ceilings(ctx, ns, nmDB, run, network.Foundation(), res)
		if err != nil {
			return nil, fmt.Errorf("ceilings: %w", err)
		}
		res.Ceilings = c
	}
	return res, nil
}

// watchWrites samples, every 200 ms until the returned function is called, how many of the
// run's batches and results the loader has committed, and reports when that count last grew:
// the end of the loader's writes, before it builds the run's status tables.
func watchWrites(ctx context.Context, url string, run int64, start time.Time) func() time.Duration {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan time.Duration, 1)
	go func() {
		var last int64
		var at time.Duration
		defer func() { done <- at }()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return
		}
		defer conn.Close(context.WithoutCancel(ctx))
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			var n int64
			if conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM loaded_batches WHERE run_id = $1) +
				(SELECT count(*) FROM fetch_results WHERE run_id = $1)`, run).Scan(&n) == nil && n > last {
				last, at = n, time.Since(start)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() time.Duration {
		cancel()
		return <-done
	}
}

// waitManifest waits until the run's manifest is in the data stream (the plan is complete).
func waitManifest(ctx context.Context, conn *bus.Conn, run int64) (*netmonv1.Manifest, error) {
	subject := message.SnapshotSubject(run, message.KindManifest)
	for {
		data, ok, err := conn.LastMessage(ctx, message.StreamData, subject)
		switch {
		case err != nil:
			return nil, err
		case ok:
			m := &netmonv1.Manifest{}
			if err := proto.Unmarshal(data, m); err != nil {
				return nil, fmt.Errorf("manifest of run %d: %w", run, err)
			}
			return m, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the manifest of run %d: %w", run, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitResults waits until the data stream holds n results of the run (clock and CID).
func waitResults(ctx context.Context, conn *bus.Conn, run, n int64) error {
	for {
		got, err := conn.Count(ctx, message.StreamData, message.ResultFilter(run))
		if err != nil {
			return err
		}
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %d results of run %d (%d stored): %w", n, run, got, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// requestRun asks the planner for a run of network ("" or "storage"), as `netmon run` does.
func requestRun(ctx context.Context, conn *bus.Conn, network string) (int64, error) {
	req, _ := proto.Marshal(&netmonv1.StartRunRequest{RequestedBy: "netmon-bench", Network: network})
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	data, err := conn.Request(rctx, message.StartSubject, req)
	if err != nil {
		return 0, fmt.Errorf("start run: %w", err)
	}
	var reply netmonv1.StartRunReply
	if err := proto.Unmarshal(data, &reply); err != nil {
		return 0, fmt.Errorf("start run: %w", err)
	}
	if reply.GetError() != "" {
		return 0, fmt.Errorf("start run: %s", reply.GetError())
	}
	return reply.GetRunId(), nil
}

// runEvents delivers every run status event from now on (and the stream's history).
func runEvents(ctx context.Context, conn *bus.Conn) (<-chan *netmonv1.RunEvent, func(), error) {
	ch := make(chan *netmonv1.RunEvent, 64)
	stop, err := conn.Follow(ctx, message.StreamRuns, message.RunsStreamSubjects, func(m bus.Stored) {
		if s, err := message.ParseSubject(m.Subject); err != nil || !s.IsRunEvent() {
			return // the run's record, not an event
		}
		var ev netmonv1.RunEvent
		if proto.Unmarshal(m.Data, &ev) == nil {
			select {
			case ch <- &ev:
			default:
			}
		}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("run events: %w", err)
	}
	return ch, stop, nil
}

// streamTimes reads when the broker stored each of the run's messages (headers only) and fills
// the stage offsets, counts and payload sizes.
func streamTimes(ctx context.Context, conn *bus.Conn, run int64, start time.Time, res *Result) error {
	type span struct {
		first, last time.Time
		n, bytes    int64
	}
	spans := map[string]*span{}
	note := func(kind string, t time.Time, size int64) {
		s := spans[kind]
		if s == nil {
			s = &span{first: t, last: t}
			spans[kind] = s
		}
		if t.Before(s.first) {
			s.first = t
		}
		if t.After(s.last) {
			s.last = t
		}
		s.n++
		s.bytes += size
	}
	read := func(stream string, filters []string, kindOf func(string) string) error {
		h, err := conn.Headers(ctx, stream, filters)
		if err != nil {
			return err
		}
		for got := uint64(0); got < h.Pending; got++ {
			m, err := h.Next(2 * time.Second)
			if err != nil {
				return fmt.Errorf("stream %s: %d of %d messages read: %w", stream, got, h.Pending, err)
			}
			note(kindOf(m.Subject), m.Time, m.Size)
		}
		return nil
	}
	last := func(s string) string { return s[strings.LastIndexByte(s, '.')+1:] }
	if err := read(message.StreamData, message.RunDataFilters(run), func(s string) string {
		if subj, err := message.ParseSubject(s); err == nil && subj.Family == message.FamilyResult {
			return "result"
		}
		return last(s)
	}); err != nil {
		return fmt.Errorf("data stream: %w", err)
	}
	if err := read(message.StreamRuns, []string{message.RunFilter(run)}, last); err != nil {
		return fmt.Errorf("runs stream: %w", err)
	}
	off := func(kind string, lastOne bool) time.Duration {
		s := spans[kind]
		if s == nil {
			return 0
		}
		if lastOne {
			return s.last.Sub(start)
		}
		return s.first.Sub(start)
	}
	res.PlanDone = off("manifest", true)
	res.FirstResult, res.LastResult = off("result", false), off("result", true)
	res.Loaded, res.Complete = off(string(lifecycle.Loaded), true), off(string(lifecycle.Complete), true)
	res.FirstData = off("run", false)
	if s := spans["users"]; s != nil {
		res.UserBatches, res.UserBytes = s.n, s.bytes
	}
	if s := spans["result"]; s != nil {
		res.ResultBytes = s.bytes
	}
	return nil
}

// dbFacts reads the run's counts and sizes from the NM DB.
func (r *runner) dbFacts(ctx context.Context, st *store.Store, nmDB string, run int64, res *Result) error {
	rr, err := st.GetRun(ctx, run)
	if err != nil {
		return err
	}
	deref := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	res.Users, res.WorkItems, res.WalletChecks = deref(rr.ExpectedUsers), deref(rr.ExpectedItems), deref(rr.ExpectedChecks)
	if rr.DiscoverySeconds != nil {
		res.Discovery = time.Duration(*rr.DiscoverySeconds * float64(time.Second))
	}
	conn, err := pgx.Connect(ctx, nmDB)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	q := fmt.Sprintf(`SELECT pg_database_size(current_database()),
		(SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c WHERE c.relname LIKE '%%\_r%[1]d' AND c.relkind = 'r'),
		(SELECT coalesce(sum(cardinality(wallets)), 0) FROM clock_results_r%[1]d),
		(SELECT coalesce(sampled_cids, 0) FROM runs WHERE run_id = %[1]d),
		(SELECT count(*) FROM fetch_results WHERE run_id = %[1]d AND kind <> 'clock')`, run)
	return conn.QueryRow(ctx, q).Scan(&res.NMDBSize, &res.RunSize, &res.ClockRows, &res.CIDs, &res.CIDItems)
}

// hungRequests is how many requests the hung nodes have received so far.
func hungRequests(nodes *simnet.Nodes, hung []int64) int64 {
	var n int64
	for _, sp := range hung {
		n += nodes.Stats(sp).Requests
	}
	return n
}

// compareTruth checks the stored metrics against the simulator's ground truth (want), so a fast
// run is also a right one.
func compareTruth(ctx context.Context, st *store.Store, run int64, want []simnet.Sample, res *Result) error {
	samples, err := st.Samples(ctx, run)
	if err != nil {
		return err
	}
	got := map[string]float64{}
	for _, s := range samples {
		got[s.Key()] = s.Value
	}
	for _, w := range want {
		res.TruthSeries++
		k := store.Sample{Name: w.Name, Labels: w.Labels}.Key()
		if g, ok := got[k]; !ok || g != w.Value {
			res.TruthMismatch++
		}
	}
	return nil
}

func joinInts(v []int64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatInt(x, 10)
	}
	return strings.Join(s, ",")
}

func withParams(url, params string) string {
	if strings.Contains(url, "?") {
		return url + "&" + params
	}
	return url + "?" + params
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
