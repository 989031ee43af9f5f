// Package cli is the operator's `netmon` command: start a run and follow it, run the whole
// pipeline embedded, run the demo over a simulated network, and check the configuration. It
// consumes the environment and flags and produces text on stdout and an exit code.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/pipeline"
	"github.com/audius-netmon/netmon/internal/stage"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// Exit codes.
const (
	ExitOK        = 0
	ExitRunFailed = 1 // the run failed, ended incomplete, or an operation failed
	ExitUsage     = 2 // bad command line or configuration
)

// IO is where the command reads its environment (os.Environ's form) and writes its output.
type IO struct {
	Environ []string
	Stdout  io.Writer
	Stderr  io.Writer
}

// isSet reports whether the environment sets name.
func (io IO) isSet(name string) bool {
	for _, kv := range io.Environ {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}

const usage = `netmon: network monitoring for the Audius network

Usage:
  netmon run [--wait] [--embedded] [--timeout DURATION]
                  start a monitoring run now (asks the planner over NATS; with --embedded,
                  runs every stage in this process with an embedded NATS server)
  netmon demo [--users N] [--nodes N] [--seed N]
                  a full run over a simulated network on a local Postgres and Pushgateway
  netmon check    validate the configuration and print it, secrets masked
  netmon help     this text

Configuration comes from the environment (see docs/configuration.md).
Exit codes: 0 success, 1 the run failed or was incomplete (or an operation failed), 2 usage or
configuration error.
`

// Main runs the command line args and returns the exit code.
func Main(ctx context.Context, args []string, io IO) int {
	if len(args) == 0 {
		fmt.Fprint(io.Stderr, usage)
		return ExitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(io.Stdout, usage)
		return ExitOK
	case "run":
		return runCmd(ctx, rest, io)
	case "demo":
		return demoCmd(ctx, rest, io)
	case "check":
		return checkCmd(rest, io)
	}
	fmt.Fprintf(io.Stderr, "netmon: unknown command %q\n\n%s", cmd, usage)
	return ExitUsage
}

func loadConfig(io IO, stages ...config.Stage) (config.Config, error) {
	cfg, err := config.LoadEnviron(io.Environ, os.ReadFile)
	if err != nil {
		return cfg, err
	}
	var problems []error
	for _, s := range stages {
		if err := cfg.Require(s); err != nil {
			problems = append(problems, err)
		}
	}
	return cfg, errors.Join(problems...)
}

func checkCmd(args []string, io IO) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	if fs.Parse(args) != nil {
		return ExitUsage
	}
	cfg, err := config.LoadEnviron(io.Environ, os.ReadFile)
	if err != nil {
		fmt.Fprintf(io.Stderr, "configuration is invalid:\n%v\n", err)
		return ExitUsage
	}
	red := cfg.Redacted()
	keys := make([]string, 0, len(red))
	for k := range red {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\n", k, red[k])
	}
	tw.Flush()
	for _, w := range cfg.Warnings {
		fmt.Fprintf(io.Stderr, "warning: %s\n", w)
	}
	return ExitOK
}

func runCmd(ctx context.Context, args []string, io IO) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	wait := fs.Bool("wait", false, "wait for the run to end, showing progress")
	embedded := fs.Bool("embedded", false, "run all stages in this process with an embedded NATS server (implies --wait)")
	timeout := fs.Duration("timeout", 0, "give up waiting after this long (default: the run deadline)")
	if fs.Parse(args) != nil {
		return ExitUsage
	}
	stages := []config.Stage{"netmon"}
	if *embedded {
		stages = []config.Stage{"planner", "fetcher", "loader", "aggregator"}
		*wait = true
	}
	cfg, err := loadConfig(io, stages...)
	if err != nil {
		fmt.Fprintf(io.Stderr, "configuration is invalid:\n%v\n", err)
		return ExitUsage
	}
	log := stage.Logger(cfg, "netmon", io.Stderr)
	if *timeout == 0 {
		*timeout = cfg.RunDeadline + 10*time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *embedded {
		e, err := pipeline.Start(ctx, cfg, stage.BaseLogger(cfg, io.Stderr).Level(zerolog.WarnLevel))
		if err != nil {
			fmt.Fprintf(io.Stderr, "netmon: %v\n", err)
			return ExitRunFailed
		}
		defer e.Stop() //nolint:errcheck
		cfg.NATSURL = e.URL
	}
	ev, err := startAndWatch(ctx, cfg, *wait, io.Stdout, log)
	if err != nil {
		fmt.Fprintf(io.Stderr, "netmon: %v\n", err)
		return ExitRunFailed
	}
	if ev == nil {
		return ExitOK
	}
	if cfg.NMDB.IsSet() {
		if err := printSummary(ctx, cfg, ev.GetRunId(), io.Stdout); err != nil {
			fmt.Fprintf(io.Stderr, "netmon: summary: %v\n", err)
		}
	}
	if ev.GetStatus() != netmonv1.RunStatus_RUN_STATUS_COMPLETE {
		fmt.Fprintf(io.Stderr, "netmon: run %d ended %s%s\n", ev.GetRunId(), statusName(ev.GetStatus()), reasonSuffix(ev.GetReason()))
		return ExitRunFailed
	}
	return ExitOK
}

