package contentnode

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPolicyCheckEndpoint(t *testing.T) {
	open := Policy{}
	strict := Policy{BlockPrivate: true}
	allow := Policy{BlockPrivate: true, Allow: []netip.Prefix{
		netip.MustParsePrefix("10.8.0.0/16"), netip.MustParsePrefix("169.254.10.0/24")}}
	for _, c := range []struct {
		endpoint string
		policy   Policy
		ok       bool
	}{
		{"https://cn1.audius.co", strict, true},
		{"http://203.0.113.7:4000", strict, true},
		{"http://[2001:db8::1]:4000", strict, true},
		{"http://127.0.0.1:4000", open, true},
		{"http://localhost:4000", open, true},
		{"http://10.1.2.3", open, true},
		// Cloud metadata and link-local: refused whatever the policy.
		{"http://169.254.169.254/latest/meta-data", open, false},
		{"http://169.254.169.254:80", strict, false},
		{"http://[::ffff:169.254.169.254]", open, false},
		{"http://[fe80::1%25eth0]:4000", open, false},
		{"http://[::aaa:100%25000000000]", open, false}, // a zone names a local interface, whatever the address
		{"http://[fd00:ec2::254]", open, false},
		{"http://100.100.100.200", open, false},
		{"http://[64:ff9b::a9fe:a9fe]", open, false}, // NAT64 of 169.254.169.254
		{"http://0.0.0.0:4000", open, false},
		{"http://[::]:4000", open, false},
		{"http://224.0.0.1", open, false},
		{"http://255.255.255.255", open, false},
		// Private networks: refused only when asked.
		{"http://127.0.0.1:4000", strict, false},
		{"http://[::1]:4000", strict, false},
		{"http://10.1.2.3", strict, false},
		{"http://172.16.0.1", strict, false},
		{"http://192.168.0.10", strict, false},
		{"http://100.64.0.1", strict, false},
		{"http://[fd12:3456::1]", strict, false},
		// Allowed networks win.
		{"http://10.8.4.4", allow, true},
		{"http://169.254.10.20", allow, true},
		{"http://10.9.4.4", allow, false},
		{"http://169.254.169.254", allow, false},
		// Not an http(s) URL with a host, or one with user info.
		{"", open, false},
		{"cn1.example", open, false},
		{"ftp://cn1.example", open, false},
		{"file:///etc/passwd", open, false},
		{"gopher://127.0.0.1:25", open, false},
		{"http://", open, false},
		{"http:cn1.example", open, false},
		{"http://user:pass@cn1.example", open, false},
		{"http://cn1.example@169.254.169.254", open, false},
		{"http://[::1", open, false},
	} {
		err := c.policy.CheckEndpoint(c.endpoint)
		if (err == nil) != c.ok {
			t.Errorf("%+v CheckEndpoint(%q) = %v, want ok=%v", c.policy, c.endpoint, err, c.ok)
		}
		var be *BlockedError
		if err != nil && !errors.As(err, &be) {
			t.Errorf("CheckEndpoint(%q) = %T, want *BlockedError", c.endpoint, err)
		}
	}
}

// TestPolicyResolvedAddress: a host name is checked on the address it resolves to when dialled;
// "localhost" is loopback, refused under BlockPrivate, and no request reaches the node.
func TestPolicyResolvedAddress(t *testing.T) {
	var hits atomic.Int32
	ep := node(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		reply(200, `{"data":{"users":[]}}`)(w, r)
	})
	byName := strings.Replace(ep, "127.0.0.1", "localhost", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	strict := &Client{Policy: Policy{BlockPrivate: true}}
	if err := strict.CheckEndpoint(byName); err != nil {
		t.Fatalf("a host name passes the URL check (it is checked when dialled): %v", err)
	}
	_, err := strict.BatchClockStatus(ctx, byName, []string{"0xa"})
	var e *Error
	if !errors.As(err, &e) || e.Reason != Blocked {
		t.Fatalf("localhost under BlockPrivate: err = %v, want reason Blocked", err)
	}
	if e.Reason.Outcome().String() != "OUTCOME_SKIPPED_NO_ENDPOINT" {
		t.Errorf("Blocked maps to %v", e.Reason.Outcome())
	}
	if hits.Load() != 0 {
		t.Fatalf("the node got %d requests", hits.Load())
	}
	// Allowed explicitly, the same call goes through.
	allowed := &Client{Policy: Policy{BlockPrivate: true, Allow: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}}
	if _, err := allowed.BatchClockStatus(ctx, byName, []string{"0xa"}); err != nil {
		t.Fatalf("allowed loopback: %v", err)
	}
	if hits.Load() != 1 {
		t.Errorf("the node got %d requests, want 1", hits.Load())
	}
}

// TestPolicyRedirect: a node that redirects to a metadata address (or to anything refused) gets
// no second request made; the call fails as Blocked.
func TestPolicyRedirect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, target := range []string{
		"http://169.254.169.254/latest/meta-data/iam/security-credentials/",
		"http://[::ffff:a9fe:a9fe]/",
		"file:///etc/passwd",
	} {
		ep := node(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target, http.StatusTemporaryRedirect)
		})
		_, err := (&Client{}).BatchClockStatus(ctx, ep, []string{"0xa"})
		var e *Error
		if !errors.As(err, &e) || e.Reason != Blocked {
			t.Errorf("redirect to %s: err = %v, want reason Blocked", target, err)
		}
	}
	// Redirect loops stop.
	var hops atomic.Int32
	var ep string
	ep = node(t, func(w http.ResponseWriter, r *http.Request) {
		hops.Add(1)
		http.Redirect(w, r, ep+PathBatchClockStatus, http.StatusTemporaryRedirect)
	})
	if _, err := (&Client{}).BatchClockStatus(ctx, ep, []string{"0xa"}); err == nil {
		t.Error("a redirect loop succeeded")
	}
	if n := hops.Load(); n > maxRedirects+1 {
		t.Errorf("%d requests for a redirect loop, want at most %d", n, maxRedirects+1)
	}
}
