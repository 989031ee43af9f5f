package simnet

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// StorageHealth is what a node's /health_check says (spec §4), and the verdict a monitor must
// reach on its signature. The fake node writes its answer from it, so the truth and the answer
// cannot disagree.
type StorageHealth struct {
	// Readable: the node answers health (not down, not hung). Every other field is zero if not.
	Readable   bool   `json:"readable"`
	Format     string `json:"format"`      // FormatAggregated or FormatMediorum
	HTTPStatus int    `json:"http_status"` // aggregated: always 200; mediorum: 200, 503 (DB), 506 (unregistered)
	Healthy    bool   `json:"healthy"`     // the database answers
	Version    string `json:"version"`
	R          int    `json:"replication_factor"`
	Registered bool   `json:"wallet_is_registered"`
	// Signature is the verdict of storagenode's VerifySignature against the registered delegate
	// ("" for an unregistered node): valid, unsigned, malformed, mismatch, wrong_signer or
	// no_delegate.
	Signature string `json:"signature"`
	// Signer is the wallet the answer names as its signer.
	Signer       string      `json:"signer"`
	DiskHasSpace bool        `json:"disk_has_space"`
	StartedAt    time.Time   `json:"started_at"`
	LastRepair   RepairTruth `json:"last_successful_repair"`
	LastCleanup  RepairTruth `json:"last_successful_cleanup"`
	// UnreachablePeers are the registered peers that do not answer (down or hung), sorted hosts;
	// PeerHosts the ones that do.
	UnreachablePeers   []string `json:"unreachable_peers"`
	PeerHosts          []string `json:"peer_hosts"`
	MediorumPathUsed   uint64   `json:"mediorum_path_used"`
	MediorumPathSize   uint64   `json:"mediorum_path_size"`
	StorageExpectation uint64   `json:"storage_expectation"`
	DatabaseSize       uint64   `json:"database_size"`
	UploadsCount       int64    `json:"uploads_count"`
}

// RepairTruth is one RepairTracker of a node's health. A zero FinishedAt: never finished.
type RepairTruth struct {
	StartedAt                  time.Time `json:"started_at"`
	FinishedAt                 time.Time `json:"finished_at"`
	CleanupMode                bool      `json:"cleanup_mode"`
	AbortedReason              string    `json:"aborted_reason"`
	TotalChecked               int64     `json:"total_checked"`
	PullMineNeeded             int64     `json:"pull_mine_needed"`
	DeleteOverReplicatedNeeded int64     `json:"delete_over_replicated_needed"`
}

// Versions the two formats report (GN, GO).
const (
	versionGN = "1.2.12"
	versionGO = "1.0.0"
)

