package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/store"
	"github.com/audius-netmon/netmon/internal/testenv"
)

// Open opens a store on a fresh NM DB with the schema (closed when the test ends) and returns it
// and the database's URL.
func Open(t testing.TB) (*store.Store, string) {
	t.Helper()
	url := testenv.Database(t)
	st, err := store.Open(context.Background(), url, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st, url
}

// TwoNetworks opens a fresh NM DB (closed when the test ends) holding three finished, pushed runs
// worked by hand, with only the series the run lists read, and returns it and its URL:
//
//	run 1, clocks, 2026-12-05 10:00 UTC: 4 users, 1 fully synced (25.0%), 1 missed slot on sp 3
//	       and 1 on sp 4 (2), 1 of 8 checked CIDs on no replica (12.5%), 65 s
//	run 2, storage, 11:00: 3% of the sampled keys under-replicated, 0.5% lost, 73 s
//	run 3, storage, 12:00: 2% under-replicated, none lost, 70 s
func TwoNetworks(t testing.TB) (*store.Store, string) {
	t.Helper()
	ctx := context.Background()
	st, url := Open(t)
	day := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	for i, r := range []struct {
		network lifecycle.Network
		samples []store.Sample
	}{
		{lifecycle.Clocks, []store.Sample{
			{Name: "audius_nm_user_count", Value: 4},
			{Name: "audius_nm_fully_synced_user_count", Value: 1},
			{Name: "audius_nm_missed_users_count", Labels: map[string]string{"sp_id": "3"}, Value: 1},
			{Name: "audius_nm_missed_users_count", Labels: map[string]string{"sp_id": "4"}, Value: 1},
			{Name: "audius_nm_cids_by_replication_factor", Labels: map[string]string{"replicas": "0"}, Value: 1},
			{Name: "audius_nm_cids_by_replication_factor", Labels: map[string]string{"replicas": "1"}, Value: 7},
			{Name: "audius_nm_checked_cids", Value: 8},
			{Name: "audius_nm_run_duration_seconds", Value: 65},
		}},
		{lifecycle.Storage, []store.Sample{
			{Name: "audius_nm_storage_under_replicated_share", Value: 0.03},
			{Name: "audius_nm_storage_lost_share", Value: 0.005},
			{Name: "audius_nm_storage_run_duration_seconds", Value: 73},
		}},
		{lifecycle.Storage, []store.Sample{
			{Name: "audius_nm_storage_under_replicated_share", Value: 0.02},
			{Name: "audius_nm_storage_lost_share", Value: 0},
			{Name: "audius_nm_storage_run_duration_seconds", Value: 70},
		}},
	} {
		created := day.Add(time.Duration(10+i) * time.Hour)
		run, err := st.CreateRun(ctx, store.NewRun{CreatedAt: created, Deadline: created.Add(time.Hour), Network: r.network})
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range []lifecycle.Transition{lifecycle.Publish, lifecycle.Load} {
			if moved, err := st.Move(ctx, run, tr, ""); err != nil || !moved {
				t.Fatalf("run %d: %s: moved %v, %v", run, tr.Name, moved, err)
			}
		}
		if moved, err := st.Finish(ctx, run, lifecycle.Finish, "", created.Add(2*time.Minute), r.samples, nil); err != nil || !moved {
			t.Fatalf("run %d: finish: moved %v, %v", run, moved, err)
		}
		if err := st.MarkPushed(ctx, run); err != nil {
			t.Fatal(err)
		}
	}
	return st, url
}
