package simnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/audius-netmon/netmon/internal/signing"
)

// faultNetwork has users with wallets 0x01..0x05 on nodes 1, 2, 3 (clocks 10, 10, 9: node 3
// lags), and the given nodes, each the primary of one more user.
func faultNetwork(t *testing.T, opts Options, nodes ...NodeSpec) (*Network, *Nodes) {
	t.Helper()
	s := Scenario{Seed: 9, Nodes: append([]NodeSpec{{SPID: 1}, {SPID: 2}, {SPID: 3}}, nodes...)}
	for i := 1; i <= 5; i++ {
		w := fmt.Sprintf("0x%02d", i)
		p := int64(1)
		secs := []int64{2, 3}
		s.Users = append(s.Users, UserSpec{ID: int64(i), Wallet: &w, Primary: &p, Secondaries: secs, Clocks: []int64{10, 10, 9}})
	}
	// User 10+k has fault node k as its primary (clock 7 everywhere).
	for k, ns := range nodes {
		w := fmt.Sprintf("0x%02d", 10+k)
		p := ns.SPID
		s.Users = append(s.Users, UserSpec{ID: int64(10 + k), Wallet: &w, Primary: &p, Secondaries: []int64{1, 2}, Clocks: []int64{7, 7, 7}})
	}
	n, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := n.StartWith(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Close)
	return n, ns
}

type clockAnswer struct {
	Data struct {
		Users []struct {
			Wallet string `json:"walletPublicKey"`
			Clock  int64  `json:"clock"`
		} `json:"users"`
	} `json:"data"`
}

func postRaw(client *http.Client, url string, body any) (*http.Response, []byte, error) {
	b, _ := json.Marshal(body)
	resp, err := client.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp, out, err
}

func TestClockStatusLimitsAndShapes(t *testing.T) {
	_, ns := faultNetwork(t, Options{})
	url := ns.Endpoint(1) + "/users/batch_clock_status"

	// 5000 distinct wallets (plus repeats) are fine; 5001 are not.
	wallets := make([]string, 0, 5100)
	for i := 0; i < 5000; i++ {
		wallets = append(wallets, fmt.Sprintf("0x%040x", i))
	}
	wallets = append(wallets, wallets[:100]...)
	status, body := post(t, url, map[string]any{"walletPublicKeys": wallets})
	var ans clockAnswer
	if status != 200 || json.Unmarshal(body, &ans) != nil || len(ans.Data.Users) != 5000 {
		t.Fatalf("5000 distinct wallets: status %d, %d entries", status, len(ans.Data.Users))
	}
	status, body = post(t, url, map[string]any{"walletPublicKeys": append(wallets, "0xextra")})
	if status != 400 || !strings.Contains(string(body), `"error"`) {
		t.Fatalf("5001 distinct wallets: status %d body %s", status, body)
	}
	status, body = post(t, url, map[string]any{"wallets": []string{"0x01"}})
	if status != 400 || !strings.Contains(string(body), `"error"`) {
		t.Fatalf("missing field: status %d body %s", status, body)
	}
	status, _ = post(t, url, map[string]any{"walletPublicKeys": []string{}})
	if status != 200 {
		t.Fatalf("empty list: status %d", status)
	}
	// filesHash only on request.
	status, body = post(t, url+"?returnFilesHash=true", map[string]any{"walletPublicKeys": []string{"0x01", "0x99"}})
	if status != 200 || !strings.Contains(string(body), `"filesHash":null`) || strings.Count(string(body), `"filesHash"`) != 2 {
		t.Fatalf("returnFilesHash: status %d body %s", status, body)
	}
	// Node 3 lags: clock 9.
	status, body = post(t, ns.Endpoint(3)+"/users/batch_clock_status", map[string]any{"walletPublicKeys": []string{"0x02"}})
	if status != 200 || !strings.Contains(string(body), `{"walletPublicKey":"0x02","clock":9}`) {
		t.Fatalf("node 3: status %d body %s", status, body)
	}
	if got := ns.Stats(1); got.BadRequests != 2 || got.ClockRequests != 5 || got.Served != 3 {
		t.Errorf("stats %+v", got)
	}
}

