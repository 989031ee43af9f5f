package simnet

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The real content node's limits (spec §5.2, §5.4).
const (
	// MaxWallets is the most distinct wallets batch_clock_status accepts.
	MaxWallets = 5000
	// MaxCIDs is the most CIDs batch_cids_exist and batch_image_cids_exist accept.
	MaxCIDs = 500
	// maxBody is express's JSON body limit.
	maxBody = 1 << 20
	// Defaults of the real node's batch_clock_status rate limit.
	defaultRateRequests = 100
	defaultRateWindow   = 60 * time.Second
	defaultOversized    = 64 << 20
)

const readOnlyMessage = "Server is in read-only mode at the moment"

// Stats counts what a fake node has seen.
type Stats struct {
	Requests      int64 `json:"requests"`       // every HTTP request, whatever the route
	ClockRequests int64 `json:"clock_requests"` // POST /users/batch_clock_status
	CIDRequests   int64 `json:"cid_requests"`   // POST /batch_cids_exist and /batch_image_cids_exist
	Served        int64 `json:"served"`         // 200 answers with a (possibly faulty) body
	BadRequests   int64 `json:"bad_requests"`   // 400 and 413
	Failed        int64 `json:"failed"`         // 500 answers (read-only, fail_first)
	RateLimited   int64 `json:"rate_limited"`   // 429 answers
	Unsigned      int64 `json:"unsigned"`       // requests without the three signature parameters
	Verified      int64 `json:"verified"`       // signature recovered to the expected delegate
	BadSignature  int64 `json:"bad_signature"`  // signature present but not verified
}

type nodeStats struct {
	requests, clockRequests, cidRequests, served, badRequests, failed, rateLimited atomic.Int64
	unsigned, verified, badSignature                                               atomic.Int64
}

func (s *nodeStats) snapshot() Stats {
	return Stats{
		Requests: s.requests.Load(), ClockRequests: s.clockRequests.Load(), CIDRequests: s.cidRequests.Load(),
		Served: s.served.Load(), BadRequests: s.badRequests.Load(), Failed: s.failed.Load(),
		RateLimited: s.rateLimited.Load(), Unsigned: s.unsigned.Load(), Verified: s.verified.Load(),
		BadSignature: s.badSignature.Load(),
	}
}

// fakeNode is one content node: its HTTP server and its fault state.
type fakeNode struct {
	net      *Network
	idx      int
	sp       int32
	spec     NodeSpec
	opts     Options
	endpoint string
	signer   string // the node's delegate wallet, put in every answer's envelope

	ln      net.Listener
	srv     *http.Server
	refuser *refuser
	stop    chan struct{}
	stats   nodeStats

	mu      sync.Mutex
	seen    map[[32]byte]int // fail_first: attempts per request body
	windows map[string]*window
	rng     *rand.Rand
	calls   uint64
}

type window struct {
	start time.Time
	count int
}

func newFakeNode(n *Network, i int, opts Options) *fakeNode {
	sp := n.nodes[i].spec.SPID
	return &fakeNode{
		net: n, idx: i, sp: int32(sp), spec: n.nodes[i].spec, opts: opts,
		signer:  delegateWallet(n.seed, sp),
		stop:    make(chan struct{}),
		seen:    map[[32]byte]int{},
		windows: map[string]*window{},
		rng:     rand.New(rand.NewPCG(uint64(n.seed), uint64(sp))),
	}
}

func (fn *fakeNode) listen() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fn.ln = ln
	fn.endpoint = "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("/users/batch_clock_status", fn.batchClockStatus)
	mux.HandleFunc("/batch_cids_exist", func(w http.ResponseWriter, r *http.Request) { fn.batchCIDs(w, r, false) })
	mux.HandleFunc("/batch_image_cids_exist", func(w http.ResponseWriter, r *http.Request) { fn.batchCIDs(w, r, true) })
	mux.HandleFunc("/health_check", fn.healthCheck)
	fn.srv = &http.Server{
		Handler:           fn.count(mux),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          nil,
	}
	return nil
}

