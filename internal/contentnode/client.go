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
	"sync"
	"time"
	"unicode/utf8"

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

	// guarded is the policy-enforcing HTTP client used when HTTP is nil, built on the first call
	// so that every call of this Client reuses its connections. Policy must not change after.
	guardedOnce sync.Once
	guarded     *http.Client
}

// NoAnswer is the clock of a requested wallet a node's answer left out: the value the fetcher
// stores for "no answer" (spec §6). A node's own clocks are >= -1.
const NoAnswer int64 = -2

// ClockAnswer is a node's valid answer to batch_clock_status.
type ClockAnswer struct {
	// Clocks is parallel to the requested wallets: the node's clock for each (>= 0, or -1 for a
	// wallet it does not know), matched by lower-cased wallet, never by position; NoAnswer for a
	// wallet the node left out. Requested wallets equal once lower-cased share one answer.
	Clocks []int64
	// Missing counts the NoAnswer entries of Clocks.
	Missing int
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
	var ans ClockAnswer
	status, err := c.post(ctx, endpoint, PathBatchClockStatus, listBody("walletPublicKeys", wallets),
		func(body []byte) error {
			var err error
			ans, err = decodeClocks(body, wallets)
			return err
		})
	if err != nil {
		return ClockAnswer{}, err
	}
	ans.HTTPStatus = status
	return ans, nil
}

// decodeClocks decodes a batch_clock_status body strictly and matches it to the requested wallets
// (see ClockAnswer). Any problem fails the whole answer. The common form of an answer is read in
// one pass without allocating (clockMatch.scan); any other body is decoded with encoding/json
// (clockMatch.decodeJSON), whose answer or error stands.
func decodeClocks(body []byte, wallets []string) (ClockAnswer, error) {
	m := newClockMatch(wallets)
	defer m.release()
	if m.scan(body) {
		return m.answer(), nil
	}
	m.reset()
	return m.decodeJSON(body)
}

// clockMatch matches a node's entries to the requested wallets by lower-cased wallet.
type clockMatch struct {
	first       map[string]int // lower-cased wallet -> the first position holding it
	clocks      []int64        // parallel to the wallets; NoAnswer until answered
	aliases     [][2]int       // (position, first position) of wallets lower-casing to an earlier one
	unrequested int
	duplicates  int
}

// release hands m's index to the next call; m is not to be used after.
func (m *clockMatch) release() {
	clear(m.first)
	select {
	case freeIndexes <- m.first:
	default:
	}
}

func newClockMatch(wallets []string) *clockMatch {
	var first map[string]int
	select {
	case first = <-freeIndexes:
	default:
		first = make(map[string]int, len(wallets))
	}
	m := &clockMatch{first: first, clocks: make([]int64, len(wallets))}
	for i, w := range wallets {
		k := lowerWallet(w)
		if j, dup := m.first[k]; dup {
			m.aliases = append(m.aliases, [2]int{i, j})
		} else {
			m.first[k] = i
		}
		m.clocks[i] = NoAnswer
	}
	return m
}

// lowerWallet is strings.ToLower(w), and w itself when that is already lower-case ASCII, as the
// planner sends wallets (store.WalletKey). strings.ToLower checks that too, but its check costs
// a branch per byte that mispredicts on hex digits: on 5000 lower-case wallets it takes about 8
// times as long as this loop.
func lowerWallet(w string) string {
	for i := 0; i < len(w); i++ {
		if c := w[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			return strings.ToLower(w)
		}
	}
	return w
}

// add takes the entry of position i (ok: a requested wallet) with clock.
func (m *clockMatch) add(i int, ok bool, clock int64) {
	switch {
	case !ok:
		m.unrequested++
	case m.clocks[i] != NoAnswer:
		m.duplicates++
	default:
		m.clocks[i] = clock
	}
}

func (m *clockMatch) reset() {
	for i := range m.clocks {
		m.clocks[i] = NoAnswer
	}
	m.unrequested, m.duplicates = 0, 0
}

func (m *clockMatch) answer() ClockAnswer {
	for _, a := range m.aliases {
		m.clocks[a[0]] = m.clocks[a[1]]
	}
	ans := ClockAnswer{Clocks: m.clocks, Unrequested: m.unrequested, Duplicates: m.duplicates}
	for _, c := range m.clocks {
		if c == NoAnswer {
			ans.Missing++
		}
	}
	return ans
}