func TestPersistentFaults(t *testing.T) {
	_, ns := faultNetwork(t, Options{},
		NodeSpec{SPID: 10, Faults: Faults{Down: true}},
		NodeSpec{SPID: 11, Faults: Faults{Hang: true}},
		NodeSpec{SPID: 12, Faults: Faults{ReadOnly: true}},
		NodeSpec{SPID: 13, Faults: Faults{Truncated: true}},
		NodeSpec{SPID: 14, Faults: Faults{Malformed: true}},
		NodeSpec{SPID: 15, Faults: Faults{Oversized: true, OversizedBytes: 3 << 20}},
	)
	client := &http.Client{Timeout: 300 * time.Millisecond}
	req := map[string]any{"walletPublicKeys": []string{"0x10", "0x11", "0x12", "0x13", "0x14", "0x15"}}
	path := "/users/batch_clock_status"

	if _, _, err := postRaw(client, ns.Endpoint(10)+path, req); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("down: err %v, want connection refused", err)
	}
	start := time.Now()
	var ne interface{ Timeout() bool }
	if _, _, err := postRaw(client, ns.Endpoint(11)+path, req); !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("hang: err %v, want a timeout", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("hang answered after %s", d)
	}
	resp, body, err := postRaw(client, ns.Endpoint(12)+path, req)
	if err != nil || resp.StatusCode != 500 || string(body) != `{"error":"Server is in read-only mode at the moment"}` {
		t.Errorf("read-only: %v %v %s", err, resp, body)
	}
	for _, sp := range []int64{13, 14} {
		resp, body, err := postRaw(client, ns.Endpoint(sp)+path, req)
		var ans clockAnswer
		if err != nil || resp.StatusCode != 200 || json.Unmarshal(body, &ans) == nil {
			t.Errorf("node %d: err %v, status %v, body decodes as JSON: %s", sp, err, resp.StatusCode, body)
		}
		// A streaming decoder must fail too.
		if err == nil && json.NewDecoder(bytes.NewReader(body)).Decode(&ans) == nil {
			t.Errorf("node %d: a json.Decoder accepts the body", sp)
		}
	}
	big := &http.Client{Timeout: 10 * time.Second}
	resp, err = big.Post(ns.Endpoint(15)+path, "application/json", strings.NewReader(`{"walletPublicKeys":["0x15"]}`))
	if err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ans clockAnswer
	if err != nil || resp.StatusCode != 200 || len(all) != 3<<20 || json.Unmarshal(all, &ans) == nil {
		t.Errorf("oversized: err %v status %d len %d", err, resp.StatusCode, len(all))
	}
	if ns.Stats(11).ClockRequests != 1 || ns.Stats(12).Failed != 1 {
		t.Errorf("stats: hang %+v read-only %+v", ns.Stats(11), ns.Stats(12))
	}
}

