package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/audius-netmon/netmon/internal/signing"
	"github.com/audius-netmon/netmon/internal/simnet"
)

const defaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// config is every setting of the command, validated before anything listens.
type config struct {
	network      string // networkLegacy or networkStorage
	scenario     simnet.Scenario
	storage      simnet.StorageScenario
	discoveryURL string // empty: create a fresh database on postgres
	postgres     string
	keepDB       bool
	truthPath    string
	bench        bool
	delegates    map[int64]string
	registry     bool // serve a fake Ethereum registry of the nodes
	regFaults    simnet.RegistryFaults
}

func parse(args []string, lookupEnv func(string) (string, bool)) (config, error) {
	fs := flag.NewFlagSet("netmon-simnet", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	users := fs.Int("users", 10000, "number of generated users (storage: default 1000)")
	nodes := fs.Int("nodes", 12, "number of generated content nodes (SP ids 1..N)")
	seed := fs.Int64("seed", 1, "seed of every generated value")
	faults := fs.String("faults", "", "node faults, e.g. 3=down,4=slow:200ms:2s,5=failfirst:1+reorder,6=deregistered (storage: 3=down,4=dbdown,5=missing:0.3+r:3; docs/simnet.md)")
	scenarioPath := fs.String("scenario", "", "scenario JSON file; --users, --nodes, --seed and --faults override it")
	discoveryURL := fs.String("discovery-url", "", "empty Postgres database to seed (default: create one on --postgres)")
	postgres := fs.String("postgres", "", "server to create the discovery database on (default $NETMON_SIMNET_POSTGRES or "+defaultPostgres+")")
	keepDB := fs.Bool("keep-db", false, "keep the created discovery database on exit")
	truthPath := fs.String("truth", "", "write the expected metrics (simnet.Truth as JSON) to this file")
	bench := fs.Bool("bench", false, "build and seed only, report the timings and exit")
	delegates := fs.String("delegate", "", "verify request signatures: SP=DELEGATE_ADDRESS[,...] (counts only, as the real node)")
	registry := fs.Bool("registry", false, "also serve the nodes from a fake Ethereum registry (JSON-RPC), for NETMON_CONTENT_NODES_SOURCE=ethereum")
	regFaults := fs.String("registry-faults", "", "the fake registry's faults: revert, garbage, short, huge, slow:DURATION (comma-separated)")
	network := fs.String("network", networkLegacy, "the network to simulate: legacy (replica sets and clocks) or storage (storage v2: rendezvous placement, blobs, signed health)")
	tracks := fs.Int("tracks", 2000, "storage: generated tracks")
	playlists := fs.Int("playlists", 300, "storage: generated playlists")
	validators := fs.Int("validators", 0, "storage: how many of the nodes register as validator (the rest as content-node)")
	replication := fs.Int("r", simnet.DefaultStorageR, "storage: the replication factor the nodes run with (r:N in --faults sets one node's)")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return config{}, helpError{usage(fs)}
	} else if err != nil {
		return config{}, fmt.Errorf("%w: %w\n%s", errUsage, err, usage(fs))
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("%w: unexpected arguments %q\n%s", errUsage, fs.Args(), usage(fs))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var problems []string
	if *network != networkLegacy && *network != networkStorage {
		return config{}, fmt.Errorf("%w: --network %q: want %s or %s", errUsage, *network, networkLegacy, networkStorage)
	}
	c := config{network: *network, discoveryURL: *discoveryURL, postgres: *postgres, keepDB: *keepDB, truthPath: *truthPath, bench: *bench}
	if c.postgres == "" {
		c.postgres = defaultPostgres
		if v, ok := lookupEnv("NETMON_SIMNET_POSTGRES"); ok && v != "" {
			c.postgres = v
		}
	}
	if *network == networkStorage {
		c.registry = true // the storage network's node list
		return parseStorage(fs, set, c, storageFlags{users: *users, nodes: *nodes, seed: *seed, tracks: *tracks,
			playlists: *playlists, validators: *validators, r: *replication, faults: *faults, scenario: *scenarioPath,
			regFaults: *regFaults, bench: *bench, delegates: *delegates})
	}
	for _, f := range []string{"tracks", "playlists", "validators", "r"} {
		if set[f] {
			problems = append(problems, "--"+f+" needs --network storage")
		}
	}
	if *scenarioPath != "" {
		s, err := simnet.LoadScenario(*scenarioPath)
		if err != nil {
			problems = append(problems, err.Error())
		}
		c.scenario = s
	} else {
		c.scenario = simnet.Scenario{Seed: *seed, NodeCount: *nodes, UserCount: *users}
	}
	if set["users"] {
		c.scenario.UserCount = *users
	}
	if set["nodes"] {
		c.scenario.NodeCount = *nodes
	}
	if set["seed"] {
		c.scenario.Seed = *seed
	}
	if *users < 0 || *nodes < 0 {
		problems = append(problems, "--users and --nodes must not be negative")
	}
	if *faults != "" {
		specs, err := simnet.ParseFaults(*faults)
		if err != nil {
			problems = append(problems, err.Error())
		}
		c.scenario = c.scenario.WithNodes(specs)
	}
	if *delegates != "" {
		c.delegates = map[int64]string{}
		for _, item := range strings.Split(*delegates, ",") {
			sp, addr, ok := strings.Cut(strings.TrimSpace(item), "=")
			id, err := strconv.ParseInt(sp, 10, 64)
			if !ok || err != nil || !strings.HasPrefix(addr, "0x") || len(addr) != 42 {
				problems = append(problems, fmt.Sprintf("--delegate: %q is not SP=0x<40 hex digits>", item))
				continue
			}
			c.delegates[id] = addr
		}
	}
	c.registry = *registry
	c.regFaults, problems = registryFaults(*regFaults, c.registry, problems)
	if c.bench && c.registry {
		problems = append(problems, "--bench starts no nodes, so it serves no registry")
	}
	if c.bench && c.truthPath != "" {
		problems = append(problems, "--bench starts no nodes, so it writes no truth")
	}
	if len(problems) > 0 {
		return config{}, fmt.Errorf("%w: %s", errUsage, strings.Join(problems, "; "))
	}
	return c, nil
}

// registryFaults parses --registry-faults, which needs a registry.
func registryFaults(spec string, registry bool, problems []string) (simnet.RegistryFaults, []string) {
	var f simnet.RegistryFaults
	if spec == "" {
		return f, problems
	}
	f, err := simnet.ParseRegistryFaults(spec)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if !registry {
		problems = append(problems, "--registry-faults needs --registry")
	}
	return f, problems
}

// errUsage marks a bad command line or scenario: the command exits 2.
var errUsage = errors.New("usage")

// helpError is --help: the usage, printed on stdout, and exit 0.
type helpError struct{ usage string }

func (h helpError) Error() string { return h.usage }

func usage(fs *flag.FlagSet) string {
	var b strings.Builder
	b.WriteString("usage: netmon-simnet [flags]\n")
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return b.String()
}

// run builds the network, starts its nodes, seeds the discovery database, writes the truth, and
// serves until ctx ends.
func run(ctx context.Context, args []string, out io.Writer, lookupEnv func(string) (string, bool)) (err error) {
	c, err := parse(args, lookupEnv)
	var help helpError
	if errors.As(err, &help) {
		_, err = io.WriteString(out, help.usage)
		return err
	}
	if err != nil {
		return err
	}
	if c.network == networkStorage {
		return runStorage(ctx, c, out)
	}
	s := c.scenario
	start := time.Now()
	n, err := simnet.Build(s)
	if err != nil {
		return err
	}
	built := time.Since(start)

	var nodes *simnet.Nodes
	if !c.bench {
		opts := simnet.Options{}
		if c.delegates != nil {
			opts.Verify, opts.Delegates = signing.Recover, c.delegates
		}
		if nodes, err = n.StartWith(ctx, opts); err != nil {
			return err
		}
		defer nodes.Close()
	}

	url, drop, err := discoveryDatabase(ctx, c, s.Seed)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, drop()) }()
	seedStart := time.Now()
	if err := n.SeedDiscovery(ctx, url); err != nil {
		return err
	}
	seeded := time.Since(seedStart)

	rows := n.Rows()
	fmt.Fprintf(out, "netmon-simnet: seed %d, %d users, %d content nodes; built in %s, seeded in %s\n",
		s.Seed, n.Users(), len(n.SPIDs()), built.Round(time.Millisecond), seeded.Round(time.Millisecond))
	fmt.Fprintf(out, "discovery rows: users %d (%d current), tracks %d (%d current, %d segments), ursm_content_nodes %d\n",
		rows.Users, rows.CurrentUsers, rows.Tracks, rows.CurrentTracks, rows.Segments, rows.ContentNodes)
	if c.bench {
		fmt.Fprintf(out, "bench: build %.2fs, seed %.2fs, total %.2fs\n", built.Seconds(), seeded.Seconds(), (built + seeded).Seconds())
		return nil
	}

	specs := map[int64]simnet.NodeSpec{}
	for _, ns := range s.Nodes {
		specs[ns.SPID] = ns
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "sp_id\tendpoint\tfaults")
	for _, sp := range n.SPIDs() {
		ep := nodes.Endpoint(sp)
		if ep == "" {
			ep = "(no endpoint)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", sp, ep, specs[sp])
	}
	tw.Flush()
	fmt.Fprintf(out, "discovery DSN: %s\n", url)
	fmt.Fprintf(out, "FOUNDATION_NODES_SPIDS=%s\n", joinInts(n.Foundation()))
	fmt.Fprintf(out, "DEREGISTERED_CONTENT_NODES=%s\n", strings.Join(nodes.Deregistered(), ","))
	if c.registry {
		reg, err := n.StartRegistry(ctx)
		if err != nil {
			return err
		}
		defer reg.Close()
		reg.SetFaults(c.regFaults)
		fmt.Fprintf(out, "ETH_PROVIDER_URL=%s\nETH_REGISTRY_ADDRESS=%s\n", reg.URL, simnet.RegistryAddress)
		defer func() {
			st := reg.Stats()
			fmt.Fprintf(out, "registry calls: eth_blockNumber %d, getContract %d, getTotalServiceTypeProviders %d, getServiceEndpointInfo %d\n",
				st.BlockNumber, st.GetContract, st.Total, st.Info)
		}()
	}

	truth := n.Truth(nodes)
	if err := writeTruth(c.truthPath, truth, out); err != nil {
		return err
	}
	fmt.Fprintf(out, "expected: users %d, fully synced %d, partially %d, unsynced %d, no primary %d, unhealthy %d\n",
		truth.UserCount, truth.FullySynced, truth.PartiallySynced, truth.Unsynced, truth.NoPrimary, truth.UnhealthyReplica)
	fmt.Fprintln(out, "ready; interrupt to stop")

	<-ctx.Done()
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "sp_id\trequests\tserved\tfailed\trate_limited\tbad_requests\tverified\tbad_signature")
	for _, sp := range n.SPIDs() {
		st := nodes.Stats(sp)
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", sp, st.Requests, st.Served, st.Failed, st.RateLimited, st.BadRequests, st.Verified, st.BadSignature)
	}
	tw.Flush()
	return nil
}

func joinInts(v []int64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatInt(x, 10)
	}
	return strings.Join(s, ",")
}

// discoveryDatabase is --discovery-url, or a database it creates on --postgres; drop removes a
// created one unless --keep-db.
func discoveryDatabase(ctx context.Context, c config, seed int64) (url string, drop func() error, err error) {
	if c.discoveryURL != "" {
		return c.discoveryURL, func() error { return nil }, nil
	}
	name := fmt.Sprintf("simnet_%d_%d", seed, time.Now().UnixNano())
	url, dropDB, err := simnet.CreateDatabase(ctx, c.postgres, name)
	if err != nil {
		return "", nil, err
	}
	if c.keepDB {
		return url, func() error { return nil }, nil
	}
	return url, func() error {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return dropDB(dctx)
	}, nil
}

// writeTruth writes truth as indented JSON to path, unless path is empty, and says so.
func writeTruth(path string, truth any, out io.Writer) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(truth, "", "  ")
	if err != nil {
		return fmt.Errorf("truth: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("truth: %w", err)
	}
	fmt.Fprintf(out, "truth: %s\n", path)
	return nil
}
