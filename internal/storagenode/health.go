package storagenode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"
)

// Format is the shape of a /health_check answer (§4).
type Format int

const (
	// Aggregated is GN's (v1.2.x) public answer: always HTTP 200, mediorum's health under
	// "storage" beside "core", "data", "git", …, the whole object signed.
	Aggregated Format = iota + 1
	// Mediorum is mediorum's own answer, public in GO and every version since 2023:
	// {"data": {…}, "signer", "signature", "timestamp"}, 200 / 503 (database) / 506 (wallet not
	// registered), "data" alone signed.
	Mediorum
)

func (f Format) String() string {
	switch f {
	case Aggregated:
		return "aggregated"
	case Mediorum:
		return "mediorum"
	}
	return fmt.Sprintf("format(%d)", int(f))
}

// Repair counters a monitor reads (§6.3). Older nodes (2023) counted pull_under_replicated_needed
// instead of pull_mine_needed.
const (
	CounterTotalChecked               = "total_checked"
	CounterPullMineNeeded             = "pull_mine_needed"
	CounterDeleteOverReplicatedNeeded = "delete_over_replicated_needed"
)

// Peer is a node's (host, wallet) pair as it reports itself.
type Peer struct {
	Host   string `json:"host"`
	Wallet string `json:"wallet"`
}

// RepairRun is one repair run as a node reports it (mediorum's RepairTracker, Go field names).
// A zero FinishedAt means the node never finished one (or never set it).
type RepairRun struct {
	StartedAt   time.Time
	UpdatedAt   time.Time
	FinishedAt  time.Time
	CleanupMode bool
	Counters    map[string]int64
	// ContentSize is the bytes the run counted as held (inflated in GN, §6.2).
	ContentSize int64
	Duration    time.Duration
	// AbortedReason is "" for a clean run; a run stopped by DISK_FULL still counts as successful.
	AbortedReason string
}

// PullMineNeeded is the run's count of keys the node should hold and lacked.
func (r RepairRun) PullMineNeeded() int64 { return r.Counters[CounterPullMineNeeded] }

// DeleteOverReplicatedNeeded is the run's count of copies held too far down the ranking.
func (r RepairRun) DeleteOverReplicatedNeeded() int64 {
	return r.Counters[CounterDeleteOverReplicatedNeeded]
}

// Health is a node's /health_check answer, the same whatever its Format.
type Health struct {
	Format     Format
	HTTPStatus int
	// StorageError is set when an Aggregated answer carries no storage health: "disabled"
	// ({"enabled":false}) or the error the node gave. Every storage field is then zero.
	StorageError string
	// Error is a Mediorum 506's "error" text ("wallet not registered for provided endpoint").
	Error string

	// Healthy is the node's own verdict: its database answers (and, in the Mediorum format, its
	// wallet is registered). It ignores disk, peers and repair (§4.1).
	Healthy bool
	Version string
	Service string
	SPID    int64
	// ReplicationFactor is the R the node runs with; 0 when it did not say.
	ReplicationFactor  int
	StoreAll           bool
	WalletIsRegistered bool
	DiskHasSpace       bool
	Self               Peer
	StartedAt          time.Time

	LastRepair  RepairRun // the last successful run of either mode
	LastCleanup RepairRun // the last successful cleanup run

	// UnreachablePeers are the registered peers the node has not reached for 2 minutes.
	UnreachablePeers []string
	// PeerHosts are the peers the node has reached at least once (its peerHealths), sorted.
	PeerHosts []string

	MediorumPathUsed   uint64 // bytes in the blob directory
	MediorumPathSize   uint64
	StorageExpectation uint64 // bytes the node should hold: Σ upload sizes × 2 × R / N
	DatabaseSize       uint64
	UploadsCount       int64

	// Timestamp is the answer's own time.
	Timestamp time.Time
	// Signer is the wallet the answer claims was its signer, as given.
	Signer string
	// Recovered is the address the signature recovers to ("" when SignatureProblem is set).
	Recovered string
	// SignatureProblem is SignatureUnsigned or SignatureMalformed when no address could be
	// recovered, else 0. VerifySignature gives the verdict.
	SignatureProblem SignatureStatus
}

// Health GETs endpoint's /health_check and decodes it (DecodeHealth). 200, 503 and 506 with a
// health body are answers; anything else is a *contentnode.Error.
func (c *Client) Health(ctx context.Context, endpoint string) (Health, error) {
	a, target, err := c.get(ctx, endpoint, PathHealthCheck, "")
	if err != nil {
		return Health{}, err
	}
	h, err := DecodeHealth(a.status, a.body)
	if errors.Is(err, errStatus) {
		return Health{}, statusError(target, a)
	}
	if err != nil {
		return Health{}, badResponse(target, a.status, err)
	}
	return h, nil
}

// healthStatuses are the statuses a health body comes with: GN always 200; mediorum 503 when its
// database is unhealthy, 506 when its wallet is not registered.
var healthStatuses = []int{http.StatusOK, http.StatusServiceUnavailable, 506}