// scan matches a body of the common form (see scanner) and reports whether it was one; when it
// was not, what it matched so far is to be reset.
func (m *clockMatch) scan(body []byte) bool {
	s := newScanner(body)
	var buf [64]byte
	s.envelope("users", func() {
		var wallet []byte
		var upper, seenWallet, seenClock bool
		var clock int64
		s.object(func(key []byte) {
			switch {
			case s.field(key, "walletPublicKey", &seenWallet):
				wallet, upper = s.str()
			case s.field(key, "clock", &seenClock):
				clock = s.integer()
			default:
				s.skip()
			}
		})
		if !s.ok || !seenWallet || !seenClock {
			s.ok = false
			return
		}
		if upper {
			wallet = lowerASCII(buf[:], wallet)
		}
		i, ok := m.first[string(wallet)]
		m.add(i, ok, clock)
	})
	return s.ok
}

// decodeJSON is decodeClocks for any body, with encoding/json.
func (m *clockMatch) decodeJSON(body []byte) (ClockAnswer, error) {
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
	for i, u := range *resp.Data.Users {
		if u.WalletPublicKey == nil {
			return bad("data.users[%d]: no string walletPublicKey", i)
		}
		clock, err := parseClock(u.Clock)
		if err != nil {
			return bad("data.users[%d]: %v", i, err)
		}
		pos, ok := m.first[lowerWallet(*u.WalletPublicKey)]
		m.add(pos, ok, clock)
	}
	return m.answer(), nil
}

