package storagekeys

import (
	"container/heap"
	"crypto/sha256"
	"encoding/binary"
	"slices"
)

// Sample draws a uniform random sample of distinct keys as they stream past, deterministic given
// its seed: each key gets a rank, the first 8 bytes of SHA-256(seed ‖ key), and the sample is the
// Size keys of lowest rank ("bottom-k"). A key seen twice has one rank, so duplicates neither
// count twice nor change the sample, and every set of Size distinct keys is equally likely (as
// far as SHA-256 behaves as a random function), whatever the order keys arrive in. Size 0 keeps
// every key. Memory: the kept keys plus 8 bytes per key seen, to count the distinct keys.
type Sample struct {
	size int
	seed [8]byte
	kept map[string]*entry // the sampled keys
	heap rankHeap          // the same, largest rank on top (size > 0)
	seen []uint64          // the rank of every key added, to count the distinct ones
}

type entry struct {
	rank uint64
	key  Key
}

// NewSample samples size keys (0: every key) with seed.
func NewSample(size int, seed int64) *Sample {
	s := &Sample{size: max(size, 0), kept: map[string]*entry{}}
	binary.BigEndian.PutUint64(s.seed[:], uint64(seed))
	return s
}

func (s *Sample) rank(key string) uint64 {
	h := sha256.New()
	h.Write(s.seed[:])
	h.Write([]byte(key))
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(h.Sum(sum[:0]))
}

// Add offers k. A key already kept without placement hosts takes k's, if it has some (the same
// key named by a track and by its upload).
func (s *Sample) Add(k Key) {
	if e, ok := s.kept[k.Key]; ok {
		if e.key.PlacementHosts == nil {
			e.key.PlacementHosts = k.PlacementHosts
		}
		return
	}
	r := s.rank(k.Key)
	s.seen = append(s.seen, r)
	if s.size == 0 {
		s.kept[k.Key] = &entry{rank: r, key: k}
		return
	}
	e := &entry{rank: r, key: k}
	if len(s.heap) < s.size {
		heap.Push(&s.heap, e)
		s.kept[k.Key] = e
		return
	}
	if top := s.heap[0]; before(e, top) {
		delete(s.kept, top.key.Key)
		s.heap[0] = e
		heap.Fix(&s.heap, 0)
		s.kept[k.Key] = e
	}
}

// before orders entries by rank, then key (ranks of distinct keys almost never tie).
func before(a, b *entry) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.key.Key < b.key.Key
}

// Population is the number of distinct keys added (two keys of equal rank count once: with
// 64-bit ranks, about one chance in 10^7 at 10^7 keys).
func (s *Sample) Population() int64 {
	slices.Sort(s.seen)
	s.seen = slices.Compact(s.seen)
	return int64(len(s.seen))
}

// Keys are the sampled keys (every key with size 0), in rank order: a random order, which
// spreads a run's probes over the network.
func (s *Sample) Keys() []Key {
	es := make([]*entry, 0, len(s.kept))
	for _, e := range s.kept {
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b *entry) int {
		if before(a, b) {
			return -1
		}
		return 1
	})
	out := make([]Key, len(es))
	for i, e := range es {
		out[i] = e.key
	}
	return out
}

// rankHeap is a max-heap of entries by rank.
type rankHeap []*entry

func (h rankHeap) Len() int           { return len(h) }
func (h rankHeap) Less(i, j int) bool { return before(h[j], h[i]) }
func (h rankHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *rankHeap) Push(x any)        { *h = append(*h, x.(*entry)) }
func (h *rankHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