// health is node i's health with the nodes' hosts fixed at Start and its start time.
func (n *StorageNetwork) health(i int, hosts []string, started time.Time) StorageHealth {
	sn := n.nodes[i]
	f := sn.spec.Faults
	if !f.answers() {
		return StorageHealth{}
	}
	h := StorageHealth{Readable: true, Format: sn.format, HTTPStatus: http.StatusOK, Healthy: !f.DBDown,
		Version: versionGN, R: sn.r, Registered: !f.Unregistered, DiskHasSpace: !f.DiskFull,
		StartedAt: started.Add(-72 * time.Hour).Truncate(time.Second), Signer: n.signer(i, 0).Address(),
		MediorumPathSize: 4_000_000_000_000, DatabaseSize: 5_000_000_000, UploadsCount: int64(len(n.uploads))}
	if sn.format == FormatMediorum {
		h.Version = versionGO
		switch {
		case f.Unregistered:
			h.HTTPStatus = 506
		case f.DBDown:
			h.HTTPStatus = http.StatusServiceUnavailable
		}
	}
	switch {
	case f.Signature == SigWrongSigner:
		h.Signature, h.Signer = "wrong_signer", n.signer(i, 1).Address()
	case f.Signature != "":
		h.Signature = f.Signature
	case f.Unregistered:
		h.Signature = "no_delegate"
	default:
		h.Signature = "valid"
	}
	for _, j := range n.ranked {
		if j == i {
			continue
		}
		if n.nodes[j].spec.Faults.answers() {
			h.PeerHosts = append(h.PeerHosts, hosts[j])
		} else {
			h.UnreachablePeers = append(h.UnreachablePeers, hosts[j])
		}
	}
	slices.Sort(h.PeerHosts)
	slices.Sort(h.UnreachablePeers)

	// Sizes and counters are simulated in scale with the node's share of the keys (the health of
	// a real node counts its own runs; a monitor only reads them).
	share := uint64(n.keyCount) * uint64(sn.r) / uint64(len(n.ranked))
	if f.Unregistered {
		share = 0
	}
	const avgBlob = 2_500_000
	h.StorageExpectation = share * 2 * avgBlob
	held := float64(share) * (1 - f.MissingShare)
	if f.Unpulled {
		held = 0
		h.StartedAt = started.Add(-10 * time.Minute).Truncate(time.Second)
	}
	h.MediorumPathUsed = uint64(held*avgBlob) + uint64(float64(uint64(n.keyCount)-share)*f.ExtraShare*avgBlob)
	if f.Unpulled {
		return h // never finished a repair
	}
	ch := hash(n.seed, tagStorageCounters, uint64(i))
	repairAge, cleanupAge := 20*time.Minute, 2*time.Hour
	if f.StaleRepair {
		repairAge, cleanupAge = 10*time.Hour, 40*time.Hour
	}
	fin := started.Add(-repairAge).Truncate(time.Second)
	h.LastRepair = RepairTruth{StartedAt: fin.Add(-5 * time.Minute), FinishedAt: fin, TotalChecked: int64(share),
		PullMineNeeded: int64(f.MissingShare*float64(share)) + int64(ch%3)}
	if f.DiskFull {
		h.LastRepair.AbortedReason = "DISK_FULL"
	}
	fin = started.Add(-cleanupAge).Truncate(time.Second)
	h.LastCleanup = RepairTruth{StartedAt: fin.Add(-30 * time.Minute), FinishedAt: fin, CleanupMode: true,
		TotalChecked: int64(n.keyCount), PullMineNeeded: int64(mix64(ch) % 3),
		DeleteOverReplicatedNeeded: int64(f.ExtraShare*float64(uint64(n.keyCount)-share)) / 2}
	return h
}

// tracker is a RepairTruth as mediorum's RepairTracker marshals it (Go field names).
func (t RepairTruth) tracker() map[string]any {
	counters := map[string]any{}
	if !t.FinishedAt.IsZero() {
		counters = map[string]any{"total_checked": t.TotalChecked, "pull_mine_needed": t.PullMineNeeded,
			"pull_mine_success": t.PullMineNeeded, "already_have": max(0, t.TotalChecked-t.PullMineNeeded),
			"delete_over_replicated_needed": t.DeleteOverReplicatedNeeded}
	}
	cursor := 2
	if t.CleanupMode {
		cursor = 1
	}
	return map[string]any{
		"StartedAt": t.StartedAt, "UpdatedAt": t.FinishedAt, "FinishedAt": t.FinishedAt, "CleanupMode": t.CleanupMode,
		"CursorI": cursor, "CursorUploadID": "", "CursorPreviewCID": "", "CursorQmCID": "", "Counters": counters,
		"ContentSize": t.TotalChecked * 2_500_000, "Duration": int64(t.FinishedAt.Sub(t.StartedAt)), "AbortedReason": t.AbortedReason,
	}
}

