package ethregistry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/audius-netmon/netmon/internal/simnet"
)

// The registry of these tests: three content nodes (the second deregistered) and one validator,
// served by simnet's fake provider, which encodes the answers by hand, independently of abi.go.
var (
	owner1    = "0x00000000000000000000000000000000000000a1"
	delegate1 = "0x00000000000000000000000000000000000000d1"
	entries   = map[string][]simnet.RegistryEntry{
		ContentNode: {
			{Owner: owner1, Endpoint: "https://cn1.example.com/", BlockNumber: 15000001, Delegate: delegate1},
			{},
			{Owner: "0x" + strings.Repeat("ab", 20), Endpoint: "https://cn3.example.com/ünïcode/" + strings.Repeat("x", 40),
				BlockNumber: 15000003, Delegate: "0x" + strings.Repeat("cd", 20)},
		},
		Validator: {
			{Owner: owner1, Endpoint: "https://validator1.example.com", BlockNumber: 16000001, Delegate: delegate1},
		},
	}
)

func mustAddress(t *testing.T, s string) Address {
	t.Helper()
	a, err := ParseAddress(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func startRegistry(t *testing.T) *simnet.Registry {
	t.Helper()
	r, err := simnet.StartRegistry(t.Context(), entries, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func newClient(t *testing.T, o Options) *Client {
	t.Helper()
	if o.Registry.IsZero() {
		o.Registry = mustAddress(t, simnet.RegistryAddress)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// want is the listing entries describe, written out from them.
func want(t *testing.T, block int64, types ...string) Listing {
	l := Listing{Block: block, Factory: mustAddress(t, simnet.FactoryAddress), Count: map[string]int64{}}
	for _, st := range types {
		for i, e := range entries[st] {
			ep := Endpoint{ServiceType: st, SPID: int64(i) + 1, Endpoint: e.Endpoint, BlockNumber: e.BlockNumber}
			if e.Owner != "" {
				ep.Owner, ep.Delegate = mustAddress(t, e.Owner), mustAddress(t, e.Delegate)
			}
			l.Endpoints = append(l.Endpoints, ep)
		}
		l.Count[st] = int64(len(entries[st]))
	}
	return l
}

func TestRead(t *testing.T) {
	r := startRegistry(t)
	c := newClient(t, Options{URL: r.URL})
	got, err := c.Read(t.Context(), ContentNode, Validator)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want(t, simnet.DefaultRegistryBlock, ContentNode, Validator), got); diff != "" {
		t.Errorf("listing (-want +got):\n%s", diff)
	}
	// One eth_blockNumber, then every call at that block.
	st := r.Stats()
	if st.BlockNumber != 1 || st.GetContract != 1 || st.Total != 2 || st.Info != 4 {
		t.Errorf("calls %+v, want 1 eth_blockNumber, 1 getContract, 2 totals, 4 infos", st)
	}
	if fmt.Sprint(st.Blocks) != fmt.Sprintf("[0x%x]", simnet.DefaultRegistryBlock) {
		t.Errorf("eth_call blocks %v, want only the head", st.Blocks)
	}

	// A configured block is used as is.
	c = newClient(t, Options{URL: r.URL, Block: 20000000})
	got, err = c.Read(t.Context(), ContentNode)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want(t, 20000000, ContentNode), got); diff != "" {
		t.Errorf("listing at a block (-want +got):\n%s", diff)
	}
	if st := r.Stats(); st.BlockNumber != 1 || !strings.Contains(fmt.Sprint(st.Blocks), "0x1312d00") {
		t.Errorf("a configured block: calls %+v", st)
	}
	// A block past the head: the provider's error, final.
	c = newClient(t, Options{URL: r.URL, Block: simnet.DefaultRegistryBlock + 1})
	if _, err := c.Read(t.Context(), ContentNode); !errors.Is(err, ErrRPC) || !strings.Contains(err.Error(), "header not found") {
		t.Errorf("a block past the head: %v", err)
	}
}

// TestReadFaults: every registry fault fails the whole read with a clear error, never a partial
// listing.
func TestReadFaults(t *testing.T) {
	r := startRegistry(t)
	for _, tc := range []struct {
		name   string
		faults simnet.RegistryFaults
		is     error
		says   string
	}{
		{"revert", simnet.RegistryFaults{Revert: true}, ErrRevert, "getServiceEndpointInfo(content-node, 3)"},
		{"garbage", simnet.RegistryFaults{Garbage: true}, ErrGarbage, "want at least 160 bytes"},
		{"short tuple", simnet.RegistryFaults{ShortTuple: true}, ErrGarbage, "cut short"},
		{"huge N", simnet.RegistryFaults{HugeN: true}, ErrTooMany, "N is 1000000000000, more than the 10000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.SetFaults(tc.faults)
			defer r.SetFaults(simnet.RegistryFaults{})
			got, err := newClient(t, Options{URL: r.URL}).Read(t.Context(), ContentNode)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Read error %v; want %v saying %q", err, tc.is, tc.says)
			}
			if got.Endpoints != nil {
				t.Errorf("a failed read returned endpoints: %+v", got.Endpoints)
			}
			t.Logf("%s: %v", tc.name, err)
		})
	}
	t.Run("slow", func(t *testing.T) {
		r.SetFaults(simnet.RegistryFaults{Latency: simnet.Duration(150 * time.Millisecond)})
		defer r.SetFaults(simnet.RegistryFaults{})
		// Slow but within the timeout: read in full.
		if _, err := newClient(t, Options{URL: r.URL, CallTimeout: 2 * time.Second}).Read(t.Context(), ContentNode); err != nil {
			t.Errorf("slow registry within the timeout: %v", err)
		}
		// Slower than the timeout: every attempt times out.
		_, err := newClient(t, Options{URL: r.URL, CallTimeout: 50 * time.Millisecond, Attempts: 2, Backoff: time.Millisecond}).Read(t.Context(), ContentNode)
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no answer within 50ms") {
			t.Errorf("slow registry past the timeout: %v", err)
		}
	})
	t.Run("wrong registry address", func(t *testing.T) {
		c := newClient(t, Options{URL: r.URL, Registry: mustAddress(t, "0x"+strings.Repeat("12", 20))})
		_, err := c.Read(t.Context(), ContentNode)
		if !errors.Is(err, ErrGarbage) || !strings.Contains(err.Error(), "no contract at 0x1212") {
			t.Errorf("a registry address without code: %v", err)
		}
	})
}

// answer is a test provider: handle gets each request's id and method and returns the JSON body.
func answer(t *testing.T, handle func(id json.RawMessage, method string, w http.ResponseWriter)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("the client sent %q: %v", body, err)
		}
		handle(req.ID, req.Method, w)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestMalformedAnswers: what a provider can answer instead of a JSON-RPC result.
func TestMalformedAnswers(t *testing.T) {
	for _, tc := range []struct {
		name string
		body func(id string) string
		is   error
	}{
		{"not JSON", func(string) string { return "<html>gateway</html>" }, ErrGarbage},
		{"two values", func(id string) string { return `{"jsonrpc":"2.0","id":` + id + `,"result":"0x1"} {}` }, ErrGarbage},
		{"wrong id", func(string) string { return `{"jsonrpc":"2.0","id":999,"result":"0x1"}` }, ErrGarbage},
		{"no jsonrpc", func(id string) string { return `{"id":` + id + `,"result":"0x1"}` }, ErrGarbage},
		{"neither result nor error", func(id string) string { return `{"jsonrpc":"2.0","id":` + id + `}` }, ErrGarbage},
		{"null result", func(id string) string { return `{"jsonrpc":"2.0","id":` + id + `,"result":null}` }, ErrGarbage},
		{"result a number", func(id string) string { return `{"jsonrpc":"2.0","id":` + id + `,"result":5}` }, ErrGarbage},
		{"quantity with leading zero", func(id string) string { return `{"jsonrpc":"2.0","id":` + id + `,"result":"0x01"}` }, ErrGarbage},
		{"quantity not hex", func(id string) string { return `{"jsonrpc":"2.0","id":` + id + `,"result":"0xzz"}` }, ErrGarbage},
		{"quantity too large", func(id string) string { return `{"jsonrpc":"2.0","id":` + id + `,"result":"0x10000000000000000"}` }, ErrGarbage},
		{"rpc error", func(id string) string {
			return `{"jsonrpc":"2.0","id":` + id + `,"error":{"code":-32005,"message":"daily request count exceeded\u0007"}}`
		}, ErrRPC},
		{"revert", func(id string) string {
			return `{"jsonrpc":"2.0","id":` + id + `,"error":{"code":-32000,"message":"execution reverted"}}`
		}, ErrRevert},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := answer(t, func(id json.RawMessage, _ string, w http.ResponseWriter) {
				_, _ = io.WriteString(w, tc.body(string(id)))
			})
			_, err := newClient(t, Options{URL: srv.URL}).Read(t.Context(), ContentNode)
			if !errors.Is(err, tc.is) {
				t.Fatalf("Read error %v, want %v", err, tc.is)
			}
			if strings.ContainsRune(err.Error(), '\a') {
				t.Errorf("the provider's control character reached the error: %q", err)
			}
		})
	}
	t.Run("huge body", func(t *testing.T) {
		srv := answer(t, func(id json.RawMessage, _ string, w http.ResponseWriter) {
			_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":`+string(id)+`,"result":"0x`+strings.Repeat("00", maxBody)+`"}`)
		})
		if _, err := newClient(t, Options{URL: srv.URL}).Read(t.Context(), ContentNode); !errors.Is(err, ErrGarbage) || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("Read error %v, want ErrGarbage for a body over %d bytes", err, maxBody)
		}
	})
}

