package simnet

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseFaults(t *testing.T) {
	got, err := ParseFaults("3=down, 4=slow:200ms:2s+reorder,5=failfirst,6=ratelimit:10:1s,7=noendpoint,8=oversized:1024+deregistered,9=slow")
	if err != nil {
		t.Fatal(err)
	}
	d := func(v time.Duration) Duration { return Duration(v) }
	want := []NodeSpec{
		{SPID: 3, Faults: Faults{Down: true}},
		{SPID: 4, Faults: Faults{Latency: &Latency{Median: d(200 * time.Millisecond), P99: d(2 * time.Second)}, Reorder: true}},
		{SPID: 5, Faults: Faults{FailFirst: 1}},
		{SPID: 6, Faults: Faults{RateLimit: &RateLimit{Requests: 10, Window: d(time.Second)}}},
		{SPID: 7, NoEndpoint: true},
		{SPID: 8, Deregistered: true, Faults: Faults{Oversized: true, OversizedBytes: 1024}},
		{SPID: 9, Faults: Faults{Latency: &Latency{Median: d(100 * time.Millisecond), P99: d(400 * time.Millisecond)}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if s := got[1].String(); s != "slow:200ms:2s+reorder" {
		t.Errorf("String() = %q", s)
	}
	for spec, msg := range map[string]string{
		"3":               "is not SP=KIND",
		"x=down":          "positive integer",
		"3=down,3=hang":   "listed twice",
		"3=sleepy":        `unknown fault "sleepy"`,
		"3=slow:fast":     "not a positive duration",
		"3=down:1":        "at most 0 arguments",
		"3=ratelimit:-1":  "non-negative integer",
		"3=failfirst:1:2": "at most 1 arguments",
	} {
		if _, err := ParseFaults(spec); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseFaults(%q) = %v, want an error containing %q", spec, err, msg)
		}
	}

	// Merged into a scenario, a spec replaces the node with its SP id and keeps its endpoint.
	s := Reference().WithNodes([]NodeSpec{{SPID: 2, Faults: Faults{Hang: true}}, {SPID: 9}})
	if len(s.Nodes) != 5 || s.Nodes[1].Endpoint != "http://cn2" || !s.Nodes[1].Faults.Hang || s.Nodes[4].SPID != 9 {
		t.Fatalf("merged nodes %+v", s.Nodes)
	}
}

func TestParseRegistryFaults(t *testing.T) {
	f, err := ParseRegistryFaults("revert, garbage,short,huge,slow:250ms")
	want := RegistryFaults{Revert: true, Garbage: true, ShortTuple: true, HugeN: true, Latency: Duration(250 * time.Millisecond)}
	if err != nil || f != want {
		t.Errorf("ParseRegistryFaults = %+v, %v; want %+v", f, err, want)
	}
	if f, err := ParseRegistryFaults(""); err != nil || f != (RegistryFaults{}) {
		t.Errorf("empty: %+v, %v", f, err)
	}
	for _, bad := range []string{"slow", "slow:-1s", "revert:1", "sleepy"} {
		if _, err := ParseRegistryFaults(bad); err == nil {
			t.Errorf("ParseRegistryFaults(%q): no error", bad)
		}
	}
}
