package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/stage"
	"github.com/audius-netmon/netmon/internal/store"
)

const statusHelp = `Shows the active run of a network (--network: clocks, the default, or storage), from the NM DB (the runs table is the only record of a run's state):
its status, when it started, its deadline, its progress (work items fetched and still queued,
from the streams when NATS is reachable; results and user batches loaded, failed work items
per node) and the push of the newest finished run's metrics to the Pushgateway (pushed, or
pending since when and why). Without an active run it names the network's last run.

With --watch it follows the active run to its end like 'netmon run --wait' and exits with the
run's outcome.

Exit codes: 0 shown (with --watch: the run completed, or no run was active); 1 the NM DB not
reachable, or with --watch the run failed or ended incomplete; 2 usage or configuration.
`

// statusReport is what `netmon status --json` prints.
type statusReport struct {
	Active   bool         `json:"active"`
	Run      *store.Run   `json:"run,omitempty"`
	Progress *runProgress `json:"progress,omitempty"`
	// LastRun is the newest run, when none is active.
	LastRun int64 `json:"last_run,omitempty"`
	// Push is the newest run with metrics, whose push state it carries.
	Push *store.Run `json:"push,omitempty"`
}

// statusCmd is `netmon status`: a network's active run (or its last one) and the latest push;
// with --watch it follows the active run to its end.
func statusCmd(ctx context.Context, args []string, io IO) int {
	fs := newFlags("status", "status [--network clocks|storage] [--watch] [--json]", statusHelp, 0)
	networkName := fs.String("network", string(lifecycle.Clocks), "the network whose runs to show: clocks or storage")
	watch := fs.Bool("watch", false, "follow the active run until it ends")
	asJSON := fs.Bool("json", false, "print JSON (with --watch: the final status)")
	if _, code, ok := fs.parse(args, io); !ok {
		return code
	}
	network, err := lifecycle.ParseNetwork(*networkName)
	if err != nil {
		fmt.Fprintf(io.Stderr, "netmon status: --network: %v\n", err)
		return ExitUsage
	}
	cfg, ok := loadConfig(io, needs{nmDB: true})
	if !ok {
		return ExitUsage
	}
	log := stage.Logger(cfg, "netmon", io.Stderr)
	st, err := openStore(ctx, cfg, false)
	if err != nil {
		return fail(io, "status", err)
	}
	defer st.Close()
	conn, err := dial(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(io.Stderr, "netmon status: without the streams' progress: %v\n", err)
		conn = nil
	} else {
		defer conn.Close()
	}
	rep, err := status(ctx, conn, st, network)
	if err != nil {
		return fail(io, "status", err)
	}
	if !*watch || !rep.Active {
		if *asJSON {
			_ = writeJSON(io.Stdout, rep)
		} else {
			printStatus(io.Stdout, rep)
		}
		return ExitOK
	}
	if conn == nil {
		return fail(io, "status", fmt.Errorf("--watch needs NATS: %w", errNoNATS))
	}
	if !*asJSON {
		printStatus(io.Stdout, rep)
	}
	out := io.Stdout
	if *asJSON {
		out = discard
	}
	ev, err := watchRun(ctx, conn, st, rep.Run.ID, out)
	if err != nil {
		return fail(io, "status", err)
	}
	if *asJSON {
		if rep, err = status(ctx, conn, st, network); err == nil {
			if r, err := st.GetRun(ctx, ev.GetRunId()); err == nil {
				rep.Run = &r
			}
			_ = writeJSON(io.Stdout, rep)
		}
	}
	if ev.GetStatus() != lifecycle.Complete.Proto() {
		fmt.Fprintf(io.Stderr, "netmon: run %d ended %s%s\n", ev.GetRunId(), statusName(ev.GetStatus()), reasonSuffix(ev.GetReason()))
		return ExitRunFailed
	}
	return ExitOK
}

var errNoNATS = errors.New("NATS not reachable")

// status gathers the report; conn may be nil.
func status(ctx context.Context, conn *bus.Conn, st *store.Store, network lifecycle.Network) (statusReport, error) {
	var rep statusReport
	if push, ok, err := st.LatestPush(ctx, network); err != nil {
		return rep, err
	} else if ok {
		rep.Push = &push
	}
	run, ok, err := st.ActiveRun(ctx, network)
	if err != nil {
		return rep, err
	}
	if ok {
		rep.Active, rep.Run = true, &run
		p := gatherProgress(ctx, conn, st, run.ID)
		rep.Progress = &p
		return rep, nil
	}
	if last, ok, err := st.LastRun(ctx, network); err != nil {
		return rep, err
	} else if ok {
		rep.Run = &last
		rep.LastRun = last.ID
	}
	return rep, nil
}

// printStatus prints a status report as text.
func printStatus(out io.Writer, rep statusReport) {
	defer printPush(out, rep.Push)
	if !rep.Active {
		switch {
		case rep.Run != nil:
			r := rep.Run
			fmt.Fprintf(out, "no run is active; the last run is %d: %s%s (created %s UTC", r.ID, r.Status,
				reasonSuffix(shorten(r.Error, 80)), formatTime(&r.CreatedAt))
			if r.CompletedAt != nil {
				fmt.Fprintf(out, ", ended %s UTC", formatTime(r.CompletedAt))
			}
			fmt.Fprintln(out, ")")
		default:
			fmt.Fprintln(out, "no run is active, and there has been none")
		}
		return
	}
	r := rep.Run
	fmt.Fprintf(out, "run %d is %s\n", r.ID, r.Status)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  started\t%s UTC (%s ago)\n", formatTime(&r.CreatedAt), since(r.CreatedAt, nil))
	if r.Deadline != nil {
		fmt.Fprintf(tw, "  deadline\t%s UTC (%s)\n", formatTime(r.Deadline), untilOrAgo(*r.Deadline))
	}
	if p := rep.Progress; p != nil {
		line := p.line()
		if i := len(fmt.Sprintf("run %d: ", p.Run)); len(line) > i {
			line = line[i:]
		}
		fmt.Fprintf(tw, "  progress\t%s\n", line)
	}
	tw.Flush()
}

// printPush says where the newest finished run's metrics are.
func printPush(out io.Writer, r *store.Run) {
	if r == nil {
		return
	}
	if line := pushLine(*r); line != "" {
		fmt.Fprintf(out, "metrics of run %d: %s\n", r.ID, line)
	}
}

// untilOrAgo says how far t is from now: "in 1h2m" or "passed 3m ago".
func untilOrAgo(t time.Time) string {
	if d := time.Until(t); d > 0 {
		return "in " + d.Round(time.Second).String()
	}
	return "passed " + since(t, nil) + " ago"
}
