package bus_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/testenv"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// startServer starts an in-process JetStream server with the given authentication and TLS.
func startServer(t *testing.T, configure func(*server.Options)) *server.Server {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true}
	configure(opts)
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// dialWith loads the configuration from env and connects as a stage does; it reports whether
// JetStream could be used within the timeout.
func dialWith(t *testing.T, env map[string]string, timeout time.Duration) error {
	t.Helper()
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, os.ReadFile)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	conn, err := bus.Dial(cfg, "auth-test", zerolog.Nop())
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := conn.WaitConnected(ctx); err != nil {
		if last := conn.LastError(); last != nil {
			return errors.Join(err, last)
		}
		return err
	}
	if err := conn.EnsureStreams(ctx, bus.StreamOptions{Replicas: 1, MaxAge: time.Hour}); err != nil {
		return err
	}
	return conn.Publish(ctx, message.Out{Subject: message.RunEventSubject(1, "planned"), ID: "auth-test",
		Msg: &netmonv1.RunEvent{RunId: 1}})
}

// TestNATSAuth: each way netmon can authenticate to NATS (user and password, token, nkey seed
// file, creds file against an operator-mode server, and mutual TLS) against a real server that
// requires it. With the right settings a stage connects and uses JetStream; without them, or
// with wrong ones, it does not get in.
func TestNATSAuth(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	userKey, _ := nkeys.CreateUser()
	userPub, _ := userKey.PublicKey()
	userSeed, _ := userKey.Seed()
	otherKey, _ := nkeys.CreateUser()
	otherSeed, _ := otherKey.Seed()
	certs := testenv.Certs(t)

	type tc struct {
		name      string
		configure func(*server.Options)
		good      map[string]string
		bad       []map[string]string // each must be refused
		scheme    string
	}
	cases := []tc{
		{
			name: "user and password",
			configure: func(o *server.Options) {
				o.Users = []*server.User{{Username: "netmon", Password: "nats-pass-s3cr3t"}}
			},
			good: map[string]string{"NETMON_NATS_USER": "netmon", "NETMON_NATS_PASSWORD": "nats-pass-s3cr3t"},
			bad:  []map[string]string{{"NETMON_NATS_USER": "netmon", "NETMON_NATS_PASSWORD": "wrong"}, {}},
		},
		{
			name:      "password from a file",
			configure: func(o *server.Options) { o.Users = []*server.User{{Username: "netmon", Password: "file-s3cr3t"}} },
			good:      map[string]string{"NETMON_NATS_USER": "netmon", "NETMON_NATS_PASSWORD_FILE": write("nats_password", "file-s3cr3t\n")},
			bad:       []map[string]string{{}},
		},
		{
			name:      "token",
			configure: func(o *server.Options) { o.Authorization = "tok-s3cr3t" },
			good:      map[string]string{"NETMON_NATS_TOKEN": "tok-s3cr3t"},
			bad:       []map[string]string{{"NETMON_NATS_TOKEN": "tok-wrong"}, {}},
		},
		{
			name:      "nkey",
			configure: func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: userPub}} },
			good:      map[string]string{"NETMON_NATS_NKEY_SEED_FILE": write("user.nk", string(userSeed))},
			bad:       []map[string]string{{"NETMON_NATS_NKEY_SEED_FILE": write("other.nk", string(otherSeed))}, {}},
		},
		{
			name:      "creds (operator mode)",
			configure: operatorMode(t, write),
			good:      map[string]string{"NETMON_NATS_CREDS_FILE": filepath.Join(dir, "netmon.creds")},
			bad:       []map[string]string{{"NETMON_NATS_CREDS_FILE": filepath.Join(dir, "stranger.creds")}, {}},
		},
		{
			name: "mutual TLS",
			configure: func(o *server.Options) {
				cfg, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: certs.ServerCert, KeyFile: certs.ServerKey,
					CaFile: certs.CA, Verify: true, Timeout: 2})
				if err != nil {
					t.Fatal(err)
				}
				o.TLSConfig, o.TLS, o.TLSVerify, o.TLSTimeout = cfg, true, true, 2
			},
			scheme: "tls",
			good: map[string]string{"NETMON_NATS_TLS_CA": certs.CA, "NETMON_NATS_TLS_CERT": certs.ClientCert,
				"NETMON_NATS_TLS_KEY": certs.ClientKey},
			bad: []map[string]string{
				// The server's certificate checked against another CA.
				{"NETMON_NATS_TLS_CA": certs.OtherCA, "NETMON_NATS_TLS_CERT": certs.ClientCert, "NETMON_NATS_TLS_KEY": certs.ClientKey},
				// No client certificate, which the server requires.
				{"NETMON_NATS_TLS_CA": certs.CA},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := startServer(t, c.configure)
			url := s.ClientURL()
			if c.scheme != "" {
				url = strings.Replace(url, "nats://", c.scheme+"://", 1)
			}
			with := func(m map[string]string) map[string]string {
				out := map[string]string{"NETMON_NATS_URL": url}
				for k, v := range m {
					out[k] = v
				}
				return out
			}
			if err := dialWith(t, with(c.good), 10*time.Second); err != nil {
				t.Fatalf("with the right settings: %v", err)
			}
			for _, bad := range c.bad {
				if err := dialWith(t, with(bad), time.Second); err == nil {
					t.Fatalf("with %v: connected", bad)
				}
			}
		})
	}
}

// operatorMode configures a server in operator (JWT) mode with one account with JetStream and
// writes netmon.creds for a user of that account (and stranger.creds for a user of an account
// the server does not know).
func operatorMode(t *testing.T, write func(name, content string) string) func(*server.Options) {
	return func(o *server.Options) {
		op, _ := nkeys.CreateOperator()
		opPub, _ := op.PublicKey()
		oc := jwt.NewOperatorClaims(opPub)
		oc.Name = "netmon-test"
		sys, _ := nkeys.CreateAccount()
		sysPub, _ := sys.PublicKey()
		oc.SystemAccount = sysPub
		opJWT, err := oc.Encode(op)
		if err != nil {
			t.Fatal(err)
		}
		opClaims, err := jwt.DecodeOperatorClaims(opJWT)
		if err != nil {
			t.Fatal(err)
		}
		resolver := &server.MemAccResolver{}
		account := func(kp nkeys.KeyPair, name string, js bool) {
			pub, _ := kp.PublicKey()
			ac := jwt.NewAccountClaims(pub)
			ac.Name = name
			if js {
				ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
			}
			j, err := ac.Encode(op)
			if err != nil {
				t.Fatal(err)
			}
			if err := resolver.Store(pub, j); err != nil {
				t.Fatal(err)
			}
		}
		account(sys, "SYS", false)
		acc, _ := nkeys.CreateAccount()
		account(acc, "NETMON", true)
		creds := func(accountKey nkeys.KeyPair, file string) {
			u, _ := nkeys.CreateUser()
			upub, _ := u.PublicKey()
			useed, _ := u.Seed()
			uc := jwt.NewUserClaims(upub)
			uj, err := uc.Encode(accountKey)
			if err != nil {
				t.Fatal(err)
			}
			b, err := jwt.FormatUserConfig(uj, useed)
			if err != nil {
				t.Fatal(err)
			}
			write(file, string(b))
		}
		creds(acc, "netmon.creds")
		stranger, _ := nkeys.CreateAccount() // signed by an account the operator never issued
		creds(stranger, "stranger.creds")
		o.TrustedOperators = []*jwt.OperatorClaims{opClaims}
		o.AccountResolver = resolver
		o.SystemAccount = sysPub
	}
}
