package simnet

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
)

// The storage-v2 network (spec audius-storage-v2.md): registered nodes that each hold the blobs
// ranked in their top R by sha256 rendezvous, served over loopback with mediorum's routes, the
// registry listing them (messily, as operators register them), a discovery database with the
// storage-era columns, and the truth a check of it must find. It is separate from the legacy
// replica-set Network: its own scenario, nodes, database and truth.

// StorageScenario describes a storage network. Every generated value is a pure function of Seed
// and a few integers, so nodes, seeder and truth agree without sharing state.
type StorageScenario struct {
	Seed int64 `json:"seed"`
	// NodeCount registers nodes 1..NodeCount; the last Validators of them register as service
	// type "validator", the others as "content-node" (both are candidates, spec §2.2).
	NodeCount  int `json:"node_count"`
	Validators int `json:"validators,omitempty"`
	// R is the replication factor every node runs with unless its spec says otherwise
	// (default DefaultStorageR, GN's).
	R     int               `json:"r,omitempty"`
	Nodes []StorageNodeSpec `json:"nodes,omitempty"`
	// Discovery rows to generate (current rows); each v2 track has an audio upload, each image
	// column set to an upload id an image upload. OrphanUploads are audio uploads no track names.
	Tracks        int `json:"tracks"`
	Users         int `json:"users"`
	Playlists     int `json:"playlists"`
	OrphanUploads int `json:"orphan_uploads,omitempty"`
	// Shares shapes the data; nil means DefaultStorageShares().
	Shares *StorageShares `json:"shares,omitempty"`
}

// DefaultStorageR is the replication factor of GN (v1.2.x), spec §2.3.
const DefaultStorageR = 4

// StorageNodeSpec overrides generated node ID (1..NodeCount).
type StorageNodeSpec struct {
	ID int64 `json:"id"`
	// R this node runs with; 0 is the scenario's (a roll-out gives some nodes another).
	R int `json:"r,omitempty"`
	// Format of its /health_check: FormatAggregated (GN, default) or FormatMediorum (GO).
	Format string        `json:"format,omitempty"`
	Faults StorageFaults `json:"faults,omitempty"`
}

// Health formats a storage node answers in (spec §4).
const (
	FormatAggregated = "aggregated"
	FormatMediorum   = "mediorum"
)

// Signature faults of a node's health answer; "" signs correctly with the registered delegate.
const (
	SigUnsigned    = "unsigned"     // no signature (mediorum's "private key not set" text)
	SigWrongSigner = "wrong_signer" // validly signed by another key, which it names as signer
	SigMalformed   = "malformed"    // "signature" is not 65 bytes of hex
	SigMismatch    = "mismatch"     // signed, then a field changed: recovers to someone else
)

// StorageFaults are a storage node's misbehaviours.
type StorageFaults struct {
	// Down: connection refused. Hang: accepts and never answers. Neither answers health, so the
	// monitor cannot read its R.
	Down bool `json:"down,omitempty"`
	Hang bool `json:"hang,omitempty"`
	// Latency delays every answer.
	Latency *Latency `json:"latency,omitempty"`
	// DBDown: its Postgres is down: blob info answers 500 "database connection issue" (GN checks
	// it before the lookup), health says healthy false (mediorum format: HTTP 503).
	DBDown bool `json:"db_down,omitempty"`
	// StorageErrors: blob info answers 500 {"message":"Internal Server Error"} (a bucket error).
	StorageErrors bool `json:"storage_errors,omitempty"`
	// NoRoute: blob info answers echo's 404 {"message":"Not Found"}: no answer about the blob.
	NoRoute bool `json:"no_route,omitempty"`
	// Lying: blob info answers present for every key.
	Lying bool `json:"lying,omitempty"`
	// MissingShare of the keys it should hold are lost.
	MissingShare float64 `json:"missing_share,omitempty"`
	// ExtraShare of the keys it should not hold are held anyway (copies not yet cleaned up).
	ExtraShare float64 `json:"extra_share,omitempty"`
	// Unpulled: a new node that has not pulled its share yet: it holds none of its keys and has
	// never finished a repair.
	Unpulled bool `json:"unpulled,omitempty"`
	// Signature fault of its health answer (Sig*).
	Signature string `json:"signature,omitempty"`
	// Unregistered: it serves, but the registry does not list it (not a candidate, holds no
	// expected keys; its health says wallet_is_registered false, mediorum format HTTP 506).
	Unregistered bool `json:"unregistered,omitempty"`
	// StaleRepair: its last successful repair and cleanup are long ago (10 and 40 hours).
	StaleRepair bool `json:"stale_repair,omitempty"`
	// DiskFull: no disk space: the last successful repair stopped with DISK_FULL.
	DiskFull bool `json:"disk_full,omitempty"`
}

// answers reports whether the node answers HTTP at all.
func (f StorageFaults) answers() bool { return !f.Down && !f.Hang }

