package simnet

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
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

// BenchmarkBatchClockStatus is one fake node answering a batch_clock_status request of 5,000
// wallets it holds (netmon's largest batch), from the request body to the written answer:
//
//	go test -run '^$' -bench BatchClockStatus ./simnet/
func BenchmarkBatchClockStatus(b *testing.B) {
	n, err := Build(Scenario{Seed: 1, NodeCount: 50, UserCount: 300_000})
	if err != nil {
		b.Fatal(err)
	}
	fn := newFakeNode(n, 0, Options{Now: time.Now})
	var wallets []string
	for i := range n.users {
		if _, held := n.users[i].slotClock(fn.sp); !held {
			continue
		}
		if w, ok := n.lowerWallet(i); ok && len(wallets) < MaxWallets {
			wallets = append(wallets, w)
		}
	}
	if len(wallets) < MaxWallets {
		b.Fatalf("node holds %d wallets, want %d", len(wallets), MaxWallets)
	}
	body, err := json.Marshal(map[string][]string{"walletPublicKeys": wallets})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		w := httptest.NewRecorder()
		fn.batchClockStatus(w, httptest.NewRequest(http.MethodPost, "/users/batch_clock_status", bytes.NewReader(body)))
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
