package planner

import "time"

// SetPaceStall sets how long a plan waits for a loader that builds nothing (paceStall) and returns
// a function that restores it.
func SetPaceStall(d time.Duration) (restore func()) {
	old := paceStall
	paceStall = d
	return func() { paceStall = old }
}
