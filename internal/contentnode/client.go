// Package contentnode is an HTTP client for the content-node routes network monitoring calls
// (spec §5.2, §5.4). It consumes an endpoint and a batch of wallets or CIDs and produces the node's
// answer matched back by wallet or CID, or an *Error that classifies the failure (timeout, refused,
// network, HTTP status, bad response). It makes exactly one request per call: retry policy,
// timeouts per attempt and circuit breaking belong to the caller (the fetcher stage).
//
// Answers are decoded strictly: a body over MaxBody, bad JSON, the wrong shape, or a value of the
// wrong type fails the whole call with BadResponse rather than being half used.
package contentnode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/audius-netmon/netmon/internal/signing"
)

// Limits of the content-node API.
const (
	// MaxWallets is the content node's maxBatchClockStatusBatchSize; the node answers 400 beyond it.
	MaxWallets = 5000
	// MaxCIDs is the content node's BATCH_CID_ROUTE_LIMIT; BatchCIDsExist refuses more.
	MaxCIDs = 500
	// DefaultMaxBody caps a response body when Client.MaxBody is 0.
	DefaultMaxBody = 8 << 20
)

// Route paths, relative to a node's endpoint.
const (
	PathBatchClockStatus    = "/users/batch_clock_status"
	PathBatchCIDsExist      = "/batch_cids_exist"
	PathBatchImageCIDsExist = "/batch_image_cids_exist"
)

// excerptLen bounds how much of a non-2xx body goes into an error.
const excerptLen = 200

// Client calls content nodes. The zero value works: the zero Policy, an HTTP client enforcing it,
// no signature, an 8 MiB body cap and time.Now. It is safe for concurrent use.
type Client struct {
	// Policy says which addresses endpoints may reach (SSRF protection). It is checked on the
	// endpoint before every call and, when HTTP is nil, on every address dialled and redirect.
	Policy Policy
	// HTTP, when set, replaces the policy-enforcing client (NewHTTPClient(Policy) builds one).
	HTTP *http.Client
	// Signer adds the spID, timestamp and signature query parameters (spec §5.3); nil adds none.
	// Each call signs afresh; the node does not check the age (spec §12 item 21).
	Signer *signing.Signer
	// MaxBody caps a response body in bytes; 0 means DefaultMaxBody.
	MaxBody int64
	// Now stamps the signature; nil means time.Now.
	Now func() time.Time
}

// Clock is one wallet's clock as a node reports it.
type Clock struct {
	Wallet string
	Clock  int64
}

// ClockAnswer is a node's valid answer to batch_clock_status.
type ClockAnswer struct {
	// Clocks holds the node's clock (>= 0, or -1 for a wallet it does not know) keyed by
	// lower-cased wallet, only for requested wallets. A requested wallet the node left out is absent.
	Clocks map[string]int64
	// Unrequested counts entries for wallets that were not requested (ignored).
	Unrequested int
	// Duplicates counts repeated entries for a wallet (the first one wins).
	Duplicates int
	// HTTPStatus is the node's 2xx status.
	HTTPStatus int
}

// BatchClockStatus POSTs {"walletPublicKeys": wallets} to endpoint+"/users/batch_clock_status".
// Wallets are sent as given (the node matches them case-sensitively) and matched back by lower-cased
// wallet, never by position. Every failure after the request is built is an *Error.
func (c *Client) BatchClockStatus(ctx context.Context, endpoint string, wallets []string) (ClockAnswer, error) {
	if wallets == nil {
		wallets = []string{} // the node wants an array, not null
	}
	body, status, err := c.post(ctx, endpoint, PathBatchClockStatus, struct {
		WalletPublicKeys []string `json:"walletPublicKeys"`
	}{wallets})
	if err != nil {
		return ClockAnswer{}, err
	}
	ans, err := decodeClocks(body, wallets)
	if err != nil {
		return ClockAnswer{}, &Error{Reason: BadResponse, Status: status,
			Err: fmt.Errorf("POST %s: %w", redact(endpoint, PathBatchClockStatus), err)}
	}
	ans.HTTPStatus = status
	return ans, nil
}

