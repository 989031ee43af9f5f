package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/planner"
	"github.com/audius-netmon/netmon/internal/store"
)

const checkHelp = `Validates the configuration (every problem at once) and prints the effective settings,
secrets masked. Then it tries every dependency and prints a table: NATS (and JetStream's
streams), the NM DB (and its schema), the discovery DB (its current block and content-node
list), the Ethereum registry when it is the content-node source (the whole list, read as a run
reads it: its block and N), the Pushgateway, and every content node of the list (GET
/health_check; nodes without an endpoint or in DEREGISTERED_CONTENT_NODES are skipped, as a run
skips them). A database
that is not configured is reported as such: each stage needs only some of them.

Exit codes: 0 valid and everything configured answered; 1 something did not answer; 2 the
configuration is invalid or the command line is wrong.
`

// probe is one row of the reachability table.
type probe struct {
	Component string  `json:"component"`
	Target    string  `json:"target"`
	Status    string  `json:"status"` // ok, fail, skip, unset
	Detail    string  `json:"detail,omitempty"`
	Millis    float64 `json:"ms,omitempty"`
}

type checkReport struct {
	Config   map[string]string `json:"config"`
	Warnings []string          `json:"warnings"`
	Checks   []probe           `json:"checks,omitempty"`
}

// checkCmd is `netmon check`: loads the configuration, probes every dependency and prints both;
// it exits 1 when something configured did not answer, 2 when the configuration is invalid.
func checkCmd(ctx context.Context, args []string, io IO) int {
	fs := newFlags("check", "check [--offline] [--timeout DURATION] [--json]", checkHelp, 0)
	offline := fs.Bool("offline", false, "only validate and print the configuration")
	timeout := fs.Duration("timeout", 5*time.Second, "how long each dependency has to answer")
	asJSON := fs.Bool("json", false, "print JSON: the configuration, warnings and checks")
	if _, code, ok := fs.parse(args, io); !ok {
		return code
	}
	cfg, err := config.LoadEnviron(io.Environ, os.ReadFile)
	if err != nil {
		fmt.Fprintf(io.Stderr, "configuration is invalid:\n%v\n", err)
		return ExitUsage
	}
	rep := checkReport{Config: cfg.Redacted(), Warnings: cfg.Warnings}
	if rep.Warnings == nil {
		rep.Warnings = []string{}
	}
	if !*offline {
		rep.Checks = reach(ctx, cfg, *timeout)
	}
	if *asJSON {
		_ = writeJSON(io.Stdout, rep)
	} else {
		printCheck(io, rep)
	}
	for _, p := range rep.Checks {
		if p.Status == "fail" {
			return ExitRunFailed
		}
	}
	return ExitOK
}

// printCheck prints a check report as text: the problems, the probes, then every setting.
func printCheck(io IO, rep checkReport) {
	keys := make([]string, 0, len(rep.Config))
	for k := range rep.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\n", k, rep.Config[k])
	}
	tw.Flush()
	for _, w := range rep.Warnings {
		fmt.Fprintf(io.Stderr, "warning: %s\n", w)
	}
	if rep.Checks == nil {
		return
	}
	fmt.Fprintln(io.Stdout)
	tw = tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "component\ttarget\tstatus\tdetail")
	failed := 0
	for _, p := range rep.Checks {
		detail := p.Detail
		if p.Status == "ok" && p.Millis > 0 {
			detail = strings.TrimSpace(fmt.Sprintf("%s (%.0f ms)", detail, p.Millis))
		}
		if p.Status == "fail" {
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Component, p.Target, p.Status, detail)
	}
	tw.Flush()
	if failed > 0 {
		fmt.Fprintf(io.Stdout, "\n%d of %d checks failed\n", failed, len(rep.Checks))
	} else {
		fmt.Fprintf(io.Stdout, "\nevery configured dependency answered\n")
	}
}

