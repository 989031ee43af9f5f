package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The fixtures in testdata are .env files: NAME=VALUE lines, whole-line # comments, and values
// optionally wrapped in "..." or '...' (as dotenv and compose read them, so the original
// README's example can be used verbatim). testdata/good/*.env must load; a sibling .warn file
// lists the expected warnings, one substring per line (none if absent). testdata/bad/*.env must
// fail; the sibling .want file lists the expected problems, one substring per line. Secret
// values in every fixture contain "s3cr3t" (or, for keys, the hex "5ec2e7") so tests can grep
// for them.

// secretMarkers appear in every fixture secret and nowhere else in the fixtures.
var secretMarkers = []string{"s3cr3t", "5ec2e7"}

const (
	key1 = "5ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e7a1b2"
	key2 = "5ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e7f00d"
)

// defaults is the configuration with nothing set, written out from the documented defaults.
func defaults() Config {
	return Config{
		NMDB:              Postgres{Port: 5432},
		DiscoveryDB:       Postgres{Port: 5432},
		PushGatewayURL:    "http://localhost:9091",
		PushJob:           "network-monitoring",
		NATSURL:           "nats://127.0.0.1:4222",
		DemoDB:            "netmon_demo",
		StreamReplicas:    1,
		StreamMaxAge:      30 * 24 * time.Hour,
		ContentNodeSource: "discovery",
		WorkBatchSize:     5000,
		UserBatchSize:     5000,
		PartUsers:         100_000,
		PartsAhead:        1,
		FetchTimeout:      10 * time.Second,
		FetchAttempts:     3,
		FetchConcurrency:  16,
		NodeConcurrency:   4,
		BreakerFailures:   3,
		RunDeadline:       2 * time.Hour,
		FinishTimeout:     10 * time.Minute,
		Schedule:          "@daily",
		RetentionRuns:     7,
		RetentionAge:      0,
		RunIDLabel:        false,
		CIDChecks:         "sample",
		CIDSampleSize:     100000,
		HTTPAddr:          "",
		LogLevel:          "info",
		LogFormat:         "auto",
		Storage: Storage{Schedule: "off", NodeSource: SourceStatic, Keys: "discovery", SampleSize: 10000, DefaultR: 4,
			BatchSize: 100, NodeRate: 10},
	}
}