// decodeClocks decodes a batch_clock_status body strictly and matches it to the requested wallets
// (see ClockAnswer). Any problem fails the whole answer.
func decodeClocks(body []byte, wallets []string) (ClockAnswer, error) {
	var resp struct {
		Data *struct {
			Users *[]struct {
				WalletPublicKey *string         `json:"walletPublicKey"`
				Clock           json.RawMessage `json:"clock"`
			} `json:"users"`
		} `json:"data"`
	}
	bad := func(format string, args ...any) (ClockAnswer, error) {
		return ClockAnswer{}, fmt.Errorf(format, args...)
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return bad("decode: %v", err)
	}
	if resp.Data == nil || resp.Data.Users == nil {
		return bad("no data.users array")
	}
	requested := make(map[string]struct{}, len(wallets))
	for _, w := range wallets {
		requested[strings.ToLower(w)] = struct{}{}
	}
	ans := ClockAnswer{Clocks: make(map[string]int64, len(wallets))}
	for i, u := range *resp.Data.Users {
		if u.WalletPublicKey == nil {
			return bad("data.users[%d]: no string walletPublicKey", i)
		}
		clock, err := parseClock(u.Clock)
		if err != nil {
			return bad("data.users[%d]: %v", i, err)
		}
		w := strings.ToLower(*u.WalletPublicKey)
		if _, ok := requested[w]; !ok {
			ans.Unrequested++
			continue
		}
		if _, seen := ans.Clocks[w]; seen {
			ans.Duplicates++
			continue
		}
		ans.Clocks[w] = clock
	}
	return ans, nil
}

// parseClock accepts an integer JSON number >= -1 and nothing else: no strings, no null, no
// fractions or exponents.
func parseClock(raw json.RawMessage) (int64, error) {
	s := string(raw)
	if s == "" || s == "null" {
		return 0, errors.New("no clock")
	}
	if s[0] != '-' && (s[0] < '0' || s[0] > '9') {
		return 0, fmt.Errorf("clock %s is not a number", excerpt(raw))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("clock %s is not an integer", excerpt(raw))
	}
	if n < -1 {
		return 0, fmt.Errorf("clock %d is below -1", n)
	}
	return n, nil
}

// BatchCIDsExist POSTs {"cids": cids} to /batch_cids_exist, or to /batch_image_cids_exist when
// image is set, and returns exists per requested CID the node listed (CIDs are case-sensitive;
// unrequested entries are ignored, the first of duplicates wins). At most MaxCIDs per call.
func (c *Client) BatchCIDsExist(ctx context.Context, endpoint string, cids []string, image bool) (map[string]bool, error) {
	if len(cids) > MaxCIDs {
		return nil, fmt.Errorf("batch cids exist: %d cids, the node takes at most %d", len(cids), MaxCIDs)
	}
	if cids == nil {
		cids = []string{}
	}
	path := PathBatchCIDsExist
	if image {
		path = PathBatchImageCIDsExist
	}
	body, status, err := c.post(ctx, endpoint, path, struct {
		CIDs []string `json:"cids"`
	}{cids})
	if err != nil {
		return nil, err
	}
	out, err := decodeCIDs(body, cids)
	if err != nil {
		return nil, &Error{Reason: BadResponse, Status: status, Err: fmt.Errorf("POST %s: %w", redact(endpoint, path), err)}
	}
	return out, nil
}