func (fn *fakeNode) close() {
	close(fn.stop)
	if fn.srv != nil {
		_ = fn.srv.Close()
	}
	if fn.refuser != nil {
		fn.refuser.close()
	}
}

func (fn *fakeNode) count(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fn.stats.requests.Add(1)
		h.ServeHTTP(w, r)
	})
}

func (fn *fakeNode) healthCheck(w http.ResponseWriter, r *http.Request) {
	fn.writeEnvelope(w, map[string]any{"healthy": true, "spID": fn.sp, "creatorNodeEndpoint": fn.endpoint})
}

// common applies what every POST route shares, in the real node's order of middleware: signature
// check (stats only), hang, latency, read-only mode. It reports whether the handler should go on.
func (fn *fakeNode) common(w http.ResponseWriter, r *http.Request) bool {
	fn.checkSignature(r)
	if r.Method != http.MethodPost {
		writeError(w, http.StatusNotFound, "Cannot "+r.Method+" "+r.URL.Path)
		return false
	}
	f := fn.spec.Faults
	if f.Hang {
		select {
		case <-r.Context().Done():
		case <-fn.stop:
		}
		return false
	}
	if f.Latency != nil {
		if !fn.sleep(r, fn.latency()) {
			return false
		}
	}
	if f.ReadOnly {
		fn.stats.failed.Add(1)
		writeError(w, http.StatusInternalServerError, readOnlyMessage)
		return false
	}
	return true
}

func (fn *fakeNode) checkSignature(r *http.Request) {
	q := r.URL.Query()
	sp, ts, sig := q.Get("spID"), q.Get("timestamp"), q.Get("signature")
	if sp == "" || ts == "" || sig == "" {
		fn.stats.unsigned.Add(1)
		return
	}
	if fn.opts.Verify == nil {
		return
	}
	id, err := strconv.ParseInt(sp, 10, 64)
	if err != nil {
		fn.stats.badSignature.Add(1)
		return
	}
	addr, err := fn.opts.Verify(id, ts, sig)
	if err != nil {
		fn.stats.badSignature.Add(1)
		return
	}
	if want, ok := fn.opts.Delegates[id]; ok && !strings.EqualFold(want, addr) {
		fn.stats.badSignature.Add(1)
		return
	}
	fn.stats.verified.Add(1)
}

// latency draws a log-normal delay with the configured median and 99th percentile.
func (fn *fakeNode) latency() time.Duration {
	fn.mu.Lock()
	z := fn.rng.NormFloat64()
	fn.mu.Unlock()
	return fn.spec.Faults.Latency.at(z)
}

// at is the delay at standard normal quantile z of the log-normal with l's median and 99th
// percentile.
func (l Latency) at(z float64) time.Duration {
	med := float64(l.Median)
	if l.P99 <= l.Median {
		return time.Duration(med)
	}
	sigma := math.Log(float64(l.P99)/med) / 2.326
	return time.Duration(med * math.Exp(sigma*z))
}

func (fn *fakeNode) sleep(r *http.Request, d time.Duration) bool { return sleep(r, fn.stop, d) }

// sleep waits d; false when the request ends or the node stops first.
func sleep(r *http.Request, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-stop:
	}
	return false
}

// rateLimited applies the per-IP fixed window; on refusal it has written the 429.
func (fn *fakeNode) rateLimited(w http.ResponseWriter, r *http.Request) bool {
	rl := fn.spec.Faults.RateLimit
	if rl == nil {
		return false
	}
	limit, win := rl.Requests, time.Duration(rl.Window)
	if limit == 0 {
		limit = defaultRateRequests
	}
	if win == 0 {
		win = defaultRateWindow
	}
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	now := fn.opts.Now()
	fn.mu.Lock()
	wd := fn.windows[ip]
	if wd == nil || now.Sub(wd.start) >= win {
		wd = &window{start: now}
		fn.windows[ip] = wd
	}
	wd.count++
	count, reset := wd.count, wd.start.Add(win)
	fn.mu.Unlock()
	w.Header().Set("X-RateLimit-Limit", strconv.Itoa(limit))
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(max(0, limit-count)))
	if count <= limit {
		return false
	}
	fn.stats.rateLimited.Add(1)
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(reset.Sub(now).Seconds()))))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusTooManyRequests)
	io.WriteString(w, "Too many requests, please try again later.")
	return true
}