// DecodeHealth reads a /health_check answer of either format (a top-level "storage" object is
// Aggregated, a "data" object with replicationFactor is Mediorum) and recovers its signer. A body
// that is neither, with status 200, is an error; with another status it is that status's error.
func DecodeHealth(status int, body []byte) (Health, error) {
	if !slices.Contains(healthStatuses, status) {
		return Health{}, errStatus
	}
	h, err := decodeHealth(body)
	if err != nil && status != http.StatusOK {
		return Health{}, errStatus
	}
	h.HTTPStatus = status
	return h, err
}

// healthData is the fields of mediorum's HealthData that are read.
type healthData struct {
	Healthy               bool                       `json:"healthy"`
	Version               string                     `json:"version"`
	Service               string                     `json:"service"`
	SPID                  int64                      `json:"spID"`
	ReplicationFactor     *int                       `json:"replicationFactor"`
	StoreAll              bool                       `json:"storeAll"`
	WalletIsRegistered    bool                       `json:"wallet_is_registered"`
	DiskHasSpace          bool                       `json:"diskHasSpace"`
	Self                  Peer                       `json:"self"`
	StartedAt             time.Time                  `json:"startedAt"`
	LastSuccessfulRepair  RepairRun                  `json:"lastSuccessfulRepair"`
	LastSuccessfulCleanup RepairRun                  `json:"lastSuccessfulCleanup"`
	UnreachablePeers      []string                   `json:"unreachablePeers"`
	PeerHealths           map[string]json.RawMessage `json:"peerHealths"`
	MediorumPathUsed      uint64                     `json:"mediorumPathUsed"`
	MediorumPathSize      uint64                     `json:"mediorumPathSize"`
	StorageExpectation    uint64                     `json:"storageExpectation"`
	DatabaseSize          uint64                     `json:"databaseSize"`
	UploadsCount          int64                      `json:"uploadsCount"`
}

func decodeHealth(body []byte) (Health, error) {
	parsed, err := parseJSON(body)
	if err != nil {
		return Health{}, fmt.Errorf("health: %w", err)
	}
	top, ok := parsed.(*jsonObject)
	if !ok {
		return Health{}, errors.New("health: not a JSON object")
	}
	var raw struct {
		Storage   json.RawMessage `json:"storage"`
		Data      json.RawMessage `json:"data"`
		Timestamp *time.Time      `json:"timestamp"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return Health{}, fmt.Errorf("health: %w", err)
	}
	var h Health
	var signed jsonValue
	storage, isAggregated := top.get("storage")
	if _, isObject := storage.(*jsonObject); isAggregated && isObject {
		h.Format, signed = Aggregated, top.without("signature", "signer")
		if err := h.decodeStorage(raw.Storage, storage.(*jsonObject)); err != nil {
			return Health{}, err
		}
	} else {
		data, ok := top.get("data")
		obj, isObject := data.(*jsonObject)
		if !ok || !isObject {
			return Health{}, errors.New("health: neither a storage nor a data object")
		}
		if _, ok := obj.get("replicationFactor"); !ok {
			return Health{}, errors.New("health: data has no replicationFactor: not a storage node's health")
		}
		h.Format, signed = Mediorum, data
		if err := h.decodeData(raw.Data); err != nil {
			return Health{}, err
		}
		if s, ok := stringMember(top, "error"); ok {
			h.Error = s
		}
	}
	if raw.Timestamp != nil {
		h.Timestamp = *raw.Timestamp
	}
	h.Signer, _ = stringMember(top, "signer")
	h.Recovered, h.SignatureProblem = recoverSigner(top, signed)
	return h, nil
}

// decodeStorage reads GN's storage member: the health data, or {"enabled":false} or
// {"enabled":true,"error":…} when the node has none to give.
func (h *Health) decodeStorage(raw json.RawMessage, obj *jsonObject) error {
	if enabled, ok := obj.get("enabled"); ok {
		switch {
		case enabled == false:
			h.StorageError = "disabled"
		default:
			h.StorageError, _ = stringMember(obj, "error")
			if h.StorageError == "" {
				h.StorageError = "storage health missing"
			}
		}
		return nil
	}
	return h.decodeData(raw)
}

func (h *Health) decodeData(raw json.RawMessage) error {
	var d healthData
	if err := json.Unmarshal(raw, &d); err != nil {
		return fmt.Errorf("health data: %w", err)
	}
	h.Healthy, h.Version, h.Service, h.SPID = d.Healthy, d.Version, d.Service, d.SPID
	if d.ReplicationFactor != nil {
		h.ReplicationFactor = *d.ReplicationFactor
	}
	h.StoreAll, h.WalletIsRegistered, h.DiskHasSpace = d.StoreAll, d.WalletIsRegistered, d.DiskHasSpace
	h.Self, h.StartedAt = d.Self, d.StartedAt
	h.LastRepair, h.LastCleanup = d.LastSuccessfulRepair, d.LastSuccessfulCleanup
	h.UnreachablePeers = d.UnreachablePeers
	h.PeerHosts = slices.Sorted(maps.Keys(d.PeerHealths))
	h.MediorumPathUsed, h.MediorumPathSize = d.MediorumPathUsed, d.MediorumPathSize
	h.StorageExpectation, h.DatabaseSize, h.UploadsCount = d.StorageExpectation, d.DatabaseSize, d.UploadsCount
	return nil
}

func stringMember(o *jsonObject, name string) (string, bool) {
	v, ok := o.get(name)
	s, isString := v.(string)
	return s, ok && isString
}