// healthData is mediorum's HealthData (spec §4.1) of h.
func (f *storageFake) healthData(h StorageHealth) map[string]any {
	peers := map[string]any{}
	at := f.now().UTC().Add(-30 * time.Second).Truncate(time.Second)
	for _, p := range h.PeerHosts {
		peers[p] = map[string]any{"version": h.Version, "lastReachable": at, "lastHealthy": at, "reachablePeers": nil}
	}
	unreachable := any(nil)
	if h.UnreachablePeers != nil {
		unreachable = h.UnreachablePeers
	}
	return map[string]any{
		"healthy": h.Healthy, "version": h.Version, "service": "validator", "isSeeding": false,
		"isAudiusdManaged": true, "builtAt": "", "startedAt": h.StartedAt, "spID": f.idx + 1,
		"spOwnerWallet": ownerWallet(f.net.seed, int64(f.idx+1)), "git": "82fa412", "audiusDockerCompose": "",
		"mediorumPathUsed": h.MediorumPathUsed, "mediorumPathSize": h.MediorumPathSize,
		"storageExpectation": h.StorageExpectation, "databaseSize": h.DatabaseSize, "dbSizeErr": "",
		"lastSuccessfulRepair": h.LastRepair.tracker(), "lastSuccessfulCleanup": h.LastCleanup.tracker(),
		"uploadsCount": h.UploadsCount, "uploadsCountErr": "", "autoUpgradeEnabled": true,
		"trustedNotifier": nil, "env": "prod", "self": map[string]any{"host": f.hosts[f.idx], "wallet": f.signer.Address()},
		"wallet_is_registered": h.Registered, "signers": []any{}, "replicationFactor": h.R, "dir": "/data",
		"blobStorePrefix": "file", "moveFromBlobStorePrefix": "", "listenPort": "1991", "trustedNotifierId": 0,
		"peerHealths": peers, "unreachablePeers": unreachable, "failsPeerReachability": false,
		"storeAll": false, "isDbLocalhost": true, "diskHasSpace": h.DiskHasSpace,
		"isDiscoveryListensEnabled": false, "transcodeQueueLength": 0, "transcodeStats": nil,
	}
}

// noKeySignature is what mediorum puts in "signature" without a private key.
const noKeySignature = "private key not set (should only happen on local dev)!"

// health is GET /health_check in the node's format, signed as its faults say.
func (f *storageFake) health(w http.ResponseWriter, r *http.Request) {
	f.stats.health.Add(1)
	h := f.net.health(f.idx, f.hosts, f.started)
	data := f.healthData(h)
	now := f.now().UTC()
	var top, signed map[string]any
	if h.Format == FormatAggregated {
		top = map[string]any{
			"git": "82fa412", "hostname": strings.TrimPrefix(f.hosts[f.idx], "http://"), "timestamp": now,
			"uptime": now.Sub(h.StartedAt).Round(time.Second).String(), "storage": data,
			"data": map[string]any{"version": h.Version, "diskHasSpace": h.DiskHasSpace},
			"core": map[string]any{"live": true, "ready": true, "chain_info": map[string]any{"current_height": 123456}},
		}
		signed = top
	} else {
		top = map[string]any{"data": data, "timestamp": now}
		if h.HTTPStatus == 506 {
			top["error"] = "wallet not registered for provided endpoint"
		}
		signed = data
	}
	key := f.signer
	if f.node.spec.Faults.Signature == SigWrongSigner {
		key = f.wrong
	}
	sig := key.SignBytes(canonicalJSON(signed))
	switch f.node.spec.Faults.Signature {
	case SigUnsigned:
		sig = noKeySignature
	case SigMalformed:
		sig = "0x1234"
	case SigMismatch:
		data["databaseSize"] = h.DatabaseSize + 1 // altered after signing
	}
	top["signature"], top["signer"] = sig, h.Signer
	writeJSON(w, h.HTTPStatus, top)
}

// canonicalJSON is the RFC 8785 form of v as the nodes sign it: encoding/json sorts map keys
// and, without HTML escaping, writes simnet's values (ASCII strings, integers, booleans, null)
// exactly as JCS does.
func canonicalJSON(v any) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		panic(err) // simnet's own maps always encode
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
