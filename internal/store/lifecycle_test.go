package store_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// TestCreateRun: a run's row is the active-run slot (a second start is refused, naming the active
// run, until it ends), and a run id is above both the NM DB's history and the given floor, so no
// id is ever handed out twice.
func TestCreateRun(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	newRun := func(floor int64) store.NewRun {
		return store.NewRun{Floor: floor, CreatedAt: now, Deadline: now.Add(time.Hour), Plan: "p1"}
	}
	id, err := st.CreateRun(ctx, newRun(1))
	if err != nil || id != 1 {
		t.Fatalf("first run: id %d, %v; want 1", id, err)
	}
	r, err := st.GetRun(ctx, 1)
	if err != nil || r.Status != lifecycle.Planned || r.Deadline == nil || !r.Deadline.Equal(now.Add(time.Hour)) || r.Plan != "p1" {
		t.Fatalf("run 1's row: %+v (%v); want planned with its deadline and plan", r, err)
	}
	_, err = st.CreateRun(ctx, newRun(1))
	var active lifecycle.ErrActive
	if !errors.As(err, &active) || active.Run != 1 || active.Status != lifecycle.Planned || !active.Deadline.Equal(now.Add(time.Hour)) {
		t.Fatalf("second start while run 1 is active: %v; want ErrActive naming run 1", err)
	}
	if moved, err := st.Move(ctx, 1, lifecycle.Fail, "plan: test"); err != nil || !moved {
		t.Fatalf("fail run 1: %v %v", moved, err)
	}
	// Ids: one above the NM DB's highest, or the floor if that is higher (the streams' mark).
	if id, err := st.CreateRun(ctx, newRun(1)); err != nil || id != 2 {
		t.Fatalf("after run 1: id %d (%v), want 2", id, err)
	}
	if _, err := st.Move(ctx, 2, lifecycle.Fail, "x"); err != nil {
		t.Fatal(err)
	}
	if id, err := st.CreateRun(ctx, newRun(40)); err != nil || id != 40 {
		t.Fatalf("with the streams' mark at 39: id %d (%v), want 40", id, err)
	}
}

// TestMoveOnce: a transition moves a run only from its source statuses, so racing stages move it
// once; a finished run's push is pending and supersedes an older pending push.
func TestMoveOnce(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	now := time.Now()
	mk := func() int64 {
		t.Helper()
		id, err := st.CreateRun(ctx, store.NewRun{Floor: 1, CreatedAt: now, Deadline: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	run := mk()
	if moved, _ := st.Move(ctx, run, lifecycle.Load, ""); moved {
		t.Fatal("Load moved a planned run (only fetching runs load)")
	}
	if err := st.SaveManifest(ctx, &netmonv1.Manifest{RunId: run, UserBatches: 1, WorkItems: 1}); err != nil {
		t.Fatal(err)
	}
	r, _ := st.GetRun(ctx, run)
	if r.Status != lifecycle.Fetching || r.ExpectedItems == nil || *r.ExpectedItems != 1 {
		t.Fatalf("after the manifest: %s with %v items expected; want fetching, 1", r.Status, r.ExpectedItems)
	}
	// Two owners race to cut it: the run is loaded once.
	for i, want := range []bool{true, false} {
		if moved, err := st.Move(ctx, run, lifecycle.Cut, "deadline passed"); err != nil || moved != want {
			t.Fatalf("cut %d: moved %v (%v), want %v", i, moved, err, want)
		}
	}
	if moved, err := st.Finish(ctx, run, lifecycle.FinishIncomplete, "deadline passed", time.Now(), nil, []byte("r1")); err != nil || !moved {
		t.Fatalf("finish: %v %v", moved, err)
	}
	r, _ = st.GetRun(ctx, run)
	if r.Status != lifecycle.Incomplete || r.Push != lifecycle.PushPending || r.PushPendingSince == nil || r.Error != "deadline passed" {
		t.Fatalf("finished run: %+v", r)
	}
	if moved, _ := st.Move(ctx, run, lifecycle.Fail, "late"); moved {
		t.Fatal("Fail moved a finished run")
	}
	if rec, err := st.Record(ctx, run); err != nil || string(rec) != "r1" {
		t.Fatalf("record %q (%v)", rec, err)
	}

	// A second run finishes before the first one's push got through: the older push is superseded.
	run2 := mk()
	if err := st.SaveManifest(ctx, &netmonv1.Manifest{RunId: run2}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Move(ctx, run2, lifecycle.Load, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Finish(ctx, run2, lifecycle.Finish, "", time.Now(), nil, nil); err != nil {
		t.Fatal(err)
	}
	r, _ = st.GetRun(ctx, run)
	if r.Push != lifecycle.PushSuperseded {
		t.Errorf("run %d's push is %q after a newer run finished, want superseded", run, r.Push)
	}
	p, ok, err := st.PendingPush(ctx, lifecycle.Clocks)
	if err != nil || !ok || p.ID != run2 {
		t.Fatalf("pending push: %d %v %v, want run %d", p.ID, ok, err, run2)
	}
	if err := st.PushFailed(ctx, run2, "connection refused"); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkPushed(ctx, run2); err != nil {
		t.Fatal(err)
	}
	r, _ = st.GetRun(ctx, run2)
	if r.Push != lifecycle.Pushed || r.PushedAt == nil || r.PushAttempts != 1 || r.PushError != "" {
		t.Errorf("pushed run: %+v", r)
	}
	if _, ok, _ := st.PendingPush(ctx, lifecycle.Clocks); ok {
		t.Error("a push is still pending")
	}
	ended, err := st.Unannounced(ctx)
	if err != nil || len(ended) != 2 {
		t.Fatalf("unannounced: %d runs (%v), want both", len(ended), err)
	}
	if err := st.MarkAnnounced(ctx, run); err != nil {
		t.Fatal(err)
	}
	if ended, _ := st.Unannounced(ctx); len(ended) != 1 || ended[0].ID != run2 {
		t.Errorf("unannounced after announcing run %d: %+v", run, ended)
	}
}

// TestUnavailable: a database that cannot be reached is Unavailable (waited out); a statement
// that fails is not.
func TestUnavailable(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	_, err := st.GetRun(ctx, 12345)
	if !errors.Is(err, store.ErrNoRun) || store.Unavailable(err) {
		t.Errorf("a missing run: %v, unavailable %v", err, store.Unavailable(err))
	}
	// A batch of a run without partitions fails in the database: a statement error.
	if _, err := st.SaveUserBatch(ctx, &netmonv1.UserBatch{RunId: 777, Users: []*netmonv1.User{{UserId: 1}}}); err == nil || store.Unavailable(err) {
		t.Errorf("a failed statement: %v, unavailable %v; want an error that is not unavailable", err, store.Unavailable(err))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	down, err := store.Open(ctx, "postgres://postgres@"+addr+"/x?sslmode=disable&connect_timeout=2", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	if _, err := down.GetRun(ctx, 1); err == nil || !store.Unavailable(err) {
		t.Errorf("a database nobody listens for: %v, unavailable %v; want unavailable", err, store.Unavailable(err))
	}
}
