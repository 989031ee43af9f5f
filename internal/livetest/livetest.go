// Package livetest runs the whole netmon pipeline over a simulated network for tests that need
// live runs to look at (the web view in a browser, the dashboard in a real Prometheus): simnet's
// content nodes on loopback and its seeded discovery database, a fresh NM DB, the real
// Pushgateway binary, and the four stages in-process over an embedded JetStream server, each
// serving its /metrics on a loopback port. Everything is stopped when the test ends.
package livetest

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/config"
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
	nc      *nats.Conn
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
	if s.nc, err = nats.Connect(e.URL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.nc.Close)
	for _, st := range Stages {
		testenv.WaitHTTP(t, "http://"+s.Metrics[st]+"/readyz", 30*time.Second)
	}
	return s
}

// Run starts a run through the planner, as `netmon run` does, waits for its final event
// (complete, incomplete or failed) within timeout, and returns the run id and its final status.
func (s *Stack) Run(t testing.TB, timeout time.Duration) (int64, string) {
	t.Helper()
	ends := make(chan *netmonv1.RunEvent, 16)
	var subs []*nats.Subscription
	for _, status := range []string{"complete", "incomplete", "failed"} {
		sub, err := s.nc.Subscribe("netmon.run.*."+status, func(m *nats.Msg) {
			var ev netmonv1.RunEvent
			if proto.Unmarshal(m.Data, &ev) == nil {
				ends <- &ev
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
	}
	defer func() {
		for _, sub := range subs {
			_ = sub.Unsubscribe()
		}
	}()
	req, _ := proto.Marshal(&netmonv1.StartRunRequest{RequestedBy: "livetest"})
	m, err := s.nc.Request(message.StartSubject, req, 10*time.Second)
	if err != nil {
		t.Fatalf("livetest: start a run: %v", err)
	}
	var reply netmonv1.StartRunReply
	if err := proto.Unmarshal(m.Data, &reply); err != nil || reply.GetError() != "" {
		t.Fatalf("livetest: start a run: %v %s", err, reply.GetError())
	}
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-ends:
			if ev.GetRunId() == reply.GetRunId() {
				return ev.GetRunId(), statusName(ev.GetStatus())
			}
		case <-deadline:
			t.Fatalf("livetest: run %d did not end within %s", reply.GetRunId(), timeout)
		}
	}
}

func statusName(s netmonv1.RunStatus) string {
	switch s {
	case netmonv1.RunStatus_RUN_STATUS_COMPLETE:
		return "complete"
	case netmonv1.RunStatus_RUN_STATUS_INCOMPLETE:
		return "incomplete"
	case netmonv1.RunStatus_RUN_STATUS_FAILED:
		return "failed"
	}
	return fmt.Sprint(s)
}
