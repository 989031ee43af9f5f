// Package ethregistry reads the Audius service-provider registry on Ethereum over plain JSON-RPC
// (eth_blockNumber, eth_call), as the original network-monitoring's final version did (spec §2
// step 3) and as today's storage nodes do (storage spec §1.1). It consumes a provider URL and the
// Audius Registry contract's address and produces, for any service type (ContentNode, Validator,
// …), every registered endpoint with its SP id, owner, registration block and delegate owner
// wallet, all read at one Ethereum block.
//
// The calls: Registry.getContract("ServiceProviderFactory") gives the factory's address;
// factory.getTotalServiceTypeProviders(type) gives N; factory.getServiceEndpointInfo(type, i) for
// i in 1..N gives SP i's (owner, endpoint, blockNumber, delegateOwnerWallet). Deregistered SPs keep
// their id with an empty endpoint (and a zero owner and delegate); they are listed, not dropped.
//
// It is a few hundred lines over net/http and golang.org/x/crypto/sha3 rather than go-ethereum:
// netmon needs three read-only calls and one tuple decoder, and go-ethereum would bring a large
// dependency graph (and cgo-sensitive crypto) for them. README, "Differences from the original".
package ethregistry

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Service types, as the ServiceProviderFactory names them.
const (
	ContentNode = "content-node"
	Validator   = "validator"
)

// Errors, matched with errors.Is. Every error Read returns wraps one of them or the context's,
// and names the call that failed; none contains the provider's URL.
var (
	// ErrUnavailable: no answer (connection refused, timeout, HTTP 429 or 5xx) after every attempt.
	ErrUnavailable = errors.New("provider unavailable")
	// ErrRPC: the provider answered a JSON-RPC error that is not a revert, or another HTTP status.
	ErrRPC = errors.New("provider error")
	// ErrRevert: the call reverted (a wrong contract address, a missing block, an id past N).
	ErrRevert = errors.New("execution reverted")
	// ErrGarbage: an answer that is not a well-formed JSON-RPC answer or not the ABI encoding of
	// the call's result (the strict rules are in abi.go), or a contract address with no code.
	ErrGarbage = errors.New("malformed answer")
	// ErrTooMany: N is above Options.MaxProviders.
	ErrTooMany = errors.New("too many providers")
)

// Options configure a Client. Zero values take the defaults.
type Options struct {
	// URL is the provider's HTTP(S) JSON-RPC endpoint. It may hold an API key: it is never put
	// in an error or a log line.
	URL string
	// Registry is the Audius Registry contract.
	Registry Address
	// Block is the block to read at; 0 reads at the chain head, which Read resolves once with
	// eth_blockNumber so that every call of one Read sees the same block.
	Block int64
	// CallTimeout bounds one HTTP attempt (default 10 s); Attempts is the attempts per call for
	// transport failures (default 3), with jittered backoff from Backoff (default 250 ms).
	CallTimeout time.Duration
	Attempts    int
	Backoff     time.Duration
	// Concurrency is the most eth_calls in flight at once per Client, across all its callers
	// (default 8), so a public provider is not flooded.
	Concurrency int
	// MaxProviders is the largest N that Read accepts per service type (default 10000; Audius
	// has registered well under 1000 of any type). A larger N is ErrTooMany, not 10^18 calls.
	MaxProviders int64
	// HTTPClient makes the requests (default: a client with no overall timeout, as CallTimeout
	// bounds each attempt).
	HTTPClient *http.Client
}

// Client reads the registry. It is safe for concurrent use; see Options.Concurrency.
type Client struct {
	rpc          *rpc
	registry     Address
	block        int64
	maxProviders int64
	slots        chan struct{}
}

// New checks the options and returns a Client. It makes no call.
func New(o Options) (*Client, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("ethereum registry: the provider URL is not an http:// or https:// URL")
	}
	if o.Registry.IsZero() {
		return nil, errors.New("ethereum registry: the registry address is zero")
	}
	if o.Block < 0 {
		return nil, fmt.Errorf("ethereum registry: block %d is negative", o.Block)
	}
	def := func(v, d int) int {
		if v <= 0 {
			return d
		}
		return v
	}
	defDur := func(v, d time.Duration) time.Duration {
		if v <= 0 {
			return d
		}
		return v
	}
	c := &Client{registry: o.Registry, block: o.Block, maxProviders: o.MaxProviders,
		slots: make(chan struct{}, def(o.Concurrency, 8))}
	if c.maxProviders <= 0 {
		c.maxProviders = 10000
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	c.rpc = &rpc{url: o.URL, client: hc, timeout: defDur(o.CallTimeout, 10*time.Second),
		attempts: def(o.Attempts, 3), backoff: defDur(o.Backoff, 250*time.Millisecond)}
	return c, nil
}

// At returns a client like c that reads at block (0: at the chain head, resolved once per Read).
// A restarted plan uses it to read the registry at the block its first attempt read.
func (c *Client) At(block int64) *Client {
	at := *c
	at.block = block
	return &at
}

