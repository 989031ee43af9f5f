package simnet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Verifier checks a request signature (spec §5.3): it returns the address that signed the
// (spID, timestamp) payload. signing.Recover fits.
type Verifier func(spID int64, timestamp, signature string) (address string, err error)

// Options configure the fake nodes. The zero value is fine.
type Options struct {
	// Verify, when set, checks the spID/timestamp/signature query parameters of every request that
	// carries them. As on the real node a bad signature only counts in the stats: the request is
	// still served.
	Verify Verifier
	// Delegates maps a requester SP id to its delegate wallet; a signature verifies when the
	// recovered address equals it (case-insensitively). Without an entry, any address that
	// recovers without error counts as verified.
	Delegates map[int64]string
	// Now is the clock used for rate-limit windows and envelope timestamps (default time.Now).
	Now func() time.Time
}

// Nodes are the running fake content nodes of a network: one loopback listener per node with an
// endpoint.
type Nodes struct {
	net    *Network
	nodes  []*fakeNode // per node index; nil for SPs without endpoint
	eps    []string
	wg     sync.WaitGroup
	once   sync.Once
	closed chan struct{}
}

// Start starts the fake nodes with default options. See StartWith.
func (n *Network) Start(ctx context.Context) (*Nodes, error) {
	return n.StartWith(ctx, Options{})
}

// StartWith binds a loopback listener on a random port for every node with an endpoint (a node
// that is Down gets a bound socket that refuses connections) and records the URLs in the Network,
// so SeedDiscovery and Truth use them. A Network starts at most once. The nodes stop when Close is
// called or ctx ends.
func (n *Network) StartWith(ctx context.Context, opts Options) (*Nodes, error) {
	n.mu.Lock()
	if n.started {
		n.mu.Unlock()
		return nil, errors.New("simnet: network already started")
	}
	n.started = true
	n.mu.Unlock()
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ns := &Nodes{net: n, nodes: make([]*fakeNode, len(n.nodes)), eps: make([]string, len(n.nodes)), closed: make(chan struct{})}
	for i, ni := range n.nodes {
		if ni.spec.NoEndpoint {
			continue
		}
		fn := newFakeNode(n, i, opts)
		var err error
		if ni.spec.Faults.Down {
			fn.refuser, err = newRefuser()
			if err == nil {
				fn.endpoint = "http://" + fn.refuser.addr
			}
		} else {
			err = fn.listen()
		}
		if err != nil {
			ns.Close()
			return nil, fmt.Errorf("simnet: start node %d: %w", ni.spec.SPID, err)
		}
		ns.nodes[i] = fn
		ns.eps[i] = fn.endpoint
		if fn.srv != nil {
			ns.wg.Add(1)
			go func() {
				defer ns.wg.Done()
				_ = fn.srv.Serve(fn.ln) // ErrServerClosed after Close
			}()
		}
	}
	n.mu.Lock()
	copy(n.endpoints, ns.eps)
	n.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
			ns.Close()
		case <-ns.closed:
		}
	}()
	return ns, nil
}

// Endpoint is the base URL node spID listens on: "" for an SP without endpoint or an unknown SP.
func (ns *Nodes) Endpoint(spID int64) string {
	i, ok := ns.net.nodeIdx[int32(spID)]
	if !ok || spID <= 0 {
		return ""
	}
	return ns.eps[i]
}

// Deregistered is the DEREGISTERED_CONTENT_NODES list the run must be configured with.
func (ns *Nodes) Deregistered() []string {
	var out []string
	for i, ni := range ns.net.nodes {
		if ni.spec.Deregistered {
			out = append(out, ns.eps[i])
		}
	}
	return out
}

// Stats reports what node spID has seen so far (zero for an SP without endpoint).
func (ns *Nodes) Stats(spID int64) Stats {
	i, ok := ns.net.nodeIdx[int32(spID)]
	if !ok || ns.nodes[i] == nil {
		return Stats{}
	}
	return ns.nodes[i].stats.snapshot()
}

func (ns *Nodes) endpoints() []string { return append([]string(nil), ns.eps...) }

// Close stops every node: listeners close, hung requests return, and it waits for the servers.
// It is safe to call more than once.
func (ns *Nodes) Close() {
	ns.once.Do(func() {
		close(ns.closed)
		for _, fn := range ns.nodes {
			if fn != nil {
				fn.close()
			}
		}
		ns.wg.Wait()
	})
}
