package simnet

import (
	"context"
	"testing"
	"time"

	"github.com/audius-netmon/netmon/internal/testenv"
)

// BenchmarkSeed1M builds and seeds 1,000,000 users on 50 content nodes with their tracks:
//
//	go test -run '^$' -bench Seed1M -benchtime 1x ./simnet/
func BenchmarkSeed1M(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		url := testenv.Database(b)
		b.StartTimer()
		start := time.Now()
		n, err := Build(Scenario{Seed: 1, NodeCount: 50, UserCount: 1_000_000})
		if err != nil {
			b.Fatal(err)
		}
		built := time.Since(start)
		if err := n.SeedDiscovery(context.Background(), url); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(built.Seconds(), "build-s")
		b.ReportMetric(time.Since(start).Seconds(), "total-s")
	}
}
