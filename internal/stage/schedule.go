package stage

import (
	"context"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/audius-netmon/netmon/internal/bus"
)

// missedRun returns the scheduled time that passed without a run: the first time the schedule
// names after the newest run's start, if that is not after now. A planner that was down at a
// scheduled time starts that run once when it comes back; several missed times make one run.
// Before the first run there is nothing to catch up.
func missedRun(ctx context.Context, sched cron.Schedule, state *bus.State, now time.Time) (time.Time, bool, error) {
	last, ok, err := state.LastRunStart(ctx)
	if err != nil || !ok {
		return time.Time{}, false, err
	}
	next := sched.Next(last)
	if next.After(now) {
		return time.Time{}, false, nil
	}
	return next, true, nil
}
