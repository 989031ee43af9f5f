package lifecycle

import (
	"testing"
	"time"
)

// TestTransitionsCoverEveryState: every active status can be left (by a transition with an owner),
// no terminal status can, and every status is reached by some transition (planned by creation).
func TestTransitionsCoverEveryState(t *testing.T) {
	reached := map[Status]bool{Planned: true}
	for _, tr := range Transitions {
		if tr.Owner == "" || tr.Name == "" || len(tr.From) == 0 {
			t.Errorf("transition %+v lacks a name, an owner or a source", tr)
		}
		reached[tr.To] = true
		for _, f := range tr.From {
			if f.Terminal() {
				t.Errorf("transition %s leaves terminal status %s", tr.Name, f)
			}
		}
	}
	for _, s := range Statuses {
		if !reached[s] {
			t.Errorf("no transition reaches %s", s)
		}
		if s.Terminal() == s.IsActive() {
			t.Errorf("%s is terminal %v and active %v: want exactly one", s, s.Terminal(), s.IsActive())
		}
		if !s.Terminal() {
			leaves := false
			for _, tr := range Transitions {
				leaves = leaves || tr.Allows(s)
			}
			if !leaves {
				t.Errorf("active status %s has no way out", s)
			}
		}
	}
	// The deadline owner can end any run still loading, and the finish deadline any loaded run.
	for _, s := range []Status{Planned, Fetching} {
		if !Cut.Allows(s) {
			t.Errorf("Cut does not allow %s", s)
		}
	}
	if !Fail.Allows(Loaded) || Fail.Allows(Complete) {
		t.Error("Fail must end a loaded run and never a finished one")
	}
}

func TestStatusNames(t *testing.T) {
	want := []string{"planned", "fetching", "loaded", "complete", "incomplete", "failed"}
	for i, s := range Statuses {
		if string(s) != want[i] {
			t.Errorf("status %d is %q, want %q (stored in the runs table and in subjects)", i, s, want[i])
		}
		if p, err := Parse(want[i]); err != nil || p != s {
			t.Errorf("Parse(%q) = %q, %v", want[i], p, err)
		}
		if FromProto(s.Proto()) != s {
			t.Errorf("%s does not survive its proto form", s)
		}
	}
	if _, err := Parse("lost"); err == nil {
		t.Error("Parse accepted an unknown status")
	}
}

func TestFinishDeadline(t *testing.T) {
	d := Deadlines{Run: 2 * time.Hour, Finish: 10 * time.Minute}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	deadline := d.RunDeadline(created)
	if want := created.Add(2 * time.Hour); !deadline.Equal(want) {
		t.Errorf("run deadline %s, want %s", deadline, want)
	}
	// Loaded early: the finish deadline counts from the run deadline.
	if got, want := d.FinishDeadline(deadline, created.Add(time.Minute)), deadline.Add(10*time.Minute); !got.Equal(want) {
		t.Errorf("finish deadline of an early load %s, want %s", got, want)
	}
	// Loaded late (a cut made after an outage): from the loading.
	late := deadline.Add(time.Hour)
	if got, want := d.FinishDeadline(deadline, late), late.Add(10*time.Minute); !got.Equal(want) {
		t.Errorf("finish deadline of a late load %s, want %s", got, want)
	}
}