// parseClock accepts an integer JSON number >= -1 and nothing else: no strings, no null, no
// fractions or exponents.
func parseClock(raw json.RawMessage) (int64, error) {
	s := string(raw)
	if s == "" || s == "null" {
		return 0, errors.New("no clock")
	}
	if s[0] != '-' && (s[0] < '0' || s[0] > '9') {
		return 0, fmt.Errorf("clock %s is not a number", Excerpt(raw))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("clock %s is not an integer", Excerpt(raw))
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
	path := PathBatchCIDsExist
	if image {
		path = PathBatchImageCIDsExist
	}
	var out map[string]bool
	_, err := c.post(ctx, endpoint, path, listBody("cids", cids), func(body []byte) error {
		var err error
		out, err = decodeCIDs(body, cids)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// decodeCIDs decodes a batch_cids_exist body strictly and keeps the requested CIDs' answers (the
// first of duplicates). Any problem fails the whole answer. Like decodeClocks, it reads the common
// form with the scanner and leaves the rest to encoding/json.
func decodeCIDs(body []byte, cids []string) (map[string]bool, error) {
	requested := make(map[string]string, len(cids)) // the CID -> the requested string itself
	for _, cid := range cids {
		requested[cid] = cid
	}
	if out, ok := scanCIDs(body, requested, len(cids)); ok {
		return out, nil
	}
	return decodeCIDsJSON(body, requested, len(cids))
}

// decodeCIDsJSON is decodeCIDs for any body, with encoding/json.
func decodeCIDsJSON(body []byte, requested map[string]string, n int) (map[string]bool, error) {
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
	out := make(map[string]bool, n)
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

// scanCIDs is decodeCIDs for a body of the common form (see scanner); ok false for any other.
// The answer's keys are the requested strings, so nothing points into body.
func scanCIDs(body []byte, requested map[string]string, n int) (map[string]bool, bool) {
	out := make(map[string]bool, n)
	s := newScanner(body)
	s.envelope("cids", func() {
		var cid []byte
		var exists, seenCID, seenExists bool
		s.object(func(key []byte) {
			switch {
			case s.field(key, "cid", &seenCID):
				cid, _ = s.str()
			case s.field(key, "exists", &seenExists):
				exists = s.boolean()
			default:
				s.skip()
			}
		})
		if !s.ok || !seenCID || !seenExists {
			s.ok = false
			return
		}
		if c, ok := requested[string(cid)]; ok {
			if _, seen := out[c]; !seen {
				out[c] = exists
			}
		}
	})
	if !s.ok {
		return nil, false
	}
	return out, true
}

// listBody is the JSON request {"<name>": list}, byte for byte what json.Marshal makes of it (nil
// is sent as [], the node wants an array), written directly for the strings json.Marshal would
// copy unchanged.
func listBody(name string, list []string) []byte {
	n := len(name) + 8
	for _, s := range list {
		n += len(s) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, `{"`...)
	b = append(b, name...)
	b = append(b, `":[`...)
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		if !plainJSON(s) {
			q, _ := json.Marshal(s) // a string always marshals
			b = append(b, q...)
			continue
		}
		b = append(b, '"')
		b = append(b, s...)
		b = append(b, '"')
	}
	return append(b, "]}"...)
}

// plainJSON says whether json.Marshal writes s between quotes unchanged: printable ASCII other
// than the quote, the backslash and the characters it escapes for HTML.
func plainJSON(s string) bool {
	var escaped byte // an OR over a table, not a branch per byte: wallets are random hex
	for i := 0; i < len(s); i++ {
		escaped |= jsonEscaped[s[i]]
	}
	return escaped == 0
}

var jsonEscaped = func() (t [256]byte) {
	for c := range t {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			t[c] = 1
		}
	}
	return t
}()

// Answer buffers and clockMatch indexes are reused across calls, from free lists of at most
// freeListLen each (the fetcher's default items in flight). A free list, unlike a sync.Pool,
// survives garbage collections, which at the fetcher's allocation rate would empty a pool every
// few calls. A buffer goes back only after its answer is decoded, and nothing decoded points into
// it; an index goes back cleared.
var (
	freeBodies  = make(chan []byte, freeListLen)
	freeIndexes = make(chan map[string]int, freeListLen)
)

const (
	freeListLen = 16
	// maxFreeBody is the largest buffer kept (a full clock answer is about 300 KB), so the list
	// holds at most 16 MiB.
	maxFreeBody = 1 << 20
)

// post sends one JSON POST and hands the body of a 2xx answer, capped at MaxBody, to decode; a
// decode error is a BadResponse. body is only valid during decode.
func (c *Client) post(ctx context.Context, endpoint, path string, reqBody []byte, decode func(body []byte) error) (int, error) {
	target := redact(endpoint, path)
	if err := c.CheckEndpoint(endpoint); err != nil {
		return 0, &Error{Reason: Blocked, Err: fmt.Errorf("POST %s: %w", target, err)}
	}
	u, err := url.Parse(strings.TrimRight(endpoint, "/") + path)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return 0, fmt.Errorf("POST %s: endpoint is not an http(s) URL", target)
	}
	if c.Signer != nil {
		q := u.Query()
		for k, v := range c.Signer.Params(c.now()) {
			q[k] = v
		}
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(reqBody))
	if err != nil {
		return 0, fmt.Errorf("POST %s: %w", target, err)
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
		return 0, &Error{Reason: Classify(err), Err: fmt.Errorf("POST %s: %w", target, err)}
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Reason: HTTPStatus, Status: resp.StatusCode}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), c.now())
		}
		head, _ := io.ReadAll(io.LimitReader(resp.Body, 4*excerptLen))
		e.Err = fmt.Errorf("POST %s: HTTP %d: %s", target, resp.StatusCode, Excerpt(head))
		return resp.StatusCode, e
	}

	limit := c.maxBody()
	var buf []byte
	select {
	case buf = <-freeBodies:
	default:
	}
	body, err := readBody(resp.Body, limit, resp.ContentLength, buf)
	defer func() {
		if cap(body) <= maxFreeBody {
			select {
			case freeBodies <- body[:0]:
			default:
			}
		}
	}()
	if err != nil {
		// The node answered but the body did not arrive whole: a transport problem, worth a retry.
		return resp.StatusCode, &Error{Reason: Classify(err), Status: resp.StatusCode,
			Err: fmt.Errorf("POST %s: read body: %w", target, err)}
	}
	if int64(len(body)) > limit {
		return resp.StatusCode, &Error{Reason: BadResponse, Status: resp.StatusCode,
			Err: fmt.Errorf("POST %s: body larger than %d bytes", target, limit)}
	}
	if err := decode(body); err != nil {
		return resp.StatusCode, &Error{Reason: BadResponse, Status: resp.StatusCode,
			Err: fmt.Errorf("POST %s: %w", target, err)}
	}
	return resp.StatusCode, nil
}

// readBody is io.ReadAll(io.LimitReader(r, limit+1)) into buf, sized at once when the length is
// announced (a wrong announcement only costs a regrowth; the limit still holds).
func readBody(r io.Reader, limit, announced int64, buf []byte) ([]byte, error) {
	b := buf[:0]
	if announced >= 0 && announced <= limit && int(announced)+1 > cap(b) {
		b = make([]byte, 0, announced+1) // +1: the last read sees EOF without growing the buffer
	}
	r = io.LimitReader(r, limit+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
	}
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
	c.guardedOnce.Do(func() { c.guarded = NewHTTPClient(c.Policy) })
	return c.guarded
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
		return strconv.Quote(Excerpt([]byte(s)))
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

// Excerpt is a short (at most 200 bytes), printable prefix of a body for error text.
func Excerpt(b []byte) string {
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
