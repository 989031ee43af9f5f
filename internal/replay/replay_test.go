package replay_test

import (
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/aggregator"
	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/livetest"
	"github.com/audius-netmon/netmon/internal/replay"
	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/stage"
	"github.com/audius-netmon/netmon/internal/store"
	"github.com/audius-netmon/netmon/internal/testenv"
)

// TestReplayGivesIdenticalRows records a run the live way (the four stages over a simulated
// network, clock and CID checks), deletes its rows from the NM DB, and replays it from the
// streams' history with replay.Run: every table holds the same rows as after the live run
// (testenv.RunDigest: every column but the push bookkeeping), and a second replay changes
// nothing.
func TestReplayGivesIdenticalRows(t *testing.T) {
	s := livetest.Start(t, simnet.Scenario{Seed: 17, UserCount: 600, NodeCount: 7,
		Nodes: []simnet.NodeSpec{{SPID: 7, Faults: simnet.Faults{Down: true}}}})
	run, status := s.Run(t, 2*time.Minute)
	if status != string(lifecycle.Complete) {
		t.Fatalf("live run %d ended %s", run, status)
	}
	live := testenv.RunDigest(t, s.NMDB, run)

	ctx := t.Context()
	st, err := store.Open(ctx, s.NMDB, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	conn, err := bus.Connect(s.Config.NATSURL, "", "replay-test", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	a := aggregator.New(st, stage.Pusher(s.Config), aggregator.Options{Foundation: s.Config.FoundationSPIDs}, zerolog.Nop())
	if err := st.DeleteRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		rep, err := replay.Run(ctx, conn, st, a, run, false, zerolog.Nop())
		if err != nil {
			t.Fatalf("replay %d: %v", i+1, err)
		}
		if rep.Run.Status != lifecycle.Complete || rep.Messages == 0 || rep.Pushed {
			t.Errorf("replay %d: run %s, %d messages, pushed %v", i+1, rep.Run.Status, rep.Messages, rep.Pushed)
		}
		for table, d := range testenv.RunDigest(t, s.NMDB, run) {
			if live[table] != d {
				t.Errorf("replay %d: table %s: %s, live run %s", i+1, table, d, live[table])
			}
		}
	}
}
