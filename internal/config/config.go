// Package config reads netmon's configuration from the environment, for every netmon binary.
//
// It consumes environment variables: the original service's names (DB_*, FDB_*,
// PUSH_GATEWAY_URL, SIGNATURE_SPID, SIGNATURE_SP_DELEGATE_PRIV_KEY, DEREGISTERED_CONTENT_NODES,
// FOUNDATION_NODES_SPIDS, SLACK_URL, ETH_PROVIDER_URL, ETH_REGISTRY_ADDRESS), so an existing .env
// keeps working, and new settings named NETMON_*. Secrets may instead come from a file named by NAME_FILE. It produces a Config with
// every default applied and every value checked: Load reports all problems at once as Problems,
// and Require adds what one stage needs. Secrets are held as Secret, which never prints its value,
// so a Config, its Redacted form and its errors are safe to log. Variables the original read but
// netmon does not use are accepted with a warning. docs/configuration.md lists every variable.
package config

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ContentNode is one entry of the static content-node list. An empty Endpoint means the SP is
// registered without an endpoint (deregistered).
type ContentNode struct {
	SPID     int64
	Endpoint string
}

// Config is every setting of every netmon binary. Comments give the variable and its default.
type Config struct {
	NMDB               Postgres      // DB_HOST, DB_PORT (5432), DB_NAME, DB_USERNAME, DB_PASSWORD, or NETMON_DB_URL
	DiscoveryDB        Postgres      // FDB_HOST, FDB_PORT (5432), FDB_NAME, FDB_USERNAME, FDB_PASSWORD, or NETMON_DISCOVERY_DB_URL
	PushGatewayURL     string        // PUSH_GATEWAY_URL (http://localhost:9091)
	PushJob            string        // NETMON_PUSH_JOB (network-monitoring)
	SignatureSPID      int64         // SIGNATURE_SPID; 0 when requests are not signed
	SignatureKey       Secret        // SIGNATURE_SP_DELEGATE_PRIV_KEY; set together with SignatureSPID or not at all
	Deregistered       []string      // DEREGISTERED_CONTENT_NODES, without trailing "/"
	FoundationSPIDs    []int64       // FOUNDATION_NODES_SPIDS
	SlackURL           Secret        // SLACK_URL; empty: no Slack report
	NATSURL            string        // NETMON_NATS_URL (nats://127.0.0.1:4222), comma-separated servers
	Namespace          string        // NETMON_NAMESPACE (""): prefixes the streams, consumers, bucket and subjects on a shared NATS server
	DemoDB             string        // NETMON_DEMO_DB (netmon_demo): the NM DB `netmon demo` recreates; its discovery DB is <name>_discovery
	StreamReplicas     int           // NETMON_STREAM_REPLICAS (1)
	StreamMaxAge       time.Duration // NETMON_STREAM_MAX_AGE (720h)
	ContentNodeSource  string        // NETMON_CONTENT_NODES_SOURCE: discovery, static or ethereum (default: ethereum when ETH_PROVIDER_URL and ETH_REGISTRY_ADDRESS are set, else discovery)
	StaticContentNodes []ContentNode // NETMON_CONTENT_NODES, used when the source is static
	Ethereum           Ethereum      // ETH_PROVIDER_URL, ETH_REGISTRY_ADDRESS, NETMON_ETH_BLOCK (latest), used when the source is ethereum
	WorkBatchSize      int           // NETMON_WORK_BATCH_SIZE (5000): wallets per work item
	UserBatchSize      int           // NETMON_USER_BATCH_SIZE (5000): users per snapshot batch
	PartUsers          int           // NETMON_PART_USERS (100000): users per part of a clocks run's plan, whose user status is built as soon as it is fetched
	PartsAhead         int           // NETMON_PARTS_AHEAD (1): parts' worth of messages the loader may have waiting when the planner starts a part (0: it never waits)
	FetchTimeout       time.Duration // NETMON_FETCH_TIMEOUT (10s): per HTTP attempt
	FetchAttempts      int           // NETMON_FETCH_ATTEMPTS (3)
	FetchConcurrency   int           // NETMON_FETCH_CONCURRENCY (16): work items in flight per fetcher
	NodeConcurrency    int           // NETMON_NODE_CONCURRENCY (4): requests in flight per node per fetcher
	BreakerFailures    int           // NETMON_BREAKER_FAILURES (3): failed items in a row that open a node's circuit
	RunDeadline        time.Duration // NETMON_RUN_DEADLINE (2h)
	FinishTimeout      time.Duration // NETMON_FINISH_TIMEOUT (10m): a loaded run not finished by then fails
	DependencyTimeout  time.Duration // NETMON_DEPENDENCY_TIMEOUT (0: forever): how long a starting stage waits for NATS and its databases
	Schedule           string        // NETMON_SCHEDULE (@daily): off, a descriptor (@hourly, @every 6h) or 5 cron fields
	RetentionRuns      int           // NETMON_RETENTION_RUNS (7)
	RetentionAge       time.Duration // NETMON_RETENTION_AGE (0: off)
	RunIDLabel         bool          // NETMON_RUN_ID_LABEL (false): keep the original's run_id label
	CIDChecks          string        // NETMON_CID_CHECKS (sample): off, all or sample
	CIDSampleSize      int           // NETMON_CID_SAMPLE_SIZE (100000): CIDs checked per run when sampling
	HTTPAddr           string        // NETMON_HTTP_ADDR (""): the stage's own default
	LogLevel           string        // NETMON_LOG_LEVEL (info): debug, info, warn or error
	LogFormat          string        // NETMON_LOG_FORMAT (auto): json, console or auto
	AckWait            time.Duration // NETMON_ACK_WAIT (0: each stage's own): redelivery after a crash
	NATSAuth           NATSAuth      // NETMON_NATS_USER, _PASSWORD, _TOKEN, _NKEY_SEED_FILE, _CREDS_FILE, _TLS_*
	PushAuth           BasicAuth     // NETMON_PUSH_GATEWAY_USERNAME, NETMON_PUSH_GATEWAY_PASSWORD
	EndpointPolicy     CNPolicy      // NETMON_CN_BLOCK_PRIVATE, NETMON_CN_ALLOW_NETWORKS
	Storage            Storage       // NETMON_STORAGE_*: storage runs (storage.go)
	Warnings           []string      // non-fatal notes found while loading, sorted
}

