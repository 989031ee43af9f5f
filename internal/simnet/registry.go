package simnet

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The fake Ethereum registry: a JSON-RPC provider on loopback that serves the Audius Registry and
// its ServiceProviderFactory for a network's nodes, so a run can read its content-node list the way
// the original's final version did (NETMON_CONTENT_NODES_SOURCE=ethereum). It answers
// eth_blockNumber and eth_call of getContract, getTotalServiceTypeProviders and
// getServiceEndpointInfo, and encodes their results here, by hand, independently of netmon's
// decoder (internal/ethregistry), so the two check each other. The selectors are the spec's
// numbers; internal/ethregistry derives its own from the signatures.

// Registry addresses: the production Audius Registry's address (spec §9.1), so a demo's
// configuration looks like a real one, and a factory address of the fake's own.
const (
	RegistryAddress = "0xd976d3b4f4e22a238c1A736b6612D22f17b6f64C"
	FactoryAddress  = "0x5e7a1ce0fac7021e5000000000000000000000f1"
	// DefaultRegistryBlock is the fake chain's head.
	DefaultRegistryBlock = 21000000
)

var (
	selGetContract = "e16c7d98" // getContract(bytes32)
	selTotal       = "623fa631" // getTotalServiceTypeProviders(bytes32)
	selInfo        = "748ea82c" // getServiceEndpointInfo(bytes32,uint256)
)

// RegistryEntry is one registered service provider: SP id i of its type is the entry at index
// i-1. A deregistered SP is the zero entry (the contract deletes its record).
type RegistryEntry struct {
	Owner       string `json:"owner"` // 0x-hex address
	Endpoint    string `json:"endpoint"`
	BlockNumber int64  `json:"block_number"`
	Delegate    string `json:"delegate_owner_wallet"` // 0x-hex address
}

// RegistryFaults are the registry's misbehaviours. Revert, Garbage and ShortTuple hit the last SP
// id only, so every other answer is good and a client that kept a partial list would be caught.
type RegistryFaults struct {
	// Revert: getServiceEndpointInfo of the last SP id reverts.
	Revert bool `json:"revert,omitempty"`
	// Garbage: getServiceEndpointInfo of the last SP id answers 0x1234, which is no ABI tuple.
	Garbage bool `json:"garbage,omitempty"`
	// ShortTuple: getServiceEndpointInfo of the last SP id answers its tuple without the last word.
	ShortTuple bool `json:"short_tuple,omitempty"`
	// HugeN: getTotalServiceTypeProviders answers 10^12 for every type.
	HugeN bool `json:"huge_n,omitempty"`
	// Latency delays every answer.
	Latency Duration `json:"latency,omitempty"`
}

// RegistryStats counts the calls the fake registry has answered.
type RegistryStats struct {
	BlockNumber int64 `json:"eth_blockNumber"`
	GetContract int64 `json:"getContract"`
	Total       int64 `json:"getTotalServiceTypeProviders"`
	Info        int64 `json:"getServiceEndpointInfo"`
	// Blocks are the distinct block parameters of eth_call, in the order first seen.
	Blocks []string `json:"blocks"`
}

// Registry is a running fake Ethereum JSON-RPC provider.
type Registry struct {
	URL string // the provider URL (ETH_PROVIDER_URL)

	types map[string][]RegistryEntry
	ln    net.Listener
	srv   *http.Server

	mu     sync.Mutex
	head   int64 // the chain head eth_blockNumber answers
	faults RegistryFaults
	stats  RegistryStats
}

// StartRegistry serves types (service type → its SP ids' entries) on a loopback port until Close
// or until ctx ends. block 0 is DefaultRegistryBlock.
func StartRegistry(ctx context.Context, types map[string][]RegistryEntry, block int64) (*Registry, error) {
	if block == 0 {
		block = DefaultRegistryBlock
	}
	for st := range types {
		if st == "" || len(st) > 32 {
			return nil, fmt.Errorf("simnet: registry: service type %q must be 1 to 32 bytes", st)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("simnet: registry: %w", err)
	}
	r := &Registry{URL: "http://" + ln.Addr().String(), head: block, types: types, ln: ln}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		r.Close()
	}()
	return r, nil
}

