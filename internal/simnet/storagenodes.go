package simnet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/audius-netmon/netmon/internal/signing"
)

// StorageOptions configure the fake storage nodes. The zero value is fine.
type StorageOptions struct {
	// Now is the clock of health timestamps and of the repair times health reports, which are
	// fixed relative to Start (default time.Now).
	Now func() time.Time
}

// StorageStats counts what a fake storage node has seen.
type StorageStats struct {
	Requests int64 `json:"requests"`  // every HTTP request
	BlobInfo int64 `json:"blob_info"` // GET /internal/blobs/info/<key>
	Health   int64 `json:"health"`    // GET /health_check
	Uploads  int64 `json:"uploads"`   // GET /uploads and /uploads/<id>
	// Other is every other request (a /content/ probe would create a replica: must stay 0).
	Other int64 `json:"other"`
}

type storageStats struct{ requests, blobInfo, health, uploads, other atomic.Int64 }

// StorageNodes are the running fake storage nodes of a network, one loopback listener each.
type StorageNodes struct {
	net     *StorageNetwork
	nodes   []*storageFake
	started time.Time
	wg      sync.WaitGroup
	once    sync.Once
	closed  chan struct{}
}

// storageFake is one storage node's server.
type storageFake struct {
	net      *StorageNetwork
	idx      int
	node     storageNode
	hosts    []string // every node's normalised endpoint, fixed at Start
	signer   *signing.Signer
	wrong    *signing.Signer // the other key of a wrong_signer fault
	started  time.Time
	now      func() time.Time
	endpoint string

	ln      net.Listener
	srv     *http.Server
	refuser *refuser
	stop    chan struct{}
	stats   storageStats
	calls   atomic.Uint64
}

// Start starts the storage nodes with default options. See StartWith.
func (n *StorageNetwork) Start(ctx context.Context) (*StorageNodes, error) {
	return n.StartWith(ctx, StorageOptions{})
}

// StartWith binds a loopback listener for every node (a Down node gets a bound socket that
// refuses connections), records the URLs in the network (placement, registry, discovery rows and
// truth use them), then serves. A network starts at most once; the nodes stop on Close or when
// ctx ends.
func (n *StorageNetwork) StartWith(ctx context.Context, opts StorageOptions) (*StorageNodes, error) {
	if err := n.startOnce(ctx); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ns := &StorageNodes{net: n, nodes: make([]*storageFake, len(n.nodes)), started: opts.Now(), closed: make(chan struct{})}
	eps := make([]string, len(n.nodes))
	for i, sn := range n.nodes {
		f := &storageFake{net: n, idx: i, node: sn, started: ns.started, now: opts.Now, stop: make(chan struct{})}
		f.signer, f.wrong = n.signer(i, 0), n.signer(i, 1)
		var err error
		if sn.spec.Faults.Down {
			if f.refuser, err = newRefuser(); err == nil {
				f.endpoint = "http://" + f.refuser.addr
			}
		} else if f.ln, err = net.Listen("tcp", "127.0.0.1:0"); err == nil {
			f.endpoint = "http://" + f.ln.Addr().String()
		}
		if err != nil {
			ns.Close()
			return nil, fmt.Errorf("simnet: start storage node %d: %w", i+1, err)
		}
		ns.nodes[i], eps[i] = f, f.endpoint
	}
	n.mu.Lock()
	copy(n.endpoints, eps)
	n.setHosts()
	hosts := n.hosts
	n.mu.Unlock()
	for _, f := range ns.nodes {
		f.hosts = hosts
		if f.ln == nil {
			continue
		}
		f.srv = &http.Server{Handler: f.handler(), ReadHeaderTimeout: 10 * time.Second}
		ns.wg.Add(1)
		go func() {
			defer ns.wg.Done()
			_ = f.srv.Serve(f.ln) // ErrServerClosed after Close
		}()
	}
	go func() {
		select {
		case <-ctx.Done():
			ns.Close()
		case <-ns.closed:
		}
	}()
	return ns, nil
}

// signer is node i's delegate key (attempt 0) or the other key of its wrong_signer fault
// (attempt 1), derived from the seed.
func (n *StorageNetwork) signer(i, attempt int) *signing.Signer {
	for k := uint64(0); ; k++ {
		h := hash(n.seed, tagStorageSigner, uint64(i+1), uint64(attempt), k)
		key := fmt.Sprintf("%016x%016x%016x%016x", h, mix64(h), mix64(h+1), mix64(h+2))
		if s, err := signing.NewSigner(int64(i+1), key); err == nil {
			return s
		}
	}
}

// Delegate is node id's delegate wallet: the address its health answers are signed with and the
// registry lists ("" for an unknown id).
func (n *StorageNetwork) Delegate(id int64) string {
	if id < 1 || id > int64(len(n.nodes)) {
		return ""
	}
	return n.signer(int(id-1), 0).Address()
}

// Endpoint is the base URL node id listens on ("" for an unknown id).
func (ns *StorageNodes) Endpoint(id int64) string {
	if id < 1 || id > int64(len(ns.nodes)) {
		return ""
	}
	return ns.nodes[id-1].endpoint
}

// Started is the nodes' start time: health's repair times are fixed relative to it.
func (ns *StorageNodes) Started() time.Time { return ns.started }

