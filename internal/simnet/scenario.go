// Package simnet simulates an Audius network for tests, the demo and benchmarks: a discovery
// database (blocks, users, tracks, ursm_content_nodes with the real column names and types) and fake
// content nodes on loopback that speak the real content-node API with its real limits and
// injectable faults. For every scenario it also states the exact metric values netmon must publish
// (Truth), computed in plain Go over the generated data, independently of netmon's SQL.
//
// It consumes a Scenario (hand-written, from a JSON file, or generated from counts, shares and a
// seed) and produces a Network (Build), fake nodes (Network.Start), a seeded discovery database
// (Network.SeedDiscovery) and a Truth (Network.Truth). Everything is deterministic from the scenario:
// the same scenario gives the same rows, the same node answers and the same truth.
//
// Order of use: Build, Start, SeedDiscovery, Truth. Start binds the listeners and records their
// loopback URLs in the Network, so the endpoints written to ursm_content_nodes.endpoint and
// users.creator_node_endpoint are the ones the nodes really listen on. Before Start, the Network
// uses each node's nominal endpoint from the scenario (http://cn<sp_id> unless given), which is
// only useful for seeding a database nobody fetches from.
package simnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"
)

// Scenario describes a network. Explicit nodes and users (as in Reference) and generated ones (from
// NodeCount, UserCount, Shares and Seed) can be mixed: explicit users come first, generated users
// get the user ids after the largest explicit one.
type Scenario struct {
	// Seed drives every generated value. The same scenario and seed give the same network.
	Seed int64 `json:"seed"`
	// Block is the current block number (blocks.number with is_current = true). Default 1000.
	Block int64 `json:"block,omitempty"`
	// NodeCount generates content nodes with SP ids 1..NodeCount. Nodes entries with the same SP id
	// override the generated ones; entries with other SP ids are added.
	NodeCount int        `json:"node_count,omitempty"`
	Nodes     []NodeSpec `json:"nodes,omitempty"`
	// Foundation is FOUNDATION_NODES_SPIDS. Default, for generated nodes: SP ids 1..min(4, NodeCount).
	Foundation []int64 `json:"foundation,omitempty"`
	// Users are explicit users; UserCount more are generated after them.
	Users     []UserSpec `json:"users,omitempty"`
	UserCount int        `json:"user_count,omitempty"`
	// Shares shapes the generated users; nil means DefaultShares().
	Shares *Shares `json:"shares,omitempty"`
}

// NodeSpec is one content node (one ursm_content_nodes row with is_current = true).
type NodeSpec struct {
	SPID int64 `json:"sp_id"`
	// Endpoint is the nominal endpoint used until Start replaces it with the loopback URL.
	// Default http://cn<sp_id>.
	Endpoint string `json:"endpoint,omitempty"`
	// NoEndpoint: the SP is registered with endpoint '' (deregistered on chain). It has no listener;
	// netmon must treat its slots as unreachable (-2) without calling anything.
	NoEndpoint bool `json:"no_endpoint,omitempty"`
	// Deregistered: the SP keeps its endpoint in ursm_content_nodes and its fake node listens and
	// answers, but the endpoint belongs in DEREGISTERED_CONTENT_NODES (Truth.Deregistered), so
	// netmon must skip it (-2) and never call it; the node counts the requests it gets anyway.
	Deregistered bool   `json:"deregistered,omitempty"`
	Faults       Faults `json:"faults,omitempty"`
}

// Faults are a node's misbehaviours. The persistent ones (Down, Hang, ReadOnly, Truncated,
// Malformed, Oversized) make every attempt fail, so every slot on the node is -2 in the truth. The
// others leave every requested wallet's clock recoverable by a client that retries (FailFirst),
// waits (Latency, RateLimit) and matches answers by wallet (Reorder, Duplicate, Unrequested).
type Faults struct {
	// Down: nothing accepts connections on the node's port (connection refused).
	Down bool `json:"down,omitempty"`
	// Hang: the node accepts the request and never answers until the client gives up.
	Hang bool `json:"hang,omitempty"`
	// ReadOnly: every POST gets 500 {"error":"Server is in read-only mode at the moment"}.
	ReadOnly bool `json:"read_only,omitempty"`
	// FailFirst: the first FailFirst requests with a given body get 500 before the same body is
	// served; at most 2, so three attempts always recover.
	FailFirst int `json:"fail_first,omitempty"`
	// Latency delays every answer (slow node). It must stay below the client's timeout for the
	// truth to hold.
	Latency *Latency `json:"latency,omitempty"`
	// RateLimit answers 429 with Retry-After once a client IP has made Requests requests in the
	// current fixed Window (the real node: 100 per 60 s on batch_clock_status). A client that waits
	// gets every answer.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
	// Truncated: a 200 whose JSON body stops half way (Content-Length matches the cut body).
	Truncated bool `json:"truncated,omitempty"`
	// Malformed: a 200 whose body is not JSON.
	Malformed bool `json:"malformed,omitempty"`
	// Oversized: a 200 whose body streams OversizedBytes (default 64 MiB) of answer entries and then
	// stops without closing the JSON, so it is invalid however much of it a client reads.
	Oversized      bool  `json:"oversized,omitempty"`
	OversizedBytes int64 `json:"oversized_bytes,omitempty"`
	// Reorder answers the wallets in reverse request order.
	Reorder bool `json:"reorder,omitempty"`
	// Duplicate repeats every answered entry (with the same clock).
	Duplicate bool `json:"duplicate,omitempty"`
	// Unrequested adds entries for wallets that were not requested, with wrong clocks: wallets of
	// other users of the network and a few strings that are no wallet at all.
	Unrequested bool `json:"unrequested,omitempty"`
}

