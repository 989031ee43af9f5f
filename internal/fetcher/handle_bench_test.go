package fetcher

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/contentnode"
)

// BenchmarkHandle is one full-size work item (5000 distinct lower-case wallets, as the planner
// sends them) through FetchClocks against a real HTTP server answering a fixed body like a real node's:
// request order, a tenth unknown (-1). The server does no work per request, so the time is the
// fetcher's and its client's.
func BenchmarkHandle(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	wallets := make([]string, contentnode.MaxWallets)
	var body strings.Builder
	body.WriteString(`{"data":{"users":[`)
	for i := range wallets {
		wallets[i] = fmt.Sprintf("0x%016x%016x%08x", rng.Uint64(), rng.Uint64(), rng.Uint32())
		clock := int64(-1)
		if rng.IntN(10) != 0 {
			clock = rng.Int64N(20000)
		}
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"walletPublicKey":%q,"clock":%d}`, wallets[i], clock)
	}
	body.WriteString(`]},"signer":"0x6f08105c8cee45c2b3d1e8f4e4fa4ac9e96c6a19","timestamp":"2022-10-11T00:00:01.234Z",`)
	body.WriteString(`"signature":"0x` + strings.Repeat("ab", 65) + `"}`)
	answer := []byte(body.String())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	}))
	b.Cleanup(srv.Close)
	f := New(&contentnode.Client{}, Options{}, nil, zerolog.Nop())
	item := workItem(srv.URL, wallets...)
	b.ReportAllocs()
	for b.Loop() {
		res, err := f.FetchClocks(context.Background(), item)
		if err != nil {
			b.Fatal(err)
		}
		if res.GetMissing() != 0 || len(res.GetClocks()) != len(wallets) {
			b.Fatalf("outcome %s, %d missing: %s", res.GetOutcome(), res.GetMissing(), res.GetDetail())
		}
	}
}
