// Package testenv starts the real dependencies tests need: a fresh Postgres database per test, an
// in-process JetStream server, and the real Pushgateway binary. Each helper registers its own
// cleanup. A missing dependency fails the test with a message saying how to start it; nothing here
// ever skips.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
)

// PostgresAdminURL is the server tests create their databases on; NETMON_TEST_POSTGRES overrides it.
func PostgresAdminURL() string {
	if u := os.Getenv("NETMON_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// Database creates an empty database with a unique name, drops it when the test ends, and returns
// its connection URL.
func Database(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := PostgresAdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("testenv: cannot reach Postgres at %s (%v); start it with `make services` or set NETMON_TEST_POSTGRES", admin, err)
	}
	defer conn.Close(ctx)
	name := "netmon_test_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})
	return withDatabase(admin, name)
}

func withDatabase(adminURL, name string) string {
	// Replace the path of the URL (the database) and keep everything else.
	scheme, rest, _ := strings.Cut(adminURL, "://")
	hostPart, query, hasQuery := strings.Cut(rest, "?")
	host, _, _ := strings.Cut(hostPart, "/")
	u := scheme + "://" + host + "/" + name
	if hasQuery {
		u += "?" + query
	}
	return u
}

// NATS starts an in-process JetStream server on a random loopback port with its own store
// directory, shut down when the test ends.
func NATS(t testing.TB) *server.Server { return NATSAt(t, -1) }

// NATSAt is NATS on the given port (-1: a random one), for a test that starts the server after
// the clients that wait for it.
func NATSAt(t testing.TB, port int) *server.Server {
	t.Helper()
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("testenv: nats server: %v", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("testenv: nats server not ready within 10s")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// PushgatewayBinary finds the Pushgateway executable: NETMON_PUSHGATEWAY_BIN, or
// prometheus-pushgateway (Debian) or pushgateway on PATH.
func PushgatewayBinary() (string, error) {
	if b := os.Getenv("NETMON_PUSHGATEWAY_BIN"); b != "" {
		return b, nil
	}
	for _, name := range []string{"prometheus-pushgateway", "pushgateway"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no pushgateway binary on PATH; install it with `apt-get install prometheus-pushgateway` (make test does) or set NETMON_PUSHGATEWAY_BIN")
}

// Pushgateway starts the real Pushgateway binary on a free loopback port, stopped when the test
// ends, and returns its base URL (http://127.0.0.1:PORT).
func Pushgateway(t testing.TB) string {
	t.Helper()
	return PushgatewayAt(t, FreeAddr(t))
}

// PushgatewayAt is Pushgateway listening on addr (host:port), for a test that starts it after
// its clients, or again after stopping it.
func PushgatewayAt(t testing.TB, addr string) string {
	t.Helper()
	bin, err := PushgatewayBinary()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	cmd := exec.Command(bin, "--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	base := "http://" + addr
	WaitHTTP(t, base+"/-/ready", 15*time.Second)
	return base
}

// FreeAddr returns a loopback host:port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testenv: free port: %v", err)
		}
		addr := l.Addr().String()
		l.Close()
		// The kernel may hand the same ephemeral port out again right after it was closed: two
		// stages of one stack then race for it and one fails to listen.
		if _, dup := handedOut.LoadOrStore(addr, true); !dup {
			return addr
		}
	}
}

// handedOut are the addresses FreeAddr returned in this process.
var handedOut sync.Map

// WaitHTTP polls url until it answers 200 or the timeout passes.
func WaitHTTP(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: %s not ready after %s (last error: %v)", url, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RepoRoot is the directory holding go.work, found by walking up from the working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testenv: go.work not found above the working directory")
		}
		dir = parent
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// RunDigest returns, for every NM DB table with a run_id column (partitioned parents, not their
// partitions), a hash of the run's rows in a total order: the comparison replay promises,
// whatever tables later migrations add.
func RunDigest(t testing.TB, dbURL string, run int64) map[string]string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_class c
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'run_id' AND NOT a.attisdropped
		WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relnamespace = 'public'::regnamespace`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, table := range tables {
		var d string
		var n int64
		// What the live run did beyond its data is not in the history replay reads.
		q := "SELECT count(*), coalesce(md5(string_agg((to_jsonb(t) - $2::text[])::text, '|' ORDER BY t::text)), '') FROM " +
			table + " t WHERE run_id = $1"
		if err := conn.QueryRow(ctx, q, run, runBookkeeping).Scan(&n, &d); err != nil {
			t.Fatalf("digest %s: %v", table, err)
		}
		out[table] = fmt.Sprintf("%d rows %s", n, d)
	}
	if len(out) < 8 {
		t.Fatalf("digest: only %d run tables: %v", len(out), tables)
	}
	return out
}

// runBookkeeping are the columns of a run's rows that replay does not restore (RunDigest): of the
// runs row, the plan settings' fingerprint and the push and announcement of its end; of a part's
// row, the moment its user status was built.
var runBookkeeping = []string{"plan", "push_state", "push_pending_since", "pushed_at", "push_attempts", "push_error", "announced",
	"built_at"}
