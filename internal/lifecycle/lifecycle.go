// Package lifecycle is the one home of a run's lifecycle: its statuses, the transitions between
// them and who owns each, what bounds each state in time, and the push state of a run whose
// metrics are computed. It holds the rules, not the storage: the runs table in the NM DB is the
// only record of a run's state, and package store applies a Transition to it atomically (the
// transition's From statuses are the condition of one UPDATE, so a transition happens at most
// once however many stages try it). Every other package asks this one: none spells a status,
// decides whether a run is finished, or whether a run holds the slot of the active run.
//
// docs/lifecycle.md draws the state diagram and says what an operator sees in each state.
package lifecycle

import (
	"fmt"
	"time"

	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// Status is where a run is in its lifecycle.
type Status string

// The statuses, in lifecycle order. The first three are active: a run in one of them holds the
// slot of the active run (runs never overlap), and has a deadline and an owner that moves it on.
const (
	// Planned: the planner has created the run and is reading discovery and publishing the plan.
	Planned Status = "planned"
	// Fetching: the plan is published (its expected counts recorded); fetchers and the loader work.
	Fetching Status = "fetching"
	// Loaded: the run's data is in the NM DB (all of it, or what arrived by the deadline); the
	// aggregator computes its metrics.
	Loaded Status = "loaded"
	// Complete: metrics computed and stored over everything the plan promised.
	Complete Status = "complete"
	// Incomplete: metrics computed over what arrived before the deadline; the reason says what
	// was missing.
	Incomplete Status = "incomplete"
	// Failed: no metrics; the reason says why.
	Failed Status = "failed"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{Planned, Fetching, Loaded, Complete, Incomplete, Failed}

// Active are the statuses of a run that holds the active-run slot.
var Active = []Status{Planned, Fetching, Loaded}

// Parse returns the status named s.
func Parse(s string) (Status, error) {
	for _, st := range Statuses {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown run status %q", s)
}

// Terminal reports whether the run has ended: nothing moves it any more.
func (s Status) Terminal() bool { return s == Complete || s == Incomplete || s == Failed }

// IsActive reports whether a run in this status holds the active-run slot.
func (s Status) IsActive() bool { return s == Planned || s == Fetching || s == Loaded }

// HasMetrics reports whether the run's metrics were computed (and are pushed).
func (s Status) HasMetrics() bool { return s == Complete || s == Incomplete }

// Proto is the status in messages.
func (s Status) Proto() netmonv1.RunStatus {
	switch s {
	case Planned:
		return netmonv1.RunStatus_RUN_STATUS_PLANNED
	case Fetching:
		return netmonv1.RunStatus_RUN_STATUS_FETCHING
	case Loaded:
		return netmonv1.RunStatus_RUN_STATUS_LOADED
	case Complete:
		return netmonv1.RunStatus_RUN_STATUS_COMPLETE
	case Incomplete:
		return netmonv1.RunStatus_RUN_STATUS_INCOMPLETE
	case Failed:
		return netmonv1.RunStatus_RUN_STATUS_FAILED
	}
	return netmonv1.RunStatus_RUN_STATUS_UNSPECIFIED
}

// FromProto is the status of a message's RunStatus ("" for UNSPECIFIED or an unknown value).
func FromProto(p netmonv1.RunStatus) Status {
	for _, s := range Statuses {
		if s.Proto() == p {
			return s
		}
	}
	return ""
}

// Transition is one allowed move of a run: from any of From to To, made by its owner.
type Transition struct {
	Name  string
	From  []Status
	To    Status
	Owner string
}

// The transitions. No other move is allowed; store refuses (does nothing) when a run is not in
// one of From, which is how every transition happens at most once.
var (
	// Publish: the planner has published the whole plan and recorded what it promised.
	Publish = Transition{"publish", []Status{Planned}, Fetching, "planner"}
	// Load: everything the plan promised is in the NM DB.
	Load = Transition{"load", []Status{Fetching}, Loaded, "loader"}
	// Cut: the run deadline passed while the run was planned or fetching; the per-user tables are
	// built from what arrived and the run is loaded with the reason it is incomplete.
	Cut = Transition{"cut", []Status{Planned, Fetching}, Loaded, "aggregator"}
	// Finish: the metrics are computed and stored, over everything promised.
	Finish = Transition{"finish", []Status{Loaded}, Complete, "aggregator"}
	// FinishIncomplete: the metrics are computed and stored over a cut run.
	FinishIncomplete = Transition{"finish incomplete", []Status{Loaded}, Incomplete, "aggregator"}
	// Fail: planning failed (the planner), or a loaded run could not be finished before its
	// finish deadline (the aggregator). The run ends without metrics.
	Fail = Transition{"fail", []Status{Planned, Loaded}, Failed, "planner or aggregator"}
)

// Transitions lists every transition, for documentation and tests.
var Transitions = []Transition{Publish, Load, Cut, Finish, FinishIncomplete, Fail}

// Allows reports whether the transition may move a run in status s.
func (t Transition) Allows(s Status) bool {
	for _, f := range t.From {
		if f == s {
			return true
		}
	}
	return false
}

// Deadlines bound the active states in time. Every active run has a deadline; when it passes,
// the aggregator (the deadline owner) moves the run on whatever else was lost or poisoned:
//   - planned or fetching past Run after creation: Cut (then finished as incomplete);
//   - loaded past Finish after the later of its run deadline and its loading: Fail, when
//     finishing keeps failing (a loaded run is always tried first, so a dependency that comes
//     back late still gets the run finished, not failed).
type Deadlines struct {
	Run    time.Duration // NETMON_RUN_DEADLINE
	Finish time.Duration // NETMON_FINISH_TIMEOUT
}

// RunDeadline is when a run created at created is cut off.
func (d Deadlines) RunDeadline(created time.Time) time.Time { return created.Add(d.Run) }

// FinishDeadline is when a loaded run whose metrics could not be computed is failed.
func (d Deadlines) FinishDeadline(deadline, loadedAt time.Time) time.Time {
	return later(deadline, loadedAt).Add(d.Finish)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// ErrActive refuses a new run while another one is active (runs never overlap).
type ErrActive struct {
	Run      int64
	Status   Status
	Deadline time.Time
}

func (e ErrActive) Error() string {
	return fmt.Sprintf("run %d is still active (%s, deadline %s)", e.Run, e.Status,
		e.Deadline.UTC().Format(time.RFC3339))
}

// Push is the push state of a run's metrics. Finishing a run never waits for the Pushgateway:
// a run whose metrics are computed is complete (or incomplete) and releases the active-run slot,
// and its push is pending until the aggregator's pusher gets it through. Only the newest run's
// metrics are pushed (a PUT replaces the Pushgateway group), so a pending push of an older run is
// superseded by a newer one.
type Push string

const (
	// PushNone: nothing to push (the run has no metrics, or is not finished).
	PushNone Push = ""
	// PushPending: computed, not yet on the Pushgateway; retried with capped backoff forever.
	PushPending Push = "pending"
	// Pushed: on the Pushgateway (until a newer run replaces it).
	Pushed Push = "pushed"
	// PushSuperseded: a newer run's metrics were computed before this run's push got through.
	PushSuperseded Push = "superseded"
)
