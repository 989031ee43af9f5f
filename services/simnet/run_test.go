package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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
	waitReady(t, &out, done)
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

func TestRunStorage(t *testing.T) {
	truthPath := filepath.Join(t.TempDir(), "truth.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	args := []string{"--network", "storage", "--nodes", "6", "--tracks", "50", "--users", "20", "--playlists", "5",
		"--seed", "3", "--faults", "2=down,3=r:3+mediorum,4=dbdown", "--postgres", testenv.PostgresAdminURL(), "--truth", truthPath}
	go func() { done <- run(ctx, args, &out, noEnv) }()
	waitReady(t, &out, done)
	text := out.String()
	node3 := regexp.MustCompile(`(?m)^3\s+(http://127\.0\.0\.1:\d+)\s+0x[0-9a-f]{40}\s+r:3\+mediorum$`).FindStringSubmatch(text)
	static := regexp.MustCompile(`(?m)^STORAGE_NODES=(\S+)$`).FindStringSubmatch(text)
	if node3 == nil || static == nil || !strings.Contains(text, "ETH_REGISTRY_ADDRESS="+simnet.RegistryAddress+"\n") {
		t.Fatalf("output lacks node 3, the static list or the registry:\n%s", text)
	}
	b, err := os.ReadFile(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	var truth simnet.StorageTruth
	if err := json.Unmarshal(b, &truth); err != nil {
		t.Fatal(err)
	}
	if len(truth.Nodes) != 6 || truth.Nodes[2].Endpoint != node3[1] || truth.Nodes[2].Health.R != 3 || truth.Keys == 0 ||
		truth.Nodes[1].Health.Readable || !slices.Equal(truth.Dissenters, []int64{3}) {
		t.Fatalf("truth %+v", truth)
	}
	resp, err := http.Get(node3[1] + "/health_check")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("node 3: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not stop")
	}
	if !regexp.MustCompile(`(?m)^3\s+1\s+0\s+1\s+0\s+0$`).MatchString(out.String()) {
		t.Errorf("no stats of node 3's one health request on exit:\n%s", out.String())
	}
}

func TestRunStorageRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--network", "nope"},
		{"--tracks", "5"},
		{"--network", "storage", "--faults", "3=readonly"},
		{"--network", "storage", "--bench"},
		{"--network", "storage", "--delegate", "1=0x0000000000000000000000000000000000000001"},
		{"--network", "storage", "--registry-faults", "sleepy"},
		{"--network", "storage", "--nodes", "2", "--r", "3", "--discovery-url", "postgres://unused"},
	} {
		if err := run(context.Background(), args, &bytes.Buffer{}, noEnv); !errors.Is(err, errUsage) {
			t.Errorf("run %q: %v, want a usage error", args, err)
		}
	}
}

// waitReady waits until run says it is ready; it fails the test if run returns first.
func waitReady(t *testing.T, out *syncBuffer, done <-chan error) {
	t.Helper()
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
}
