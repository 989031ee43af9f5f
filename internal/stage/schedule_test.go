package stage

import (
	"context"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/testenv"
)

func TestMissedRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := bus.Connect(testenv.NATS(t).ClientURL(), "test", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	state, err := conn.OpenState(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	hourly, _ := cron.ParseStandard("@hourly")
	if _, ok, err := missedRun(ctx, hourly, state, time.Now().Add(48*time.Hour)); err != nil || ok {
		t.Fatalf("before any run: missed = %v (%v), want nothing to catch up", ok, err)
	}
	if _, err := state.NextRunID(ctx); err != nil {
		t.Fatal(err)
	}
	started, _, _ := state.LastRunStart(ctx)
	if d := time.Since(started); d < 0 || d > 5*time.Second {
		t.Fatalf("LastRunStart = %s, %s ago", started, d)
	}
	soon := started.Add(time.Second)
	if _, ok, _ := missedRun(ctx, hourly, state, soon); ok != !hourly.Next(started).After(soon) {
		t.Errorf("a second after the run: missed = %v, want it only when the hour turned in that second", ok)
	}
	at, ok, err := missedRun(ctx, hourly, state, started.Add(3*time.Hour))
	if err != nil || !ok {
		t.Fatalf("three hours later: missed = %v (%v), want true", ok, err)
	}
	if want := hourly.Next(started); !at.Equal(want) {
		t.Errorf("missed time %s, want the first scheduled time after the run, %s", at, want)
	}
}