func TestRecoverableFaults(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	_, ns := faultNetwork(t, Options{Now: clock},
		NodeSpec{SPID: 20, Faults: Faults{FailFirst: 2}},
		NodeSpec{SPID: 21, Faults: Faults{Reorder: true, Duplicate: true, Unrequested: true}},
		NodeSpec{SPID: 22, Faults: Faults{RateLimit: &RateLimit{Requests: 3, Window: Duration(time.Minute)}}},
		NodeSpec{SPID: 23, Faults: Faults{Latency: &Latency{Median: Duration(80 * time.Millisecond)}}},
	)
	path := "/users/batch_clock_status"
	req := map[string]any{"walletPublicKeys": []string{"0x10", "0x11", "0x12", "0x13", "0x01"}}
	want := map[string]int64{"0x10": 7, "0x11": 7, "0x12": 7, "0x13": 7, "0x01": 10}

	// fail_first 2: the same body fails twice, then is served; another body starts over.
	for attempt := 1; attempt <= 3; attempt++ {
		status, body := post(t, ns.Endpoint(20)+path, req)
		if wantStatus := map[bool]int{true: 500, false: 200}[attempt <= 2]; status != wantStatus {
			t.Fatalf("fail_first attempt %d: status %d, want %d: %s", attempt, status, wantStatus, body)
		}
	}
	if status, _ := post(t, ns.Endpoint(20)+path, map[string]any{"walletPublicKeys": []string{"0x10"}}); status != 500 {
		t.Fatalf("fail_first: a new body got %d, want 500", status)
	}

	// reorder + duplicate + unrequested: every requested wallet has its clock; extras are others.
	status, body := post(t, ns.Endpoint(21)+path, req)
	var ans clockAnswer
	if status != 200 || json.Unmarshal(body, &ans) != nil {
		t.Fatalf("distorted: %d %s", status, body)
	}
	got := map[string]int64{}
	var order []string
	extras := 0
	for _, e := range ans.Data.Users {
		if _, asked := want[e.Wallet]; !asked {
			extras++
			continue
		}
		if c, dup := got[e.Wallet]; dup && c != e.Clock {
			t.Errorf("wallet %s answered with clocks %d and %d", e.Wallet, c, e.Clock)
		}
		if _, dup := got[e.Wallet]; !dup {
			order = append(order, e.Wallet)
		}
		got[e.Wallet] = e.Clock
	}
	// Node 21 is only user 11's primary; it holds no other wallet.
	wantHere := map[string]int64{"0x10": -1, "0x11": 7, "0x12": -1, "0x13": -1, "0x01": -1}
	if diff := cmp.Diff(wantHere, got); diff != "" {
		t.Errorf("distorted answers (-want +got):\n%s", diff)
	}
	if extras < 2 || len(ans.Data.Users) < 2*len(want) || order[0] != "0x01" {
		t.Errorf("distortions missing: %d extras, %d entries, order %v", extras, len(ans.Data.Users), order)
	}

	// rate limit 3 per minute per IP: the 4th is 429 with Retry-After; the next window serves.
	for i := 1; i <= 4; i++ {
		resp, body, err := postRaw(http.DefaultClient, ns.Endpoint(22)+path, req)
		if err != nil {
			t.Fatal(err)
		}
		if i <= 3 && resp.StatusCode != 200 || i == 4 && (resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "60") {
			t.Fatalf("rate limit request %d: %d Retry-After=%q %s", i, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	now = now.Add(time.Minute)
	if status, _ := post(t, ns.Endpoint(22)+path, req); status != 200 {
		t.Fatalf("next window: %d", status)
	}
	if s := ns.Stats(22); s.RateLimited != 1 || s.Served != 4 {
		t.Errorf("rate limit stats %+v", s)
	}

	start := time.Now()
	if status, _ := post(t, ns.Endpoint(23)+path, req); status != 200 || time.Since(start) < 80*time.Millisecond {
		t.Errorf("latency: status %d after %s", status, time.Since(start))
	}
}

func TestSignatureVerification(t *testing.T) {
	const key = "0x1111111111111111111111111111111111111111111111111111111111111111"
	signer, err := signing.NewSigner(7, key)
	if err != nil {
		t.Fatal(err)
	}
	other, err := signing.NewSigner(7, "0x2222222222222222222222222222222222222222222222222222222222222222")
	if err != nil {
		t.Fatal(err)
	}
	_, ns := faultNetwork(t, Options{Verify: signing.Recover, Delegates: map[int64]string{7: "0x" + strings.ToUpper(signer.Address()[2:])}})
	url := ns.Endpoint(1) + "/users/batch_clock_status"
	req := map[string]any{"walletPublicKeys": []string{"0x01"}}
	for _, s := range []*signing.Signer{signer, other} {
		if status, _ := post(t, url+"?"+s.Params(time.Now()).Encode(), req); status != 200 {
			t.Fatalf("signed request: %d", status)
		}
	}
	if status, _ := post(t, url+"?spID=7&timestamp=x&signature=0xzz", req); status != 200 {
		t.Fatalf("garbage signature must still be served, got %d", status)
	}
	post(t, url, req)
	got := ns.Stats(1)
	if got.Verified != 1 || got.BadSignature != 2 || got.Unsigned != 1 || got.Served != 4 {
		t.Errorf("stats %+v, want 1 verified, 2 bad, 1 unsigned, 4 served", got)
	}
}
