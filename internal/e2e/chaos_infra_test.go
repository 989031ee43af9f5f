//go:build chaos

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/audius-netmon/netmon/internal/message"
)

// TestChaosNATSRestart: the stages run against an external nats-server with JetStream on file
// storage. Mid-run, while results are being fetched and loaded, the server is killed with SIGKILL
// and started again two seconds later on the same port and store. Every stage reconnects (with
// backoff), publishes that failed are retried with the same message ids, consumers resume from
// their durable state, and the run completes exactly.
func TestChaosNATSRestart(t *testing.T) {
	nodes := startNATSCluster(t, 1, "")
	s := startChaosStack(t, chaosConfig{scenario: crashScenario(t, 51), fetchers: 2, env: crashEnv, natsURL: nodes[0].url()})
	run := s.startRun(t)
	poll(t, time.Minute, 10*time.Millisecond, "results being loaded", func() bool {
		return queryInt(s.nmDB, "SELECT count(*) FROM fetch_results WHERE run_id = $1", run) > 0
	})
	loaded := queryInt(s.nmDB, "SELECT count(*) FROM fetch_results WHERE run_id = $1", run)
	nodes[0].kill()
	time.Sleep(2 * time.Second)
	nodes[0].restart()
	t.Logf("nats-server killed and restarted with %d results of run %d loaded", loaded, run)
	s.checkComplete(t, run, fmt.Sprintf("SIGKILL of the only nats-server (file storage) mid-run with %d results loaded; restarted after 2s", loaded))
}

// TestChaosPostgresRestart: the NM DB lives on a private Postgres server. Mid-run, while results
// are being loaded, the server stops the way a crash does (immediate: connections cut, no
// checkpoint) and starts again two seconds later. Open transactions roll back, the loader's and
// aggregator's pools reconnect, the failed writes are retried by redelivery, and the run
// completes exactly.
func TestChaosPostgresRestart(t *testing.T) {
	pg := startPrivatePostgres(t, "", "")
	s := startChaosStack(t, chaosConfig{scenario: crashScenario(t, 52), fetchers: 2, env: crashEnv, nmDB: pg.database("netmon")})
	run := s.startRun(t)
	poll(t, time.Minute, 10*time.Millisecond, "results being loaded", func() bool {
		return queryInt(s.nmDB, "SELECT count(*) FROM fetch_results WHERE run_id = $1", run) > 0
	})
	loaded := queryInt(s.nmDB, "SELECT count(*) FROM fetch_results WHERE run_id = $1", run)
	pg.crash()
	time.Sleep(2 * time.Second)
	pg.start()
	t.Logf("Postgres crashed and restarted with %d results of run %d loaded", loaded, run)
	s.checkComplete(t, run, fmt.Sprintf("immediate stop (crash) of the NM DB's Postgres mid-run with %d results loaded; restarted after 2s", loaded))
}

// TestChaosClusterNodeLoss: a 3-node JetStream cluster (nats-server processes, file storage),
// netmon's streams and state at 3 replicas, three fetchers. Mid-run the node leading the work
// stream is killed with SIGKILL and stays down. The other two elect new leaders, clients move to
// them, and the run completes exactly.
func TestChaosClusterNodeLoss(t *testing.T) {
	nodes := startNATSCluster(t, 3, "")
	s := startChaosStack(t, chaosConfig{scenario: crashScenario(t, 53), fetchers: 3, natsURL: clusterURL(nodes),
		env: append([]string{"NETMON_STREAM_REPLICAS=3"}, crashEnv...)})
	run := s.startRun(t)
	poll(t, time.Minute, 10*time.Millisecond, "results being loaded", func() bool {
		return queryInt(s.nmDB, "SELECT count(*) FROM fetch_results WHERE run_id = $1", run) > 0
	})
	leader, replicas := streamLeader(t, clusterURL(nodes), message.StreamWork)
	if replicas != 3 {
		t.Fatalf("%s has %d replicas, want 3", message.StreamWork, replicas)
	}
	loaded := queryInt(s.nmDB, "SELECT count(*) FROM fetch_results WHERE run_id = $1", run)
	for _, nd := range nodes {
		if nd.name == leader {
			nd.kill()
		}
	}
	t.Logf("killed %s, leader of %s, with %d results of run %d loaded", leader, message.StreamWork, loaded, run)
	s.checkComplete(t, run, fmt.Sprintf("SIGKILL of the work stream's leader in a 3-node cluster (R3), 3 fetchers, %d results loaded; stays down", loaded))
}

// streamLeader is the name of the server leading the stream, and its replica count.
func streamLeader(t *testing.T, url, stream string) (string, int) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Cluster == nil {
		t.Fatalf("stream %s has no cluster info", stream)
	}
	return info.Cluster.Leader, info.Config.Replicas
}
