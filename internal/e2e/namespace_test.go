package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/testenv"
)

// TestNamespacesShareNATS runs two installations, namespaces blue and green, on one NATS server
// and one Postgres server (each with its own NM DB and discovery DB there, as any two
// installations have), starts a run in each at the same time, and checks both against their own
// network's truth, exactly. Both runs get run id 1, so without namespaces their work items,
// results and message ids would be the same subjects and ids in the same streams; with them,
// nothing of one reaches the other, and the server holds each namespace's own streams and no
// unprefixed ones.
func TestNamespacesShareNATS(t *testing.T) {
	shared := testenv.NATS(t)
	// Two networks of different sizes, so a message of one counted in the other changes its
	// metrics.
	blue := startStack(t, simnet.Scenario{Seed: 5, UserCount: 700, NodeCount: 6},
		"NETMON_NAMESPACE=blue", "NETMON_NATS_URL="+shared.ClientURL(), "NETMON_WORK_BATCH_SIZE=100")
	green := startStack(t, simnet.Scenario{Seed: 6, UserCount: 1100, NodeCount: 8},
		"NETMON_NAMESPACE=green", "NETMON_NATS_URL="+shared.ClientURL(), "NETMON_WORK_BATCH_SIZE=100")

	type result struct {
		out []byte
		err error
	}
	bin := filepath.Join(binaries(t), "netmon")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	done := map[*stack]chan result{}
	for _, s := range []*stack{blue, green} {
		ch := make(chan result, 1)
		done[s] = ch
		go func() {
			cmd := exec.CommandContext(ctx, bin, "run", "--wait")
			cmd.Env = s.env
			out, err := cmd.CombinedOutput()
			ch <- result{out, err}
		}()
	}
	for name, s := range map[string]*stack{"blue": blue, "green": green} {
		r := <-done[s]
		if r.err != nil {
			t.Fatalf("%s: netmon run --wait: %v\n%s", name, r.err, r.out)
		}
		t.Logf("%s: netmon run --wait:\n%s", name, r.out)
		checkTruth(t, scrape(t, s.pushgateway, "network-monitoring"), s.truth)
	}

	streams := []string{message.StreamWork, message.StreamData, message.StreamRuns}
	for _, ns := range []bus.Namespace{"blue", "green", ""} {
		conn, err := bus.Connect(shared.ClientURL(), ns, "test", zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		missing := conn.MissingStreams(ctx, streams...)
		switch {
		case ns == "" && len(missing) != len(streams):
			t.Errorf("streams without a namespace exist: only %v are missing", missing)
		case ns != "" && len(missing) > 0:
			t.Errorf("namespace %s: streams %v missing", ns, missing)
		}
		if ns != "" {
			n, err := conn.Count(ctx, message.StreamData, message.ResultFilter(1))
			if err != nil || n == 0 {
				t.Errorf("namespace %s: results of run 1: %d, %v", ns, n, err)
			}
		}
		conn.Close()
	}
}