// StartRegistry serves the network's content nodes as the registry lists them: SP id i at index
// i-1, with the endpoint the node listens on (Start first), a trailing "/" on every even SP id (the
// run must strip it), and an SP without endpoint as deregistered (all zero). The registry's ids
// have no gaps, so the network's SP ids must be 1..N. It lists no validators.
func (n *Network) StartRegistry(ctx context.Context) (*Registry, error) {
	entries, err := n.RegistryEntries()
	if err != nil {
		return nil, err
	}
	return StartRegistry(ctx, map[string][]RegistryEntry{"content-node": entries}, 0)
}

// RegistryEntries lists the network's content nodes as StartRegistry serves them.
func (n *Network) RegistryEntries() ([]RegistryEntry, error) {
	endpoints := n.endpointsSnapshot()
	out := make([]RegistryEntry, len(n.nodes))
	for i, ni := range n.nodes {
		sp := ni.spec.SPID
		if sp != int64(i)+1 {
			return nil, fmt.Errorf("%w: the registry numbers SPs 1..N without gaps, but the network's SP ids are not 1..%d", errScenario, len(n.nodes))
		}
		if ni.spec.NoEndpoint {
			continue
		}
		ep := endpoints[i]
		if sp%2 == 0 {
			ep += "/"
		}
		out[i] = RegistryEntry{Owner: ownerWallet(n.seed, sp), Endpoint: ep, BlockNumber: 15000000 + sp*1000,
			Delegate: delegateWallet(n.seed, sp)}
	}
	return out, nil
}

// Head is the chain head eth_blockNumber answers.
func (r *Registry) Head() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.head
}

// SetHead moves the chain head (the registry's entries stay as they are: every block up to the
// head answers the same).
func (r *Registry) SetHead(block int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.head = block
}

// SetFaults replaces the registry's faults; calls in flight keep the old ones.
func (r *Registry) SetFaults(f RegistryFaults) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = f
}

// Stats returns the calls answered so far.
func (r *Registry) Stats() RegistryStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.Blocks = append([]string(nil), s.Blocks...)
	return s
}

// Close stops the server; it is safe to call more than once.
func (r *Registry) Close() { _ = r.srv.Close() }

type rpcCall struct {
	JSONRPC string            `json:"jsonrpc"`
	ID      json.RawMessage   `json:"id"`
	Method  string            `json:"method"`
	Params  []json.RawMessage `json:"params"`
}

func (r *Registry) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	f := r.faults
	r.mu.Unlock()
	if f.Latency > 0 {
		select {
		case <-time.After(time.Duration(f.Latency)):
		case <-req.Context().Done():
			return
		}
	}
	var c rpcCall
	if req.Method != http.MethodPost || json.NewDecoder(req.Body).Decode(&c) != nil || c.JSONRPC != "2.0" {
		http.Error(w, "want a JSON-RPC 2.0 POST", http.StatusBadRequest)
		return
	}
	result, rerr := r.answer(c, f)
	resp := map[string]any{"jsonrpc": "2.0", "id": c.ID}
	if rerr != nil {
		resp["error"] = rerr
	} else {
		resp["result"] = result
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

type rpcErr struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    string `json:"data,omitempty"`
}

var errReverted = &rpcErr{Code: 3, Message: "execution reverted", Data: "0x"}