// TestRetries: HTTP 503 and 429 are tried again, up to the attempt budget; 401 is not.
func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		status, failures, attempts int
		ok                         bool
		calls                      int64
	}{
		{http.StatusServiceUnavailable, 2, 3, true, 3},
		{http.StatusTooManyRequests, 1, 3, true, 2},
		{http.StatusServiceUnavailable, 3, 3, false, 3},
		{http.StatusUnauthorized, 1, 3, false, 1},
	} {
		t.Run(fmt.Sprintf("%d×%d", tc.failures, tc.status), func(t *testing.T) {
			var calls atomic.Int64
			srv := answer(t, func(id json.RawMessage, _ string, w http.ResponseWriter) {
				if calls.Add(1) <= int64(tc.failures) {
					w.WriteHeader(tc.status)
					return
				}
				_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":`+string(id)+`,"result":"0x10"}`)
			})
			c := newClient(t, Options{URL: srv.URL, Attempts: tc.attempts, Backoff: time.Millisecond})
			_, err := c.call(t.Context(), "eth_blockNumber")
			if (err == nil) != tc.ok || calls.Load() != tc.calls {
				t.Errorf("err %v after %d calls; want ok=%v after %d", err, calls.Load(), tc.ok, tc.calls)
			}
		})
	}
}