// Stage names a netmon binary, for Require.
type Stage string

// The stages. Netmon is the operator command, which needs only NATS.
const (
	Planner    Stage = "planner"
	Fetcher    Stage = "fetcher"
	Loader     Stage = "loader"
	Aggregator Stage = "aggregator"
	Netmon     Stage = "netmon"
)

// Defaults that other packages and the docs refer to.
const (
	DefaultPushGatewayURL = "http://localhost:9091"
	DefaultNATSURL        = "nats://127.0.0.1:4222"
	maxWorkBatch          = 5000 // the content node's batch_clock_status limit
)

// Variables the original read that netmon accepts but does not use, with the reason shown in
// the warning when one is set.
var unused = map[string]string{
	"SQL_LOGGING":       "netmon logs no SQL statements",
	"TRACING_ENABLED":   "tracing is not supported; netmon logs structured lines to stderr",
	"COLLECTOR_URL":     "tracing is not supported; netmon logs structured lines to stderr",
	"NODE_ENV":          "netmon reads no .env file; pass the variables in the environment",
	"ETH_TOKEN_ADDRESS": "netmon reads the Ethereum registry with eth_call alone (ETH_PROVIDER_URL, ETH_REGISTRY_ADDRESS)",
	"ETH_OWNER_WALLET":  "netmon reads the Ethereum registry with eth_call alone (ETH_PROVIDER_URL, ETH_REGISTRY_ADDRESS)",
	// June 2022 names, replaced by SIGNATURE_* in the original itself.
	"SECRETS_FILE": "use SIGNATURE_SPID and SIGNATURE_SP_DELEGATE_PRIV_KEY (or its _FILE form)",
	"DEV_MODE":     "it was removed from the original in June 2022",
}

