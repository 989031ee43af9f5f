package stage

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/message"
)

// keepRuns is how many runs a stage's /status remembers.
const keepRuns = 5

// Status is what a stage is doing, for which run, served as JSON on /status. Message handlers
// are tracked by wrapping them (Track); the planner also reports its own steps (Begin, End) and
// facts such as the next scheduled run (Note). It is safe for concurrent use.
type Status struct {
	stage   string
	started time.Time
	ready   func() bool

	mu    sync.Mutex
	runs  map[int64]*RunActivity
	notes map[string]any
}

// RunActivity is a stage's work on one run.
type RunActivity struct {
	Run int64 `json:"run_id"`
	// Activity is the stage's current step for the run, where it has steps (the planner's
	// "planning", "plan published", "plan failed"; the aggregator's "computing metrics",
	// "finished").
	Activity string `json:"activity,omitempty"`
	// Messages of the run being handled now, and by content node for work items and results.
	InFlight       int            `json:"in_flight"`
	InFlightBySPID map[string]int `json:"in_flight_by_sp_id,omitempty"`
	// Messages handled (outputs published), and handler failures (each retried or recorded).
	Handled   int64     `json:"handled"`
	Failed    int64     `json:"failed"`
	LastError string    `json:"last_error,omitempty"`
	FirstAt   time.Time `json:"first_at"`
	LastAt    time.Time `json:"last_at"`
}

// StatusReport is the JSON of /status.
type StatusReport struct {
	Stage     string         `json:"stage"`
	StartedAt time.Time      `json:"started_at"`
	Ready     bool           `json:"ready"`
	Busy      bool           `json:"busy"`
	Runs      []RunActivity  `json:"runs"`
	Notes     map[string]any `json:"notes,omitempty"`
}

// NewStatus returns the status of stage; ready reports the stage's readiness.
func NewStatus(stage string, ready func() bool) *Status {
	return &Status{stage: stage, started: time.Now().UTC(), ready: ready,
		runs: map[int64]*RunActivity{}, notes: map[string]any{}}
}

// run returns the activity of run, creating it and forgetting the oldest beyond keepRuns. The
// caller holds mu.
func (s *Status) run(run int64, now time.Time) *RunActivity {
	a, ok := s.runs[run]
	if ok {
		return a
	}
	a = &RunActivity{Run: run, FirstAt: now}
	s.runs[run] = a
	if len(s.runs) > keepRuns {
		oldest := run
		for r := range s.runs {
			if r < oldest && s.runs[r].InFlight == 0 {
				oldest = r
			}
		}
		delete(s.runs, oldest)
	}
	return a
}

// Track wraps h so that every message it handles is counted for the run its subject names.
func (s *Status) Track(h bus.Handler) bus.Handler { return tracked{h, s} }

// tracked is a handler whose messages its stage's Status counts.
type tracked struct {
	bus.Handler
	s *Status
}

func (t tracked) Handle(ctx context.Context, in message.In) ([]message.Out, error) {
	s := t.s
	sp := ""
	if id, ok := in.Subject.SPID(); ok {
		sp = strconv.FormatInt(id, 10)
	}
	s.mu.Lock()
	a := s.run(in.Subject.Run, time.Now().UTC())
	a.InFlight++
	if sp != "" {
		if a.InFlightBySPID == nil {
			a.InFlightBySPID = map[string]int{}
		}
		a.InFlightBySPID[sp]++
	}
	s.mu.Unlock()

	outs, err := t.Handler.Handle(ctx, in)

	s.mu.Lock()
	a.InFlight--
	if sp != "" {
		if a.InFlightBySPID[sp]--; a.InFlightBySPID[sp] <= 0 {
			delete(a.InFlightBySPID, sp)
		}
	}
	if err != nil {
		a.Failed++
		a.LastError = err.Error()
	} else {
		a.Handled++
	}
	a.LastAt = time.Now().UTC()
	s.mu.Unlock()
	return outs, err
}

// Begin records that the stage started step activity for run.
func (s *Status) Begin(run int64, activity string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC()
	a := s.run(run, now)
	a.Activity, a.LastAt = activity, now
	a.InFlight++
}

// End records that the step begun for run ended as activity, with err if it failed.
func (s *Status) End(run int64, activity string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.run(run, time.Now().UTC())
	a.Activity, a.LastAt = activity, time.Now().UTC()
	a.InFlight = max(a.InFlight-1, 0)
	if err != nil {
		a.Failed++
		a.LastError = err.Error()
	} else {
		a.Handled++
	}
}

// Note records a fact about the stage, such as the time of its next scheduled run.
func (s *Status) Note(key string, value any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notes[key] = value
}

// Report is the stage's status now, its runs newest first.
func (s *Status) Report() StatusReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := StatusReport{Stage: s.stage, StartedAt: s.started, Runs: []RunActivity{}}
	if s.ready != nil {
		r.Ready = s.ready()
	}
	for _, a := range s.runs {
		c := *a
		if a.InFlightBySPID != nil {
			c.InFlightBySPID = make(map[string]int, len(a.InFlightBySPID))
			for k, v := range a.InFlightBySPID {
				c.InFlightBySPID[k] = v
			}
		}
		r.Runs = append(r.Runs, c)
		r.Busy = r.Busy || a.InFlight > 0
	}
	sort.Slice(r.Runs, func(i, j int) bool { return r.Runs[i].Run > r.Runs[j].Run })
	if len(s.notes) > 0 {
		r.Notes = make(map[string]any, len(s.notes))
		for k, v := range s.notes {
			r.Notes[k] = v
		}
	}
	return r
}

// ServeHTTP serves the report as JSON.
func (s *Status) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.Report())
}

// newHealth is a stage's readiness with its status.
func newHealth(stage string) *health {
	h := &health{}
	h.status = NewStatus(stage, h.ready.Load)
	return h
}