// goodConfigs is what each good fixture loads to, Warnings aside (see the .warn files).
var goodConfigs = map[string]func() Config{
	"defaults": defaults,
	"readme": func() Config {
		c := defaults()
		c.NMDB = Postgres{Host: "network-monitoring-db", Port: 5444, Name: "audius_network_monitoring"}
		c.DiscoveryDB = Postgres{Port: 5432, Name: "audius_discovery"}
		c.FoundationSPIDs = []int64{1, 2, 3, 4}
		c.PushGatewayURL = "http://network-monitoring-push-gateway:9091"
		return c
	},
	"all-set": func() Config {
		return Config{
			NMDB: Postgres{Host: "nm-db.internal", Port: 6543, Name: "netmon", User: "netmon",
				Password: "nm-pass-s3cr3t:@/?%"},
			DiscoveryDB: Postgres{Host: "/var/run/postgresql", Port: 5433, Name: "audius_discovery",
				User: "reader", Password: "disc-pass-s3cr3t"},
			PushGatewayURL:    "https://push.example.com:9091",
			PushJob:           "netmon-staging",
			SignatureSPID:     12,
			SignatureKey:      "0x" + key1,
			Deregistered:      []string{"https://cn9.example.com", "https://cn10.example.com"},
			FoundationSPIDs:   []int64{1, 2, 3, 4},
			SlackURL:          "https://hooks.slack.com/services/T0/B0/s3cr3t-hook",
			NATSURL:           "nats://n1:4222,nats://n2:4222,tls://n3:4443",
			Namespace:         "staging-2",
			DemoDB:            "staging_demo",
			StreamReplicas:    3,
			StreamMaxAge:      7 * 24 * time.Hour,
			ContentNodeSource: "static",
			StaticContentNodes: []ContentNode{
				{SPID: 1, Endpoint: "https://cn1.example.com"},
				{SPID: 2, Endpoint: "https://cn2.example.com"},
				{SPID: 4, Endpoint: ""},
			},
			WorkBatchSize:    1,
			UserBatchSize:    5000,
			PartUsers:        25_000,
			PartsAhead:       0,
			FetchTimeout:     2500 * time.Millisecond,
			FetchAttempts:    10,
			FetchConcurrency: 64,
			NodeConcurrency:  1,
			BreakerFailures:  5,
			RunDeadline:      90 * time.Minute,
			FinishTimeout:    10 * time.Minute,
			Schedule:         "30 2 * * 1-5",
			RetentionRuns:    3,
			RetentionAge:     14 * 24 * time.Hour,
			RunIDLabel:       true,
			CIDChecks:        "all",
			CIDSampleSize:    100000,
			HTTPAddr:         "127.0.0.1:9200",
			LogLevel:         "debug",
			Storage: Storage{Schedule: "@every 6h", NodeSource: SourceStatic, StaticNodes: []ContentNode{
				{SPID: 1, Endpoint: "https://Node1.example.com"}, {SPID: 1000002, Endpoint: "https://validator2.example.com"}},
				Keys: "both", SampleSize: 0, DefaultR: 3, BatchSize: 50, NodeRate: 0, NonHolderProbes: 2},
			LogFormat: "json",
		}
	},
	"urls": func() Config {
		c := defaults()
		c.NMDB = Postgres{Host: "ignored-host", Port: 5444,
			URL: "postgres://netmon:url-s3cr3t@db.example.com:5432/netmon?sslmode=require"}
		c.DiscoveryDB = Postgres{Port: 5432,
			URL: "postgresql://reader:disc-url-s3cr3t@discovery.example.com/audius_discovery"}
		return c
	},
	"secret-files": func() Config {
		c := defaults()
		c.NMDB = Postgres{Host: "db", Port: 5432, Name: "netmon", Password: "file-db-s3cr3t"}
		c.DiscoveryDB = Postgres{Host: "discovery", Port: 5432, Name: "audius_discovery", Password: "file-fdb-s3cr3t"}
		c.SignatureSPID = 3
		c.SignatureKey = key2
		c.SlackURL = "https://hooks.slack.com/services/T0/B0/file-s3cr3t"
		return c
	},
	"secret-url-files": func() Config {
		c := defaults()
		c.NMDB.URL = "postgres://netmon:file-url-s3cr3t@db.example.com:5432/netmon"
		c.DiscoveryDB.URL = "postgres://reader:file-disc-s3cr3t@discovery.example.com:5432/audius_discovery?sslmode=disable"
		return c
	},
	"compat": func() Config {
		c := defaults()
		c.ContentNodeSource = "ethereum"
		c.Ethereum = Ethereum{ProviderURL: "https://eth.audius.co", Registry: "0xd976d3b4f4e22a238c1A736b6612D22f17b6f64C"}
		c.StaticContentNodes = []ContentNode{{SPID: 1, Endpoint: "https://cn1.example.com"}}
		c.Storage.NodeSource = SourceEthereum
		c.CIDChecks = "off"
		c.CIDSampleSize = 5000
		return c
	},
	"ethereum": func() Config {
		c := defaults()
		c.ContentNodeSource = "ethereum"
		c.Ethereum = Ethereum{ProviderURL: "https://mainnet.infura.example/v3/apikey-s3cr3t",
			Registry: "0xd976d3b4f4e22a238c1a736b6612d22f17b6f64c", Block: 21000000}
		c.Storage.NodeSource = SourceEthereum
		return c
	},
	"ethereum-unused": func() Config {
		c := defaults()
		c.Ethereum = Ethereum{ProviderURL: "https://eth.example.com/key-s3cr3t", Registry: "0xd976d3b4f4e22a238c1A736b6612D22f17b6f64C"}
		return c
	},
}

func TestGoodFixtures(t *testing.T) {
	files := fixtures(t, "good")
	if len(files) != len(goodConfigs) {
		t.Errorf("%d good fixtures but %d expected configs: every fixture needs an entry and vice versa", len(files), len(goodConfigs))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".env")
		t.Run(name, func(t *testing.T) {
			want, ok := goodConfigs[name]
			if !ok {
				t.Fatalf("no expected config for %s", file)
			}
			got, err := LoadEnviron(readEnv(t, file), os.ReadFile)
			if err != nil {
				t.Fatalf("LoadEnviron: %v", err)
			}
			warnings := got.Warnings
			got.Warnings = nil
			if diff := cmp.Diff(want(), got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			matchAll(t, "warning", readLines(t, strings.TrimSuffix(file, ".env")+".warn"), warnings)
			if !sort.StringsAreSorted(warnings) {
				t.Errorf("warnings are not sorted: %q", warnings)
			}
		})
	}
}

