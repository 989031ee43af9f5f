// Package replay rebuilds a finished run's NM DB rows and metrics from stream history, without
// asking discovery or any content node: every snapshot batch and fetch result of the run is read
// back from the data stream, in order, and handed to the loader's own Handle (the path live
// loading takes, so rows already there are left alone), then the metrics are computed again and
// stored. The run's record (netmon.run.<run>.record, written when the run ended) restores its
// status, reason and times, so a replayed run is identical to the original: the same rows and
// the same metric values. `netmon replay` runs it.
package replay

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/aggregator"
	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/loader"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// Report is what a replay did.
type Report struct {
	Run      store.Run      `json:"run"`
	Messages int            `json:"messages"`
	Late     int            `json:"late"` // of Messages: written after an incomplete run's metrics, as live
	Pushed   bool           `json:"pushed"`
	Metrics  []store.Sample `json:"metrics"`
}

// Run rebuilds run's NM DB rows and metrics from the history conn's streams hold, writing with
// st and computing (and, with push, pushing) the metrics with a. It refuses, with a
// lifecycle.ErrActive, a run that is the active one. Replaying a run again changes nothing.
func Run(ctx context.Context, conn *bus.Conn, st *store.Store, a *aggregator.Aggregator, run int64, push bool, log zerolog.Logger) (Report, error) {
	rep := Report{}
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
	handle := func(m message.In) error {
		// The loader's outputs (the "loaded" event) are not published: a replay announces nothing.
		if _, err := l.Handle(ctx, m); err != nil {
			return fmt.Errorf("replay run %d: %s: %w", run, m.Subject, err)
		}
		return nil
	}
	var between, late []message.In
	for i := uint64(0); i < hist.Pending; i++ {
		stored, err := hist.Next(10 * time.Second)
		if err != nil {
			return rep, fmt.Errorf("replay run %d: message %d of %d: %w", run, i+1, hist.Pending, err)
		}
		subj, err := message.ParseSubject(stored.Subject)
		if err != nil {
			return rep, fmt.Errorf("replay run %d: %w", run, err)
		}
		m := message.In{Subject: subj, Data: stored.Data}
		switch {
		case !incomplete:
		case legacy:
			// A record written before netmon recorded its cuts: the messages stored until the run
			// was loaded, the best the history can tell.
			if len(late) > 0 {
				late = append(late, m)
				continue
			}
			if stored.Time.After(rec.GetLoadedAt().AsTime()) {
				late = append(late, m)
				continue
			}
		default:
			// The run's opening message and manifest have no key: they come first.
			if key, ok := loader.Key(m); ok {
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
			run, r.LoadedResults, count(r.ExpectedItems), r.LoadedUserBatches, count(r.ExpectedUserBatches))
	}
	// Written after the cut, before the metrics: in the metrics, not in the per-user tables.
	for _, m := range between {
		if err := handle(m); err != nil {
			return rep, err
		}
		rep.Messages++
	}
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
	data, ok, err := conn.LastMessage(ctx, message.StreamRuns, message.RunEventSubject(run, message.KindRecord))
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
			run, ErrNoRecord, message.StreamRuns)
	}
	var rec netmonv1.RunRecord
	if err := proto.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("replay run %d: record: %w", run, err)
	}
	return &rec, nil
}

// ErrNoRecord is why a run without a record in the history cannot be replayed.
var ErrNoRecord = errors.New("no run record")

// count is an expected count, "-" while unknown.
func count(p *int64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatInt(*p, 10)
}
