package cli

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/pipeline"
	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/stage"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// demoScenario is a small network with a few misbehaving nodes, so the demo shows missed users,
// partial sync and retries: one node down, one in read-only mode (500s), one that fails each first
// request and one slow node.
func demoScenario(users, nodes int, seed int64) simnet.Scenario {
	sc := simnet.Scenario{Seed: seed, UserCount: users, NodeCount: nodes}
	if nodes >= 8 {
		sc.Nodes = []simnet.NodeSpec{
			{SPID: int64(nodes), Faults: simnet.Faults{Down: true}},
			{SPID: int64(nodes - 1), Faults: simnet.Faults{ReadOnly: true}},
			{SPID: int64(nodes - 2), Faults: simnet.Faults{FailFirst: 1}},
			{SPID: int64(nodes - 3), Faults: simnet.Faults{Latency: &simnet.Latency{Median: simnet.Duration(20 * time.Millisecond), P99: simnet.Duration(80 * time.Millisecond)}}},
		}
	}
	return sc
}

const demoHelp = `Runs one complete monitoring run over a simulated network, all in this process: it seeds a
simulated discovery database (NETMON_DEMO_DB_discovery, netmon_demo_discovery by default) on
the local Postgres, starts simulated content nodes on loopback (one down, one read-only, one
failing first requests, one slow), runs the four stages with an embedded NATS server into the
NM DB NETMON_DEMO_DB (netmon_demo by default; both databases are dropped and recreated, so give
each installation sharing the Postgres server its own name), prints the run's summary, leaves the metrics on the Pushgateway
(PUSH_GATEWAY_URL, default http://127.0.0.1:9091), and checks every series against the
simulator's ground truth. With --source ethereum the run reads its content-node list from a
simulated Ethereum registry (JSON-RPC on loopback), as the original's final version did.

With --network storage or both (the default), it also runs a storage run over a simulated
storage-v2 network (nodes on loopback: one down, one with its database down, one that lost a
third of its keys, one with extra copies and a bad health signature, one running R 3), keys from
the nodes' upload lists, every key checked; its metrics go to the job network-monitoring-storage,
and its headline values are checked against that simulator's ground truth.

Exit codes: 0 the run completed and matched the ground truth; 1 it did not; 2 usage or
configuration.
`

// demoCmd is `netmon demo`: runs a simulated network through the whole pipeline in this process
// and checks the result against the simulator's truth.
func demoCmd(ctx context.Context, args []string, io IO) int {
	fs := newFlags("demo", "demo [--network clocks|storage|both] [--users N] [--nodes N] [--seed N] [--source discovery|ethereum] [--postgres URL]", demoHelp, 0)
	network := fs.String("network", "both", "which runs to show: clocks, storage or both")
	users := fs.Int("users", 10000, "simulated users")
	nodes := fs.Int("nodes", 12, "simulated content nodes")
	seed := fs.Int64("seed", 1, "scenario seed")
	source := fs.String("source", config.SourceDiscovery, "where the run reads the content-node list: discovery (ursm_content_nodes) or ethereum (a simulated registry)")
	admin := fs.String("postgres", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"a database URL on the local Postgres server; the demo recreates NETMON_DEMO_DB and NETMON_DEMO_DB_discovery there")
	if _, code, ok := fs.parse(args, io); !ok {
		return code
	}
	if *network != "clocks" && *network != "storage" && *network != "both" {
		fmt.Fprintf(io.Stderr, "netmon demo: --network %q: want clocks, storage or both\n", *network)
		return ExitUsage
	}
	if *source != config.SourceDiscovery && *source != config.SourceEthereum {
		fmt.Fprintf(io.Stderr, "netmon demo: --source %q: want discovery or ethereum\n", *source)
		return ExitUsage
	}
	cfg, err := config.LoadEnviron(io.Environ, os.ReadFile)
	if err != nil {
		fmt.Fprintf(io.Stderr, "configuration is invalid:\n%v\n", err)
		return ExitUsage
	}
	log := stage.Logger(cfg, "demo", io.Stderr)
	cfg.ContentNodeSource = *source
	if err := demo(ctx, cfg, demoScenario(*users, *nodes, *seed), *network, *admin, io, log); err != nil {
		fmt.Fprintf(io.Stderr, "netmon demo: %v\n", err)
		return ExitRunFailed
	}
	return ExitOK
}