// failFirst answers 500 to the first FailFirst requests with this body on this route.
func (fn *fakeNode) failFirst(w http.ResponseWriter, route string, body []byte) bool {
	n := fn.spec.Faults.FailFirst
	if n == 0 {
		return false
	}
	key := sha256.Sum256(append([]byte(route+"\x00"), body...))
	fn.mu.Lock()
	fn.seen[key]++
	attempt := fn.seen[key]
	fn.mu.Unlock()
	if attempt > n {
		return false
	}
	fn.stats.failed.Add(1)
	writeError(w, http.StatusInternalServerError, "Internal server error")
	return true
}

func (fn *fakeNode) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fn.stats.badRequests.Add(1)
			writeError(w, http.StatusRequestEntityTooLarge, "request entity too large")
		}
		return nil, false
	}
	return body, true
}

// compactWallets reads a batch_clock_status body in the one shape netmon sends,
// {"walletPublicKeys":["...",...]} without spaces and with strings of printable ASCII that need
// no escape, without encoding/json's reflection; ok is false for any other body, which the
// caller decodes with encoding/json (and its errors).
func compactWallets(body []byte) (wallets []string, ok bool) {
	const head, tail = `{"walletPublicKeys":[`, `]}`
	if !bytes.HasPrefix(body, []byte(head)) || !bytes.HasSuffix(body, []byte(tail)) {
		return nil, false
	}
	list := body[len(head) : len(body)-len(tail)]
	wallets = make([]string, 0, bytes.Count(list, []byte(`,`))+1)
	for len(list) > 0 {
		if list[0] != '"' {
			return nil, false
		}
		end := 1
		for ; end < len(list) && list[end] != '"'; end++ {
			if c := list[end]; c < 0x20 || c >= 0x7f || c == '\\' {
				return nil, false
			}
		}
		if end == len(list) {
			return nil, false
		}
		wallets = append(wallets, string(list[1:end]))
		list = list[end+1:]
		if len(list) > 0 {
			if list[0] != ',' || len(list) == 1 {
				return nil, false
			}
			list = list[1:]
		}
	}
	return wallets, true
}

// clockEntry is one element of data.users; FilesHash is written only when the request asked for
// hashes (null when nil).
type clockEntry struct {
	Wallet    string
	Clock     int64
	FilesHash *string
}