// Stats reports what node id has seen so far.
func (ns *StorageNodes) Stats(id int64) StorageStats {
	if id < 1 || id > int64(len(ns.nodes)) {
		return StorageStats{}
	}
	s := &ns.nodes[id-1].stats
	return StorageStats{Requests: s.requests.Load(), BlobInfo: s.blobInfo.Load(), Health: s.health.Load(),
		Uploads: s.uploads.Load(), Other: s.other.Load()}
}

// Close stops every node; hung requests return. It is safe to call more than once.
func (ns *StorageNodes) Close() {
	ns.once.Do(func() {
		close(ns.closed)
		for _, f := range ns.nodes {
			if f == nil {
				continue
			}
			close(f.stop)
			if f.srv != nil {
				_ = f.srv.Close()
			} else if f.ln != nil {
				_ = f.ln.Close()
			}
			if f.refuser != nil {
				f.refuser.close()
			}
		}
		ns.wg.Wait()
	})
}

func (f *storageFake) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /internal/blobs/info/", f.blobInfo)
	mux.HandleFunc("GET /health_check", f.health)
	mux.HandleFunc("GET /uploads", f.uploadList)
	mux.HandleFunc("GET /uploads/{id}", f.upload)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.stats.other.Add(1)
		echoError(w, http.StatusNotFound, "Not Found")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.stats.requests.Add(1)
		if !f.delay(r) {
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// delay applies the hang and latency faults; false when the request is abandoned.
func (f *storageFake) delay(r *http.Request) bool {
	var d time.Duration
	switch fl := f.node.spec.Faults; {
	case fl.Hang:
		d = math.MaxInt64
	case fl.Latency != nil:
		d = f.latency(*fl.Latency)
	default:
		return true
	}
	return sleep(r, f.stop, d)
}

// latency draws a log-normal delay with the given median and 99th percentile.
func (f *storageFake) latency(l Latency) time.Duration {
	// A standard normal draw from two uniform hashes (Box-Muller).
	h := hash(f.net.seed, tagStorageLatency, uint64(f.idx), f.calls.Add(1))
	u1, u2 := math.Max(unit(h), 1e-12), unit(mix64(h))
	return l.at(math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2))
}

// echoError is echo's error answer: {"message": …}.
func echoError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"message": msg})
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// text is echo's c.String.
func text(w http.ResponseWriter, status int, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(s))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		echoError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// Probe answers of one node about one key, as the truth states them.
const (
	ProbePresent  = "present"
	ProbeAbsent   = "absent"
	ProbeUnknown  = "unknown"   // 500: the node could not say
	ProbeNoAnswer = "no_answer" // down, hung, or no blob-info route
)

// probe is node i's answer about key (one of Probe*).
func (n *StorageNetwork) probe(i int, key string, hosts []string) string {
	r, ok := n.decodeKey(key)
	return n.answer(i, ok && n.holds(i, r, n.expected(r, key, hosts, n.nodeR)))
}

// answer is what node i answers about a blob it holds or not, given its faults.
func (n *StorageNetwork) answer(i int, held bool) string {
	switch f := n.nodes[i].spec.Faults; {
	case !f.answers() || f.NoRoute:
		return ProbeNoAnswer
	case f.DBDown || f.StorageErrors:
		return ProbeUnknown
	case f.Lying || held:
		return ProbePresent
	}
	return ProbeAbsent
}

// blobInfo is GET /internal/blobs/info/<key> (spec §3.1).
func (f *storageFake) blobInfo(w http.ResponseWriter, r *http.Request) {
	f.stats.blobInfo.Add(1)
	key, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/internal/blobs/info/"))
	if err != nil {
		echoError(w, http.StatusBadRequest, err.Error())
		return
	}
	fl := f.node.spec.Faults
	switch answer := f.net.probe(f.idx, key, f.hosts); {
	case fl.NoRoute:
		echoError(w, http.StatusNotFound, "Not Found")
	case fl.DBDown:
		text(w, http.StatusInternalServerError, "database connection issue")
	case answer == ProbeUnknown:
		echoError(w, http.StatusInternalServerError, "Internal Server Error")
	case answer == ProbePresent:
		f.writeAttributes(w, key)
	default:
		text(w, http.StatusNotFound, "blob not found")
	}
}

// writeAttributes answers gocloud's blob.Attributes (Go field names, no tags).
func (f *storageFake) writeAttributes(w http.ResponseWriter, key string) {
	size, mod, ctype := int64(123456), time.Date(2022, 3, 1, 12, 0, 0, 0, time.UTC), "image/jpeg"
	if r, ok := f.net.decodeKey(key); ok {
		size = f.net.blobSize(r)
		if r.class == clsUpload {
			mod = f.net.createdAt(r.idx).Add(time.Minute)
			if f.net.uploads[r.idx].col == colAudio {
				ctype = "audio/mpeg"
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"CacheControl": "", "ContentDisposition": "", "ContentEncoding": "", "ContentLanguage": "",
		"ContentType": ctype, "Metadata": nil, "CreateTime": time.Time{}, "ModTime": mod, "Size": size,
		"MD5": base64.StdEncoding.EncodeToString(blobMD5(key)), "ETag": fmt.Sprintf(`"%x"`, blobMD5(key)[:8]),
	})
}