func TestBadFixtures(t *testing.T) {
	for _, file := range fixtures(t, "bad") {
		name := strings.TrimSuffix(filepath.Base(file), ".env")
		t.Run(name, func(t *testing.T) {
			wantFile := strings.TrimSuffix(file, ".env") + ".want"
			if _, err := os.Stat(wantFile); err != nil {
				t.Fatalf("every bad fixture needs a .want file: %v", err)
			}
			_, err := LoadEnviron(readEnv(t, file), os.ReadFile)
			var problems Problems
			if !errors.As(err, &problems) {
				t.Fatalf("LoadEnviron error = %v (%T), want Problems", err, err)
			}
			if err.Error() != strings.Join(problems, "\n") {
				t.Errorf("Error() does not list the problems one per line:\n%s", err)
			}
			if !sort.StringsAreSorted(problems) {
				t.Errorf("problems are not sorted by variable:\n%s", err)
			}
			startsWithName := regexp.MustCompile(`^[A-Z][A-Z0-9_]*[ =]`)
			for _, p := range problems {
				if !startsWithName.MatchString(p) {
					t.Errorf("problem does not start with the variable's name: %q", p)
				}
			}
			matchAll(t, "problem", readLines(t, wantFile), problems)
		})
	}
}

// TestEveryProblemAtOnce: one load reports all of a fixture's many problems.
func TestEveryProblemAtOnce(t *testing.T) {
	_, err := LoadEnviron(readEnv(t, "testdata/bad/many.env"), os.ReadFile)
	var problems Problems
	if !errors.As(err, &problems) || len(problems) < 5 {
		t.Fatalf("want 5 or more problems from one load, got %v", err)
	}
}

// TestSecretsNeverShown loads every fixture and greps everything printable for its secrets.
func TestSecretsNeverShown(t *testing.T) {
	files := append(fixtures(t, "good"), fixtures(t, "bad")...)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			environ := readEnv(t, file)
			secrets := fixtureSecrets(t, environ)
			c, err := LoadEnviron(environ, os.ReadFile)

			shown := map[string]string{
				"%v":                   fmt.Sprintf("%v", c),
				"%+v":                  fmt.Sprintf("%+v", c),
				"%#v":                  fmt.Sprintf("%#v", c),
				"NMDB.String":          c.NMDB.String(),
				"DiscoveryDB.String":   c.DiscoveryDB.String(),
				"Warnings":             strings.Join(c.Warnings, "\n"),
				"SignatureKey %q":      fmt.Sprintf("%q", c.SignatureKey),
				"SlackURL %v":          fmt.Sprint(c.SlackURL),
				"NMDB.Password %#v":    fmt.Sprintf("%#v", c.NMDB.Password),
				"DiscoveryDB.URL %+v":  fmt.Sprintf("%+v", c.DiscoveryDB.URL),
				"ProviderShown":        c.Ethereum.ProviderShown(),
				"Redacted":             fmt.Sprint(c.Redacted()),
				"Load error":           fmt.Sprint(err),
				"Require(planner)":     fmt.Sprint(c.Require(Planner)),
				"Require(loader)":      fmt.Sprint(c.Require(Loader)),
				"Require(aggregator)":  fmt.Sprint(c.Require(Aggregator)),
				"fmt of the Problems":  fmt.Sprintf("%#v", err),
				"config and error %+v": fmt.Sprintf("%+v %+v", c.NMDB, c.DiscoveryDB),
			}
			j, jerr := json.Marshal(c)
			if jerr != nil {
				t.Fatalf("json.Marshal: %v", jerr)
			}
			shown["json"] = string(j)
			for what, text := range shown {
				for _, s := range secrets {
					if strings.Contains(text, s) {
						t.Errorf("%s shows the secret %q:\n%s", what, s, text)
					}
				}
				for _, m := range secretMarkers {
					if strings.Contains(text, m) {
						t.Errorf("%s shows a secret (marker %q):\n%s", what, m, text)
					}
				}
			}
		})
	}
}