// secretNames are the variables that may be given as NAME_FILE.
var secretNames = []string{
	"DB_PASSWORD", "FDB_PASSWORD", "SIGNATURE_SP_DELEGATE_PRIV_KEY", "SLACK_URL", "ETH_PROVIDER_URL",
	"NETMON_DB_URL", "NETMON_DISCOVERY_DB_URL",
	envNATSPassword, envNATSToken, envPushPassword,
}

// netmonNames are the NETMON_* variables; any other NETMON_* name is reported as a likely typo.
var netmonNames = []string{
	envAckWait, envNATSUser, envNATSPassword, envNATSPassword + "_FILE", envNATSToken, envNATSToken + "_FILE",
	envNATSNKey, envNATSCreds, envNATSTLSCA, envNATSTLSCert, envNATSTLSKey, envPushUser, envPushPassword,
	envPushPassword + "_FILE", envBlockPrivate, envAllowNetworks,
	"NETMON_DB_URL", "NETMON_DB_URL_FILE", "NETMON_DISCOVERY_DB_URL", "NETMON_DISCOVERY_DB_URL_FILE",
	"NETMON_PUSH_JOB", "NETMON_NATS_URL", "NETMON_NAMESPACE", "NETMON_DEMO_DB", "NETMON_STREAM_REPLICAS", "NETMON_STREAM_MAX_AGE",
	"NETMON_FINISH_TIMEOUT", "NETMON_DEPENDENCY_TIMEOUT",
	"NETMON_CONTENT_NODES_SOURCE", "NETMON_CONTENT_NODES", "NETMON_WORK_BATCH_SIZE",
	"NETMON_USER_BATCH_SIZE", "NETMON_PART_USERS", "NETMON_PARTS_AHEAD", "NETMON_FETCH_TIMEOUT", "NETMON_FETCH_ATTEMPTS",
	"NETMON_FETCH_CONCURRENCY", "NETMON_NODE_CONCURRENCY", "NETMON_BREAKER_FAILURES",
	"NETMON_RUN_DEADLINE", "NETMON_SCHEDULE", "NETMON_RETENTION_RUNS", "NETMON_RETENTION_AGE",
	"NETMON_RUN_ID_LABEL", "NETMON_HTTP_ADDR", "NETMON_LOG_LEVEL", "NETMON_LOG_FORMAT",
	"NETMON_CID_CHECKS", "NETMON_CID_SAMPLE_SIZE", "NETMON_ETH_BLOCK",
	"NETMON_STORAGE_SCHEDULE", "NETMON_STORAGE_NODES_SOURCE", "NETMON_STORAGE_NODES", "NETMON_STORAGE_KEYS",
	"NETMON_STORAGE_SAMPLE_SIZE", "NETMON_STORAGE_DEFAULT_R", "NETMON_STORAGE_BATCH_SIZE", "NETMON_STORAGE_NODE_RATE",
	"NETMON_STORAGE_NONHOLDER_PROBES",
}