// Endpoint is one registered service provider.
type Endpoint struct {
	ServiceType string
	SPID        int64 // the id within its service type, 1..N
	Owner       Address
	// Endpoint is the URL as registered, unchanged ("" for a deregistered SP): callers normalise
	// it as their spec says (the legacy run strips trailing slashes; storage v2 also lower-cases).
	Endpoint    string
	BlockNumber int64 // the block the SP registered (or last changed its endpoint) at
	Delegate    Address
}

// Listing is what Read found: every endpoint of the service types asked, by type in the order
// asked, then by SP id; Count has N per type.
type Listing struct {
	Block     int64 // the Ethereum block every call was made at
	Factory   Address
	Count     map[string]int64
	Endpoints []Endpoint
}

// Read lists every registered endpoint (deregistered ones included) of each service type, all
// at one block. It returns the whole listing or an error, never part of one: the first failed
// call stops the others. It takes at most about (2 + N/Concurrency) × Attempts × CallTimeout and
// ends sooner when ctx does.
func (c *Client) Read(ctx context.Context, serviceTypes ...string) (Listing, error) {
	l := Listing{Block: c.block, Count: map[string]int64{}}
	names := make([][word]byte, len(serviceTypes))
	for i, st := range serviceTypes {
		var err error
		if names[i], err = name32(st); err != nil {
			return l, fmt.Errorf("ethereum registry: service type: %w", err)
		}
	}
	if l.Block == 0 {
		res, err := c.call(ctx, "eth_blockNumber")
		if err == nil {
			l.Block, err = hexQuantity(res)
		}
		if err != nil {
			return l, fmt.Errorf("ethereum registry: eth_blockNumber: %w", err)
		}
	}
	factoryName, _ := name32("ServiceProviderFactory")
	b, err := c.ethCall(ctx, c.registry, l.Block, callData(selGetContract, factoryName))
	if err == nil {
		l.Factory, err = decodeAddress(b)
		if err == nil && l.Factory.IsZero() {
			err = fmt.Errorf("%w: the registry has no ServiceProviderFactory (is it the Audius Registry?)", ErrGarbage)
		}
	}
	if err != nil {
		return l, fmt.Errorf("ethereum registry: Registry %s getContract(ServiceProviderFactory) at block %d: %w", c.registry, l.Block, err)
	}
	for i, st := range serviceTypes {
		eps, err := c.readType(ctx, l.Block, l.Factory, st, names[i])
		if err != nil {
			return l, err
		}
		l.Count[st] = int64(len(eps))
		l.Endpoints = append(l.Endpoints, eps...)
	}
	return l, nil
}

// readType reads N, then SP 1..N in parallel, of one service type.
func (c *Client) readType(ctx context.Context, block int64, factory Address, st string, name [word]byte) ([]Endpoint, error) {
	b, err := c.ethCall(ctx, factory, block, callData(selTotal, name))
	var n uint64
	if err == nil {
		var fits bool
		if n, fits, err = decodeUint(b); err == nil && (!fits || n > uint64(c.maxProviders)) {
			err = fmt.Errorf("%w: N is %s, more than the %d netmon reads (a wrong registry or provider?)", ErrTooMany, wordText(b), c.maxProviders)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ethereum registry: getTotalServiceTypeProviders(%s) at block %d: %w", st, block, err)
	}
	eps := make([]Endpoint, n)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for i := range eps {
		sp := int64(i) + 1
		wg.Go(func() {
			b, err := c.ethCall(ctx, factory, block, callData(selInfo, name, uint256(uint64(sp))))
			var info endpointInfo
			if err == nil {
				if info, err = decodeEndpointInfo(b); err != nil {
					err = fmt.Errorf("%w: %v", ErrGarbage, err)
				}
			}
			if err != nil {
				cancel(fmt.Errorf("ethereum registry: getServiceEndpointInfo(%s, %d) at block %d: %w", st, sp, block, err))
				return
			}
			eps[i] = Endpoint{ServiceType: st, SPID: sp, Owner: info.Owner, Endpoint: info.Endpoint,
				BlockNumber: info.BlockNumber, Delegate: info.Delegate}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return eps, nil
}

// ethCall runs eth_call of data on contract to at block and returns the result's bytes. Empty
// result data means no contract at that address (a call to an account without code returns
// nothing), which no call here can legitimately answer.
func (c *Client) ethCall(ctx context.Context, to Address, block int64, data []byte) ([]byte, error) {
	res, err := c.call(ctx, "eth_call", map[string]string{"to": to.String(), "data": "0x" + hex.EncodeToString(data)},
		"0x"+strconv.FormatInt(block, 16))
	if err != nil {
		return nil, err
	}
	b, err := hexBytes(res)
	if err == nil && len(b) == 0 {
		err = fmt.Errorf("%w: empty result: no contract at %s at that block", ErrGarbage, to)
	}
	return b, err
}

// call is rpc.call within one of the Client's concurrency slots.
func (c *Client) call(ctx context.Context, method string, params ...any) (json.RawMessage, error) {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	defer func() { <-c.slots }()
	return c.rpc.call(ctx, method, params...)
}
