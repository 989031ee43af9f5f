package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// startRun asks the planner for a run of network n and returns its id.
func startRun(ctx context.Context, conn *bus.Conn, by string, n lifecycle.Network) (int64, error) {
	req, _ := proto.Marshal(&netmonv1.StartRunRequest{RequestedBy: by, Network: string(n)})
	var last error
	// The planner may still be starting (embedded mode, or a stack coming up): retry briefly.
	for attempt := 0; attempt < 50; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		data, err := conn.Request(rctx, message.StartSubject, req)
		cancel()
		if err == nil {
			var reply netmonv1.StartRunReply
			if err := proto.Unmarshal(data, &reply); err != nil {
				return 0, fmt.Errorf("start run: bad reply: %w", err)
			}
			if reply.GetActiveRunId() != 0 {
				return 0, lifecycle.ErrActive{Run: reply.GetActiveRunId(), Status: lifecycle.Status(reply.GetActiveStatus()),
					Deadline: reply.GetActiveDeadline().AsTime()}
			}
			if reply.GetError() != "" {
				return 0, fmt.Errorf("start run: %s", reply.GetError())
			}
			return reply.GetRunId(), nil
		}
		last = err
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return 0, fmt.Errorf("start run: no planner answered on %s: %w", message.StartSubject, last)
}

// runProgress is how far a run has come, from the streams and, when it is configured, the NM DB.
// Counts that cannot be known are -1.
type runProgress struct {
	Run int64 `json:"run_id"`
	// Status is the runs table's status ("" without the NM DB), and Reason its error column.
	Status lifecycle.Status `json:"status,omitempty"`
	Reason string           `json:"reason,omitempty"`
	// Announced: the run's end is published (its event may still be on its way to us).
	announced bool
	// From the streams: the manifest's promise, results published, work items not yet done.
	ExpectedItems   int64 `json:"expected_work_items"`
	ExpectedBatches int64 `json:"expected_user_batches"`
	Fetched         int64 `json:"fetched"`
	Queued          int64 `json:"queued"`
	// From the NM DB: results and user batches written.
	Loaded        int64 `json:"loaded"`
	LoadedBatches int64 `json:"loaded_user_batches"`
	// Failed work items by node and outcome (NM DB).
	Failures []nodeFailures `json:"failures,omitempty"`
}

type nodeFailures struct {
	SPID     int64            `json:"sp_id"`
	Outcomes map[string]int64 `json:"outcomes"`
}

// gatherProgress reads the run's progress; st may be nil.
func gatherProgress(ctx context.Context, conn *bus.Conn, st *store.Store, run int64) runProgress {
	p := runProgress{Run: run, ExpectedItems: -1, ExpectedBatches: -1, Fetched: -1, Queued: -1, Loaded: -1, LoadedBatches: -1}
	if conn == nil {
		return p.fromStore(ctx, st)
	}
	if data, ok, err := conn.LastMessage(ctx, message.StreamData, message.SnapshotSubject(run, message.KindManifest)); err == nil && ok {
		var man netmonv1.Manifest
		if proto.Unmarshal(data, &man) == nil {
			p.ExpectedItems, p.ExpectedBatches = man.GetWorkItems(), man.GetUserBatches()
		}
	}
	if n, err := conn.Count(ctx, message.StreamData, message.ResultFilter(run)); err == nil {
		p.Fetched = n
	}
	if n, err := conn.Count(ctx, message.StreamWork, message.WorkFilter(run)); err == nil {
		p.Queued = n
	}
	return p.fromStore(ctx, st)
}

// fromStore adds what the NM DB says (st may be nil).
func (p runProgress) fromStore(ctx context.Context, st *store.Store) runProgress {
	run := p.Run
	if st == nil {
		return p
	}
	if r, err := st.GetRun(ctx, run); err == nil {
		p.Status, p.Reason, p.Loaded, p.LoadedBatches = r.Status, r.Error, r.LoadedResults, r.LoadedUserBatches
		p.announced = r.Announced
	}
	if health, err := st.NodeHealth(ctx, run); err == nil {
		for _, h := range health {
			f := nodeFailures{SPID: h.SPID, Outcomes: map[string]int64{}}
			for o, n := range h.Outcomes {
				if o != "ok" {
					f.Outcomes[o] = n
				}
			}
			if len(f.Outcomes) > 0 {
				p.Failures = append(p.Failures, f)
			}
		}
	}
	return p
}

