package contentnode

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
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/audius-netmon/netmon/internal/signing"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// node starts a content-node fake over real HTTP and returns its endpoint.
func node(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// reply answers with a fixed status and body.
func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

type entry struct {
	WalletPublicKey string `json:"walletPublicKey"`
	Clock           int64  `json:"clock"`
}

// clockNode answers batch_clock_status like a real node: one entry per distinct requested wallet,
// in request order, -1 for wallets it does not know (exact-case match), and lets the test rewrite
// the entries before they are sent.
func clockNode(t *testing.T, known map[string]int64, rewrite func([]entry) []entry) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != PathBatchClockStatus {
			t.Errorf("got %s %s, want POST %s", r.Method, r.URL.Path, PathBatchClockStatus)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		var req struct {
			WalletPublicKeys []string `json:"walletPublicKeys"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.WalletPublicKeys == nil {
			reply(400, `{"error":"walletPublicKeys is required"}`)(w, r)
			return
		}
		users := []entry{}
		seen := map[string]bool{}
		for _, wallet := range req.WalletPublicKeys {
			if seen[wallet] {
				continue
			}
			seen[wallet] = true
			clock, ok := known[wallet]
			if !ok {
				clock = -1
			}
			users = append(users, entry{wallet, clock})
		}
		if rewrite != nil {
			users = rewrite(users)
		}
		b, _ := json.Marshal(map[string]any{
			"data": map[string]any{"users": users}, "signer": "0x00", "timestamp": "2022-10-11T00:00:00.000Z", "signature": "0x00",
		})
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}
}

func asError(t *testing.T, err error, want Reason) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *Error with reason %s", err, err, want)
	}
	if e.Reason != want {
		t.Fatalf("reason = %s, want %s (err: %v)", e.Reason, want, err)
	}
	return e
}

func TestBatchClockStatusOK(t *testing.T) {
	ep := node(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" {
			t.Errorf("query %q without a signer, want none", r.URL.RawQuery)
		}
		clockNode(t, map[string]int64{"0xa": 5, "0xb": 0, "0xc": 12}, nil)(w, r)
	})
	var c Client
	ans, err := c.BatchClockStatus(context.Background(), ep+"/", []string{"0xa", "0xb", "0xc", "0xd"})
	if err != nil {
		t.Fatal(err)
	}
	want := ClockAnswer{Clocks: []int64{5, 0, 12, -1}, HTTPStatus: 200}
	if diff := cmp.Diff(want, ans); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}

func TestBatchClockStatusWalletCase(t *testing.T) {
	// The node matches exactly, so a mixed-case request finds the mixed-case row; the answer is
	// matched by lower-cased wallet whatever case the node echoes.
	ep := node(t, clockNode(t, map[string]int64{"0xAbC": 3, "0xdef": 4}, func(us []entry) []entry {
		for i := range us {
			if us[i].WalletPublicKey == "0xdef" {
				us[i].WalletPublicKey = "0xDEF"
			}
		}
		return us
	}))
	var c Client
	ans, err := c.BatchClockStatus(context.Background(), ep, []string{"0xAbC", "0xdef"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{3, 4}, ans.Clocks); diff != "" {
		t.Errorf("clocks (-want +got):\n%s", diff)
	}
}

func TestBatchClockStatusReorderedDuplicatedUnrequested(t *testing.T) {
	ep := node(t, clockNode(t, map[string]int64{"0xa": 1, "0xb": 2, "0xc": 3}, func(us []entry) []entry {
		// Reverse, repeat 0xb with another value after the first, and add strangers.
		out := []entry{{"0xzz", 9}}
		for i := len(us) - 1; i >= 0; i-- {
			out = append(out, us[i])
		}
		return append(out, entry{"0xb", 77}, entry{"0xB", 78}, entry{"0xyy", 8})
	}))
	var c Client
	ans, err := c.BatchClockStatus(context.Background(), ep, []string{"0xa", "0xb", "0xc", "0xd"})
	if err != nil {
		t.Fatal(err)
	}
	want := ClockAnswer{Clocks: []int64{1, 2, 3, -1}, Unrequested: 2, Duplicates: 2, HTTPStatus: 200}
	if diff := cmp.Diff(want, ans); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}

func TestBatchClockStatusRepeatedWallet(t *testing.T) {
	// A wallet requested twice in different cases (an old item replayed, say): the node knows the
	// two exactly, the first entry for the lower-cased wallet wins for both positions, the second
	// is a duplicate.
	ep := node(t, clockNode(t, map[string]int64{"0xAB": 5, "0xab": 6, "0xcd": 7}, nil))
	var c Client
	ans, err := c.BatchClockStatus(context.Background(), ep, []string{"0xAB", "0xab", "0xcd", "0xab"})
	if err != nil {
		t.Fatal(err)
	}
	want := ClockAnswer{Clocks: []int64{5, 5, 7, 5}, Duplicates: 1, HTTPStatus: 200}
	if diff := cmp.Diff(want, ans); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}

func TestBatchClockStatusMissingWallet(t *testing.T) {
	ep := node(t, clockNode(t, map[string]int64{"0xa": 1}, func(us []entry) []entry { return us[:1] }))
	var c Client
	ans, err := c.BatchClockStatus(context.Background(), ep, []string{"0xa", "0xb"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ClockAnswer{Clocks: []int64{1, NoAnswer}, Missing: 1, HTTPStatus: 200}, ans); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}

func TestBatchClockStatusHTTPErrors(t *testing.T) {
	long := `{"error":"` + strings.Repeat("x", 5000) + `"}`
	for _, tc := range []struct {
		name, body string
		status     int
		header     string
		wantText   string
		wantRetry  time.Duration
	}{
		{"400 missing field", `{"error":"walletPublicKeys is required"}`, 400, "", "walletPublicKeys is required", 0},
		{"400 too many", `{"error":"Too many wallets provided"}`, 400, "", "Too many wallets", 0},
		{"500 read-only", `{"error":"Server is in read-only mode at the moment"}`, 500, "", "read-only mode", 0},
		{"500 long body", long, 500, "", "xxx…", 0},
		{"429 retry-after", `{"error":"rate limited"}`, 429, "3", "rate limited", 3 * time.Second},
		{"503 retry-after date", ``, 503, time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat), "HTTP 503", 89 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := node(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				reply(tc.status, tc.body)(w, r)
			})
			var c Client
			_, err := c.BatchClockStatus(context.Background(), ep, []string{"0xa"})
			e := asError(t, err, HTTPStatus)
			if e.Status != tc.status {
				t.Errorf("Status = %d, want %d", e.Status, tc.status)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.wantText) || len(msg) > 400 {
				t.Errorf("error text %q (%d bytes): want it to contain %q and be short", msg, len(msg), tc.wantText)
			}
			if tc.wantRetry == 0 && e.RetryAfter != 0 || tc.wantRetry != 0 && (e.RetryAfter < tc.wantRetry || e.RetryAfter > tc.wantRetry+2*time.Second) {
				t.Errorf("RetryAfter = %v, want about %v", e.RetryAfter, tc.wantRetry)
			}
			if e.Reason.Outcome() != netmonv1.Outcome_OUTCOME_HTTP_ERROR {
				t.Errorf("Outcome = %v", e.Reason.Outcome())
			}
		})
	}
}

func TestBatchClockStatusBadResponse(t *testing.T) {
	users := func(s string) string { return `{"data":{"users":[` + s + `]}}` }
	for name, body := range map[string]string{
		"garbage":            `<html>Bad Gateway</html>`,
		"empty":              ``,
		"truncated":          `{"data":{"users":[{"walletPublicKey":"0xa","clock":1}`,
		"trailing data":      users(`{"walletPublicKey":"0xa","clock":1}`) + ` {}`,
		"top-level array":    `[]`,
		"no data":            `{"signer":"0x1"}`,
		"data null":          `{"data":null}`,
		"no users":           `{"data":{}}`,
		"users null":         `{"data":{"users":null}}`,
		"users object":       `{"data":{"users":{}}}`,
		"entry number":       users(`1`),
		"entry null":         users(`null`),
		"entry no wallet":    users(`{"clock":1}`),
		"wallet number":      users(`{"walletPublicKey":5,"clock":1}`),
		"wallet null":        users(`{"walletPublicKey":null,"clock":1}`),
		"no clock":           users(`{"walletPublicKey":"0xa"}`),
		"clock null":         users(`{"walletPublicKey":"0xa","clock":null}`),
		"clock string":       users(`{"walletPublicKey":"0xa","clock":"1"}`),
		"clock bool":         users(`{"walletPublicKey":"0xa","clock":true}`),
		"clock fraction":     users(`{"walletPublicKey":"0xa","clock":1.5}`),
		"clock 1.0":          users(`{"walletPublicKey":"0xa","clock":1.0}`),
		"clock exponent":     users(`{"walletPublicKey":"0xa","clock":1e3}`),
		"clock below -1":     users(`{"walletPublicKey":"0xa","clock":-2}`),
		"clock overflow":     users(`{"walletPublicKey":"0xa","clock":99999999999999999999}`),
		"bad entry, unasked": users(`{"walletPublicKey":"0xa","clock":1},{"walletPublicKey":"0xzz","clock":"x"}`),
	} {
		t.Run(name, func(t *testing.T) {
			ep := node(t, reply(200, body))
			var c Client
			ans, err := c.BatchClockStatus(context.Background(), ep, []string{"0xa"})
			e := asError(t, err, BadResponse)
			if e.Status != 200 || ans.Clocks != nil {
				t.Errorf("Status = %d, clocks = %v; want 200 and none", e.Status, ans.Clocks)
			}
		})
	}
}

func TestBatchClockStatusBodyLimit(t *testing.T) {
	const limit = 1024
	// A valid answer padded with spaces to exactly n bytes.
	padded := func(n int) string {
		s := `{"data":{"users":[{"walletPublicKey":"0xa","clock":1}]}}`
		return s + strings.Repeat(" ", n-len(s))
	}
	c := Client{MaxBody: limit}
	ep := node(t, reply(200, padded(limit)))
	if _, err := c.BatchClockStatus(context.Background(), ep, []string{"0xa"}); err != nil {
		t.Errorf("body of exactly MaxBody: %v", err)
	}
	ep = node(t, reply(200, padded(limit+1)))
	_, err := c.BatchClockStatus(context.Background(), ep, []string{"0xa"})
	asError(t, err, BadResponse)
	if !strings.Contains(err.Error(), "larger than 1024") {
		t.Errorf("error %q does not say the body was too large", err)
	}
	// With no Content-Length (chunked), the cap still holds.
	ep = node(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"data":{"users":[`)
		w.(http.Flusher).Flush()
		for range 100 {
			io.WriteString(w, `{"walletPublicKey":"0xzz","clock":1},`)
		}
		io.WriteString(w, `{"walletPublicKey":"0xa","clock":1}]}}`)
	})
	_, err = c.BatchClockStatus(context.Background(), ep, []string{"0xa"})
	asError(t, err, BadResponse)
}

func TestBatchClockStatusBodyCutShort(t *testing.T) {
	// The node promises more bytes than it sends and drops the connection: a transport failure,
	// not a bad answer, so the caller may retry.
	ep := node(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		io.WriteString(w, `{"data":{"users":[`)
	})
	var c Client
	_, err := c.BatchClockStatus(context.Background(), ep, []string{"0xa"})
	e := asError(t, err, Network)
	if !errors.Is(err, io.ErrUnexpectedEOF) || e.Status != 200 {
		t.Errorf("err = %v, status %d; want unexpected EOF after a 200", err, e.Status)
	}
}

func TestBatchClockStatusRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "http://" + l.Addr().String()
	l.Close()
	var c Client
	_, err = c.BatchClockStatus(context.Background(), ep, []string{"0xa"})
	asError(t, err, Refused)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("err = %v, want it to wrap ECONNREFUSED", err)
	}
}

