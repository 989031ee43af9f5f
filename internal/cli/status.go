package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/stage"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

const statusHelp = `Shows the active run, from any machine that reaches NATS: the run lease (which run holds it
and until when), the run's progress from the streams (work items fetched and still queued,
the manifest's promise) and, when the NM DB is configured, its row (status, results and user
batches loaded, failed work items per node). Without an active run it names the last run.

With --watch it follows the active run to its end like 'netmon run --wait' and exits with the
run's outcome.

Exit codes: 0 shown (with --watch: the run completed, or no run was active); 1 NATS not
reachable, or with --watch the run failed or ended incomplete; 2 usage or configuration.
`

// statusReport is what `netmon status --json` prints.
type statusReport struct {
	Active   bool         `json:"active"`
	Lease    *bus.Lease   `json:"lease,omitempty"`
	Run      *store.Run   `json:"run,omitempty"`
	Progress *runProgress `json:"progress,omitempty"`
	// LastRun is the newest run id handed out, when no run is active.
	LastRun int64 `json:"last_run,omitempty"`
}

func statusCmd(ctx context.Context, args []string, io IO) int {
	fs := newFlags("status", "status [--watch] [--json]", statusHelp, 0)
	watch := fs.Bool("watch", false, "follow the active run until it ends")
	asJSON := fs.Bool("json", false, "print JSON (with --watch: the final status)")
	if _, code, ok := fs.parse(args, io); !ok {
		return code
	}
	cfg, ok := loadConfig(io, needs{})
	if !ok {
		return ExitUsage
	}
	log := stage.Logger(cfg, "netmon", io.Stderr)
	conn, err := dial(ctx, cfg, log)
	if err != nil {
		return fail(io, "status", err)
	}
	defer conn.Close()
	var st *store.Store
	if cfg.NMDB.IsSet() {
		if st, err = openStore(ctx, cfg, false); err != nil {
			fmt.Fprintf(io.Stderr, "netmon status: without the NM DB: %v\n", err)
			st = nil
		} else {
			defer st.Close()
		}
	}
	rep, err := status(ctx, cfg, conn, st)
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
	if !*asJSON {
		printStatus(io.Stdout, rep)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Until(rep.Lease.Until)+time.Minute)
	defer cancel()
	out := io.Stdout
	if *asJSON {
		out = discard
	}
	ev, err := watchRun(wctx, conn, st, rep.Lease.Run, out)
	if err != nil {
		return fail(io, "status", err)
	}
	if *asJSON {
		if rep, err = status(ctx, cfg, conn, st); err == nil {
			if st != nil {
				if r, err := st.GetRun(ctx, ev.GetRunId()); err == nil {
					rep.Run = &r
				}
			}
			_ = writeJSON(io.Stdout, rep)
		}
	}
	if ev.GetStatus() != netmonv1.RunStatus_RUN_STATUS_COMPLETE {
		fmt.Fprintf(io.Stderr, "netmon: run %d ended %s%s\n", ev.GetRunId(), statusName(ev.GetStatus()), reasonSuffix(ev.GetReason()))
		return ExitRunFailed
	}
	return ExitOK
}

// status gathers the report; st may be nil.
func status(ctx context.Context, cfg config.Config, conn *bus.Conn, st *store.Store) (statusReport, error) {
	var rep statusReport
	state, err := conn.OpenState(ctx, cfg.StreamReplicas)
	if err != nil {
		return rep, err
	}
	l, ok, err := state.Active(ctx)
	if err != nil {
		return rep, err
	}
	if ok && time.Now().Before(l.Until) {
		rep.Active, rep.Lease = true, &l
		p := gatherProgress(ctx, conn, st, l.Run)
		rep.Progress = &p
		if st != nil {
			if r, err := st.GetRun(ctx, l.Run); err == nil {
				rep.Run = &r
			}
		}
		return rep, nil
	}
	if st != nil {
		if runs, err := st.ListRuns(ctx, 1); err == nil && len(runs) > 0 {
			rep.Run = &runs[0]
			rep.LastRun = runs[0].ID
		}
	}
	if rep.LastRun == 0 {
		if last, ok, err := lastRunID(ctx, conn); err == nil && ok {
			rep.LastRun = last
		}
	}
	return rep, nil
}

// lastRunID is the newest run id handed out, from the run events stream.
func lastRunID(ctx context.Context, conn *bus.Conn) (int64, bool, error) {
	runs, err := conn.JS.Stream(ctx, message.StreamRuns)
	if err != nil {
		return 0, false, err
	}
	m, err := runs.GetLastMsgForSubject(ctx, "netmon.run.*.planned")
	if err != nil {
		return 0, false, nil
	}
	var ev netmonv1.RunEvent
	if err := proto.Unmarshal(m.Data, &ev); err != nil {
		return 0, false, err
	}
	return ev.GetRunId(), true, nil
}

func printStatus(out io.Writer, rep statusReport) {
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
		case rep.LastRun > 0:
			fmt.Fprintf(out, "no run is active; the last run is %d\n", rep.LastRun)
		default:
			fmt.Fprintln(out, "no run is active, and there has been none")
		}
		return
	}
	state := "active"
	if rep.Run != nil {
		state = rep.Run.Status
	}
	fmt.Fprintf(out, "run %d is %s\n", rep.Lease.Run, state)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if r := rep.Run; r != nil {
		fmt.Fprintf(tw, "  started\t%s UTC (%s ago)\n", formatTime(&r.CreatedAt), since(r.CreatedAt, nil))
		if r.Deadline != nil {
			fmt.Fprintf(tw, "  deadline\t%s UTC\n", formatTime(r.Deadline))
		}
	}
	fmt.Fprintf(tw, "  lease\tuntil %s UTC\n", formatTime(&rep.Lease.Until))
	if p := rep.Progress; p != nil {
		line := p.line()
		if i := len(fmt.Sprintf("run %d: ", p.Run)); len(line) > i {
			line = line[i:]
		}
		fmt.Fprintf(tw, "  progress\t%s\n", line)
	}
	tw.Flush()
}