// demo runs the demo's networks (clocks, storage or both) with cfg and prints each run's summary.
func demo(ctx context.Context, cfg config.Config, sc simnet.Scenario, network, admin string, io IO, log zerolog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	net, err := simnet.Build(sc)
	if err != nil {
		return err
	}
	nodes, err := net.Start(ctx)
	if err != nil {
		return err
	}
	defer nodes.Close()
	discovery, err := store.CreateDatabase(ctx, admin, cfg.DemoDB+"_discovery", true)
	if err != nil {
		return err
	}
	if err := net.SeedDiscovery(ctx, discovery); err != nil {
		return err
	}
	// The demo's NM DB starts empty each time: its embedded NATS (and so its run ids) is new too.
	nm, err := store.CreateDatabase(ctx, admin, cfg.DemoDB, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Stdout, "simulated network: %d users, %d content nodes; discovery DB %s\n",
		net.Users(), len(net.SPIDs()), redactURL(discovery))

	cfg.DiscoveryDB = config.Postgres{URL: config.Secret(discovery)}
	cfg.NMDB = config.Postgres{URL: config.Secret(nm)}
	if cfg.ContentNodeSource == config.SourceEthereum {
		reg, err := net.StartRegistry(ctx)
		if err != nil {
			return err
		}
		defer reg.Close()
		cfg.Ethereum = config.Ethereum{ProviderURL: config.Secret(reg.URL), Registry: simnet.RegistryAddress}
		fmt.Fprintf(io.Stdout, "content nodes from a simulated Ethereum registry: ETH_PROVIDER_URL=%s ETH_REGISTRY_ADDRESS=%s\n",
			reg.URL, simnet.RegistryAddress)
	}
	cfg.Deregistered = nodes.Deregistered()
	cfg.FoundationSPIDs = net.Foundation()
	cfg.Schedule = "off"
	if !io.isSet("PUSH_GATEWAY_URL") {
		cfg.PushGatewayURL = "http://127.0.0.1:9091"
	}
	cfg.FetchTimeout = 2 * time.Second
	var storage *storageDemo
	if network != "clocks" {
		if storage, err = startStorageDemo(ctx, &cfg, sc.Seed, io); err != nil {
			return err
		}
		defer storage.close()
	}

	e, err := pipeline.Start(ctx, cfg, stage.BaseLogger(cfg, io.Stderr).Level(zerolog.WarnLevel))
	if err != nil {
		return err
	}
	defer e.Stop() //nolint:errcheck
	cfg.NATSURL = e.URL
	if network != "storage" {
		if err := demoClocks(ctx, cfg, net, nodes, io, log); err != nil {
			return err
		}
	}
	if storage != nil {
		return storage.run(ctx, cfg, io, log)
	}
	return nil
}

// demoClocks runs the clocks run of the demo and checks it against the simulator's truth.
func demoClocks(ctx context.Context, cfg config.Config, net *simnet.Network, nodes *simnet.Nodes, io IO, log zerolog.Logger) error {
	start := time.Now()
	ev, err := startAndWatch(ctx, cfg, lifecycle.Clocks, true, io.Stdout, log)
	if err != nil {
		return err
	}
	took := time.Since(start)
	if err := printSummary(ctx, cfg, ev.GetRunId(), io.Stdout); err != nil {
		return err
	}
	if ev.GetStatus() != netmonv1.RunStatus_RUN_STATUS_COMPLETE {
		return fmt.Errorf("run %d ended %s%s", ev.GetRunId(), statusName(ev.GetStatus()), reasonSuffix(ev.GetReason()))
	}
	fmt.Fprintf(io.Stdout, "\nrun %d complete in %s; metrics pushed to %s/metrics (job network-monitoring)\n",
		ev.GetRunId(), took.Round(time.Millisecond), cfg.PushGatewayURL)
	return compareTruth(ctx, cfg, ev.GetRunId(), net.Truth(nodes), io)
}

// compareTruth checks the run's stored metrics against the simulator's ground truth.
func compareTruth(ctx context.Context, cfg config.Config, run int64, truth simnet.Truth, io IO) error {
	st, err := store.Open(ctx, cfg.NMDB.ConnString(), 2)
	if err != nil {
		return err
	}
	defer st.Close()
	samples, err := st.Samples(ctx, run)
	if err != nil {
		return err
	}
	got := map[string]float64{}
	for _, s := range samples {
		got[s.Key()] = s.Value
	}
	var diffs []string
	want := truth.Samples()
	for _, w := range want {
		k := store.Sample{Name: w.Name, Labels: w.Labels}.Key()
		if g, ok := got[k]; !ok || g != w.Value {
			diffs = append(diffs, fmt.Sprintf("%s = %v, ground truth %v", k, g, w.Value))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		for _, d := range diffs {
			fmt.Fprintln(io.Stderr, d)
		}
		return fmt.Errorf("%d of %d series differ from the simulator's ground truth", len(diffs), len(want))
	}
	fmt.Fprintf(io.Stdout, "all %d series equal the simulator's ground truth\n", len(want))
	return nil
}

// redactURL is a database URL with its password masked.
func redactURL(u string) string { return config.Postgres{URL: config.Secret(u)}.String() }
