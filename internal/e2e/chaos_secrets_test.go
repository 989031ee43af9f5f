//go:build chaos

package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/audius-netmon/netmon/internal/simnet"
)

// TestChaosSigningKeyNeverShown runs a signed run (SIGNATURE_SPID and the delegate private key
// set, debug logging, failing nodes so error paths log too) and greps everything netmon shows
// for the key: every stage's output, /status and /metrics, and the output of netmon run, check,
// status and runs show, in JSON and text. The key must appear nowhere, in any case, with or
// without 0x, not even its first half.
func TestChaosSigningKeyNeverShown(t *testing.T) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	raw[0] = 0x5e // keep it below the curve order
	key := hex.EncodeToString(raw)
	faults, err := simnet.ParseFaults("3=readonly,4=malformed,5=down")
	if err != nil {
		t.Fatal(err)
	}
	sc := simnet.Scenario{Seed: 81, UserCount: 400, NodeCount: 6}.WithNodes(faults)
	s := startChaosStack(t, chaosConfig{scenario: sc, env: []string{
		"SIGNATURE_SPID=7", "SIGNATURE_SP_DELEGATE_PRIV_KEY=0x" + key, "NETMON_LOG_LEVEL=debug",
		"NETMON_FETCH_TIMEOUT=1s"}})
	code, runOut := runCLI(t, s.env, 3*time.Minute, "run", "--wait")
	if code != 0 {
		t.Fatalf("netmon run --wait exited %d:\n%s", code, runOut)
	}
	s.checkComplete(t, 1, "a signed run (delegate private key set), debug logging, failing nodes")
	if st := s.nodes.Stats(1); st.ClockRequests == 0 || st.Unsigned != 0 {
		t.Fatalf("node 1: %d clock requests, %d unsigned: the run was not signed", st.ClockRequests, st.Unsigned)
	}

	shown := map[string]string{"netmon run --wait": runOut}
	for _, args := range [][]string{{"check"}, {"check", "--json"}, {"status"}, {"status", "--json"},
		{"runs", "show", "1"}, {"runs", "show", "1", "--json"}, {"runs", "list", "--json"}} {
		_, out := runCLI(t, s.env, time.Minute, args...)
		shown["netmon "+strings.Join(args, " ")] = out
	}
	// A configuration error that involves the key: the SP id is missing.
	var noSPID []string
	for _, kv := range s.env {
		if !strings.HasPrefix(kv, "SIGNATURE_SPID=") {
			noSPID = append(noSPID, kv)
		}
	}
	_, shown["netmon check (key without SP id)"] = runCLI(t, noSPID, time.Minute, "check", "--offline")
	for _, svc := range append([]*service{s.planner, s.loader, s.aggregator}, s.fetchers...) {
		for _, path := range []string{"/status", "/metrics", "/healthz"} {
			shown[svc.name+path] = httpGet(t, "http://"+svc.addr+path)
		}
	}
	for _, svc := range append([]*service{s.planner, s.loader, s.aggregator}, s.fetchers...) {
		svc.stop() // shutdown logging included
		shown[svc.name+" output"] = svc.output()
	}
	needles := []string{key, strings.ToUpper(key), key[:32], strings.ToUpper(key[:32]), key[32:]}
	for what, text := range shown {
		if text == "" && !strings.HasSuffix(what, "/healthz") {
			t.Errorf("%s: nothing to look at", what)
		}
		for _, n := range needles {
			if strings.Contains(text, n) {
				t.Errorf("%s shows the delegate private key (%s...)", what, n[:6])
			}
		}
	}
	t.Logf("the key appears in none of %d outputs (%d bytes)", len(shown), totalLen(shown))
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("HTTP %d\n%s", resp.StatusCode, b)
}

func totalLen(m map[string]string) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}
