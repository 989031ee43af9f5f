package planner

import "time"

// SetPaceStall sets how long a plan waits for a loader that builds nothing (paceStall) and returns
// a function that restores it.
func SetPaceStall(d time.Duration) (restore func()) {
	old := paceStall
	paceStall = d
	return func() { paceStall = old }
}

// SetCIDReadAhead sets how many CID rows a CID read holds for the plan (cidReadAhead) and returns
// a function that restores it.
func SetCIDReadAhead(n int) (restore func()) {
	old := cidReadAhead
	cidReadAhead = n
	return func() { cidReadAhead = old }
}