func (r *Registry) answer(c rpcCall, f RegistryFaults) (string, *rpcErr) {
	switch c.Method {
	case "eth_blockNumber":
		r.count(func(s *RegistryStats) { s.BlockNumber++ })
		return "0x" + strconv.FormatInt(r.Head(), 16), nil
	case "eth_call":
	default:
		return "", &rpcErr{Code: -32601, Message: "the method " + c.Method + " does not exist/is not available"}
	}
	var call struct{ To, Data string }
	var tag string
	if len(c.Params) != 2 || json.Unmarshal(c.Params[0], &call) != nil || json.Unmarshal(c.Params[1], &tag) != nil {
		return "", &rpcErr{Code: -32602, Message: "invalid params"}
	}
	if tag != "latest" {
		b, err := strconv.ParseInt(strings.TrimPrefix(tag, "0x"), 16, 64)
		if err != nil || !strings.HasPrefix(tag, "0x") {
			return "", &rpcErr{Code: -32602, Message: "invalid block parameter"}
		}
		if b > r.Head() {
			return "", &rpcErr{Code: -32000, Message: "header not found"}
		}
	}
	r.count(func(s *RegistryStats) {
		for _, b := range s.Blocks {
			if b == tag {
				return
			}
		}
		s.Blocks = append(s.Blocks, tag)
	})
	data, err := hex.DecodeString(strings.TrimPrefix(call.Data, "0x"))
	if err != nil || len(data) < 4 {
		return "", errReverted
	}
	sel, args := hex.EncodeToString(data[:4]), data[4:]
	switch {
	case strings.EqualFold(call.To, RegistryAddress) && sel == selGetContract && len(args) == 32:
		r.count(func(s *RegistryStats) { s.GetContract++ })
		if name32Text(args) == "ServiceProviderFactory" {
			return "0x" + addressWordHex(FactoryAddress), nil
		}
		return "0x" + strings.Repeat("00", 32), nil
	case strings.EqualFold(call.To, FactoryAddress) && sel == selTotal && len(args) == 32:
		r.count(func(s *RegistryStats) { s.Total++ })
		n := uint64(len(r.types[name32Text(args)]))
		if f.HugeN {
			n = 1_000_000_000_000
		}
		return "0x" + uintWordHex(n), nil
	case strings.EqualFold(call.To, FactoryAddress) && sel == selInfo && len(args) == 64:
		r.count(func(s *RegistryStats) { s.Info++ })
		entries := r.types[name32Text(args[:32])]
		id := args[32:]
		var e RegistryEntry // an id past N reads the contract's empty record
		last := false
		if bytes.Equal(id[:24], make([]byte, 24)) {
			if i := binary.BigEndian.Uint64(id[24:]); i >= 1 && i <= uint64(len(entries)) {
				e, last = entries[i-1], i == uint64(len(entries))
			}
		}
		switch {
		case last && f.Revert:
			return "", errReverted
		case last && f.Garbage:
			return "0x1234", nil
		}
		tuple := encodeInfo(e)
		if last && f.ShortTuple {
			tuple = tuple[:len(tuple)-64]
		}
		return "0x" + tuple, nil
	case strings.EqualFold(call.To, RegistryAddress) || strings.EqualFold(call.To, FactoryAddress):
		return "", errReverted // an unknown function of a known contract
	}
	return "0x", nil // an account without code
}

func (r *Registry) count(f func(*RegistryStats)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.stats)
}

// encodeInfo is the ABI encoding of (address, string, uint256, address), as hex: four head
// words with the string's offset (0x80) second, then the string's length and its bytes
// zero-padded to a multiple of 32.
func encodeInfo(e RegistryEntry) string {
	var b strings.Builder
	b.WriteString(addressWordHex(e.Owner))
	b.WriteString(uintWordHex(0x80))
	b.WriteString(uintWordHex(uint64(e.BlockNumber)))
	b.WriteString(addressWordHex(e.Delegate))
	b.WriteString(uintWordHex(uint64(len(e.Endpoint))))
	s := hex.EncodeToString([]byte(e.Endpoint))
	b.WriteString(s)
	if pad := len(s) % 64; pad != 0 {
		b.WriteString(strings.Repeat("0", 64-pad))
	}
	return b.String()
}

// addressWordHex is an address left-padded to a word; "" is the zero address.
func addressWordHex(a string) string {
	return strings.Repeat("0", 24) + fmt.Sprintf("%040s", strings.ToLower(strings.TrimPrefix(a, "0x")))
}

func uintWordHex(v uint64) string { return fmt.Sprintf("%064x", v) }

// name32Text is a bytes32 name without its zero padding.
func name32Text(w []byte) string { return string(bytes.TrimRight(w, "\x00")) }

// delegateWallet and ownerWallet are SP sp's delegate and owner wallets, the same in the
// discovery rows, the registry and the nodes' answers.
func delegateWallet(seed, sp int64) string {
	h := hash(seed, tagDelegate, uint64(sp))
	return fmt.Sprintf("0x%016x%016x%08x", h, mix64(h), uint32(mix64(h+1)))
}

func ownerWallet(seed, sp int64) string {
	h := hash(seed, tagDelegate, uint64(sp))
	return fmt.Sprintf("0x%016x%016x%08x", mix64(h+2), mix64(h+3), uint32(mix64(h+4)))
}
