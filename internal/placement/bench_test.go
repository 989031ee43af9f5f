package placement

import (
	"fmt"
	"strconv"
	"testing"
)

// A run ranks every sampled key (up to 100k) over the network's nodes (about 100): the benchmarks
// report keys per second for 100 hosts. Keys look like v2 CIDs (61 characters).
func benchRing(b *testing.B) (*Ring, []string) {
	endpoints := make([]string, 100)
	for i := range endpoints {
		endpoints[i] = fmt.Sprintf("https://storage-node-%d.operator-%d.example.com", i, i%17)
	}
	r, _ := NewRing(endpoints)
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = "baeaaaiqse" + fmt.Sprintf("%051s", strconv.Itoa(i*7919))
	}
	return r, keys
}

func BenchmarkTop4of100(b *testing.B) {
	r, keys := benchRing(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Top(keys[i%len(keys)], 4)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "keys/s")
}

func BenchmarkRank100(b *testing.B) {
	r, keys := benchRing(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Rank(keys[i%len(keys)])
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "keys/s")
}
