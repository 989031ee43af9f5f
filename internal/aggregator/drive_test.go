package aggregator

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/store"
	"github.com/audius-netmon/netmon/internal/store/storetest"
)

// A wake-up makes Drive step at once: a run loaded between two ticks an hour apart is finished
// on the wake-up that follows, not at the next tick.
func TestDriveStepsOnWake(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, _ := storetest.Open(t)
	gw := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer gw.Close()
	a := New(st, NewPusher(gw.URL, "netmon", false, nil), Options{Deadlines: lifecycle.Deadlines{Run: time.Hour, Finish: time.Hour}}, zerolog.Nop())
	publish := func(context.Context, ...message.Out) error { return nil }

	wake := make(chan struct{}) // unbuffered: a send returns once Drive has stepped and waits again
	done := make(chan error, 1)
	go func() { done <- a.Drive(ctx, time.Hour, publish, wake) }()
	defer func() { // before the store closes (a cleanup): Drive holds a connection while it leads
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	step := func(why string) {
		t.Helper()
		select {
		case wake <- struct{}{}:
		case <-time.After(time.Minute):
			t.Fatalf("%s: Drive did not take the wake-up", why)
		}
	}
	step("after the first step")

	now := time.Now()
	run, err := st.CreateRun(ctx, store.NewRun{CreatedAt: now, Deadline: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	for _, tr := range []lifecycle.Transition{lifecycle.Publish, lifecycle.Load} {
		if moved, err := st.Move(ctx, run, tr, ""); err != nil || !moved {
			t.Fatalf("%s: moved %v, %v", tr.Name, moved, err)
		}
	}
	step("the run is loaded") // Drive steps: the run is finished
	step("the step is over")  // returns once that step has ended
	r, err := st.GetRun(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != lifecycle.Complete {
		t.Errorf("run after a wake-up: %s, want %s", r.Status, lifecycle.Complete)
	}
}
