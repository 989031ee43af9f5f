package e2e

import (
	"fmt"
	"testing"

	"github.com/audius-netmon/netmon/internal/simnet"
)

// faultyNodes gives one misbehaving content node per kind of fault simnet can inject. Node 1 and 2
// stay healthy so most users keep a working primary.
const faultyNodes = "3=down,4=hang,5=readonly,6=failfirst:2,7=slow:20ms:60ms,8=ratelimit:8:500ms," +
	"9=truncated,10=malformed,11=oversized:3000000,12=reorder+duplicate+unrequested,13=noendpoint,14=deregistered"

// TestRandomScenarios runs seeded random networks, with every kind of content-node fault, through
// the four stage processes and checks every published clock metric against simnet's ground
// truth, exactly.
func TestRandomScenarios(t *testing.T) {
	faults, err := simnet.ParseFaults(faultyNodes)
	if err != nil {
		t.Fatal(err)
	}
	for _, seed := range []int64{11, 23, 42} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			sc := simnet.Scenario{Seed: seed, UserCount: 1500 + int(seed)*10, NodeCount: 16}.WithNodes(faults)
			s := startStack(t, sc,
				"NETMON_FETCH_TIMEOUT=1s",
				// Small work items, so each node gets several requests (rate limit, breaker, retries).
				"NETMON_WORK_BATCH_SIZE=60",
				"NETMON_USER_BATCH_SIZE=400",
			)
			got := s.run(t)
			checkTruth(t, got, s.truth)
			// The deregistered node was never called.
			if st := s.nodes.Stats(14); st.Requests != 0 {
				t.Errorf("deregistered node 14 got %d requests, want 0", st.Requests)
			}
		})
	}
}