func TestBatchClockStatusTimeout(t *testing.T) {
	sleep := func(before bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			// The server notices a client hanging up only once the request body is consumed.
			io.Copy(io.Discard, r.Body)
			if !before {
				io.WriteString(w, `{"data":{"users":[`)
				w.(http.Flusher).Flush()
			}
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}
	}
	for _, tc := range []struct {
		name        string
		beforeHead  bool
		clientLimit bool
	}{
		{"context deadline before headers", true, false},
		{"context deadline reading body", false, false},
		{"http.Client timeout before headers", true, true},
		{"http.Client timeout reading body", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := node(t, sleep(tc.beforeHead))
			ctx := context.Background()
			c := Client{HTTP: &http.Client{}}
			if tc.clientLimit {
				c.HTTP.Timeout = 100 * time.Millisecond
			} else {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 100*time.Millisecond)
				defer cancel()
			}
			start := time.Now()
			_, err := c.BatchClockStatus(ctx, ep, []string{"0xa"})
			asError(t, err, Timeout)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v, want about 100ms", d)
			}
		})
	}
}

func TestBatchClockStatusCanceled(t *testing.T) {
	ep := node(t, clockNode(t, nil, nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var c Client
	_, err := c.BatchClockStatus(ctx, ep, []string{"0xa"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want it to wrap context.Canceled", err)
	}
}

func TestSignatureParams(t *testing.T) {
	signer, err := signing.NewSigner(7, "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2022, 10, 11, 0, 0, 1, 234_567_000, time.UTC)
	var calls atomic.Int32
	ep := node(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		q := r.URL.Query()
		if q.Get("spID") != "7" || q.Get("timestamp") != "2022-10-11T00:00:01.234Z" {
			t.Errorf("query %v, want spID 7 and timestamp 2022-10-11T00:00:01.234Z", q)
		}
		addr, err := signing.Recover(7, q.Get("timestamp"), q.Get("signature"))
		if err != nil || addr != signer.Address() {
			t.Errorf("Recover = %s, %v; want %s", addr, err, signer.Address())
		}
		if r.URL.Path == PathBatchClockStatus {
			clockNode(t, nil, nil)(w, r)
		} else {
			reply(200, `{"data":{"cids":[]}}`)(w, r)
		}
	})
	c := Client{Signer: signer, Now: func() time.Time { return now }}
	if _, err := c.BatchClockStatus(context.Background(), ep, []string{"0xa"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.BatchCIDsExist(context.Background(), ep, []string{"Qm1"}, false); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 {
		t.Errorf("%d calls, want 2", calls.Load())
	}

	// Error text never carries the query (signature) nor the endpoint's user info.
	sig := signer.Params(now).Get("signature")
	for _, ep := range []string{"http://user:secret@127.0.0.1:1", node(t, reply(500, `{"error":"x"}`))} {
		_, err := c.BatchClockStatus(context.Background(), ep, []string{"0xa"})
		if err == nil {
			t.Fatal("want an error")
		}
		if msg := err.Error(); strings.Contains(msg, sig[2:20]) || strings.Contains(msg, "signature") || strings.Contains(msg, "secret") {
			t.Errorf("error text %q leaks the query or credentials", msg)
		}
	}
}

// TestBadEndpoint: an endpoint that is not an http(s) URL with a host is refused before any
// request, as Blocked (policy.go's tests cover the address rules).
func TestBadEndpoint(t *testing.T) {
	var c Client
	for _, ep := range []string{"", "cn1.example", "ftp://cn1.example", "http://", "http://[::1"} {
		_, err := c.BatchClockStatus(context.Background(), ep, []string{"0xa"})
		var e *Error
		if !errors.As(err, &e) || e.Reason != Blocked {
			t.Errorf("endpoint %q: err = %v, want an *Error with reason Blocked", ep, err)
		}
	}
}

func TestBatchCIDsExist(t *testing.T) {
	var lastPath atomic.Value
	ep := node(t, func(w http.ResponseWriter, r *http.Request) {
		lastPath.Store(r.URL.Path)
		var req struct {
			CIDs []string `json:"cids"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Error(err)
		}
		var b strings.Builder
		b.WriteString(`{"data":{"cids":[{"cid":"QmStranger","exists":true}`)
		for i, cid := range req.CIDs {
			fmt.Fprintf(&b, `,{"cid":%q,"exists":%t}`, cid, i%2 == 0)
		}
		if len(req.CIDs) > 0 {
			fmt.Fprintf(&b, `,{"cid":%q,"exists":false}`, req.CIDs[0]) // a duplicate: first wins
		}
		b.WriteString(`]}}`)
		reply(200, b.String())(w, r)
	})
	var c Client
	for _, image := range []bool{false, true} {
		got, err := c.BatchCIDsExist(context.Background(), ep, []string{"QmA", "QmB", "qma"}, image)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]bool{"QmA": true, "QmB": false, "qma": true}, got); diff != "" {
			t.Errorf("image=%t (-want +got):\n%s", image, diff)
		}
		want := map[bool]string{false: PathBatchCIDsExist, true: PathBatchImageCIDsExist}[image]
		if p := lastPath.Load(); p != want {
			t.Errorf("image=%t: path %v, want %s", image, p, want)
		}
	}

	lastPath.Store("")
	if _, err := c.BatchCIDsExist(context.Background(), ep, make([]string, MaxCIDs+1), false); err == nil {
		t.Error("501 cids: want an error")
	}
	if p := lastPath.Load(); p != "" {
		t.Errorf("501 cids made a call to %v", p)
	}
}

func TestBatchCIDsExistBadResponse(t *testing.T) {
	cids := func(s string) string { return `{"data":{"cids":[` + s + `]}}` }
	for name, body := range map[string]string{
		"garbage":        `nope`,
		"no cids":        `{"data":{}}`,
		"element bool":   cids(`true`),
		"cid number":     cids(`{"cid":1,"exists":true}`),
		"no exists":      cids(`{"cid":"QmA"}`),
		"exists string":  cids(`{"cid":"QmA","exists":"true"}`),
		"exists null":    cids(`{"cid":"QmA","exists":null}`),
		"exists number":  cids(`{"cid":"QmA","exists":1}`),
		"truncated json": `{"data":{"cids":[{"cid":"QmA","exists":true}`,
	} {
		t.Run(name, func(t *testing.T) {
			ep := node(t, reply(200, body))
			var c Client
			_, err := c.BatchCIDsExist(context.Background(), ep, []string{"QmA"}, false)
			asError(t, err, BadResponse)
		})
	}
}

func TestReasonOutcome(t *testing.T) {
	for r, want := range map[Reason]netmonv1.Outcome{
		Timeout:     netmonv1.Outcome_OUTCOME_TIMEOUT,
		Refused:     netmonv1.Outcome_OUTCOME_REFUSED,
		Network:     netmonv1.Outcome_OUTCOME_NETWORK_ERROR,
		HTTPStatus:  netmonv1.Outcome_OUTCOME_HTTP_ERROR,
		BadResponse: netmonv1.Outcome_OUTCOME_BAD_RESPONSE,
		Reason(0):   netmonv1.Outcome_OUTCOME_UNSPECIFIED,
	} {
		if got := r.Outcome(); got != want {
			t.Errorf("%s.Outcome() = %v, want %v", r, got, want)
		}
	}
}