// Load reads the configuration through lookup (os.LookupEnv in a binary) and readFile
// (os.ReadFile), applies defaults and checks every value. The error, if any, is Problems, listing
// every problem at once, sorted by variable; secrets are never shown in it. An unset variable and
// an empty one are the same, and values are trimmed of surrounding white space. On error, fields
// whose values were bad hold their defaults.
//
// Load sees only the names it asks for, so it cannot warn about misspelt NETMON_* variables;
// LoadEnviron can.
func Load(lookup func(string) (string, bool), readFile func(string) ([]byte, error)) (Config, error) {
	r := &reader{lookup: lookup, readFile: readFile}
	c := Config{
		NMDB:               r.postgres("DB_", "NETMON_DB_URL"),
		DiscoveryDB:        r.postgres("FDB_", "NETMON_DISCOVERY_DB_URL"),
		PushGatewayURL:     r.text("PUSH_GATEWAY_URL", DefaultPushGatewayURL),
		PushJob:            r.text("NETMON_PUSH_JOB", "network-monitoring"),
		SignatureSPID:      r.spid("SIGNATURE_SPID"),
		SignatureKey:       r.secret("SIGNATURE_SP_DELEGATE_PRIV_KEY"),
		Deregistered:       r.deregistered("DEREGISTERED_CONTENT_NODES"),
		FoundationSPIDs:    r.spidList("FOUNDATION_NODES_SPIDS"),
		SlackURL:           r.secret("SLACK_URL"),
		NATSURL:            r.natsURL("NETMON_NATS_URL"),
		Namespace:          r.matching("NETMON_NAMESPACE", "", namespacePattern, namespaceWant),
		DemoDB:             r.matching("NETMON_DEMO_DB", "netmon_demo", demoDBPattern, demoDBWant),
		StreamReplicas:     r.integer("NETMON_STREAM_REPLICAS", 1, 1, 5),
		StreamMaxAge:       r.duration("NETMON_STREAM_MAX_AGE", 720*time.Hour, false),
		ContentNodeSource:  r.nodeSource(),
		StaticContentNodes: r.contentNodes("NETMON_CONTENT_NODES"),
		Ethereum:           r.ethereum(),
		WorkBatchSize:      r.integer("NETMON_WORK_BATCH_SIZE", maxWorkBatch, 1, maxWorkBatch),
		UserBatchSize:      r.integer("NETMON_USER_BATCH_SIZE", 5000, 1, 5000),
		PartUsers:          r.integer("NETMON_PART_USERS", 100_000, 1, math.MaxInt32),
		PartsAhead:         r.integer("NETMON_PARTS_AHEAD", 1, 0, math.MaxInt32),
		FetchTimeout:       r.duration("NETMON_FETCH_TIMEOUT", 10*time.Second, false),
		FetchAttempts:      r.integer("NETMON_FETCH_ATTEMPTS", 3, 1, 10),
		FetchConcurrency:   r.integer("NETMON_FETCH_CONCURRENCY", 16, 1, math.MaxInt),
		NodeConcurrency:    r.integer("NETMON_NODE_CONCURRENCY", 4, 1, math.MaxInt),
		BreakerFailures:    r.integer("NETMON_BREAKER_FAILURES", 3, 1, math.MaxInt),
		RunDeadline:        r.duration("NETMON_RUN_DEADLINE", 2*time.Hour, false),
		FinishTimeout:      r.duration("NETMON_FINISH_TIMEOUT", 10*time.Minute, false),
		DependencyTimeout:  r.duration("NETMON_DEPENDENCY_TIMEOUT", 0, true),
		Schedule:           r.text("NETMON_SCHEDULE", "@daily"),
		RetentionRuns:      r.integer("NETMON_RETENTION_RUNS", 7, 1, math.MaxInt),
		RetentionAge:       r.duration("NETMON_RETENTION_AGE", 0, true),
		RunIDLabel:         r.boolean("NETMON_RUN_ID_LABEL", false),
		CIDChecks:          r.oneOf("NETMON_CID_CHECKS", "sample", []string{"off", "all", "sample"}, ""),
		CIDSampleSize:      r.integer("NETMON_CID_SAMPLE_SIZE", 100000, 1, math.MaxInt),
		HTTPAddr:           r.text("NETMON_HTTP_ADDR", ""),
		LogLevel:           r.oneOf("NETMON_LOG_LEVEL", "info", []string{"debug", "info", "warn", "error"}, ""),
		LogFormat:          r.oneOf("NETMON_LOG_FORMAT", "auto", []string{"json", "console", "auto"}, ""),
	}

	if msg := httpURLProblem(c.PushGatewayURL); msg != "" {
		r.invalid("PUSH_GATEWAY_URL", shownURL(c.PushGatewayURL), msg)
		c.PushGatewayURL = DefaultPushGatewayURL
	}
	if c.SlackURL != "" {
		if msg := httpURLProblem(c.SlackURL.Reveal()); msg != "" {
			r.invalidSecret("SLACK_URL", msg)
			c.SlackURL = ""
		}
	}
	if msg := scheduleProblem(c.Schedule); msg != "" {
		r.invalid("NETMON_SCHEDULE", c.Schedule, msg)
		c.Schedule = "@daily"
	}
	if c.HTTPAddr != "" {
		if msg := hostPortProblem(c.HTTPAddr); msg != "" {
			r.invalid("NETMON_HTTP_ADDR", c.HTTPAddr, msg)
			c.HTTPAddr = ""
		}
	}
	c.AckWait, c.NATSAuth, c.PushAuth, c.EndpointPolicy = r.ackWait(), r.natsAuth(), r.pushAuth(), r.endpointPolicy()
	c.Storage = r.storage()
	r.checkSigning(&c)
	r.checkStatic(&c)
	r.checkEthereum(&c)
	if c.CIDChecks != "sample" && r.get("NETMON_CID_SAMPLE_SIZE") != "" {
		r.warnf("NETMON_CID_SAMPLE_SIZE is set but not used: NETMON_CID_CHECKS is %s", c.CIDChecks)
	}
	for name, why := range unused {
		if r.get(name) != "" {
			r.warnf("%s is set but not used: %s", name, why)
		}
	}

	c.Warnings = sorted(r.warnings)
	if len(r.problems) > 0 {
		return c, Problems(sorted(r.problems))
	}
	return c, nil
}