// Latency is a log-normal delay given by its median and 99th percentile.
type Latency struct {
	Median Duration `json:"median"`
	P99    Duration `json:"p99,omitempty"`
}

// RateLimit is a fixed-window limit per client IP.
type RateLimit struct {
	Requests int      `json:"requests,omitempty"` // default 100
	Window   Duration `json:"window,omitempty"`   // default 60s
}

// Persistent reports whether the faults make every request to the node fail.
func (f Faults) Persistent() bool {
	return f.Down || f.Hang || f.ReadOnly || f.Truncated || f.Malformed || f.Oversized
}

// UserSpec is one explicit user (one users row with is_current = true).
type UserSpec struct {
	ID int64 `json:"user_id"`
	// Wallet as discovery stores it; nil is SQL NULL. Nodes store it lower-cased.
	Wallet *string `json:"wallet"`
	// Primary is primary_id (nil is NULL); Secondaries is secondary_ids (nil is NULL).
	Primary     *int64  `json:"primary_id"`
	Secondaries []int64 `json:"secondary_ids"`
	// CreatorNodeEndpoint is written as given when set. When nil it is derived the way discovery's
	// indexer did: the endpoints of the primary and the secondaries joined with ",", "None" for an
	// SP without endpoint, NULL when there is no primary.
	CreatorNodeEndpoint *string `json:"creator_node_endpoint,omitempty"`
	// Clocks are what the nodes of the primary, secondary 1 and secondary 2 store for the wallet
	// (-1: the node does not hold it). A node listed twice must store one clock.
	Clocks []int64 `json:"clocks,omitempty"`
	// Deactivated sets users.is_deactivated (explicit users have no CIDs, so it changes nothing
	// netmon measures).
	Deactivated bool `json:"deactivated,omitempty"`
}

// Shares shape generated users. Every share is a probability in [0, 1].
type Shares struct {
	// NoReplicaSet: primary_id and secondary_ids NULL.
	NoReplicaSet float64 `json:"no_replica_set"`
	// ShortSecondaries: secondary_ids is {} or has one element.
	ShortSecondaries float64 `json:"short_secondaries"`
	// LongSecondaries: secondary_ids has a third element (ignored: only [1] and [2] count).
	LongSecondaries float64 `json:"long_secondaries"`
	// OnUnreachable: one slot of the replica set is an SP without endpoint or a deregistered one.
	OnUnreachable float64 `json:"on_unreachable"`
	// SameNodeTwice: one SP appears twice in the replica set.
	SameNodeTwice float64 `json:"same_node_twice"`
	// AllFoundation: the replica set is drawn from the foundation nodes only.
	AllFoundation float64 `json:"all_foundation"`
	// History: the user also has one or two is_current = false rows with another wallet and replica
	// set, which netmon must ignore.
	History float64 `json:"history"`
	// MixedCase: discovery stores the wallet in mixed case (nodes store it lower-cased).
	MixedCase float64 `json:"mixed_case"`
	// DuplicateWallet: the user has the wallet of an earlier user.
	DuplicateWallet float64 `json:"duplicate_wallet"`
	// NoWallet: the wallet is NULL or ''.
	NoWallet float64 `json:"no_wallet"`
	// Stale: the user's clock lags on some of its replicas.
	Stale float64 `json:"stale"`
	// Unknown: a replica does not hold the user at all (clock -1), per (user, node).
	Unknown float64 `json:"unknown"`
	// Artists: the user owns tracks.
	Artists float64 `json:"artists"`
	// TracksPerArtist and SegmentsPerTrack are maxima; counts are uniform in 1..max.
	TracksPerArtist  int `json:"tracks_per_artist"`
	SegmentsPerTrack int `json:"segments_per_track"`
	// MissingCID: a replica lacks a CID it should hold, per (CID, node).
	MissingCID float64 `json:"missing_cid"`
	// Deactivated: users.is_deactivated is true. The user still counts in every clock metric (the
	// original did not filter), but its CIDs and its tracks' are left out of the CID snapshot.
	Deactivated float64 `json:"deactivated"`
	// Unsynced, Partially and MissingOnOne draw a sync state per wallet directly, on the nodes of
	// its owner's replica set (Stale and Unknown draw per node): unsynced, both secondaries' nodes
	// hold an older clock than the primary's; partially, secondary 2's node does; missing on one,
	// one secondary's node does not hold the wallet (-1). They add up to at most 1.
	Unsynced     float64 `json:"unsynced"`
	Partially    float64 `json:"partially"`
	MissingOnOne float64 `json:"missing_on_one"`
}