// appendClockData appends data of a batch_clock_status answer, {"users":[...]}, exactly as
// encoding/json writes it, without its reflection: the node writes one entry per requested wallet.
func appendClockData(b []byte, entries []clockEntry, withHashes bool) []byte {
	b = append(b, `{"users":[`...)
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"walletPublicKey":`...)
		b = appendJSONString(b, e.Wallet)
		b = append(b, `,"clock":`...)
		b = strconv.AppendInt(b, e.Clock, 10)
		if withHashes {
			b = append(b, `,"filesHash":`...)
			if e.FilesHash == nil {
				b = append(b, "null"...)
			} else {
				b = appendJSONString(b, *e.FilesHash)
			}
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendJSONString appends s as encoding/json encodes a string: quoted as it is when every byte is
// printable ASCII that needs no escape (a wallet, a hash), through encoding/json otherwise.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func (fn *fakeNode) batchClockStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		fn.stats.clockRequests.Add(1)
	}
	if !fn.common(w, r) || fn.rateLimited(w, r) {
		return
	}
	body, ok := fn.readBody(w, r)
	if !ok {
		return
	}
	var req struct {
		Wallets *[]string `json:"walletPublicKeys"`
	}
	if ws, ok := compactWallets(body); ok {
		req.Wallets = &ws
	} else if err := json.Unmarshal(body, &req); err != nil {
		fn.stats.badRequests.Add(1)
		writeError(w, http.StatusBadRequest, "Invalid JSON body: "+err.Error())
		return
	}
	if req.Wallets == nil {
		fn.stats.badRequests.Add(1)
		writeError(w, http.StatusBadRequest, "Missing walletPublicKeys")
		return
	}
	// One entry per distinct wallet, in request order (the real node builds a Set).
	seen := make(map[string]struct{}, len(*req.Wallets))
	wallets := make([]string, 0, len(*req.Wallets))
	for _, wl := range *req.Wallets {
		if _, dup := seen[wl]; !dup {
			seen[wl] = struct{}{}
			wallets = append(wallets, wl)
		}
	}
	if len(wallets) > MaxWallets {
		fn.stats.badRequests.Add(1)
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Number of wallets must not exceed %d (reduce 'walletPublicKeys' field in request body).", MaxWallets))
		return
	}
	if fn.failFirst(w, r.URL.Path, body) {
		return
	}
	withHashes := r.URL.Query().Get("returnFilesHash") == "true"
	entries := make([]clockEntry, 0, len(wallets)+8)
	for _, wl := range wallets {
		e := clockEntry{Wallet: wl, Clock: int64(fn.net.storedClock(fn.sp, wl))}
		if withHashes && e.Clock >= 0 {
			s := filesHash(wl, e.Clock)
			e.FilesHash = &s
		}
		entries = append(entries, e)
	}
	entries = fn.distort(entries, seen)
	fn.answer(w, r, appendClockData(make([]byte, 0, 64*len(entries)+16), entries, withHashes))
}

// distort applies the reorder, duplicate and unrequested faults; every requested wallet keeps its
// one true clock.
func (fn *fakeNode) distort(entries []clockEntry, requested map[string]struct{}) []clockEntry {
	f := fn.spec.Faults
	if f.Reorder {
		for i, j := 0, len(entries)-1; i < j; i, j = i+1, j-1 {
			entries[i], entries[j] = entries[j], entries[i]
		}
	}
	if f.Duplicate {
		out := make([]clockEntry, 0, 2*len(entries))
		for _, e := range entries {
			out = append(out, e, e)
		}
		entries = out
	}
	if f.Unrequested {
		fn.mu.Lock()
		fn.calls++
		call := fn.calls
		fn.mu.Unlock()
		var extra []clockEntry
		for k := uint64(0); k < 3 && len(fn.net.users) > 0; k++ {
			i := int(hash(fn.net.seed, tagUnrequested, uint64(fn.sp), call, k) % uint64(len(fn.net.users)))
			if wl, ok := fn.net.lowerWallet(i); ok {
				if _, asked := requested[wl]; !asked {
					extra = append(extra, clockEntry{Wallet: wl, Clock: 999_999})
				}
			}
		}
		extra = append(extra,
			clockEntry{Wallet: "0xnot-a-wallet", Clock: 1},
			clockEntry{Wallet: "", Clock: 2})
		half := len(extra) / 2
		entries = append(append(append([]clockEntry{}, extra[:half]...), entries...), extra[half:]...)
	}
	return entries
}

func filesHash(wallet string, clock int64) string {
	s := sha256.Sum256([]byte(wallet + "/" + strconv.FormatInt(clock, 10)))
	return hex.EncodeToString(s[:16])
}

func (fn *fakeNode) batchCIDs(w http.ResponseWriter, r *http.Request, image bool) {
	if r.Method == http.MethodPost {
		fn.stats.cidRequests.Add(1)
	}
	if !fn.common(w, r) {
		return
	}
	body, ok := fn.readBody(w, r)
	if !ok {
		return
	}
	var req struct {
		CIDs *[]string `json:"cids"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		fn.stats.badRequests.Add(1)
		writeError(w, http.StatusBadRequest, "Invalid JSON body: "+err.Error())
		return
	}
	if req.CIDs == nil {
		fn.stats.badRequests.Add(1)
		writeError(w, http.StatusBadRequest, "Missing cids")
		return
	}
	if len(*req.CIDs) > MaxCIDs {
		fn.stats.badRequests.Add(1)
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Too many CIDs passed in, limit is %d", MaxCIDs))
		return
	}
	if fn.failFirst(w, r.URL.Path, body) {
		return
	}
	type entry struct {
		CID    string `json:"cid"`
		Exists bool   `json:"exists"`
	}
	out := make([]entry, 0, len(*req.CIDs))
	for _, c := range *req.CIDs {
		out = append(out, entry{CID: c, Exists: fn.net.cidExists(fn.sp, c, image)})
	}
	d, err := json.Marshal(map[string]any{"cids": out})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	fn.answer(w, r, d)
}

