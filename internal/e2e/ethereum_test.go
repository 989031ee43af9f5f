package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/simnet"
)

// TestEthereumSource runs the golden network with its content-node list read from simnet's fake
// Ethereum registry, configured as the original's final .env did (ETH_PROVIDER_URL and
// ETH_REGISTRY_ADDRESS, no source named), with discovery's ursm_content_nodes emptied so that only
// the registry can give the list. The pushed metrics equal simnet's truth; the run records its
// source and block; `netmon check` reads the registry. Then each registry fault fails a run with
// the reason and no list, and a run after them is exact again.
func TestEthereumSource(t *testing.T) {
	var reg *simnet.Registry
	s := startStackWith(t, goldenScenario(), func(s *stack, net *simnet.Network) []string {
		var err error
		if reg, err = net.StartRegistry(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(reg.Close)
		conn, err := pgx.Connect(t.Context(), s.discovery)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(t.Context(), "DELETE FROM ursm_content_nodes"); err != nil {
			t.Fatal(err)
		}
		return []string{"ETH_PROVIDER_URL=" + reg.URL, "ETH_REGISTRY_ADDRESS=" + simnet.RegistryAddress}
	}, "NETMON_CID_CHECKS=off")

	got := s.run(t)
	checkTruth(t, got, s.truth)
	checkZeroFilled(t, got, s)
	st := reg.Stats()
	if st.Info != 10 || fmt.Sprint(st.Blocks) != fmt.Sprintf("[0x%x]", simnet.DefaultRegistryBlock) {
		t.Errorf("registry calls %+v: want SP ids 1..10 read, every call at the head block", st)
	}
	block := fmt.Sprint(simnet.DefaultRegistryBlock)
	registry := strings.ToLower(simnet.RegistryAddress)
	contains(t, "runs show", cli(t, s.env, 0, "runs", "show", "1"),
		`(?m)^  nodes\s+from the Ethereum registry `+registry+` at Ethereum block `+block+`$`)
	contains(t, "check", cli(t, s.env, 1, "check"), // node 5 is down and 6 read-only: exit 1
		`(?m)^eth registry\s+http://127\.0\.0\.1:\d+\s+ok\s+registry `+registry+` at block `+block+`: N = 10 content nodes \(1 without endpoint\)`,
		`(?m)^cn 10\s+\S+\s+skip\s+in DEREGISTERED_CONTENT_NODES`, `(?m)^cn 4\s+""\s+skip\s+no endpoint`)

	run := 1
	for _, tc := range []struct {
		name   string
		faults simnet.RegistryFaults
		reason string
	}{
		{"revert", simnet.RegistryFaults{Revert: true},
			"getServiceEndpointInfo(content-node, 10) at block " + block + ": execution reverted"},
		{"garbage", simnet.RegistryFaults{Garbage: true},
			"getServiceEndpointInfo(content-node, 10) at block " + block + ": malformed answer: want at least 160 bytes"},
		{"short tuple", simnet.RegistryFaults{ShortTuple: true},
			"getServiceEndpointInfo(content-node, 10) at block " + block + ": malformed answer: endpoint: a "},
		{"huge N", simnet.RegistryFaults{HugeN: true},
			"getTotalServiceTypeProviders(content-node) at block " + block + ": too many providers: N is 1000000000000"},
	} {
		run++
		reg.SetFaults(tc.faults)
		out := cli(t, s.env, 1, "run", "--wait")
		reason := "plan: content nodes: ethereum registry: " + tc.reason
		if !strings.Contains(out, fmt.Sprintf("run %d: failed: %s", run, reason)) {
			t.Errorf("%s: run --wait does not give the reason %q:\n%s", tc.name, reason, out)
		}
		show := cli(t, s.env, 0, "runs", "show", fmt.Sprint(run))
		if !strings.Contains(show, fmt.Sprintf("run %d  failed: %s", run, reason)) {
			t.Errorf("%s: runs show does not give the reason:\n%s", tc.name, show)
		}
		if strings.Contains(show, "sp_id") || strings.Contains(show, "  nodes") {
			t.Errorf("%s: the failed run has a content-node list:\n%s", tc.name, show)
		}
	}
	reg.SetFaults(simnet.RegistryFaults{Latency: simnet.Duration(50 * time.Millisecond)})
	checkTruth(t, s.run(t), s.truth)
}
