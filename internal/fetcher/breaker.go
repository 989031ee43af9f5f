package fetcher

import (
	"slices"
	"sync"
)

// keepRuns is how many runs' breaker state is kept. Runs overlap only briefly (one run at a time,
// plus stragglers of the previous one), so a few is plenty and memory stays bounded forever.
const keepRuns = 4

// breaker counts consecutive failed items per (run, sp) and opens after a threshold (never, when
// the threshold is not positive). State is
// kept only for the keepRuns newest run ids (run ids increase); an item of an older run finds no
// state and is never failed fast. Safe for concurrent use. Items of one node run in parallel, so
// "consecutive" is in order of completion.
type breaker struct {
	threshold int

	mu   sync.Mutex
	runs map[int64]map[int64]int // run -> sp -> consecutive failures
}

func newBreaker(threshold int) *breaker {
	return &breaker{threshold: threshold, runs: make(map[int64]map[int64]int)}
}

// open reports whether items of (run, sp) should fail fast.
func (b *breaker) open(run, sp int64) bool {
	if b.threshold <= 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.runs[run][sp] >= b.threshold
}

// suspect reports whether the last item of (run, sp) to end failed (and none succeeded since).
func (b *breaker) suspect(run, sp int64) bool {
	if b.threshold <= 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.runs[run][sp] > 0
}

// record notes an item's end and reports whether this failure is the one that opened the breaker.
func (b *breaker) record(run, sp int64, ok bool) (opened bool) {
	if b.threshold <= 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	nodes, found := b.runs[run]
	if !found {
		if ok {
			return false // nothing to reset
		}
		nodes = make(map[int64]int)
		b.runs[run] = nodes
		b.evict()
		if b.runs[run] == nil {
			return false // older than every kept run
		}
	}
	if ok {
		delete(nodes, sp)
		return false
	}
	nodes[sp]++
	return nodes[sp] == b.threshold
}

// evict drops the oldest runs beyond keepRuns. Called with mu held.
func (b *breaker) evict() {
	if len(b.runs) <= keepRuns {
		return
	}
	ids := make([]int64, 0, len(b.runs))
	for id := range b.runs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids[:len(ids)-keepRuns] {
		delete(b.runs, id)
	}
}