// TestConcurrencyBound: a Client never has more than Concurrency calls in flight, across Reads.
func TestConcurrencyBound(t *testing.T) {
	const n, limit = 40, 3
	var inFlight, peak atomic.Int64
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := inFlight.Add(1)
		defer inFlight.Add(-1)
		mu.Lock()
		peak.Store(max(peak.Load(), now))
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		var req struct {
			ID     json.RawMessage
			Method string
			Params []json.RawMessage
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		res := `"0x1"`
		if req.Method == "eth_call" {
			var call struct{ Data string }
			_ = json.Unmarshal(req.Params[0], &call)
			switch call.Data[2:10] {
			case "e16c7d98":
				res = `"0x` + strings.Repeat("00", 31) + `ff"`
			case "623fa631":
				res = fmt.Sprintf(`"0x%064x"`, n)
			default:
				res = `"0x` + strings.Repeat("00", 32) + strings.Repeat("00", 31) + "80" + strings.Repeat("00", 96) + `"`
			}
		}
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":`+string(req.ID)+`,"result":`+res+`}`)
	}))
	defer srv.Close()
	c := newClient(t, Options{URL: srv.URL, Concurrency: limit})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			l, err := c.Read(context.Background(), ContentNode)
			if err != nil || len(l.Endpoints) != n {
				t.Errorf("Read: %d endpoints, %v", len(l.Endpoints), err)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > limit || p < 2 {
		t.Errorf("peak calls in flight %d, want 2..%d", p, limit)
	}
}

// TestURLNeverShown: the provider URL may hold an API key; no error shows it.
func TestURLNeverShown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused
	for _, u := range []string{
		"http://" + addr + "/v3/apikey-s3cr3t",
		"http://user:pw-s3cr3t@" + addr + "/?key=s3cr3t",
	} {
		c := newClient(t, Options{URL: u, Attempts: 1})
		_, err := c.Read(t.Context(), ContentNode)
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("Read error %v, want ErrUnavailable", err)
		}
		if strings.Contains(fmt.Sprint(err), "s3cr3t") {
			t.Errorf("the error shows the URL's secret: %v", err)
		}
	}
	if _, err := New(Options{URL: "ftp://host/s3cr3t", Registry: mustAddress(t, simnet.RegistryAddress)}); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("New with a bad URL: %v", err)
	}
}
