package fetcher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/contentnode"
	"github.com/audius-netmon/netmon/internal/fetcher"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// answeringTransport answers every batch_clock_status request itself, without a network: each
// requested wallet gets the clock len(wallet). It records the hosts it was asked to reach.
type answeringTransport struct {
	mu    sync.Mutex
	hosts []string
}

func (a *answeringTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	a.mu.Lock()
	a.hosts = append(a.hosts, r.URL.Host)
	a.mu.Unlock()
	var req struct {
		WalletPublicKeys []string `json:"walletPublicKeys"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return &http.Response{StatusCode: 400, Body: io.NopCloser(strings.NewReader("bad")), Request: r}, nil
	}
	type entry struct {
		W string `json:"walletPublicKey"`
		C int    `json:"clock"`
	}
	var users []entry
	for _, w := range req.WalletPublicKeys {
		users = append(users, entry{w, len(w)})
	}
	body, _ := json.Marshal(map[string]any{"data": map[string]any{"users": users}})
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
}

// FuzzWorkItem decodes arbitrary bytes as a work item, the way the fetcher stage does, and hands
// what decodes to the fetcher: any endpoint, wallets of any content. The fetcher must answer with
// exactly one result for the item (its run, node and batch, one clock per wallet, in order, each
// -2, -1 or a node's clock), never fail, and never reach an endpoint the content-node policy
// refuses (cloud metadata, link-local, non-http schemes).
func FuzzWorkItem(f *testing.F) {
	for _, item := range []*netmonv1.WorkItem{
		{RunId: 1, SpId: 2, Endpoint: "http://cn2.example", Batch: 0, Wallets: []string{"0xab", "0xAB", "0xcd"}},
		{RunId: 1, SpId: 3, Endpoint: "http://169.254.169.254/latest", Wallets: []string{"0x1"}},
		{RunId: 1, SpId: 4, Endpoint: "http://[::ffff:169.254.169.254]", Wallets: []string{"0x1"}},
		{RunId: 1, SpId: 5, Endpoint: "file:///etc/passwd", Wallets: []string{"0x1"}},
		{RunId: 1, SpId: 5, Endpoint: "http://[::aaa:100%25000000000]", Wallets: []string{"0x1"}},
		{RunId: 1, SpId: 6, Endpoint: "", Wallets: []string{"0x1"}},
		{RunId: 1, SpId: 7, Endpoint: "https://cn7.example/", Batch: 9},
		{RunId: -5, SpId: -1, Endpoint: "http://user:pw@cn8.example", Wallets: []string{"", " ", "\u00e9"}},
	} {
		b, err := proto.Marshal(item)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0xff})
	tr := &answeringTransport{}
	client := &contentnode.Client{HTTP: &http.Client{Transport: tr}}
	fe := fetcher.New(client, fetcher.Options{Timeout: time.Second, Attempts: 2, Backoff: time.Millisecond,
		BreakerFailures: -1}, nil, zerolog.Nop())
	var policy contentnode.Policy
	f.Fuzz(func(t *testing.T, data []byte) {
		var item netmonv1.WorkItem
		if err := proto.Unmarshal(data, &item); err != nil {
			return // the stage records an item that does not decode as poison at once
		}
		if len(item.GetWallets()) > contentnode.MaxWallets {
			return
		}
		tr.mu.Lock()
		tr.hosts = tr.hosts[:0]
		tr.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := fe.FetchClocks(ctx, &item)
		if err != nil {
			t.Fatalf("FetchClocks: %v", err)
		}
		if res.GetRunId() != item.GetRunId() || res.GetSpId() != item.GetSpId() || res.GetBatch() != item.GetBatch() {
			t.Fatalf("result %d/%d/%d for item %d/%d/%d", res.GetRunId(), res.GetSpId(), res.GetBatch(),
				item.GetRunId(), item.GetSpId(), item.GetBatch())
		}
		if len(res.GetWallets()) != len(item.GetWallets()) || len(res.GetClocks()) != len(item.GetWallets()) {
			t.Fatalf("%d wallets, %d clocks for %d requested", len(res.GetWallets()), len(res.GetClocks()), len(item.GetWallets()))
		}
		for i, w := range item.GetWallets() {
			if res.GetWallets()[i] != w {
				t.Fatalf("wallet %d is %q, requested %q", i, res.GetWallets()[i], w)
			}
			if c := res.GetClocks()[i]; c < -2 {
				t.Fatalf("clock %d for %q", c, w)
			}
		}
		if _, err := proto.Marshal(res); err != nil {
			t.Fatalf("result does not marshal: %v", err) // the item decoded, so its strings are UTF-8
		}
		tr.mu.Lock()
		defer tr.mu.Unlock()
		for _, h := range tr.hosts {
			if err := policy.CheckEndpoint("http://" + h); err != nil {
				t.Fatalf("reached %s, which the policy refuses: %v", h, err)
			}
		}
		if err := policy.CheckEndpoint(strings.TrimRight(item.GetEndpoint(), "/")); err != nil && len(tr.hosts) > 0 {
			t.Fatalf("endpoint %q is refused (%v) but was called", item.GetEndpoint(), err)
		}
	})
}
