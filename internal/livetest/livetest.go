// Package livetest runs the whole netmon pipeline over a simulated network for tests that need
// live runs to look at (the web view in a browser, the dashboards in a real Prometheus): simnet's
// content nodes (or storage nodes and their Ethereum registry) on loopback and its seeded
// discovery database, a fresh NM DB, the real
// Pushgateway binary, and the four stages in-process over an embedded JetStream server, each
// serving its /metrics on a loopback port. Everything is stopped when the test ends.
package livetest

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/pipeline"
	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/testenv"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// Stack is a running pipeline over a simulated network: a clocks network (Start) or a storage
// network (StartStorage); its runs are of that network.
type Stack struct {
	// Net and Nodes are the clocks network (Start), Storage and StorageNodes the storage network
	// (StartStorage); the other pair is nil.
	Net          *simnet.Network
	Nodes        *simnet.Nodes
	Storage      *simnet.StorageNetwork
	StorageNodes *simnet.StorageNodes
	// Network is what the stack's runs check.
	Network lifecycle.Network
	// Config is the stages' configuration (the NM DB, discovery, the Pushgateway, the embedded
	// NATS server).
	Config      config.Config
	NMDB        string
	Pushgateway string
	// Metrics are the stages' /metrics addresses (host:port) by stage name.
	Metrics map[string]string
	conn    *bus.Conn
}

// Stages are the names of the four stages, in pipeline order.
var Stages = []string{"planner", "fetcher", "loader", "aggregator"}

// Start builds sc's network and starts everything. The stages' configuration is env (variables
// in os.Environ's form: a signing key, CID checks, ...) with the stack's databases, Pushgateway
// and NATS server, and no schedule.
func Start(t testing.TB, sc simnet.Scenario, env ...string) *Stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	net, err := simnet.Build(sc)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := net.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nodes.Close)
	discovery := testenv.Database(t)
	if err := net.SeedDiscovery(ctx, discovery); err != nil {
		t.Fatal(err)
	}
	s := &Stack{Net: net, Nodes: nodes, Network: lifecycle.Clocks}
	s.start(ctx, t, discovery, env, func(cfg *config.Config) {
		cfg.Deregistered = nodes.Deregistered()
		cfg.FoundationSPIDs = net.Foundation()
	})
	return s
}

// StartStorage builds ssc's storage network, serves its Ethereum registry (the node list) and
// seeds discovery with its keys, and starts everything as Start does; the stack's runs are
// storage runs that check every key, unpaced, with the network's R as the default.
func StartStorage(t testing.TB, ssc simnet.StorageScenario, env ...string) *Stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	net, err := simnet.BuildStorage(ssc)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := net.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nodes.Close)
	reg, err := net.StartRegistry(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	discovery := testenv.Database(t)
	if err := net.SeedDiscovery(ctx, discovery); err != nil {
		t.Fatal(err)
	}
	env = append([]string{"ETH_PROVIDER_URL=" + reg.URL, "ETH_REGISTRY_ADDRESS=" + simnet.RegistryAddress,
		"NETMON_STORAGE_SAMPLE_SIZE=0", "NETMON_STORAGE_NODE_RATE=0", fmt.Sprintf("NETMON_STORAGE_DEFAULT_R=%d", net.R())}, env...)
	s := &Stack{Storage: net, StorageNodes: nodes, Network: lifecycle.Storage}
	s.start(ctx, t, discovery, env, func(*config.Config) {})
	return s
}

// start starts the stack's Pushgateway, NM DB and four stages over discovery, configured by env
// and then adjust.
func (s *Stack) start(ctx context.Context, t testing.TB, discovery string, env []string, adjust func(*config.Config)) {
	t.Helper()
	s.NMDB, s.Pushgateway, s.Metrics = testenv.Database(t), testenv.Pushgateway(t), map[string]string{}
	cfg, err := config.LoadEnviron(env, func(string) ([]byte, error) { return nil, io.EOF })
	if err != nil {
		t.Fatal(err)
	}
	cfg.DiscoveryDB = config.Postgres{URL: config.Secret(discovery)}
	cfg.NMDB = config.Postgres{URL: config.Secret(s.NMDB)}
	cfg.PushGatewayURL = s.Pushgateway
	cfg.Schedule = "off"
	cfg.FetchTimeout = 2 * time.Second
	adjust(&cfg)
	for _, st := range Stages {
		s.Metrics[st] = testenv.FreeAddr(t)
	}
	e, err := pipeline.StartServing(ctx, cfg, zerolog.Nop(), s.Metrics)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Stop(); err != nil {
			t.Errorf("livetest: stages: %v", err)
		}
	})
	cfg.NATSURL = e.URL
	s.Config = cfg
	if s.conn, err = bus.Connect(e.URL, "", "livetest", zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.conn.Close)
	for _, st := range Stages {
		testenv.WaitHTTP(t, "http://"+s.Metrics[st]+"/readyz", 30*time.Second)
	}
}

// Run starts a run of the stack's network through the planner, as `netmon run` does, waits for its final event
// (complete, incomplete or failed) within timeout, and returns the run id and its final status.
func (s *Stack) Run(t testing.TB, timeout time.Duration) (int64, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ends := make(chan *netmonv1.RunEvent, 64)
	stop, err := s.conn.Follow(ctx, message.StreamRuns, message.RunsStreamSubjects, func(m bus.Stored) {
		subj, err := message.ParseSubject(m.Subject)
		if err != nil || !subj.IsRunEvent() {
			return
		}
		var ev netmonv1.RunEvent
		if proto.Unmarshal(m.Data, &ev) == nil && lifecycle.FromProto(ev.GetStatus()).Terminal() {
			select {
			case ends <- &ev:
			default:
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	req, _ := proto.Marshal(&netmonv1.StartRunRequest{RequestedBy: "livetest", Network: string(s.Network)})
	data, err := s.conn.Request(ctx, message.StartSubject, req)
	if err != nil {
		t.Fatalf("livetest: start a run: %v", err)
	}
	var reply netmonv1.StartRunReply
	if err := proto.Unmarshal(data, &reply); err != nil || reply.GetError() != "" {
		t.Fatalf("livetest: start a run: %v %s", err, reply.GetError())
	}
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-ends:
			if ev.GetRunId() == reply.GetRunId() {
				return ev.GetRunId(), string(lifecycle.FromProto(ev.GetStatus()))
			}
		case <-deadline:
			t.Fatalf("livetest: run %d did not end within %s", reply.GetRunId(), timeout)
		}
	}
}