// TestSecretsMaskedInRedacted: every secret that is set shows as "***", and an unset one as "".
func TestSecretsMaskedInRedacted(t *testing.T) {
	c, err := LoadEnviron(readEnv(t, "testdata/good/all-set.env"), os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Redacted()
	for name, want := range map[string]string{
		"DB_PASSWORD":                    "***",
		"FDB_PASSWORD":                   "***",
		"SIGNATURE_SP_DELEGATE_PRIV_KEY": "***",
		"SLACK_URL":                      "***",
		"NETMON_DB_URL":                  "",
		"NETMON_DISCOVERY_DB_URL":        "",
		"DB_HOST":                        "nm-db.internal",
		"NETMON_CONTENT_NODES":           "1=https://cn1.example.com,2=https://cn2.example.com,4=",
		"FOUNDATION_NODES_SPIDS":         "1,2,3,4",
		"NETMON_FETCH_TIMEOUT":           "2.5s",
		"SIGNATURE_SPID":                 "12",
	} {
		if r[name] != want {
			t.Errorf("Redacted()[%s] = %q, want %q", name, r[name], want)
		}
	}
	c, err = LoadEnviron(readEnv(t, "testdata/good/urls.env"), os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Redacted(); r["NETMON_DB_URL"] != "***" || r["NETMON_DISCOVERY_DB_URL"] != "***" {
		t.Errorf("Redacted() URLs = %q, %q, want ***", r["NETMON_DB_URL"], r["NETMON_DISCOVERY_DB_URL"])
	}
	c, err = LoadEnviron(readEnv(t, "testdata/good/ethereum.env"), os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Redacted(); r["ETH_PROVIDER_URL"] != "***" || r["ETH_REGISTRY_ADDRESS"] != "0xd976d3b4f4e22a238c1a736b6612d22f17b6f64c" ||
		r["NETMON_ETH_BLOCK"] != "21000000" || r["NETMON_CONTENT_NODES_SOURCE"] != "ethereum" {
		t.Errorf("Redacted() Ethereum settings = %q, %q, %q, %q", r["ETH_PROVIDER_URL"], r["ETH_REGISTRY_ADDRESS"],
			r["NETMON_ETH_BLOCK"], r["NETMON_CONTENT_NODES_SOURCE"])
	}
	if r := defaults().Redacted(); r["NETMON_ETH_BLOCK"] != "latest" || r["ETH_PROVIDER_URL"] != "" {
		t.Errorf("Redacted() of the defaults: NETMON_ETH_BLOCK %q, ETH_PROVIDER_URL %q", r["NETMON_ETH_BLOCK"], r["ETH_PROVIDER_URL"])
	}
}

// TestProviderShown: `netmon check` shows the provider's scheme and host, never a key in its
// path, query or user info.
func TestProviderShown(t *testing.T) {
	for url, want := range map[string]string{
		"":                                        "",
		"https://eth.audius.co":                   "https://eth.audius.co",
		"https://eth.audius.co/":                  "https://eth.audius.co",
		"https://mainnet.infura.io/v3/KEY":        "https://mainnet.infura.io/***",
		"https://eth-mainnet.g.alchemy.com/v2/K":  "https://eth-mainnet.g.alchemy.com/***",
		"https://rpc.example.com:8545?apikey=KEY": "https://rpc.example.com:8545/***",
		"https://user:KEY@rpc.example.com":        "https://rpc.example.com/***",
		"https://rpc.example.com#KEY":             "https://rpc.example.com/***",
		"https:KEY":                               "***",
		"http://[::1]:8545":                       "http://[::1]:8545",
		"%zz":                                     "***",
	} {
		if got := (Ethereum{ProviderURL: Secret(url)}).ProviderShown(); got != want {
			t.Errorf("ProviderShown(%q) = %q, want %q", url, got, want)
		}
	}
}

// TestRedactedCoversEverySetting: Redacted has one entry per setting (not per unused
// compatibility variable), and every NETMON_* entry is a known name (so it is never reported
// as a typo).
func TestRedactedCoversEverySetting(t *testing.T) {
	want := []string{
		"NETMON_ACK_WAIT", "NETMON_NATS_USER", "NETMON_NATS_PASSWORD", "NETMON_NATS_TOKEN",
		"NETMON_NATS_NKEY_SEED_FILE", "NETMON_NATS_CREDS_FILE", "NETMON_NATS_TLS_CA",
		"NETMON_NATS_TLS_CERT", "NETMON_NATS_TLS_KEY", "NETMON_PUSH_GATEWAY_USERNAME",
		"NETMON_PUSH_GATEWAY_PASSWORD", "NETMON_CN_BLOCK_PRIVATE", "NETMON_CN_ALLOW_NETWORKS",
		"DB_HOST", "DB_PORT", "DB_NAME", "DB_USERNAME", "DB_PASSWORD", "NETMON_DB_URL",
		"FDB_HOST", "FDB_PORT", "FDB_NAME", "FDB_USERNAME", "FDB_PASSWORD", "NETMON_DISCOVERY_DB_URL",
		"PUSH_GATEWAY_URL", "NETMON_PUSH_JOB", "NETMON_NAMESPACE", "NETMON_DEMO_DB", "SIGNATURE_SPID", "SIGNATURE_SP_DELEGATE_PRIV_KEY",
		"DEREGISTERED_CONTENT_NODES", "FOUNDATION_NODES_SPIDS", "SLACK_URL", "NETMON_NATS_URL",
		"NETMON_STREAM_REPLICAS", "NETMON_STREAM_MAX_AGE", "NETMON_CONTENT_NODES_SOURCE",
		"NETMON_CONTENT_NODES", "NETMON_WORK_BATCH_SIZE", "NETMON_USER_BATCH_SIZE", "NETMON_PART_USERS",
		"NETMON_PARTS_AHEAD", "NETMON_FETCH_TIMEOUT", "NETMON_FETCH_ATTEMPTS", "NETMON_FETCH_CONCURRENCY",
		"NETMON_NODE_CONCURRENCY", "NETMON_BREAKER_FAILURES", "NETMON_RUN_DEADLINE", "NETMON_FINISH_TIMEOUT",
		"NETMON_DEPENDENCY_TIMEOUT",
		"NETMON_SCHEDULE", "NETMON_RETENTION_RUNS", "NETMON_RETENTION_AGE", "NETMON_RUN_ID_LABEL",
		"NETMON_HTTP_ADDR", "NETMON_LOG_LEVEL", "NETMON_LOG_FORMAT", "NETMON_CID_CHECKS",
		"NETMON_CID_SAMPLE_SIZE", "ETH_PROVIDER_URL", "ETH_REGISTRY_ADDRESS", "NETMON_ETH_BLOCK",
		"NETMON_STORAGE_SCHEDULE", "NETMON_STORAGE_NODES_SOURCE", "NETMON_STORAGE_NODES", "NETMON_STORAGE_KEYS",
		"NETMON_STORAGE_SAMPLE_SIZE", "NETMON_STORAGE_DEFAULT_R", "NETMON_STORAGE_BATCH_SIZE",
		"NETMON_STORAGE_NODE_RATE", "NETMON_STORAGE_NONHOLDER_PROBES",
	}
	c, err := Load(func(string) (string, bool) { return "", false }, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for k := range c.Redacted() {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Redacted() keys (-want +got):\n%s", diff)
	}
	known := map[string]bool{}
	for _, n := range netmonNames {
		known[n] = true
	}
	for _, k := range got {
		if strings.HasPrefix(k, "NETMON_") && !known[k] {
			t.Errorf("%s is missing from netmonNames, so LoadEnviron would call it a typo", k)
		}
	}
	for _, n := range secretNames {
		if strings.HasPrefix(n, "NETMON_") && !known[n+"_FILE"] {
			t.Errorf("%s_FILE is missing from netmonNames", n)
		}
	}
}

func TestRequire(t *testing.T) {
	load := func(file string) Config {
		t.Helper()
		c, err := LoadEnviron(readEnv(t, file), os.ReadFile)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		return c
	}
	empty := load("testdata/good/defaults.env")
	readme := load("testdata/good/readme.env")
	urls := load("testdata/good/urls.env")
	for _, tc := range []struct {
		name  string
		cfg   Config
		stage Stage
		want  []string // problem substrings; none means no error
	}{
		{"nothing set, planner", empty, Planner, []string{"DB_HOST is empty", "DB_NAME is empty", "FDB_HOST is empty", "FDB_NAME is empty"}},
		{"nothing set, loader", empty, Loader, []string{"DB_HOST is empty", "DB_NAME is empty"}},
		{"nothing set, aggregator", empty, Aggregator, []string{"DB_HOST is empty", "DB_NAME is empty"}},
		{"nothing set, fetcher", empty, Fetcher, nil},
		{"nothing set, netmon", empty, Netmon, nil},
		{"readme, planner", readme, Planner, []string{"FDB_HOST is empty"}},
		{"readme, loader", readme, Loader, nil},
		{"readme, aggregator", readme, Aggregator, nil},
		{"urls, planner", urls, Planner, nil},
		{"urls, loader", urls, Loader, nil},
		{"urls, aggregator", urls, Aggregator, nil},
		{"static source still needs discovery", Config{ContentNodeSource: "static",
			StaticContentNodes: []ContentNode{{SPID: 1, Endpoint: "https://cn1.example.com"}}}, Planner,
			[]string{"DB_HOST is empty", "DB_NAME is empty", "FDB_HOST is empty", "FDB_NAME is empty"}},
		{"hand-built, aggregator", Config{}, Aggregator,
			[]string{"DB_HOST is empty", "DB_NAME is empty", "PUSH_GATEWAY_URL is empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Require(tc.stage)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Require(%s) = %v, want nil", tc.stage, err)
				}
				return
			}
			var problems Problems
			if !errors.As(err, &problems) {
				t.Fatalf("Require(%s) = %v (%T), want Problems", tc.stage, err, err)
			}
			if !sort.StringsAreSorted(problems) {
				t.Errorf("problems are not sorted: %q", problems)
			}
			matchAll(t, "problem", tc.want, problems)
		})
	}
	if err := empty.Require("janitor"); err == nil {
		t.Error("Require of an unknown stage: no error")
	}
}

func TestSchedule(t *testing.T) {
	for _, tc := range []struct {
		value string
		ok    bool
	}{
		{"@daily", true},
		{"@hourly", true},
		{"off", true},
		{"0 3 * * *", true},
		{"*/15 * * * *", true},
		{"0 3 1-7 JAN,jul MON-FRI", true},
		{"0 0 ? * ?", true},
		{"  0   3 * *  * ", true}, // fields are separated by any white space
		{"@weekly", true},
		{"@every 20s", true},
		{"@fortnightly", false},
		{"0 3 * *", false},
		{"0 3 * * * *", false},
		{"0 3 * * MON!", false},
		{"61 * * * *", false}, // the shape is right, the minute is not
		{"a 3 * * *", false},  // names only in month and day-of-week
		{"0 3 * JAN ?", true}, // ? in day-of-week
		{"0 3 * ? *", true},   // and, as the planner parses it, in month too
		{"daily", false},
		{"61 * * * *", false}, // out of range: the planner's parser refuses it, so Load does
		{"0 24 * * *", false},
		{"0 3 0 * *", false},
		{"0 3 * 13 *", false},
		{"0 3 * * 8", false},
		{"0 3 * * 0-6", true},
	} {
		t.Run(tc.value, func(t *testing.T) {
			c, err := Load(env(map[string]string{"NETMON_SCHEDULE": tc.value}), os.ReadFile)
			if tc.ok {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if c.Schedule != strings.TrimSpace(tc.value) {
					t.Errorf("Schedule = %q, want %q", c.Schedule, strings.TrimSpace(tc.value))
				}
				return
			}
			var problems Problems
			if !errors.As(err, &problems) || len(problems) != 1 ||
				!strings.HasPrefix(problems[0], fmt.Sprintf("NETMON_SCHEDULE=%q", tc.value)) {
				t.Fatalf("Load error = %v, want one NETMON_SCHEDULE problem naming the value", err)
			}
		})
	}
}

// TestLoadTakesOnlyWhatItAsks: Load works from a lookup function alone (no environment list),
// reading each secret file through readFile.
func TestLoadTakesOnlyWhatItAsks(t *testing.T) {
	files := map[string]string{"/run/secrets/db": "  from-readfile-s3cr3t\n"}
	readFile := func(path string) ([]byte, error) {
		if v, ok := files[path]; ok {
			return []byte(v), nil
		}
		return nil, fmt.Errorf("open %s: no such file", path)
	}
	c, err := Load(env(map[string]string{
		"DB_HOST":                "db",
		"DB_NAME":                "netmon",
		"DB_PASSWORD_FILE":       "/run/secrets/db",
		"NETMON_NOT_A_THING":     "x", // Load cannot see names it does not ask for
		"FDB_PASSWORD_FILE":      "/run/secrets/missing",
		"NETMON_LOG_LEVEL":       " warn ",
		"NETMON_STREAM_REPLICAS": "",
	}), readFile)
	var problems Problems
	if !errors.As(err, &problems) || len(problems) != 1 || !strings.Contains(problems[0], `FDB_PASSWORD_FILE="/run/secrets/missing"`) {
		t.Fatalf("Load error = %v, want the missing FDB_PASSWORD_FILE only", err)
	}
	if c.NMDB.Password.Reveal() != "from-readfile-s3cr3t" || c.LogLevel != "warn" || c.StreamReplicas != 1 {
		t.Errorf("got password %q, log level %q, replicas %d", c.NMDB.Password.Reveal(), c.LogLevel, c.StreamReplicas)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("Warnings = %q, want none", c.Warnings)
	}
}

// TestDocsListEveryVariable keeps docs/configuration.md in step with the code.
func TestDocsListEveryVariable(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatalf("read the configuration docs: %v", err)
	}
	doc := string(b)
	c, _ := Load(func(string) (string, bool) { return "", false }, os.ReadFile)
	var names []string
	for k := range c.Redacted() {
		names = append(names, k)
	}
	for k := range unused {
		names = append(names, k)
	}
	for _, k := range secretNames {
		names = append(names, k+"_FILE")
	}
	for _, n := range names {
		if !strings.Contains(doc, "`"+n+"`") {
			t.Errorf("docs/configuration.md does not mention `%s`", n)
		}
	}
}

