package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/aggregator"
	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/replay"
	"github.com/audius-netmon/netmon/internal/stage"
)

const replayHelp = `Rebuilds a finished run's NM DB rows and metrics from stream history, without asking
discovery or any content node: every snapshot batch and fetch result of the run is read back
from the NETMON_DATA stream, in order, and handed to the loader's own code (the path live
loading takes, so rows already there are left alone), then the metrics are computed again and
stored. The run's record (netmon.run.RUN.record in NETMON_RUNS, written when the run ended)
restores its status, reason and times, so a replayed run is identical to the original: the
same rows and the same metric values. Use it after losing the NM DB, or to compute a metric
added since over old runs (as long as their history is kept, NETMON_STREAM_MAX_AGE).

An incomplete run is rebuilt from exactly the messages its cut-off at the deadline counted (its
record names them); messages that arrived later are written afterwards, as they were.
A run still active, or one that failed, cannot be replayed. A run whose row the NM DB lost is
created again, marked as a replay until it is finished, so no live stage takes it for a live run.

The metrics are not pushed unless --push is given: then they replace the live Pushgateway
group of its network (job NETMON_PUSH_JOB, or NETMON_PUSH_JOB-storage for a storage run), as if
the run had just ended.

Exit codes: 0 replayed; 1 no such run in the history, history incomplete, or a dependency
failed; 2 usage or configuration; 3 the run is the active one.
`

// replayCmd is `netmon replay`: rebuilds a finished run from stream history (package replay).
func replayCmd(ctx context.Context, args []string, io IO) int {
	fs := newFlags("replay", "replay [--push] [--json] RUN", replayHelp, 1)
	push := fs.Bool("push", false, "push the replayed metrics to the live Pushgateway group")
	asJSON := fs.Bool("json", false, "print JSON: the replayed run, message counts and metrics")
	pos, code, ok := fs.parse(args, io)
	if !ok {
		return code
	}
	run, err := parseRun(pos[0])
	if err != nil {
		return fs.usageError(io, err.Error())
	}
	cfg, ok := loadConfig(io, needs{nmDB: true})
	if !ok {
		return ExitUsage
	}
	log := stage.Logger(cfg, "netmon", io.Stderr)
	ctx, cancel := withTimeout(ctx, time.Hour)
	defer cancel()
	rep, err := runReplay(ctx, cfg, run, *push, log)
	var active lifecycle.ErrActive
	if errors.As(err, &active) {
		fmt.Fprintf(io.Stderr, "netmon replay: refused: run %d is the active run (%s, deadline %s UTC); replay it once it has ended\n",
			run, active.Status, formatTime(&active.Deadline))
		return ExitActive
	}
	if err != nil {
		return fail(io, "replay", err)
	}
	if *asJSON {
		_ = writeJSON(io.Stdout, rep)
		return ExitOK
	}
	printReplay(io.Stdout, rep)
	return ExitOK
}

// runReplay replays run with the configuration's NATS, NM DB and Pushgateway.
func runReplay(ctx context.Context, cfg config.Config, run int64, push bool, log zerolog.Logger) (replay.Report, error) {
	conn, err := dial(ctx, cfg, log)
	if err != nil {
		return replay.Report{}, err
	}
	defer conn.Close()
	st, err := openStore(ctx, cfg, true)
	if err != nil {
		return replay.Report{}, err
	}
	defer st.Close()
	a := aggregator.New(st, stage.Pusher(cfg), aggregator.Options{Foundation: cfg.FoundationSPIDs}, log)
	return replay.Run(ctx, conn, st, a, run, push, log)
}

// printReplay prints what a replay did as text.
func printReplay(out io.Writer, rep replay.Report) {
	r := rep.Run
	fmt.Fprintf(out, "replayed run %d from stream history: %d messages", r.ID, rep.Messages)
	if rep.Late > 0 {
		fmt.Fprintf(out, " (%d arrived after the deadline: written after the metrics, as they were)", rep.Late)
	}
	fmt.Fprintf(out, "; %s%s\n", r.Status, reasonSuffix(r.Error))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  rows\t%s users, %d results, %d user batches\n", formatInt(r.ExpectedUsers), r.LoadedResults, r.LoadedUserBatches)
	fmt.Fprintf(tw, "  metrics\t%d series computed and stored\n", len(rep.Metrics))
	if rep.Pushed {
		fmt.Fprintf(tw, "  pushed\tto the live Pushgateway group\n")
	} else {
		fmt.Fprintf(tw, "  pushed\tno (--push replaces the live Pushgateway group)\n")
	}
	tw.Flush()
}
