package aggregator

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/store"
	"github.com/audius-netmon/netmon/internal/store/storetest"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// TestBatchJobSamples: a complete run's last success is its own completion; an incomplete run
// carries the newest earlier one over, and with none known it is 0.
func TestBatchJobSamples(t *testing.T) {
	ctx := context.Background()
	st, _ := storetest.Open(t)
	a := New(st, nil, Options{}, zerolog.Nop())
	created := time.Date(2026, 3, 1, 0, 0, 0, 500_000_000, time.UTC)
	value := func(ss []store.Sample, name string) float64 {
		for _, s := range ss {
			if s.Name == name {
				return s.Value
			}
		}
		t.Fatalf("no %s in %v", name, ss)
		return 0
	}
	save := func(run int64, ss []store.Sample) {
		if err := st.EnsureRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		if err := st.SaveRun(ctx, &netmonv1.Run{RunId: run, CreatedAt: timestamppb.New(created)}); err != nil {
			t.Fatal(err)
		}
		if err := st.SaveSamples(ctx, run, ss); err != nil {
			t.Fatal(err)
		}
	}

	first, err := a.ownSamples(ctx, store.Run{ID: 1, CreatedAt: created, Network: lifecycle.Clocks}, "incomplete", 1, 60)
	if err != nil {
		t.Fatal(err)
	}
	if value(first, LastSuccessMetric) != 0 || value(first, LastCompletionMetric) != float64(created.Unix())+0.5+60 {
		t.Errorf("first run, incomplete: %v", first)
	}
	save(1, first)
	second, _ := a.ownSamples(ctx, store.Run{ID: 2, CreatedAt: created.Add(24 * time.Hour), Network: lifecycle.Clocks}, "complete", 2, 120)
	want := float64(created.Add(24*time.Hour).Unix()) + 0.5 + 120
	if value(second, LastSuccessMetric) != want || value(second, LastCompletionMetric) != want ||
		value(second, RunDurationMetric) != 120 {
		t.Errorf("complete run: %v, want success = completion = %v", second, want)
	}
	save(2, second)
	third, _ := a.ownSamples(ctx, store.Run{ID: 3, CreatedAt: created.Add(48 * time.Hour), Network: lifecycle.Clocks}, "incomplete", 3, 180)
	if value(third, LastSuccessMetric) != want {
		t.Errorf("incomplete run after a complete one: last success %v, want run 2's %v", value(third, LastSuccessMetric), want)
	}
	save(3, third)
	fourth, _ := a.ownSamples(ctx, store.Run{ID: 4, CreatedAt: created.Add(72 * time.Hour), Network: lifecycle.Clocks}, "incomplete", 3, 180)
	if value(fourth, LastSuccessMetric) != want {
		t.Errorf("second incomplete run: last success %v, want run 2's %v carried over", value(fourth, LastSuccessMetric), want)
	}
}
