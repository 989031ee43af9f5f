// Package message defines what netmon stages exchange, independent of the broker: the subjects
// (each carries its run id), the deterministic message ids, and Out, a message a stage asks to be
// published. Stage logic builds Outs; package bus publishes them.
package message

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
)

// Out is one message to publish: a subject, a deterministic message id, and the protobuf payload.
type Out struct {
	Subject string
	ID      string
	Msg     proto.Message
}

// permanentError marks a failure that no redelivery can fix (a message that does not decode).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the message is recorded as poison at once.
func Permanent(err error) error { return permanentError{err} }

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool { return errors.As(err, &permanentError{}) }

// unavailableError marks a failure caused by a dependency that is down (the NM DB unreachable).
type unavailableError struct{ err error }

func (e unavailableError) Error() string { return e.err.Error() }
func (e unavailableError) Unwrap() error { return e.err }

// Unavailable marks err as caused by a dependency that is down: the message is fine and will be
// handled once the dependency is back, however long that takes, so the router waits and tries it
// again in place instead of spending its deliveries (which would end in poison).
// Unavailable(nil) is nil.
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	return unavailableError{err}
}

// IsUnavailable reports whether err was marked with Unavailable.
func IsUnavailable(err error) bool { return errors.As(err, &unavailableError{}) }

// Streams and subjects. Every subject carries the run id as its third token, so a run's history
// can be read back (replay) with a subject filter.
const (
	// StreamWork holds work items, consumed once by any fetcher (WorkQueue retention).
	StreamWork = "NETMON_WORK"
	// StreamData holds snapshot batches and fetch results, kept for the configured age so a run can
	// be replayed from history.
	StreamData = "NETMON_DATA"
	// StreamRuns holds run lifecycle events, kept like StreamData.
	StreamRuns = "NETMON_RUNS"

	// StartSubject is the core NATS request subject on which the planner starts a run on demand.
	StartSubject = "netmon.ctl.start"

	// Snapshot kinds, the last token of netmon.snapshot.<run>.<kind>.
	KindRun      = "run"
	KindNodes    = "nodes"
	KindUsers    = "users"
	KindManifest = "manifest"
)

// The subjects each stream holds.
var (
	WorkStreamSubjects = []string{"netmon.work.>"}
	DataStreamSubjects = []string{"netmon.snapshot.>", "netmon.result.>"}
	RunsStreamSubjects = []string{"netmon.run.>"}
)

// WorkSubject is where work items for one content node of a run go.
func WorkSubject(run, spID int64) string { return fmt.Sprintf("netmon.work.%d.%d", run, spID) }

// ResultSubject is where fetch results for one content node of a run go.
func ResultSubject(run, spID int64) string { return fmt.Sprintf("netmon.result.%d.%d", run, spID) }

// SnapshotSubject is where the planner's snapshot messages of a kind go.
func SnapshotSubject(run int64, kind string) string {
	return fmt.Sprintf("netmon.snapshot.%d.%s", run, kind)
}

// RunEventSubject is where a run's lifecycle event with the given status token goes.
func RunEventSubject(run int64, status string) string {
	return fmt.Sprintf("netmon.run.%d.%s", run, status)
}

// ResultFilter is the StreamData subject filter of every result of a run (clock and CID).
func ResultFilter(run int64) string { return fmt.Sprintf("netmon.result.%d.>", run) }

// WorkFilter is the StreamWork subject filter of every work item of a run (clock and CID).
func WorkFilter(run int64) string { return fmt.Sprintf("netmon.work.%d.>", run) }

// RunFilter is the StreamRuns subject filter of every event of a run.
func RunFilter(run int64) string { return fmt.Sprintf("netmon.run.%d.>", run) }

// RunDataFilters are the StreamData subject filters covering one run.
func RunDataFilters(run int64) []string {
	return []string{fmt.Sprintf("netmon.snapshot.%d.>", run), ResultFilter(run)}
}

// Subject is a parsed netmon subject: netmon.<family>.<run>.<rest...>.
type Subject struct {
	Family string // work, result, snapshot, run
	Run    int64
	Rest   []string
}

// ParseSubject splits a netmon subject; it fails on anything that does not carry a run id.
func ParseSubject(s string) (Subject, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 4 || parts[0] != "netmon" {
		return Subject{}, fmt.Errorf("subject %q: not netmon.<family>.<run>.<...>", s)
	}
	run, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || run <= 0 {
		return Subject{}, fmt.Errorf("subject %q: bad run id", s)
	}
	return Subject{Family: parts[1], Run: run, Rest: parts[3:]}, nil
}

// Message ids. They are deterministic per (run, kind, node, batch), so a republish after a crash
// is dropped by the stream's duplicate window and, beyond it, by the loader's keyed writes.

// SnapshotID identifies a snapshot message; batch is 0 for single messages.
func SnapshotID(run int64, kind string, batch int64) string {
	return fmt.Sprintf("r%d-%s-%d", run, kind, batch)
}

// WorkID identifies a work item.
func WorkID(run, spID, batch int64) string { return fmt.Sprintf("r%d-work-%d-%d", run, spID, batch) }

// ResultID identifies the result of a work item.
func ResultID(run, spID, batch int64) string {
	return fmt.Sprintf("r%d-result-%d-%d", run, spID, batch)
}

// RunEventID identifies a run event.
func RunEventID(run int64, status string) string { return fmt.Sprintf("r%d-run-%s", run, status) }