// StorageShares shape the generated data. Every share is a probability in [0, 1].
type StorageShares struct {
	// Lost keys are held by no node; Under keys lack one of their expected holders' copies.
	Lost  float64 `json:"lost"`
	Under float64 `json:"under"`
	// Placement: uploads with placement_hosts (their holders, whatever the ranking).
	Placement float64 `json:"placement"`
	// LegacyTrack: tracks from before storage v2 (no upload; legacy Qm cover art).
	LegacyTrack float64 `json:"legacy_track"`
	// NoPreview: v2 tracks without a preview.
	NoPreview float64 `json:"no_preview"`
	// NoImage: image columns left NULL; of the rest, ImageUpload hold an upload id, the others
	// a legacy Qm directory.
	NoImage     float64 `json:"no_image"`
	ImageUpload float64 `json:"image_upload"`
	// LegacySingle: legacy single-image columns (profile_picture, cover_photo, cover_art,
	// playlist_image_multihash) set to a Qm CID, where the sizes column holds no upload.
	LegacySingle float64 `json:"legacy_single"`
	// Deleted: deleted tracks and playlists, deactivated users (their keys are stored but not
	// named by the discovery source).
	Deleted float64 `json:"deleted"`
	// History: entities with an is_current = false row naming older keys no node holds.
	History float64 `json:"history"`
}

// DefaultStorageShares are the shares of a generated storage network.
func DefaultStorageShares() StorageShares {
	return StorageShares{Lost: 0.002, Under: 0.02, Placement: 0.02, LegacyTrack: 0.2, NoPreview: 0.3,
		NoImage: 0.2, ImageUpload: 0.6, LegacySingle: 0.1, Deleted: 0.03, History: 0.1}
}

func (s StorageShares) validate() error {
	for name, v := range map[string]float64{"lost": s.Lost, "under": s.Under, "placement": s.Placement,
		"legacy_track": s.LegacyTrack, "no_preview": s.NoPreview, "no_image": s.NoImage,
		"image_upload": s.ImageUpload, "legacy_single": s.LegacySingle, "deleted": s.Deleted, "history": s.History} {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("%w: share %s = %v is not in [0, 1]", errScenario, name, v)
		}
	}
	return nil
}

// LoadStorageScenario reads a StorageScenario from a JSON file (unknown fields are errors).
func LoadStorageScenario(path string) (StorageScenario, error) {
	var s StorageScenario
	f, err := os.Open(path)
	if err != nil {
		return s, fmt.Errorf("%w: %w", errScenario, err)
	}
	defer f.Close()
	d := json.NewDecoder(f)
	d.DisallowUnknownFields()
	if err := d.Decode(&s); err != nil {
		return s, fmt.Errorf("%w: %s: %w", errScenario, path, err)
	}
	return s, nil
}

// WithNodes returns s with specs merged in: a spec replaces the scenario's spec of the same id,
// or is added.
func (s StorageScenario) WithNodes(specs []StorageNodeSpec) StorageScenario {
	nodes := slices.Clone(s.Nodes)
	for _, ns := range specs {
		i := slices.IndexFunc(nodes, func(o StorageNodeSpec) bool { return o.ID == ns.ID })
		if i >= 0 {
			nodes[i] = ns
		} else {
			nodes = append(nodes, ns)
		}
	}
	s.Nodes = nodes
	return s
}

// StorageNetwork is a built storage scenario. It is immutable after BuildStorage except for the
// endpoints, which Start sets once.
type StorageNetwork struct {
	scenario StorageScenario
	shares   StorageShares
	seed     int64
	r        int
	nodes    []storageNode // node ID i at index i-1

	// uploads in created_at order; the entities' upload indices (-1: none).
	uploads                   []uploadRef
	trackAudio, trackCover    []int32
	userPicture, userCover    []int32
	playlistImage             []int32
	trackLegacy, trackDeleted []bool
	mask                      uint32
	keyCount                  int // keys the network stores (blobRefs)

	mu        sync.Mutex
	endpoints []string // per node: nominal until Start, then the loopback URL
	hosts     []string // per node: the normalised endpoint it ranks under
	ranked    []int    // indices of registered nodes (the candidates), in ID order
	started   bool
}

type storageNode struct {
	spec    StorageNodeSpec
	r       int
	format  string
	service string
}

// BuildStorage validates a storage scenario and generates its network. It is deterministic in s.
func BuildStorage(s StorageScenario) (*StorageNetwork, error) {
	n := &StorageNetwork{scenario: s, seed: s.Seed, r: s.R}
	if n.r == 0 {
		n.r = DefaultStorageR
	}
	n.shares = DefaultStorageShares()
	if s.Shares != nil {
		n.shares = *s.Shares
	}
	if err := n.shares.validate(); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	if err := n.buildNodes(); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	for name, v := range map[string]int{"tracks": s.Tracks, "users": s.Users, "playlists": s.Playlists, "orphan_uploads": s.OrphanUploads} {
		if v < 0 || v > 50_000_000 {
			return nil, fmt.Errorf("build: %w: %s = %d out of range", errScenario, name, v)
		}
	}
	n.mask = uint32(hash(n.seed, tagStorageMask))
	n.generate()
	return n, nil
}