// answer writes a 200 with the content node's envelope around data (JSON), damaged as the node's
// faults say.
func (fn *fakeNode) answer(w http.ResponseWriter, r *http.Request, data []byte) {
	f := fn.spec.Faults
	if f.Oversized {
		fn.stats.served.Add(1)
		fn.oversized(w, r, data)
		return
	}
	body := fn.envelope(data)
	switch {
	case f.Truncated:
		body = body[:len(body)/2]
	case f.Malformed:
		body = bytes.Replace(body, []byte(":"), []byte("="), 1)
	}
	fn.stats.served.Add(1)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// envelope is the node's signed envelope around data (compact JSON), as encoding/json writes the
// envelope's struct.
func (fn *fakeNode) envelope(data []byte) []byte {
	ts := fn.opts.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	// Not a real signature (netmon never checks answers), but shaped like one: 65 bytes of hex.
	s1 := sha256.Sum256(append([]byte(ts), data...))
	s2 := sha256.Sum256(s1[:])
	b := make([]byte, 0, len(data)+len(fn.signer)+len(ts)+200)
	b = append(b, `{"data":`...)
	b = append(b, data...)
	b = append(b, `,"signer":`...)
	b = appendJSONString(b, fn.signer)
	b = append(b, `,"timestamp":`...)
	b = appendJSONString(b, ts)
	b = append(b, `,"signature":"0x`...)
	b = hex.AppendEncode(b, s1[:])
	b = hex.AppendEncode(b, s2[:])
	return append(b, `1b"}`...)
}

func (fn *fakeNode) writeEnvelope(w http.ResponseWriter, data any) {
	d, err := json.Marshal(data)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(fn.envelope(d))
}

// oversized streams the start of a real answer and then filler entries up to the size limit, and
// stops without closing the JSON: invalid however much of it the client reads.
func (fn *fakeNode) oversized(w http.ResponseWriter, r *http.Request, data []byte) {
	limit := fn.spec.Faults.OversizedBytes
	if limit == 0 {
		limit = defaultOversized
	}
	body := fn.envelope(data)
	// Keep the envelope up to the end of the first array's opening, then pad with entries.
	open := bytes.IndexByte(body, '[')
	if open < 0 {
		open = len(body) - 1
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	written := int64(0)
	write := func(b []byte) bool {
		if _, err := w.Write(b); err != nil {
			return false
		}
		written += int64(len(b))
		return true
	}
	if !write(body[:open+1]) {
		return
	}
	filler := bytes.Repeat([]byte(`{"walletPublicKey":"0x0000000000000000000000000000000000000000","clock":0},`), 1000)
	for written < limit {
		select {
		case <-r.Context().Done():
			return
		case <-fn.stop:
			return
		default:
		}
		if !write(filler[:min(int64(len(filler)), limit-written)]) {
			return
		}
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