// startAndWatch starts a run through the planner and, with wait, follows it to its end.
func startAndWatch(ctx context.Context, cfg config.Config, wait bool, out io.Writer, log zerolog.Logger) (*netmonv1.RunEvent, error) {
	conn, err := bus.Connect(cfg.NATSURL, "netmon-cli", log)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.WaitConnected(ctx); err != nil {
		return nil, err
	}
	if err := bus.EnsureStreams(ctx, conn.JS, bus.StreamOptions{Replicas: cfg.StreamReplicas, MaxAge: cfg.StreamMaxAge}); err != nil {
		return nil, err
	}
	run, err := startRun(ctx, conn, "netmon-cli")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "run %d started\n", run)
	if !wait {
		return nil, nil
	}
	ev, err := watchRun(ctx, conn, run, out)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("run %d: gave up waiting: %w", run, errRunNotComplete)
	}
	return ev, err
}

// printSummary prints the run's stored metrics: the network-wide values, then one row per node.
func printSummary(ctx context.Context, cfg config.Config, run int64, out io.Writer) error {
	st, err := store.Open(ctx, cfg.NMDB.ConnString(), 2)
	if err != nil {
		return err
	}
	defer st.Close()
	samples, err := st.Samples(ctx, run)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nrun %d metrics\n", run)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	type node struct{ sp, endpoint string }
	perNode := map[node]map[string]float64{}
	for _, s := range samples {
		if s.Labels == nil {
			fmt.Fprintf(tw, "%s\t%s\t\n", strings.TrimPrefix(s.Name, "audius_nm_"), formatValue(s.Value))
			continue
		}
		n := node{s.Labels["sp_id"], s.Labels["endpoint"]}
		if perNode[n] == nil {
			perNode[n] = map[string]float64{}
		}
		perNode[n][s.Name] = s.Value
	}
	tw.Flush()
	cols := []struct{ name, title string }{
		{"audius_nm_all_user_count", "users"},
		{"audius_nm_primary_user_count", "primary"},
		{"audius_nm_fully_synced_user_by_replica_count", "fully"},
		{"audius_nm_partially_synced_user_by_replica_count", "partially"},
		{"audius_nm_unsynced_user_by_replica_count", "unsynced"},
		{"audius_nm_missed_users_count", "missed"},
	}
	nodes := make([]node, 0, len(perNode))
	for n := range perNode {
		nodes = append(nodes, n)
	}
	sort.Slice(nodes, func(i, j int) bool {
		if len(nodes[i].sp) != len(nodes[j].sp) {
			return len(nodes[i].sp) < len(nodes[j].sp)
		}
		return nodes[i].sp < nodes[j].sp
	})
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "sp_id\tendpoint")
	for _, c := range cols {
		fmt.Fprintf(tw, "\t%s", c.title)
	}
	fmt.Fprintln(tw)
	for _, n := range nodes {
		ep := n.endpoint
		if ep == "" {
			ep = `""`
		}
		fmt.Fprintf(tw, "%s\t%s", n.sp, ep)
		for _, c := range cols {
			fmt.Fprintf(tw, "\t%s", formatValue(perNode[n][c.name]))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func formatValue(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.3f", v)
}