// matchAll checks that got has exactly one entry per want line, each containing its line.
func matchAll(t *testing.T, what string, want, got []string) {
	t.Helper()
	used := make([]bool, len(got))
	for _, w := range want {
		found := false
		for i, g := range got {
			if !used[i] && strings.Contains(g, w) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("no %s contains %q", what, w)
		}
	}
	for i, g := range got {
		if !used[i] {
			t.Errorf("unexpected %s: %q", what, g)
		}
	}
}

func env(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

func fixtures(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.env"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in testdata/%s: %v", dir, err)
	}
	return files
}

// readEnv reads a fixture into os.Environ's form.
func readEnv(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var environ []string
	for i, line := range strings.Split(string(b), "\n") {
		if trimmed := strings.TrimSpace(line); trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s:%d: not NAME=VALUE: %q", path, i+1, line)
		}
		if v := strings.TrimSpace(value); len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			value = v[1 : len(v)-1]
		}
		environ = append(environ, strings.TrimSpace(name)+"="+value)
	}
	return environ
}

// readLines reads a .want or .warn file; a missing file is no lines.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// fixtureSecrets returns the values of a fixture's secret variables, including the trimmed
// contents of the files their _FILE forms name, and the password of any secret URL.
func fixtureSecrets(t *testing.T, environ []string) []string {
	t.Helper()
	secret := map[string]bool{
		"DB_PASSWORD": true, "FDB_PASSWORD": true, "SIGNATURE_SP_DELEGATE_PRIV_KEY": true,
		"SLACK_URL": true, "NETMON_DB_URL": true, "NETMON_DISCOVERY_DB_URL": true,
		"NETMON_NATS_PASSWORD": true, "NETMON_NATS_TOKEN": true, "NETMON_PUSH_GATEWAY_PASSWORD": true,
	}
	var out []string
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		value = strings.TrimSpace(value)
		if base, ok := strings.CutSuffix(name, "_FILE"); ok && secret[base] {
			b, err := os.ReadFile(value)
			if err != nil {
				continue // missing or a directory: nothing to leak
			}
			value, name = strings.TrimSpace(string(b)), base
		}
		if !secret[name] || value == "" {
			continue
		}
		out = append(out, value, strings.TrimPrefix(value, "0x"))
		if _, rest, ok := strings.Cut(value, "://"); ok {
			if userinfo, _, ok := strings.Cut(rest, "@"); ok {
				if _, pw, ok := strings.Cut(userinfo, ":"); ok && pw != "" {
					out = append(out, pw)
				}
			}
		}
	}
	return out
}
