package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/pipeline"
	"github.com/audius-netmon/netmon/internal/stage"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

const runHelp = `Starts a monitoring run now: asks the planner (over NATS, on netmon.ctl.start) for a run and
prints its id. With --wait it follows the run to its end, one progress line per change (work
items fetched and loaded, failures per node; a bar on a terminal), then prints the run's metrics
and per-node health when the NM DB is configured.

Runs never overlap: while another run is active the planner refuses, and netmon says which run
is active, its status and its deadline, and exits 3.

With --embedded, the four stages run in this process with an embedded NATS server (the
discovery and NM databases and the Pushgateway are still the configured ones).

Exit codes: 0 started (or, with --wait, complete); 1 the run failed or ended incomplete, no
planner answered, or --timeout passed before the run ended (the run goes on, except with
--embedded: follow it with netmon status --watch); 2 usage or configuration; 3 another run is
active.
`

// runCmd is `netmon run`: asks the planner for a run of a network and, with --wait, follows
// it to its end; the exit code says how it ended.
func runCmd(ctx context.Context, args []string, io IO) int {
	fs := newFlags("run", "run [--network clocks|storage] [--wait] [--embedded] [--timeout DURATION]", runHelp, 0)
	networkName := fs.String("network", string(lifecycle.Clocks), "the network to check: clocks (replica sets and clocks) or storage (storage v2)")
	wait := fs.Bool("wait", false, "wait for the run to end, showing progress")
	embedded := fs.Bool("embedded", false, "run all stages in this process with an embedded NATS server (implies --wait)")
	timeout := fs.Duration("timeout", 0, "give up waiting after this long (default: the run deadline plus 10 minutes)")
	if _, code, ok := fs.parse(args, io); !ok {
		return code
	}
	network, err := lifecycle.ParseNetwork(*networkName)
	if err != nil {
		fmt.Fprintf(io.Stderr, "netmon run: --network: %v\n", err)
		return ExitUsage
	}
	cfg, ok := loadConfig(io, needs{nmDB: *embedded, discovery: *embedded})
	if !ok {
		return ExitUsage
	}
	log := stage.Logger(cfg, "netmon", io.Stderr)
	if *embedded {
		*wait = true
	}
	if *timeout == 0 {
		*timeout = cfg.RunDeadline + 10*time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *embedded {
		e, err := pipeline.Start(ctx, cfg, stage.BaseLogger(cfg, io.Stderr).Level(zerolog.WarnLevel))
		if err != nil {
			return fail(io, "run", err)
		}
		defer e.Stop() //nolint:errcheck
		cfg.NATSURL = e.URL
	}
	ev, err := startAndWatch(ctx, cfg, network, *wait, io.Stdout, log)
	var active lifecycle.ErrActive
	if errors.As(err, &active) {
		fmt.Fprintf(io.Stderr, "netmon run: refused: run %d is still active (%s, deadline %s UTC); runs never overlap.\n"+
			"Follow it with `netmon status --watch`, or start again once it has ended.\n",
			active.Run, active.Status, formatTime(&active.Deadline))
		return ExitActive
	}
	if err != nil {
		return fail(io, "run", err)
	}
	if ev == nil {
		return ExitOK
	}
	if cfg.NMDB.IsSet() {
		if err := printSummary(ctx, cfg, ev.GetRunId(), io.Stdout); err != nil {
			fmt.Fprintf(io.Stderr, "netmon run: summary: %v\n", err)
		}
	}
	if ev.GetStatus() != netmonv1.RunStatus_RUN_STATUS_COMPLETE {
		fmt.Fprintf(io.Stderr, "netmon: run %d ended %s%s\n", ev.GetRunId(), statusName(ev.GetStatus()), reasonSuffix(ev.GetReason()))
		return ExitRunFailed
	}
	return ExitOK
}

// dial connects to NATS for a command, giving up after a short while: an operator wants to
// hear that NATS is not reachable, not wait for it.
func dial(ctx context.Context, cfg config.Config, log zerolog.Logger) (*bus.Conn, error) {
	conn, err := bus.Dial(cfg, "netmon-cli", log)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := conn.WaitConnected(wctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("nats %s not reachable: %w", cfg.Redacted()["NETMON_NATS_URL"], err)
	}
	return conn, nil
}

// startAndWatch starts a run through the planner and, with wait, follows it to its end. A
// refusal because another run is active is a lifecycle.ErrActive.
func startAndWatch(ctx context.Context, cfg config.Config, n lifecycle.Network, wait bool, out io.Writer, log zerolog.Logger) (*netmonv1.RunEvent, error) {
	conn, err := dial(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.EnsureStreams(ctx, bus.StreamOptions{Replicas: cfg.StreamReplicas, MaxAge: cfg.StreamMaxAge}); err != nil {
		return nil, err
	}
	run, err := startRun(ctx, conn, "netmon-cli", n)
	if err != nil {
		return nil, err
	}
	if n == lifecycle.Clocks {
		fmt.Fprintf(out, "run %d started\n", run)
	} else {
		fmt.Fprintf(out, "%s run %d started\n", n, run)
	}
	if !wait {
		return nil, nil
	}
	var st *store.Store
	if cfg.NMDB.IsSet() {
		if st, err = openStore(ctx, cfg, false); err != nil {
			log.Warn().Err(err).Msg("progress without the NM DB")
			st = nil
		} else {
			defer st.Close()
		}
	}
	ev, err := watchRun(ctx, conn, st, run, out)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("run %d: gave up waiting: %w", run, errRunNotComplete)
	}
	return ev, err
}

// printSummary prints what `netmon runs show` prints for the run.
func printSummary(ctx context.Context, cfg config.Config, run int64, out io.Writer) error {
	st, err := openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintln(out)
	return showRun(ctx, st, run, out)
}