// ProductionShares is shaped like the original's production network as issue 15 describes it:
// every user with a replica set of three distinct nodes, about 68 % fully synced, 20 % partially,
// 10 % unsynced and 2 % missing on one node (which counts as partially synced), half as many
// tracks as users (a quarter of the users are artists with 1 to 3 tracks), and a stale
// is_current = false history row for 10 % of the users.
func ProductionShares() Shares {
	return Shares{
		AllFoundation:    0.2,
		History:          0.1,
		MixedCase:        0.01,
		DuplicateWallet:  0.001,
		Artists:          0.25,
		TracksPerArtist:  3,
		SegmentsPerTrack: 8,
		MissingCID:       0.01,
		Deactivated:      0.01,
		Unsynced:         0.10,
		Partially:        0.20,
		MissingOnOne:     0.02,
	}
}

// DefaultShares is a network with a little of every oddity.
func DefaultShares() Shares {
	return Shares{
		NoReplicaSet:     0.02,
		ShortSecondaries: 0.01,
		LongSecondaries:  0.005,
		OnUnreachable:    0.01,
		SameNodeTwice:    0.005,
		AllFoundation:    0.2,
		History:          0.05,
		MixedCase:        0.01,
		DuplicateWallet:  0.001,
		NoWallet:         0.002,
		Stale:            0.1,
		Unknown:          0.01,
		Artists:          0.1,
		TracksPerArtist:  3,
		SegmentsPerTrack: 8,
		MissingCID:       0.01,
		Deactivated:      0.01,
	}
}

// Duration is a time.Duration written in JSON as a Go duration string ("250ms").
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"250ms\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// LoadScenario reads a scenario JSON file. Unknown fields are an error.
func LoadScenario(path string) (Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return Scenario{}, fmt.Errorf("load scenario: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var s Scenario
	if err := dec.Decode(&s); err != nil {
		return Scenario{}, fmt.Errorf("load scenario %s: %w", path, err)
	}
	if dec.More() {
		return Scenario{}, fmt.Errorf("load scenario %s: trailing data after the scenario", path)
	}
	return s, nil
}

// Reference is the worked example of spec §14: content nodes 1..3 at http://cn1..3 and node 4
// with endpoint ”, foundation {1,2,3}, and six users whose nodes return exactly the clocks of the
// table (user 5 is unknown on every node; user 6's third slot is node 4, so it is -2).
func Reference() Scenario {
	str := func(s string) *string { return &s }
	id := func(v int64) *int64 { return &v }
	return Scenario{
		Seed:  14,
		Block: 1000,
		Nodes: []NodeSpec{
			{SPID: 1, Endpoint: "http://cn1"},
			{SPID: 2, Endpoint: "http://cn2"},
			{SPID: 3, Endpoint: "http://cn3"},
			{SPID: 4, NoEndpoint: true},
		},
		Foundation: []int64{1, 2, 3},
		Users: []UserSpec{
			{ID: 1, Wallet: str("0xa"), Primary: id(1), Secondaries: []int64{2, 3}, Clocks: []int64{5, 5, 5}},
			{ID: 2, Wallet: str("0xb"), Primary: id(1), Secondaries: []int64{2, 3}, Clocks: []int64{7, 7, 3}},
			{ID: 3, Wallet: str("0xc"), Primary: id(2), Secondaries: []int64{1, 3}, Clocks: []int64{4, 1, 2}},
			{ID: 4, Wallet: str("0xd")},
			{ID: 5, Wallet: str("0xe"), Primary: id(3), Secondaries: []int64{1, 2}, Clocks: []int64{-1, -1, -1}},
			// Node 4 would hold clock 3 too, but it has no endpoint: netmon sees -2.
			{ID: 6, Wallet: str("0xf"), Primary: id(1), Secondaries: []int64{2, 4}, Clocks: []int64{3, 3, 3}},
		},
	}
}

var errScenario = errors.New("invalid scenario")