// LoadEnviron is Load over an environment in os.Environ's "NAME=value" form. Seeing every
// name, it also warns about NETMON_* variables it does not know, which are likely typos.
func LoadEnviron(environ []string, readFile func(string) ([]byte, error)) (Config, error) {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if _, seen := env[name]; !seen { // the first one wins, as with os.LookupEnv
			env[name] = value
		}
	}
	c, err := Load(func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}, readFile)
	known := make(map[string]bool, len(netmonNames))
	for _, n := range netmonNames {
		known[n] = true
	}
	for name := range env {
		if !strings.HasPrefix(name, "NETMON_") || known[name] {
			continue
		}
		w := name + " is an unknown setting, typo?"
		if k := closest(name, netmonNames); k != "" {
			w += " (did you mean " + k + "?)"
		}
		c.Warnings = append(c.Warnings, w)
	}
	sort.Strings(c.Warnings)
	return c, err
}

func (r *reader) postgres(prefix, urlName string) Postgres {
	p := Postgres{
		Host:     r.get(prefix + "HOST"),
		Port:     r.integer(prefix+"PORT", 5432, 1, 65535),
		Name:     r.get(prefix + "NAME"),
		User:     r.get(prefix + "USERNAME"),
		Password: r.secret(prefix + "PASSWORD"),
		URL:      r.secret(urlName),
	}
	if p.URL == "" {
		return p
	}
	if msg := postgresURLProblem(p.URL.Reveal()); msg != "" {
		r.invalidSecret(urlName, msg)
		p.URL = ""
		return p
	}
	var ignored []string
	for _, part := range []struct {
		name string
		set  bool
	}{
		{prefix + "HOST", p.Host != ""},
		{prefix + "PORT", r.get(prefix+"PORT") != ""},
		{prefix + "NAME", p.Name != ""},
		{prefix + "USERNAME", p.User != ""},
		{prefix + "PASSWORD", p.Password != ""},
	} {
		if part.set {
			ignored = append(ignored, part.name)
		}
	}
	if len(ignored) > 0 {
		r.warnf("%s is set, so %s are ignored", urlName, strings.Join(ignored, ", "))
	}
	return p
}

