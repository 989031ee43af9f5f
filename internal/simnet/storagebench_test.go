package simnet

import (
	"context"
	"testing"
	"time"
)

// BenchmarkStorage10M builds a 100-node network of about 10M keys and reports the build, the
// truth of one key (what a sample's truth costs per key) and a node's answer to one probe:
//
//	go test -run '^$' -bench Storage10M -benchtime 1x ./simnet/
func BenchmarkStorage10M(b *testing.B) {
	for b.Loop() {
		start := time.Now()
		n, err := BuildStorage(StorageScenario{Seed: 1, NodeCount: 100, Tracks: 3_000_000, Users: 1_500_000,
			Playlists: 300_000, OrphanUploads: 60_000})
		if err != nil {
			b.Fatal(err)
		}
		built := time.Since(start)
		nodes, err := n.Start(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		hosts := n.hostsSnapshot()
		var keys []string
		n.blobRefs(func(r blobRef) {
			if len(keys) < 20_000 {
				keys = append(keys, n.key(r))
			}
		})
		start = time.Now()
		for _, k := range keys {
			n.KeyTruth(k)
		}
		perKey := time.Since(start) / time.Duration(len(keys))
		start = time.Now()
		for _, k := range keys {
			n.probe(0, k, hosts)
		}
		perProbe := time.Since(start) / time.Duration(len(keys))
		nodes.Close()
		b.ReportMetric(float64(n.keyCount), "keys")
		b.ReportMetric(built.Seconds(), "build-s")
		b.ReportMetric(float64(perKey.Microseconds()), "keytruth-µs")
		b.ReportMetric(float64(perProbe.Microseconds()), "probe-µs")
	}
}
