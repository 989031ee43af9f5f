package contentnode

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// benchWallets are n distinct lower-case wallets as the planner sends them (planner.WalletKey),
// the same for every run of the benchmarks.
func benchWallets(n int) []string {
	rng := rand.New(rand.NewPCG(1, 2))
	wallets := make([]string, n)
	for i := range wallets {
		wallets[i] = fmt.Sprintf("0x%016x%016x%08x", rng.Uint64(), rng.Uint64(), rng.Uint32())
	}
	return wallets
}

// benchClockBody is what a content node answers to wallets: the successResponse envelope, one
// entry per wallet in request order, about a tenth of them unknown (-1), the rest a clock of a few
// digits as real nodes hold.
func benchClockBody(wallets []string) []byte {
	rng := rand.New(rand.NewPCG(3, 4))
	var b strings.Builder
	b.WriteString(`{"data":{"users":[`)
	for i, w := range wallets {
		if i > 0 {
			b.WriteByte(',')
		}
		clock := int64(-1)
		if rng.IntN(10) != 0 {
			clock = rng.Int64N(20000)
		}
		fmt.Fprintf(&b, `{"walletPublicKey":%q,"clock":%d}`, w, clock)
	}
	b.WriteString(`]},"signer":"0x6f08105c8cee45c2b3d1e8f4e4fa4ac9e96c6a19","timestamp":"2022-10-11T00:00:01.234Z",`)
	b.WriteString(`"signature":"0x` + strings.Repeat("ab", 65) + `"}`)
	return []byte(b.String())
}

// BenchmarkBatchClockStatus is one full-size call of the real client against a real HTTP server
// that answers a fixed 5000-wallet body (the server does no work per request, so the time is the
// client's: encoding the request, HTTP, reading and decoding the answer).
func BenchmarkBatchClockStatus(b *testing.B) {
	wallets := benchWallets(MaxWallets)
	body := benchClockBody(wallets)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	b.Cleanup(srv.Close)
	var c Client
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		ans, err := c.BatchClockStatus(context.Background(), srv.URL, wallets)
		if err != nil {
			b.Fatal(err)
		}
		if len(ans.Clocks) != len(wallets) {
			b.Fatalf("%d clocks for %d wallets", len(ans.Clocks), len(wallets))
		}
	}
}

// BenchmarkDecodeClocks is the decoding and matching of that answer alone, without HTTP.
func BenchmarkDecodeClocks(b *testing.B) {
	wallets := benchWallets(MaxWallets)
	body := benchClockBody(wallets)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		ans, err := decodeClocks(body, wallets)
		if err != nil {
			b.Fatal(err)
		}
		if len(ans.Clocks) != len(wallets) {
			b.Fatalf("%d clocks for %d wallets", len(ans.Clocks), len(wallets))
		}
	}
}
