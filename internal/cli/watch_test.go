package cli

import (
	"strings"
	"testing"
)

// TestProgressLine: a progress line says counts, never a status word the run's events print
// (no "planned, 11 work items fetched (planning)", no second "loaded").
func TestProgressLine(t *testing.T) {
	for _, c := range []struct {
		p    runProgress
		want string
	}{
		{runProgress{Run: 2, Status: "planned", ExpectedItems: -1, ExpectedBatches: -1, Fetched: 11, Queued: 3, Loaded: 0, LoadedBatches: 1},
			"run 2: still planning, 11 work items fetched so far, 3 queued, 0 results written"},
		{runProgress{Run: 1, Status: "loaded", ExpectedItems: 4, ExpectedBatches: 1, Fetched: 4, Loaded: 4, LoadedBatches: 1,
			Failures: []nodeFailures{{SPID: 4, Outcomes: map[string]int64{"http_error": 1}}}},
			"run 1: 4/4 work items fetched, 4 results written, 1/1 user batches; failures: sp 4 http_error 1"},
	} {
		got := c.p.line()
		if got != c.want {
			t.Errorf("line = %q, want %q", got, c.want)
		}
		for _, word := range []string{"planned", "fetching", "loaded", "complete"} {
			if strings.Contains(got, word) {
				t.Errorf("line %q says %q, a status the run's events print", got, word)
			}
		}
	}
}