// reach tries every dependency, each within timeout; content nodes in parallel.
func reach(ctx context.Context, cfg config.Config, timeout time.Duration) []probe {
	red := cfg.Redacted()
	var out []probe
	try := func(component, target string, fn func(ctx context.Context) (string, error)) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		start := time.Now()
		detail, err := fn(ctx)
		p := probe{Component: component, Target: target, Status: "ok", Detail: detail,
			Millis: float64(time.Since(start).Microseconds()) / 1000}
		if err != nil {
			p.Status, p.Detail, p.Millis = "fail", err.Error(), 0
		}
		out = append(out, p)
	}

	try("nats", red["NETMON_NATS_URL"], func(ctx context.Context) (string, error) {
		conn, err := bus.Dial(cfg, "netmon-check", zerolog.Nop())
		if err != nil {
			return "", err
		}
		defer conn.Close()
		if err := conn.WaitConnected(ctx); err != nil {
			return "", fmt.Errorf("not reachable")
		}
		version := "nats-server " + conn.ServerVersion()
		if err := conn.CheckServer(ctx); err != nil {
			return "", err
		}
		if cfg.Namespace != "" {
			version += ", namespace " + cfg.Namespace
		}
		if missing := conn.MissingStreams(ctx, message.StreamWork, message.StreamData, message.StreamRuns); len(missing) > 0 {
			return version + ", JetStream; streams not created yet (a stage creates them): " + strings.Join(missing, ", "), nil
		}
		return version + ", JetStream, streams present", nil
	})

	if !cfg.NMDB.IsSet() {
		out = append(out, probe{Component: "nm db", Status: "unset", Detail: unsetDetail(cfg.NMDB, "DB_", "NETMON_DB_URL",
			"the planner, the loader, the aggregator and netmon status, runs, user, cid and serve need it")})
	} else {
		try("nm db", cfg.NMDB.String(), func(ctx context.Context) (string, error) {
			st, err := store.Open(ctx, cfg.NMDB.ConnString(), 1)
			if err != nil {
				return "", err
			}
			defer st.Close()
			if err := st.Ping(ctx); err != nil {
				return "", err
			}
			ms, err := st.Migrations(ctx)
			if err != nil {
				return "", err
			}
			applied := 0
			for _, m := range ms {
				if m.AppliedAt != nil {
					applied++
				}
			}
			if applied < len(ms) {
				return fmt.Sprintf("schema: %d of %d migrations applied (netmon migrate, or any stage, applies them)", applied, len(ms)), nil
			}
			return fmt.Sprintf("schema up to date (%d migrations)", len(ms)), nil
		})
	}

	var nodes []store.DiscoveryNode
	if cfg.ContentNodeSource == config.SourceStatic {
		for _, n := range cfg.StaticContentNodes {
			nodes = append(nodes, store.DiscoveryNode{SPID: n.SPID, Endpoint: n.Endpoint})
		}
	}
	if !cfg.DiscoveryDB.IsSet() {
		out = append(out, probe{Component: "discovery db", Status: "unset", Detail: unsetDetail(cfg.DiscoveryDB, "FDB_",
			"NETMON_DISCOVERY_DB_URL", "the planner needs it")})
	} else {
		try("discovery db", cfg.DiscoveryDB.String(), func(ctx context.Context) (string, error) {
			d, err := store.OpenDiscovery(ctx, cfg.DiscoveryDB.ConnString())
			if err != nil {
				return "", err
			}
			defer d.Close()
			var detail string
			err = d.Read(ctx, func(s *store.Snapshot) error {
				block, err := s.BlockNumber(ctx)
				if err != nil {
					return err
				}
				detail = fmt.Sprintf("block %d", block)
				if cfg.ContentNodeSource != config.SourceDiscovery {
					return nil
				}
				if nodes, err = s.ContentNodes(ctx); err != nil {
					return err
				}
				detail += fmt.Sprintf(", %d content nodes", len(nodes))
				return nil
			})
			return detail, err
		})
	}

	if cfg.ContentNodeSource == config.SourceEthereum {
		try("eth registry", cfg.Ethereum.ProviderShown(), func(ctx context.Context) (string, error) {
			src, err := planner.NewNodeSource(cfg)
			if err != nil {
				return "", err
			}
			list, err := src.Nodes(ctx, nil, 0)
			if err != nil {
				if ctx.Err() != nil {
					return "", fmt.Errorf("not read within the timeout (--timeout %s): %w", timeout, err)
				}
				return "", err
			}
			nodes = list.Nodes
			return registryDetail(list), nil
		})
	}

	try("pushgateway", red["PUSH_GATEWAY_URL"], func(ctx context.Context) (string, error) {
		return httpGet(ctx, strings.TrimRight(cfg.PushGatewayURL, "/")+"/-/ready")
	})

	deregistered := map[string]bool{}
	for _, ep := range cfg.Deregistered {
		deregistered[ep] = true
	}
	cns := make([]probe, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		name := fmt.Sprintf("cn %d", n.SPID)
		switch {
		case n.Endpoint == "":
			cns[i] = probe{Component: name, Target: `""`, Status: "skip", Detail: "no endpoint"}
			continue
		case deregistered[n.Endpoint]:
			cns[i] = probe{Component: name, Target: n.Endpoint, Status: "skip", Detail: "in DEREGISTERED_CONTENT_NODES"}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			detail, err := httpGet(ctx, n.Endpoint+"/health_check")
			cns[i] = probe{Component: name, Target: n.Endpoint, Status: "ok", Detail: detail,
				Millis: float64(time.Since(start).Microseconds()) / 1000}
			if err != nil {
				cns[i] = probe{Component: name, Target: n.Endpoint, Status: "fail", Detail: err.Error()}
			}
		}()
	}
	wg.Wait()
	return append(out, cns...)
}

// registryDetail is the registry probe's detail: the registry, the block and N.
func registryDetail(l planner.NodeList) string {
	without := 0
	for _, n := range l.Nodes {
		if n.Endpoint == "" {
			without++
		}
	}
	return fmt.Sprintf("registry %s at block %d: N = %d content nodes (%d without endpoint)", l.Registry, l.Block, len(l.Nodes), without)
}

// unsetDetail says which variables a database lacks: "DB_NAME is empty (set DB_HOST and DB_NAME,
// or NETMON_DB_URL; the planner needs it)".
func unsetDetail(db config.Postgres, prefix, urlName, who string) string {
	return fmt.Sprintf("%s is empty (set %sHOST and %sNAME, or %s; %s)", strings.Join(db.Unset(prefix), " and "),
		prefix, prefix, urlName, who)
}

// httpGet wants a 200 from url.
func httpGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("no answer within the timeout")
		}
		return "", shortNetError(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return "HTTP 200", nil
}

// shortNetError keeps the end of a net/http error ("connection refused"), not the whole URL.
func shortNetError(err error) error {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return fmt.Errorf("%s", s)
}
