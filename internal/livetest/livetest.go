// Package livetest runs the whole netmon pipeline over a simulated network for tests that need
// live runs to look at (the web view in a browser, the dashboard in a real Prometheus): simnet's
// content nodes on loopback and its seeded discovery database, a fresh NM DB, the real
// Pushgateway binary, and the four stages in-process over an embedded JetStream server, each
// serving its /metrics on a loopback port. Everything is stopped when the test ends.
package livetest

import (
	"context"
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

// Stack is a running pipeline over a simulated network.
type Stack struct {
	Net   *simnet.Network
	Nodes *simnet.Nodes
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
	s := &Stack{Net: net, Nodes: nodes, NMDB: testenv.Database(t), Pushgateway: testenv.Pushgateway(t), Metrics: map[string]string{}}
	cfg, err := config.LoadEnviron(env, func(string) ([]byte, error) { return nil, io.EOF })
	if err != nil {
		t.Fatal(err)
	}
	cfg.DiscoveryDB = config.Postgres{URL: config.Secret(discovery)}
	cfg.NMDB = config.Postgres{URL: config.Secret(s.NMDB)}
	cfg.PushGatewayURL = s.Pushgateway
	cfg.Deregistered = nodes.Deregistered()
	cfg.FoundationSPIDs = net.Foundation()
	cfg.Schedule = "off"
	cfg.FetchTimeout = 2 * time.Second
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
	return s
}

// Run starts a run through the planner, as `netmon run` does, waits for its final event
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
	req, _ := proto.Marshal(&netmonv1.StartRunRequest{RequestedBy: "livetest"})
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