func (n *StorageNetwork) buildNodes() error {
	s := n.scenario
	if s.NodeCount < 1 || s.NodeCount > 10000 {
		return fmt.Errorf("%w: node_count %d out of range 1..10000", errScenario, s.NodeCount)
	}
	if s.Validators < 0 || s.Validators > s.NodeCount {
		return fmt.Errorf("%w: validators %d out of range 0..node_count", errScenario, s.Validators)
	}
	if n.r < 1 || n.r > s.NodeCount {
		return fmt.Errorf("%w: r %d out of range 1..node_count", errScenario, n.r)
	}
	n.nodes = make([]storageNode, s.NodeCount)
	for i := range n.nodes {
		n.nodes[i].spec.ID = int64(i + 1)
	}
	seen := map[int64]bool{}
	for _, ns := range s.Nodes {
		if ns.ID < 1 || ns.ID > int64(s.NodeCount) {
			return fmt.Errorf("%w: storage node id %d out of range 1..%d", errScenario, ns.ID, s.NodeCount)
		}
		if seen[ns.ID] {
			return fmt.Errorf("%w: storage node %d listed twice", errScenario, ns.ID)
		}
		seen[ns.ID] = true
		if err := validateStorageNode(ns); err != nil {
			return err
		}
		n.nodes[ns.ID-1].spec = ns
	}
	n.endpoints = make([]string, len(n.nodes))
	for i := range n.nodes {
		sn := &n.nodes[i]
		sn.r, sn.format, sn.service = sn.spec.R, sn.spec.Format, "content-node"
		if sn.r == 0 {
			sn.r = n.r
		}
		if sn.format == "" {
			sn.format = FormatAggregated
		}
		if i >= s.NodeCount-s.Validators {
			sn.service = "validator"
		}
		n.endpoints[i] = "http://sn" + strconv.Itoa(i+1)
		if !sn.spec.Faults.Unregistered {
			n.ranked = append(n.ranked, i)
		}
	}
	if len(n.ranked) == 0 {
		return fmt.Errorf("%w: every storage node is unregistered", errScenario)
	}
	n.setHosts()
	return nil
}

func validateStorageNode(ns StorageNodeSpec) error {
	f := ns.Faults
	switch {
	case ns.R < 0:
		return fmt.Errorf("%w: storage node %d: r %d is negative", errScenario, ns.ID, ns.R)
	case ns.Format != "" && ns.Format != FormatAggregated && ns.Format != FormatMediorum:
		return fmt.Errorf("%w: storage node %d: format %q: want %s or %s", errScenario, ns.ID, ns.Format, FormatAggregated, FormatMediorum)
	case !(f.MissingShare >= 0 && f.MissingShare <= 1) || !(f.ExtraShare >= 0 && f.ExtraShare <= 1):
		return fmt.Errorf("%w: storage node %d: missing_share and extra_share must be in [0, 1]", errScenario, ns.ID)
	case f.Latency != nil && (f.Latency.Median <= 0 || (f.Latency.P99 != 0 && f.Latency.P99 < f.Latency.Median)):
		return fmt.Errorf("%w: storage node %d: latency needs median > 0 and p99 >= median", errScenario, ns.ID)
	}
	switch f.Signature {
	case "", SigUnsigned, SigWrongSigner, SigMalformed, SigMismatch:
	default:
		return fmt.Errorf("%w: storage node %d: signature fault %q", errScenario, ns.ID, f.Signature)
	}
	return nil
}

// setHosts recomputes the normalised hosts from the endpoints (mu held or not yet shared).
func (n *StorageNetwork) setHosts() {
	n.hosts = make([]string, len(n.endpoints))
	for i, e := range n.endpoints {
		n.hosts[i] = normalizeHost(e)
	}
}

// NodeIDs lists the storage nodes' ids, 1..N.
func (n *StorageNetwork) NodeIDs() []int64 {
	out := make([]int64, len(n.nodes))
	for i := range out {
		out[i] = int64(i + 1)
	}
	return out
}

// R is the scenario's replication factor: what every node runs with unless its spec says
// otherwise, and what a monitor assumes for a node whose health it cannot read.
func (n *StorageNetwork) R() int { return n.r }

// Host is node id's normalised endpoint, the string it ranks under ("" for an unknown id).
func (n *StorageNetwork) Host(id int64) string {
	if id < 1 || id > int64(len(n.nodes)) {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.hosts[id-1]
}

func (n *StorageNetwork) hostsSnapshot() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.hosts)
}

// startOnce marks the network started; it fails the second time.
func (n *StorageNetwork) startOnce(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started {
		return fmt.Errorf("simnet: storage network already started")
	}
	n.started = true
	return ctx.Err()
}