// decodeCIDs decodes a batch_cids_exist body strictly and keeps the requested CIDs' answers (the
// first of duplicates). Any problem fails the whole answer.
func decodeCIDs(body []byte, cids []string) (map[string]bool, error) {
	var resp struct {
		Data *struct {
			CIDs *[]struct {
				CID    *string `json:"cid"`
				Exists *bool   `json:"exists"`
			} `json:"cids"`
		} `json:"data"`
	}
	bad := func(format string, args ...any) (map[string]bool, error) {
		return nil, fmt.Errorf(format, args...)
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return bad("decode: %v", err)
	}
	if resp.Data == nil || resp.Data.CIDs == nil {
		return bad("no data.cids array")
	}
	requested := make(map[string]struct{}, len(cids))
	for _, cid := range cids {
		requested[cid] = struct{}{}
	}
	out := make(map[string]bool, len(cids))
	for i, e := range *resp.Data.CIDs {
		if e.CID == nil {
			return bad("data.cids[%d]: no string cid", i)
		}
		if e.Exists == nil {
			return bad("data.cids[%d]: no boolean exists", i)
		}
		if _, ok := requested[*e.CID]; !ok {
			continue
		}
		if _, seen := out[*e.CID]; !seen {
			out[*e.CID] = *e.Exists
		}
	}
	return out, nil
}

// post sends one JSON POST and returns the body of a 2xx answer, capped at MaxBody.
func (c *Client) post(ctx context.Context, endpoint, path string, payload any) ([]byte, int, error) {
	target := redact(endpoint, path)
	if err := c.CheckEndpoint(endpoint); err != nil {
		return nil, 0, &Error{Reason: Blocked, Err: fmt.Errorf("POST %s: %w", target, err)}
	}
	u, err := url.Parse(strings.TrimRight(endpoint, "/") + path)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, 0, fmt.Errorf("POST %s: endpoint is not an http(s) URL", target)
	}
	if c.Signer != nil {
		q := u.Query()
		for k, v := range c.Signer.Params(c.now()) {
			q[k] = v
		}
		u.RawQuery = q.Encode()
	}
	reqBody, err := json.Marshal(payload)
	if err != nil {
		return nil, 0, fmt.Errorf("POST %s: encode: %w", target, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(reqBody))
	if err != nil {
		return nil, 0, fmt.Errorf("POST %s: %w", target, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	resp, err := c.httpClient().Do(req)
	if err != nil {
		// Unwrap *url.Error: its text holds the full URL, query and signature included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, 0, &Error{Reason: classify(err), Err: fmt.Errorf("POST %s: %w", target, err)}
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Reason: HTTPStatus, Status: resp.StatusCode}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), c.now())
		}
		head, _ := io.ReadAll(io.LimitReader(resp.Body, 4*excerptLen))
		e.Err = fmt.Errorf("POST %s: HTTP %d: %s", target, resp.StatusCode, excerpt(head))
		return nil, resp.StatusCode, e
	}

	limit := c.maxBody()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		// The node answered but the body did not arrive whole: a transport problem, worth a retry.
		return nil, resp.StatusCode, &Error{Reason: classify(err), Status: resp.StatusCode,
			Err: fmt.Errorf("POST %s: read body: %w", target, err)}
	}
	if int64(len(body)) > limit {
		return nil, resp.StatusCode, &Error{Reason: BadResponse, Status: resp.StatusCode,
			Err: fmt.Errorf("POST %s: body larger than %d bytes", target, limit)}
	}
	return body, resp.StatusCode, nil
}

// CheckEndpoint says whether endpoint may be called under the client's Policy: nil, or a
// *BlockedError saying why not. Host names are checked again, resolved, when dialled.
func (c *Client) CheckEndpoint(endpoint string) error {
	return c.Policy.CheckEndpoint(endpoint)
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return sharedClient(c.Policy)
}

func (c *Client) maxBody() int64 {
	if c.MaxBody > 0 {
		return c.MaxBody
	}
	return DefaultMaxBody
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// redact is endpoint+path without any query or user info, for error text.
func redact(endpoint, path string) string {
	s := strings.TrimRight(endpoint, "/") + path
	u, err := url.Parse(s)
	if err != nil {
		return strconv.Quote(excerpt([]byte(s)))
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date. 0 if absent or invalid.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(h, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// excerpt is a short, printable prefix of b for error text.
func excerpt(b []byte) string {
	s := string(b)
	cut := len(s) > excerptLen
	if cut {
		s = s[:excerptLen]
	}
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.TrimSpace(s))
	if cut {
		s += "…"
	}
	return s
}
