//go:build chaos

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/testenv"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// TestChaosSecuredRun: every connection a stage makes is authenticated and encrypted. NATS
// requires a user and password over mutual TLS; both databases are on a Postgres that accepts
// only TLS (hostssl; the stages verify its certificate with sslmode=verify-full); the
// Pushgateway requires basic auth. The four stage processes run a complete run, exactly, and the
// servers refuse anyone without the credentials.
func TestChaosSecuredRun(t *testing.T) {
	certs := testenv.Certs(t)
	const natsUser, natsPass = "netmon", "nats-pass-s3cr3t"
	const pushUser, pushPass = "pusher", "push-pass-s3cr3t"

	// NATS: user and password, over TLS with client certificates.
	tlsCfg, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: certs.ServerCert, KeyFile: certs.ServerKey,
		CaFile: certs.CA, Verify: true, Timeout: 2})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true, Users: []*server.User{{Username: natsUser, Password: natsPass}},
		TLSConfig: tlsCfg, TLS: true, TLSVerify: true, TLSTimeout: 2})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	natsURL := strings.Replace(ns.ClientURL(), "nats://", "tls://", 1)

	// Postgres: TLS only.
	pg := startPrivatePostgres(t, "ssl = on\nssl_cert_file = 'server.pem'\nssl_key_file = 'server-key.pem'\n",
		"local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n",
		certs.ServerCert, certs.ServerKey)
	tlsURL := func(db string) string {
		return fmt.Sprintf("postgres://postgres@localhost:%d/%s?sslmode=verify-full&sslrootcert=%s", pg.port, db, certs.CA)
	}
	adminTLS := tlsURL("postgres")
	for _, db := range []string{"netmon", "discovery"} {
		execSQL(t, adminTLS, "CREATE DATABASE "+db)
	}
	// Without TLS, or trusting another CA, the server is not reachable.
	for _, bad := range []string{
		fmt.Sprintf("postgres://postgres@127.0.0.1:%d/netmon?sslmode=disable", pg.port),
		fmt.Sprintf("postgres://postgres@localhost:%d/netmon?sslmode=verify-full&sslrootcert=%s", pg.port, certs.OtherCA),
	} {
		if conn, err := pgx.Connect(context.Background(), bad); err == nil {
			conn.Close(context.Background())
			t.Errorf("connected to the TLS-only Postgres with %s", bad)
		}
	}

	pushgateway := testenv.PushgatewayWithAuth(t, pushUser, pushPass)
	sc := simnet.Scenario{Seed: 91, UserCount: 600, NodeCount: 8}
	s := startChaosStack(t, chaosConfig{scenario: sc, natsURL: natsURL, nmDB: tlsURL("netmon"),
		discoveryDB: tlsURL("discovery"), pushgateway: pushgateway, fetchers: 2, env: []string{
			"NETMON_NATS_USER=" + natsUser, "NETMON_NATS_PASSWORD=" + natsPass,
			"NETMON_NATS_TLS_CA=" + certs.CA, "NETMON_NATS_TLS_CERT=" + certs.ClientCert, "NETMON_NATS_TLS_KEY=" + certs.ClientKey,
			"NETMON_PUSH_GATEWAY_USERNAME=" + pushUser, "NETMON_PUSH_GATEWAY_PASSWORD=" + pushPass,
		}})
	// The test reads the Pushgateway with the credentials too.
	s.pushgateway = strings.Replace(pushgateway, "http://", "http://"+pushUser+":"+pushPass+"@", 1)

	run := startRunWith(t, s.env)
	s.checkComplete(t, run, "NATS with user/password over mutual TLS, Postgres TLS-only (verify-full), Pushgateway with basic auth")

	// netmon replay --push reaches the Pushgateway with the same credentials: with the group
	// deleted, the replay puts the run's series back.
	pushed := scrape(t, s.pushgateway, "network-monitoring")
	req, err := http.NewRequest(http.MethodDelete, pushgateway+"/metrics/job/network-monitoring", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(pushUser, pushPass)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete the Pushgateway group: %v %v", resp, err)
	}
	if got := scrape(t, s.pushgateway, "network-monitoring"); len(got) != 0 {
		t.Fatalf("the group still has %d series after its deletion", len(got))
	}
	cli(t, s.env, 0, "replay", strconv.FormatInt(run, 10), "--push")
	if got := scrape(t, s.pushgateway, "network-monitoring"); len(pushed) == 0 || !sameSeries(got, pushed) {
		t.Errorf("replay --push through basic auth: the Pushgateway holds %d series, want the run's %d", len(got), len(pushed))
	}

	// Every connection of the stages to the databases was encrypted.
	plain := queryInt(adminTLS, `SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
		WHERE a.datname IN ('netmon', 'discovery') AND NOT s.ssl`)
	encrypted := queryInt(adminTLS, `SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
		WHERE a.datname IN ('netmon', 'discovery') AND s.ssl`)
	if plain != 0 || encrypted == 0 {
		t.Errorf("database connections: %d without TLS, %d with", plain, encrypted)
	}
	// Nobody gets into NATS without the credentials, with TLS or without.
	for _, env := range [][]string{
		{"NETMON_NATS_URL=" + natsURL, "NETMON_NATS_TLS_CA=" + certs.CA, "NETMON_NATS_TLS_CERT=" + certs.ClientCert,
			"NETMON_NATS_TLS_KEY=" + certs.ClientKey},
		{"NETMON_NATS_URL=" + natsURL, "NETMON_NATS_USER=" + natsUser, "NETMON_NATS_PASSWORD=" + natsPass, "NETMON_NATS_TLS_CA=" + certs.CA},
		{"NETMON_NATS_URL=" + ns.ClientURL(), "NETMON_NATS_USER=" + natsUser, "NETMON_NATS_PASSWORD=" + natsPass},
	} {
		if conn, err := dialNATS(t, env, time.Second); err == nil {
			conn.Close()
			t.Errorf("connected to NATS with %v", env)
		}
	}
}

// dialNATS connects as a stage would with the NETMON_NATS_* settings in env.
func dialNATS(t *testing.T, env []string, timeout time.Duration) (*bus.Conn, error) {
	t.Helper()
	cfg, err := config.LoadEnviron(env, os.ReadFile)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	conn, err := bus.Dial(cfg, "chaos-test", zerolog.Nop())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := conn.WaitConnected(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// startRunWith asks the planner for a run over NATS with the stack's credentials (what `netmon
// run` does) and returns its id.
func startRunWith(t *testing.T, env []string) int64 {
	t.Helper()
	conn, err := dialNATS(t, env, 10*time.Second)
	if err != nil {
		t.Fatalf("connect to NATS with the stack's settings: %v", err)
	}
	defer conn.Close()
	req, _ := proto.Marshal(&netmonv1.StartRunRequest{RequestedBy: "chaos test"})
	var reply netmonv1.StartRunReply
	for attempt := 0; ; attempt++ {
		rctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		data, err := conn.Request(rctx, message.StartSubject, req)
		cancel()
		if err == nil {
			if err := proto.Unmarshal(data, &reply); err != nil {
				t.Fatal(err)
			}
			break
		}
		if attempt > 40 {
			t.Fatalf("start a run: %v", err)
		}
		time.Sleep(250 * time.Millisecond) // the planner may still be connecting
	}
	if reply.GetError() != "" {
		t.Fatalf("start a run: %s", reply.GetError())
	}
	return reply.GetRunId()
}
