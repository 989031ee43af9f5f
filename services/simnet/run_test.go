package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/testenv"
)

// syncBuffer collects run's output while run is still writing.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func noEnv(string) (string, bool) { return "", false }

func TestRunServesUntilCancelled(t *testing.T) {
	truthPath := filepath.Join(t.TempDir(), "truth.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	args := []string{"--users", "500", "--nodes", "5", "--seed", "7", "--faults", "2=down,3=deregistered",
		"--postgres", testenv.PostgresAdminURL(), "--truth", truthPath, "--registry"}
	go func() { done <- run(ctx, args, &out, noEnv) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "ready; interrupt to stop") {
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 30s:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	text := out.String()
	dsn := regexp.MustCompile(`discovery DSN: (\S+)`).FindStringSubmatch(text)
	cn1 := regexp.MustCompile(`(?m)^1\s+(http://127\.0\.0\.1:\d+)`).FindStringSubmatch(text)
	dereg := regexp.MustCompile(`(?m)^DEREGISTERED_CONTENT_NODES=(\S+)$`).FindStringSubmatch(text)
	if dsn == nil || cn1 == nil || dereg == nil || !strings.Contains(text, "FOUNDATION_NODES_SPIDS=1,2,3,4") {
		t.Fatalf("output lacks the DSN, node 1's endpoint or the configuration:\n%s", text)
	}

	// The truth file is a simnet.Truth naming the endpoints that listen.
	b, err := os.ReadFile(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	var truth simnet.Truth
	if err := json.Unmarshal(b, &truth); err != nil {
		t.Fatal(err)
	}
	if truth.UserCount != 500 || len(truth.Nodes) != 5 || truth.Nodes[0].Endpoint != cn1[1] || len(truth.Deregistered) != 1 || truth.Deregistered[0] != dereg[1] {
		t.Fatalf("truth %+v", truth)
	}
	resp, err := http.Post(cn1[1]+"/users/batch_clock_status", "application/json", strings.NewReader(`{"walletPublicKeys":["0x1"]}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("node 1: %v %v", resp, err)
	}
	resp.Body.Close()
	// The registry answers where it says it does.
	provider := regexp.MustCompile(`(?m)^ETH_PROVIDER_URL=(http://127\.0\.0\.1:\d+)$`).FindStringSubmatch(text)
	if provider == nil || !strings.Contains(text, "ETH_REGISTRY_ADDRESS="+simnet.RegistryAddress+"\n") {
		t.Fatalf("output lacks the registry's configuration:\n%s", text)
	}
	resp, err = http.Post(provider[1], "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("registry: %v %v", resp, err)
	}
	resp.Body.Close()
	if !strings.Contains(text, "users 500 (500 current)") && !regexp.MustCompile(`users \d+ \(500 current\)`).MatchString(text) {
		t.Errorf("output does not report 500 current users:\n%s", text)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not stop")
	}
	if !strings.Contains(out.String(), "registry calls: eth_blockNumber 1,") {
		t.Errorf("no registry stats on exit:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "bad_signature") {
		t.Errorf("no stats on exit:\n%s", out.String())
	}
	// The database it created is gone: its name can be created again.
	name := regexp.MustCompile(`/(simnet_[0-9_]+)`).FindStringSubmatch(dsn[1])
	if name == nil {
		t.Fatalf("unexpected DSN %s", dsn[1])
	}
	_, drop, err := simnet.CreateDatabase(context.Background(), testenv.PostgresAdminURL(), name[1])
	if err != nil {
		t.Fatalf("database %s still exists: %v", name[1], err)
	}
	if err := drop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--faults", "3=sleepy"},
		{"--users", "-1"},
		{"--scenario", "does-not-exist.json"},
		{"--delegate", "7=abc"},
		{"--bench", "--truth", "x.json"},
		{"--registry-faults", "revert"},
		{"--registry", "--registry-faults", "sleepy"},
		{"--bench", "--registry"},
		{"stray"},
		{"--no-such-flag"},
	} {
		if err := run(context.Background(), args, &bytes.Buffer{}, noEnv); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
}

func TestRunBench(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"--bench", "--users", "2000", "--nodes", "4", "--discovery-url", testenv.Database(t)}, &out, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`bench: build [0-9.]+s, seed [0-9.]+s, total [0-9.]+s`).MatchString(out.String()) {
		t.Fatalf("output:\n%s", out.String())
	}
}
