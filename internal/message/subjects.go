// Package message defines what netmon stages exchange, independent of the broker: the subjects
// (each carries its run id), the deterministic message ids, and Out, a message a stage asks to be
// published. Stage logic builds Outs; package bus publishes them.
package message

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

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
	KindPart     = "part"
	KindManifest = "manifest"

	// KindRecord is the last token of a run's record, netmon.run.<run>.record (the other tokens
	// of the family are the statuses of its events).
	KindRecord = "record"
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

// RunEventFilter matches the events of every run with the given status token.
func RunEventFilter(status string) string { return "netmon.run.*." + status }

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

// Family is a subject's second token: what kind of message it carries.
type Family string

// The families, each in one stream: work items (StreamWork), snapshot batches and fetch results
// (StreamData), run lifecycle messages (StreamRuns).
const (
	FamilyWork     Family = "work"
	FamilyResult   Family = "result"
	FamilySnapshot Family = "snapshot"
	FamilyRun      Family = "run"
)

// Subject is a parsed netmon subject: netmon.<family>.<run>.<rest...>. The router parses each
// delivered message's subject once and hands the result along (In).
type Subject struct {
	Family Family
	Run    int64
	Rest   []string
}

// ParseSubject splits a netmon subject; it fails on anything that does not carry a run id or
// whose family is none of the four.
func ParseSubject(s string) (Subject, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 4 || parts[0] != "netmon" {
		return Subject{}, fmt.Errorf("subject %q: not netmon.<family>.<run>.<...>", s)
	}
	f := Family(parts[1])
	switch f {
	case FamilyWork, FamilyResult, FamilySnapshot, FamilyRun:
	default:
		return Subject{}, fmt.Errorf("subject %q: unknown family %q", s, f)
	}
	run, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || run <= 0 {
		return Subject{}, fmt.Errorf("subject %q: bad run id", s)
	}
	return Subject{Family: f, Run: run, Rest: parts[3:]}, nil
}

// String is the subject as published.
func (s Subject) String() string {
	return "netmon." + string(s.Family) + "." + strconv.FormatInt(s.Run, 10) + "." + strings.Join(s.Rest, ".")
}

// SPID is the content node a work item or result subject names (netmon.work.<run>.<sp>...); ok is
// false for the other families.
func (s Subject) SPID() (sp int64, ok bool) {
	if (s.Family != FamilyWork && s.Family != FamilyResult) || len(s.Rest) == 0 {
		return 0, false
	}
	sp, err := strconv.ParseInt(s.Rest[0], 10, 64)
	return sp, err == nil
}

// Kind is a snapshot subject's kind (KindRun, KindUsers, ...) or a run subject's token (a
// status, or KindRecord); "" for work items and results.
func (s Subject) Kind() string {
	if (s.Family != FamilySnapshot && s.Family != FamilyRun) || len(s.Rest) != 1 {
		return ""
	}
	return s.Rest[0]
}

// IsRunEvent reports whether s carries a run's status event (netmon.run.<run>.<status>), not its
// record.
func (s Subject) IsRunEvent() bool {
	return s.Family == FamilyRun && s.Kind() != "" && s.Kind() != KindRecord
}

// In is one delivered message as stage logic sees it: its subject, parsed once, and its payload.
type In struct {
	Subject Subject
	Data    []byte
}

// Message ids. They are deterministic per (run, kind, node, batch), so a republish after a crash
// is dropped by the stream's duplicate window and, beyond it, by the loader's keyed writes.

// snapshotID identifies a snapshot message; batch is 0 for single messages.
func snapshotID(run int64, kind string, batch int64) string {
	return fmt.Sprintf("r%d-%s-%d", run, kind, batch)
}

// workID identifies a work item.
func workID(run, spID, batch int64) string { return fmt.Sprintf("r%d-work-%d-%d", run, spID, batch) }

// resultID identifies the result of a work item.
func resultID(run, spID, batch int64) string {
	return fmt.Sprintf("r%d-result-%d-%d", run, spID, batch)
}

// runEventID identifies a run event.
func runEventID(run int64, status string) string { return fmt.Sprintf("r%d-run-%s", run, status) }
