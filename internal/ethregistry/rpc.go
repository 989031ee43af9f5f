package ethregistry

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
)

// maxBody is the largest JSON-RPC answer read. The largest real one, an endpoint's tuple, is
// under 1 KiB as hex; a provider that sends more is not answering these calls.
const maxBody = 1 << 20

// rpc is a JSON-RPC 2.0 client over HTTP POST to one provider. It never puts the provider's URL
// in an error (it may hold an API key): net/http's errors name the URL, so only their cause is
// kept.
type rpc struct {
	url      string
	client   *http.Client
	timeout  time.Duration // per attempt
	attempts int
	backoff  time.Duration // before the second attempt; doubled after each, with jitter
	ids      atomic.Uint64
}

type rpcRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *struct {
		Code    int64  `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// call runs method and returns its result, the raw JSON value. Transport failures
// (ErrUnavailable: no connection, no answer within the timeout, HTTP 429 or 5xx) are tried again
// up to the attempt budget with jittered backoff; a JSON-RPC error or a malformed answer is final.
func (r *rpc) call(ctx context.Context, method string, params ...any) (json.RawMessage, error) {
	wait := r.backoff
	for attempt := 1; ; attempt++ {
		res, err := r.once(ctx, method, params)
		if err == nil || !errors.Is(err, ErrUnavailable) || attempt >= r.attempts || ctx.Err() != nil {
			return res, err
		}
		t := time.NewTimer(wait/2 + rand.N(wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		wait *= 2
	}
}

// once is one attempt of call.
func (r *rpc) once(ctx context.Context, method string, params []any) (json.RawMessage, error) {
	id := r.ids.Add(1)
	body, err := json.Marshal(rpcRequest{JSONRPC: "2.0", ID: id, Method: method, Params: params})
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", method, err)
	}
	actx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: the provider URL does not make a request", ErrUnavailable)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case actx.Err() != nil:
			return nil, fmt.Errorf("%w: no answer within %s", ErrUnavailable, r.timeout)
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // without the URL
		}
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		if actx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("%w: no whole answer within %s", ErrUnavailable, r.timeout)
		}
		return nil, fmt.Errorf("%w: reading the answer: %v", ErrUnavailable, err)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, fmt.Errorf("%w: HTTP %d", ErrUnavailable, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: HTTP %d%s", ErrRPC, resp.StatusCode, quoted(data))
	case len(data) > maxBody:
		return nil, fmt.Errorf("%w: an answer larger than %d bytes", ErrGarbage, maxBody)
	}
	var out rpcResponse
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&out); err != nil || dec.More() {
		return nil, fmt.Errorf("%w: not a JSON-RPC answer%s", ErrGarbage, quoted(data))
	}
	if out.JSONRPC != "2.0" || string(out.ID) != strconv.FormatUint(id, 10) {
		return nil, fmt.Errorf("%w: not the answer to request %d (jsonrpc %q, id %s)", ErrGarbage, id, clean(out.JSONRPC), clean(string(out.ID)))
	}
	if out.Error != nil {
		msg := clean(out.Error.Message)
		// Geth and most providers: code 3 (with revert data) or -32000 "execution reverted".
		if out.Error.Code == 3 || strings.Contains(strings.ToLower(msg), "revert") {
			if reason := strings.TrimSpace(strings.TrimPrefix(msg, "execution reverted")); reason != "" {
				return nil, fmt.Errorf("%w (%s)", ErrRevert, strings.TrimPrefix(reason, ": "))
			}
			return nil, ErrRevert
		}
		return nil, fmt.Errorf("%w: code %d: %s", ErrRPC, out.Error.Code, msg)
	}
	if len(out.Result) == 0 || string(out.Result) == "null" {
		return nil, fmt.Errorf("%w: an answer with neither result nor error", ErrGarbage)
	}
	return out.Result, nil
}

// hexBytes reads a result that is a JSON string of 0x and an even number of hex digits (eth_call's
// DATA).
func hexBytes(res json.RawMessage) ([]byte, error) {
	var s string
	if err := json.Unmarshal(res, &s); err != nil {
		return nil, fmt.Errorf("%w: want a hex string, got %s", ErrGarbage, clean(string(res)))
	}
	digits, ok := strings.CutPrefix(s, "0x")
	if !ok || len(digits)%2 != 0 {
		return nil, fmt.Errorf("%w: want 0x and an even number of hex digits, got %s", ErrGarbage, clean(s))
	}
	b, err := hex.DecodeString(digits)
	if err != nil {
		return nil, fmt.Errorf("%w: want 0x and hex digits, got %s", ErrGarbage, clean(s))
	}
	return b, nil
}

// hexQuantity reads a result that is a JSON string QUANTITY (eth_blockNumber): 0x and hex digits
// without leading zeros, at most 63 bits.
func hexQuantity(res json.RawMessage) (int64, error) {
	var s string
	if err := json.Unmarshal(res, &s); err != nil {
		return 0, fmt.Errorf("%w: want a hex quantity, got %s", ErrGarbage, clean(string(res)))
	}
	digits, ok := strings.CutPrefix(s, "0x")
	if !ok || digits == "" || len(digits) > 16 || (len(digits) > 1 && digits[0] == '0') {
		return 0, fmt.Errorf("%w: want a hex quantity such as 0x1b4, got %s", ErrGarbage, clean(s))
	}
	v, err := strconv.ParseInt(digits, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: want a hex quantity such as 0x1b4, got %s", ErrGarbage, clean(s))
	}
	return v, nil
}

// quoted is ": " and the start of an unexpected body, cleaned, for errors.
func quoted(data []byte) string {
	if len(bytes.TrimSpace(data)) == 0 {
		return " (empty body)"
	}
	return ": " + strconv.Quote(clean(string(data)))
}

// clean makes a provider's text fit for an error: printable characters only, at most 120 of them.
func clean(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == 120 {
			b.WriteString("…")
			break
		}
		if !unicode.IsPrint(r) {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