// line is the progress as one line of text: counts only, never a status word (the run's events
// say those, each once): "run 3: 3/4 work items fetched, 1 queued, 3 results written, 1/1 user batches",
// or before the manifest "run 3: still planning, 11 work items fetched so far".
func (p runProgress) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %d:", p.Run)
	switch {
	case p.ExpectedItems >= 0:
		fmt.Fprintf(&b, " %d/%d work items fetched", max(p.Fetched, 0), p.ExpectedItems)
	case p.Fetched >= 0:
		fmt.Fprintf(&b, " still planning, %d work items fetched so far", p.Fetched)
	}
	if p.Queued > 0 {
		fmt.Fprintf(&b, ", %d queued", p.Queued)
	}
	if p.Loaded >= 0 {
		fmt.Fprintf(&b, ", %d results written", p.Loaded)
		if p.ExpectedBatches >= 0 {
			fmt.Fprintf(&b, ", %d/%d user batches", p.LoadedBatches, p.ExpectedBatches)
		}
	}
	if f := p.failures(); f != "" {
		fmt.Fprintf(&b, "; failures: %s", f)
	}
	return b.String()
}

// failures lists failed items as "sp 4 timeout 2, sp 7 refused 1".
func (p runProgress) failures() string {
	var parts []string
	for _, f := range p.Failures {
		for _, o := range sortedKeys(f.Outcomes) {
			parts = append(parts, fmt.Sprintf("sp %d %s %d", f.SPID, o, f.Outcomes[o]))
		}
	}
	return strings.Join(parts, ", ")
}

// fraction is the share of work items fetched, or -1 before the manifest.
func (p runProgress) fraction() float64 {
	if p.ExpectedItems <= 0 {
		return -1
	}
	return min(float64(max(p.Fetched, 0))/float64(p.ExpectedItems), 1)
}

// sortedKeys are m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// isTerminal reports whether w is a terminal, where progress is drawn as a bar.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// watchRun prints the run's progress until it ends and returns its final event. Its events are
// printed as they come; progress lines only when they change. On a terminal the progress is one
// line redrawn in place, with a bar.
func watchRun(ctx context.Context, conn *bus.Conn, st *store.Store, run int64, out io.Writer) (*netmonv1.RunEvent, error) {
	events := make(chan *netmonv1.RunEvent, 8)
	stop, err := conn.Follow(ctx, message.StreamRuns, []string{message.RunFilter(run)}, func(m bus.Stored) {
		// Only status events: the run's subject space also holds its record (another message).
		if s, err := message.ParseSubject(m.Subject); err != nil || !s.IsRunEvent() {
			return
		}
		var ev netmonv1.RunEvent
		if proto.Unmarshal(m.Data, &ev) == nil {
			events <- &ev
		}
	})
	if err != nil {
		return nil, fmt.Errorf("watch run %d: %w", run, err)
	}
	defer stop()

	term := isTerminal(out)
	drawn := false
	println := func(s string) {
		if drawn {
			fmt.Fprint(out, "\r\033[K")
			drawn = false
		}
		fmt.Fprintln(out, s)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastLine string
	said := map[lifecycle.Status]bool{}
	for {
		select {
		case <-ctx.Done():
			if drawn {
				fmt.Fprintln(out)
			}
			return nil, ctx.Err()
		case ev := <-events:
			// Each status once (a redelivered or repeated event says nothing new). "planned" is
			// published when the run is created, before planning: "run N started" says that.
			status := lifecycle.FromProto(ev.GetStatus())
			if !said[status] && status != lifecycle.Planned {
				println(fmt.Sprintf("run %d: %s%s", run, status, reasonSuffix(ev.GetReason())))
			}
			said[status] = true
			if status.Terminal() {
				return ev, nil
			}
		case <-tick.C:
			p := gatherProgress(ctx, conn, st, run)
			if p.Status.Terminal() && p.announced {
				// The runs table is the state: an end announced whose event did not reach us
				// still ends the wait.
				ev := &netmonv1.RunEvent{RunId: run, Status: p.Status.Proto(), Reason: p.Reason}
				println(fmt.Sprintf("run %d: %s%s", run, p.Status, reasonSuffix(p.Reason)))
				return ev, nil
			}
			line := p.line()
			if line == lastLine {
				continue
			}
			lastLine = line
			if !term {
				fmt.Fprintln(out, line)
				continue
			}
			fmt.Fprintf(out, "\r\033[K%s %s", bar(p.fraction(), 20), line)
			drawn = true
		}
	}
}

// bar draws fraction f (negative: unknown) as [#####.....].
func bar(f float64, width int) string {
	if f < 0 {
		return "[" + strings.Repeat("?", width) + "]"
	}
	n := int(f * float64(width))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

// statusName is a run status's word, "unknown" for none.
func statusName(s netmonv1.RunStatus) string {
	if st := lifecycle.FromProto(s); st != "" {
		return string(st)
	}
	return "unknown"
}

// reasonSuffix is ": reason", or "" without one.
func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return ": " + r
}

var errRunNotComplete = errors.New("run did not complete")

// discard is io.Discard, for functions whose IO parameter hides package io.
var discard = io.Discard