// deregistered reads the endpoints to skip, normalised so they compare equal to registry
// endpoints: trimmed, without trailing "/", empty pieces dropped. The original turned an empty
// value into [""]; here it is an empty list.
func (r *reader) deregistered(name string) []string {
	var out []string
	for _, p := range pieces(r.get(name)) {
		if p = strings.TrimRight(p, "/"); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// spidList reads a set of SP ids. Unlike the original, which reported 0 when a piece was not a
// number, a bad piece is a problem naming it.
func (r *reader) spidList(name string) []int64 {
	var out []int64
	seen := map[int64]bool{}
	for _, p := range pieces(r.get(name)) {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n <= 0 {
			r.problemf("%s entry %q: want a positive integer SP id (the list is comma-separated)", name, p)
			continue
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// natsURL reads the NATS server list, normalised to comma-separated URLs without spaces.
func (r *reader) natsURL(name string) string {
	v := r.get(name)
	urls := pieces(v)
	if len(urls) == 0 {
		return DefaultNATSURL
	}
	for _, u := range urls {
		if msg := natsURLProblem(u); msg != "" {
			r.invalid(name, shownURL(v), fmt.Sprintf("server %q: %s", shownURL(u), msg))
			return DefaultNATSURL
		}
	}
	return strings.Join(urls, ",")
}

// contentNodes reads "SPID=ENDPOINT" entries. Each SP id is a unique positive integer; the
// endpoint is an http(s) URL without trailing "/", or empty for a deregistered SP.
func (r *reader) contentNodes(name string) []ContentNode {
	var out []ContentNode
	seen := map[int64]bool{}
	for _, p := range pieces(r.get(name)) {
		id, endpoint, ok := strings.Cut(p, "=")
		if !ok {
			r.problemf("%s entry %q: want SPID=ENDPOINT, such as 1=https://cn1.example.com", name, p)
			continue
		}
		spid, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64)
		if err != nil || spid <= 0 {
			r.problemf("%s entry %q: want a positive integer SP id before the =", name, p)
			continue
		}
		if seen[spid] {
			r.problemf("%s entry %q: SP id %d is listed more than once", name, p, spid)
			continue
		}
		seen[spid] = true
		endpoint = strings.TrimRight(strings.TrimSpace(endpoint), "/")
		if endpoint != "" {
			if msg := httpURLProblem(endpoint); msg != "" {
				r.problemf("%s entry %q: %s after the = (or nothing, for a deregistered SP)", name, p, msg)
				continue
			}
		}
		out = append(out, ContentNode{SPID: spid, Endpoint: endpoint})
	}
	return out
}

// checkSigning applies the pairing rule: unlike the original, signing is optional, but the SP id
// and the key come together.
func (r *reader) checkSigning(c *Config) {
	// Set counts even when the value is bad or unreadable: that is reported already.
	spidSet := r.get("SIGNATURE_SPID") != ""
	keySet := r.get("SIGNATURE_SP_DELEGATE_PRIV_KEY") != "" || r.get("SIGNATURE_SP_DELEGATE_PRIV_KEY_FILE") != ""
	if c.SignatureKey != "" {
		if msg := signingKeyProblem(c.SignatureKey.Reveal()); msg != "" {
			r.invalidSecret("SIGNATURE_SP_DELEGATE_PRIV_KEY", msg)
			c.SignatureKey = ""
		}
	}
	switch {
	case keySet && !spidSet:
		r.problemf("SIGNATURE_SPID is empty but SIGNATURE_SP_DELEGATE_PRIV_KEY is set: set both to sign content-node requests, or neither")
	case spidSet && !keySet:
		r.problemf("SIGNATURE_SP_DELEGATE_PRIV_KEY is empty but SIGNATURE_SPID=%q is set: set both to sign content-node requests, or neither", r.get("SIGNATURE_SPID"))
	}
}

// checkStatic requires a static list when the source is static, and warns when one is given
// but not used.
func (r *reader) checkStatic(c *Config) {
	given := len(pieces(r.get("NETMON_CONTENT_NODES"))) > 0
	switch {
	case c.ContentNodeSource == SourceStatic && !given:
		r.problemf("NETMON_CONTENT_NODES is empty: NETMON_CONTENT_NODES_SOURCE=static needs at least one SPID=ENDPOINT entry")
	case c.ContentNodeSource != SourceStatic && given:
		r.warnf("NETMON_CONTENT_NODES is set but not used: NETMON_CONTENT_NODES_SOURCE is %s", c.ContentNodeSource)
	}
}

// Require checks what one stage needs beyond Load's checks, listing every missing setting at
// once as Problems. The planner reads users from the discovery database (whatever the
// content-node source); the loader and the aggregator use the NM database, and the aggregator
// pushes to the Pushgateway. The fetcher and the netmon command need nothing more.
func (c Config) Require(stage Stage) error {
	var p Problems
	switch stage {
	case Planner:
		p = append(p, missingDB(c.DiscoveryDB, "FDB_", "NETMON_DISCOVERY_DB_URL", "the planner reads users from the discovery database")...)
		p = append(p, missingDB(c.NMDB, "DB_", "NETMON_DB_URL", "the planner records each run in the netmon database before it publishes it")...)
	case Loader:
		p = append(p, missingDB(c.NMDB, "DB_", "NETMON_DB_URL", "the loader writes to the netmon database")...)
	case Aggregator:
		p = append(p, missingDB(c.NMDB, "DB_", "NETMON_DB_URL", "the aggregator reads the netmon database")...)
		if c.PushGatewayURL == "" {
			p = append(p, "PUSH_GATEWAY_URL is empty: the aggregator pushes metrics to the Pushgateway")
		}
	case Fetcher, Netmon:
	default:
		return fmt.Errorf("config: unknown stage %q (want planner, fetcher, loader, aggregator or netmon)", stage)
	}
	if len(p) == 0 {
		return nil
	}
	return Problems(sorted(p))
}

func missingDB(db Postgres, prefix, urlName, why string) Problems {
	var p Problems
	for _, name := range db.Unset(prefix) {
		p = append(p, fmt.Sprintf("%s is empty: %s; set %sHOST and %sNAME, or %s", name, why, prefix, prefix, urlName))
	}
	return p
}

// Unset names the variables (prefix HOST, prefix NAME) a database given as parts lacks, such as
// DB_NAME; none when it is set (by parts or by URL).
func (p Postgres) Unset(prefix string) []string {
	if p.IsSet() {
		return nil
	}
	var out []string
	for _, part := range []struct{ name, value string }{{prefix + "HOST", p.Host}, {prefix + "NAME", p.Name}} {
		if part.value == "" {
			out = append(out, part.name)
		}
	}
	return out
}

// Redacted is every effective setting by variable name, with secrets as "***" (or "" when
// unset) and passwords in URLs masked, for logs and `netmon check`. Durations are in Go's
// form, lists comma-separated.
func (c Config) Redacted() map[string]string {
	m := map[string]string{
		"PUSH_GATEWAY_URL":               shownURL(c.PushGatewayURL),
		"NETMON_PUSH_JOB":                c.PushJob,
		"SIGNATURE_SPID":                 "",
		"SIGNATURE_SP_DELEGATE_PRIV_KEY": c.SignatureKey.String(),
		"DEREGISTERED_CONTENT_NODES":     strings.Join(c.Deregistered, ","),
		"FOUNDATION_NODES_SPIDS":         joinInts(c.FoundationSPIDs),
		"SLACK_URL":                      c.SlackURL.String(),
		"NETMON_NATS_URL":                natsShown(c.NATSURL),
		"NETMON_NAMESPACE":               c.Namespace,
		"NETMON_DEMO_DB":                 c.DemoDB,
		"NETMON_STREAM_REPLICAS":         strconv.Itoa(c.StreamReplicas),
		"NETMON_STREAM_MAX_AGE":          c.StreamMaxAge.String(),
		"NETMON_CONTENT_NODES_SOURCE":    c.ContentNodeSource,
		"NETMON_CONTENT_NODES":           joinNodes(c.StaticContentNodes),
		"ETH_PROVIDER_URL":               c.Ethereum.ProviderURL.String(),
		"ETH_REGISTRY_ADDRESS":           c.Ethereum.Registry,
		"NETMON_ETH_BLOCK":               blockShown(c.Ethereum.Block),
		"NETMON_WORK_BATCH_SIZE":         strconv.Itoa(c.WorkBatchSize),
		"NETMON_USER_BATCH_SIZE":         strconv.Itoa(c.UserBatchSize),
		"NETMON_PART_USERS":              strconv.Itoa(c.PartUsers),
		"NETMON_PARTS_AHEAD":             strconv.Itoa(c.PartsAhead),
		"NETMON_FETCH_TIMEOUT":           c.FetchTimeout.String(),
		"NETMON_FETCH_ATTEMPTS":          strconv.Itoa(c.FetchAttempts),
		"NETMON_FETCH_CONCURRENCY":       strconv.Itoa(c.FetchConcurrency),
		"NETMON_NODE_CONCURRENCY":        strconv.Itoa(c.NodeConcurrency),
		"NETMON_BREAKER_FAILURES":        strconv.Itoa(c.BreakerFailures),
		"NETMON_RUN_DEADLINE":            c.RunDeadline.String(),
		"NETMON_FINISH_TIMEOUT":          c.FinishTimeout.String(),
		"NETMON_DEPENDENCY_TIMEOUT":      c.DependencyTimeout.String(),
		"NETMON_SCHEDULE":                c.Schedule,
		"NETMON_RETENTION_RUNS":          strconv.Itoa(c.RetentionRuns),
		"NETMON_RETENTION_AGE":           c.RetentionAge.String(),
		"NETMON_RUN_ID_LABEL":            strconv.FormatBool(c.RunIDLabel),
		"NETMON_CID_CHECKS":              c.CIDChecks,
		"NETMON_CID_SAMPLE_SIZE":         strconv.Itoa(c.CIDSampleSize),
		"NETMON_HTTP_ADDR":               c.HTTPAddr,
		"NETMON_LOG_LEVEL":               c.LogLevel,
		"NETMON_LOG_FORMAT":              c.LogFormat,
	}
	if c.SignatureSPID != 0 {
		m["SIGNATURE_SPID"] = strconv.FormatInt(c.SignatureSPID, 10)
	}
	addSecurity(m, c)
	addStorage(m, c.Storage)
	addDB(m, "DB_", "NETMON_DB_URL", c.NMDB)
	addDB(m, "FDB_", "NETMON_DISCOVERY_DB_URL", c.DiscoveryDB)
	return m
}

func addDB(m map[string]string, prefix, urlName string, p Postgres) {
	m[prefix+"HOST"] = p.Host
	m[prefix+"PORT"] = strconv.Itoa(p.Port)
	m[prefix+"NAME"] = p.Name
	m[prefix+"USERNAME"] = p.User
	m[prefix+"PASSWORD"] = p.Password.String()
	m[urlName] = p.URL.String()
}

func natsShown(list string) string {
	urls := strings.Split(list, ",")
	for i, u := range urls {
		urls[i] = shownURL(u)
	}
	return strings.Join(urls, ",")
}

func joinInts(ns []int64) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.FormatInt(n, 10)
	}
	return strings.Join(s, ",")
}

func joinNodes(nodes []ContentNode) string {
	s := make([]string, len(nodes))
	for i, n := range nodes {
		s[i] = strconv.FormatInt(n.SPID, 10) + "=" + n.Endpoint
	}
	return strings.Join(s, ",")
}
