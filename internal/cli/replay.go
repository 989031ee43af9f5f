package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/aggregator"
	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/loader"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/stage"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
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
group (job NETMON_PUSH_JOB), as if the run had just ended.

Exit codes: 0 replayed; 1 no such run in the history, history incomplete, or a dependency
failed; 2 usage or configuration; 3 the run is the active one.
`

// replayReport is what `netmon replay --json` prints.
type replayReport struct {
	Run      store.Run      `json:"run"`
	Messages int            `json:"messages"`
	Late     int            `json:"late"` // of Messages: written after an incomplete run's metrics, as live
	Pushed   bool           `json:"pushed"`
	Metrics  []store.Sample `json:"metrics"`
}

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
	rep, err := replay(ctx, cfg, run, *push, log)
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

func replay(ctx context.Context, cfg config.Config, run int64, push bool, log zerolog.Logger) (replayReport, error) {
	rep := replayReport{}
	conn, err := dial(ctx, cfg, log)
	if err != nil {
		return rep, err
	}
	defer conn.Close()
	st, err := openStore(ctx, cfg, true)
	if err != nil {
		return rep, err
	}
	defer st.Close()
	if r, err := st.GetRun(ctx, run); err == nil && r.Status.IsActive() && !r.Replay {
		var deadline time.Time
		if r.Deadline != nil {
			deadline = *r.Deadline
		}
		return rep, lifecycle.ErrActive{Run: run, Status: r.Status, Deadline: deadline}
	}
	rec, err := runRecord(ctx, conn, run)
	if err != nil {
		return rep, err
	}
	// A run the NM DB lost gets its row back, marked as a replay (RestoreRun ends that).
	if err := st.EnsureRun(ctx, run); err != nil {
		return rep, err
	}

	// Everything the run's data subjects hold, in stream order, through the loader's own code.
	hist, err := conn.History(ctx, message.StreamData, message.RunDataFilters(run))
	if err != nil {
		return rep, fmt.Errorf("replay run %d: %w", run, err)
	}
	if hist.Pending == 0 {
		return rep, fmt.Errorf("replay run %d: NETMON_DATA holds no message of the run (older than NETMON_STREAM_MAX_AGE?)", run)
	}
	// An incomplete run was cut off at its deadline: its per-user tables were built from the
	// messages the cut counted, its metrics computed over those and the ones written before the
	// metrics, and the rest was written afterwards. The record names both sets (by the ledger rows
	// the messages write), so replay does the same in the same order; stream times decide nothing,
	// since a lagging loader writes a message well after the stream stored it.
	incomplete := rec.GetStatus() == netmonv1.RunStatus_RUN_STATUS_INCOMPLETE
	legacy := incomplete && rec.GetCut() == nil
	inCut, afterCut := keySet(aggregator.CutKeys(rec.GetCut())), keySet(aggregator.CutKeys(rec.GetAfterCut()))
	found := map[store.MessageKey]bool{}
	l := loader.New(st, log)
	handle := func(m bus.Stored) error {
		// The loader's outputs (the "loaded" event) are not published: a replay announces nothing.
		if _, err := l.Handle(ctx, m.Subject, m.Data); err != nil {
			return fmt.Errorf("replay run %d: %s: %w", run, m.Subject, err)
		}
		return nil
	}
	var between, late []bus.Stored
	for i := uint64(0); i < hist.Pending; i++ {
		m, err := hist.Next(10 * time.Second)
		if err != nil {
			return rep, fmt.Errorf("replay run %d: message %d of %d: %w", run, i+1, hist.Pending, err)
		}
		switch {
		case !incomplete:
		case legacy:
			// A record written before netmon recorded its cuts: the messages stored until the run
			// was loaded, the best the history can tell.
			if len(late) > 0 {
				late = append(late, m)
				continue
			}
			if m.Time.After(rec.GetLoadedAt().AsTime()) {
				late = append(late, m)
				continue
			}
		default:
			// The run's opening message and manifest have no key: they come first.
			if key, ok := messageKey(m.Subject, m.Data); ok {
				found[key] = true
				if afterCut[key] {
					between = append(between, m)
					continue
				}
				if !inCut[key] {
					late = append(late, m)
					continue
				}
			}
		}
		if err := handle(m); err != nil {
			return rep, err
		}
		rep.Messages++
	}
	if missing := missingKeys(found, inCut, afterCut); missing > 0 {
		return rep, fmt.Errorf("replay run %d: the history is incomplete (%d of the %d messages the run's cut and metrics counted are missing): it cannot rebuild the run",
			run, missing, len(inCut)+len(afterCut))
	}
	loaded := false
	if incomplete {
		loaded, err = st.ExpireRun(ctx, run)
	} else {
		loaded, err = st.TryFinishLoad(ctx, run)
	}
	if err != nil {
		return rep, err
	}
	if !loaded {
		r, _ := st.GetRun(ctx, run)
		return rep, fmt.Errorf("replay run %d: the history is incomplete (%d/%s results, %d/%s user batches): it cannot rebuild the run",
			run, r.LoadedResults, formatInt(r.ExpectedItems), r.LoadedUserBatches, formatInt(r.ExpectedUserBatches))
	}
	// Written after the cut, before the metrics: in the metrics, not in the per-user tables.
	for _, m := range between {
		if err := handle(m); err != nil {
			return rep, err
		}
		rep.Messages++
	}
	a := aggregator.New(st, stage.Pusher(cfg), aggregator.Options{Foundation: cfg.FoundationSPIDs}, log)
	samples, err := a.Replay(ctx, rec)
	if err != nil {
		return rep, err
	}
	for _, m := range late {
		if err := handle(m); err != nil {
			return rep, err
		}
		rep.Messages++
		rep.Late++
	}
	if push {
		if err := a.Push(ctx, run, samples); err != nil {
			return rep, err
		}
		if err := st.MarkPushed(ctx, run); err != nil {
			return rep, err
		}
		rep.Pushed = true
	}
	if rep.Run, err = st.GetRun(ctx, run); err != nil {
		return rep, err
	}
	rep.Metrics = samples
	return rep, nil
}

// messageKey names a data message by the ledger row it writes (store.MessageKey); ok is false for
// the run's opening message and manifest, and for anything that does not decode (the loader says
// why).
func messageKey(subject string, data []byte) (key store.MessageKey, ok bool) {
	subj, err := message.ParseSubject(subject)
	if err != nil {
		return key, false
	}
	switch {
	case subj.Family == "result" && subj.IsCID():
		var r netmonv1.CIDResult
		if proto.Unmarshal(data, &r) != nil {
			return key, false
		}
		return store.MessageKey{Result: true, Kind: message.CIDRouteKind(r.GetRoute()), SPID: r.GetSpId(), Batch: r.GetBatch()}, true
	case subj.Family == "result":
		var r netmonv1.FetchResult
		if proto.Unmarshal(data, &r) != nil {
			return key, false
		}
		return store.MessageKey{Result: true, Kind: message.KindClock, SPID: r.GetSpId(), Batch: r.GetBatch()}, true
	case subj.Family == "snapshot" && len(subj.Rest) == 1:
		switch kind := subj.Rest[0]; kind {
		case message.KindNodes:
			return store.MessageKey{Kind: kind}, true
		case message.KindUsers:
			var b netmonv1.UserBatch
			if proto.Unmarshal(data, &b) != nil {
				return key, false
			}
			return store.MessageKey{Kind: kind, Batch: b.GetBatch()}, true
		case message.KindCIDs:
			var b netmonv1.CIDBatch
			if proto.Unmarshal(data, &b) != nil {
				return key, false
			}
			return store.MessageKey{Kind: kind, Batch: b.GetBatch()}, true
		}
	}
	return key, false
}

func keySet(c store.Cut) map[store.MessageKey]bool {
	set := make(map[store.MessageKey]bool, len(c))
	for _, k := range c {
		set[k] = true
	}
	return set
}

// missingKeys counts the keys of the sets that no message of the history has.
func missingKeys(found map[store.MessageKey]bool, sets ...map[store.MessageKey]bool) int {
	n := 0
	for _, set := range sets {
		for k := range set {
			if !found[k] {
				n++
			}
		}
	}
	return n
}

// runRecord reads the run's record from the run events stream.
func runRecord(ctx context.Context, conn *bus.Conn, run int64) (*netmonv1.RunRecord, error) {
	data, ok, err := conn.LastMessage(ctx, message.StreamRuns, message.RunEventSubject(run, aggregator.KindRecord))
	if err != nil {
		return nil, fmt.Errorf("replay run %d: %w", run, err)
	}
	if !ok {
		if f, failed, ferr := conn.LastMessage(ctx, message.StreamRuns, message.RunEventSubject(run, string(lifecycle.Failed))); ferr == nil && failed {
			var ev netmonv1.RunEvent
			_ = proto.Unmarshal(f, &ev)
			return nil, fmt.Errorf("replay run %d: the run failed (%s); there is nothing to replay", run, ev.GetReason())
		}
		return nil, fmt.Errorf("replay run %d: %w in %s: the run never ended, or it is older than NETMON_STREAM_MAX_AGE",
			run, errNoRecord, message.StreamRuns)
	}
	var rec netmonv1.RunRecord
	if err := proto.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("replay run %d: record: %w", run, err)
	}
	return &rec, nil
}

var errNoRecord = errors.New("no run record")

func printReplay(out io.Writer, rep replayReport) {
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
