package simnet

import (
	"cmp"
	"slices"
	"strconv"
)

// Truth is the exact set of metric values netmon must publish for a run over the network, with
// the configuration the run must use (FOUNDATION_NODES_SPIDS, DEREGISTERED_CONTENT_NODES). It is
// computed in plain Go from the generated data, never by SQL or netmon code. The definitions are
// netmon's (see docs/simnet.md): every slot's clock is NULL (no SP, or the wallet is NULL or ”),
// -2 (the SP has no endpoint, is deregistered, or fails persistently) or what the node stores for
// the lower-cased wallet (-1 if nothing).
type Truth struct {
	Foundation   []int64  `json:"foundation"`
	Deregistered []string `json:"deregistered_content_nodes"`

	UserCount               int64 `json:"user_count"`
	FullySynced             int64 `json:"fully_synced_user_count"`
	PartiallySynced         int64 `json:"partially_synced_user_count"`
	Unsynced                int64 `json:"unsynced_user_count"`
	NoPrimary               int64 `json:"no_primary_user_count"`
	UnhealthyReplica        int64 `json:"unhealthy_replica_users_count"`
	AllFoundationReplicaSet int64 `json:"users_with_all_foundation_node_replica_set"`
	NoFoundationReplicaSet  int64 `json:"users_with_no_foundation_node_replica_set"`
	// SecondaryLag counts the secondary slots of users whose primary clock is >= 0 by the lag
	// bucket of audius_nm_secondaries_by_clock_lag (LagBuckets), zero-filled.
	SecondaryLag map[string]int64 `json:"secondaries_by_clock_lag"`

	// Nodes has one entry per content node of the run, in SP id order, zero-filled.
	Nodes []NodeTruth `json:"nodes"`
}

// NodeTruth holds the per-node series of one content node.
type NodeTruth struct {
	SPID     int64  `json:"sp_id"`
	Endpoint string `json:"endpoint"`

	PrimaryUsers int64 `json:"primary_user_count"`
	AllUsers     int64 `json:"all_user_count"`

	FullyByPrimary     int64 `json:"fully_synced_user_by_primary_count"`
	PartiallyByPrimary int64 `json:"partially_synced_user_by_primary_count"`
	UnsyncedByPrimary  int64 `json:"unsynced_user_by_primary_count"`
	FullyByReplica     int64 `json:"fully_synced_user_by_replica_count"`
	PartiallyByReplica int64 `json:"partially_synced_user_by_replica_count"`
	UnsyncedByReplica  int64 `json:"unsynced_user_by_replica_count"`

	MissedUsers int64 `json:"missed_users_count"`
	// UnknownWalletSlots: slots on the node whose clock is -1 (the node does not know the wallet).
	UnknownWalletSlots int64 `json:"unknown_wallet_slots"`
}

// Sample is one expected series.
type Sample struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Value  float64           `json:"value"`
}

// Sync categories of a user.
const (
	catNone = iota
	catFully
	catPartially
	catUnsynced
)

const clockNull = int64(-3) // a slot clock that is SQL NULL

// Truth computes the expected metrics for a run against nodes (nil: the nominal endpoints).
func (n *Network) Truth(nodes *Nodes) Truth {
	endpoints := n.endpointsSnapshot()
	if nodes != nil {
		endpoints = nodes.endpoints()
	}
	t := Truth{Foundation: n.Foundation(), Deregistered: []string{}}
	t.Nodes = make([]NodeTruth, len(n.nodes))
	for i, ni := range n.nodes {
		t.Nodes[i] = NodeTruth{SPID: ni.spec.SPID, Endpoint: endpoints[i]}
		if ni.spec.Deregistered {
			t.Deregistered = append(t.Deregistered, endpoints[i])
		}
	}
	t.UserCount = int64(len(n.users))
	t.SecondaryLag = make(map[string]int64, len(LagBuckets))
	for _, b := range LagBuckets {
		t.SecondaryLag[b] = 0
	}
	for i := range n.users {
		u := &n.users[i]
		var c [3]int64
		for k, sp := range u.spid {
			c[k] = n.slotValue(u, k, sp)
		}
		p, s1, s2 := c[0], c[1], c[2]
		cat := syncCategory(p, s1, s2)
		switch cat {
		case catFully:
			t.FullySynced++
		case catPartially:
			t.PartiallySynced++
		case catUnsynced:
			t.Unsynced++
		}
		if p == clockNull {
			t.NoPrimary++
		}
		if p == -2 || s1 == -2 || s2 == -2 {
			t.UnhealthyReplica++
		}
		if p >= 0 {
			for _, s := range []int64{s1, s2} {
				if s != clockNull {
					t.SecondaryLag[LagBucket(p, s)]++
				}
			}
		}
		if u.spid[0] != 0 && u.spid[1] != 0 && u.spid[2] != 0 {
			f := 0
			for _, sp := range u.spid {
				if n.isFound[sp] {
					f++
				}
			}
			if f == 3 {
				t.AllFoundationReplicaSet++
			}
			if f == 0 {
				t.NoFoundationReplicaSet++
			}
		}
		for k, sp := range u.spid {
			if sp == 0 {
				continue
			}
			nt := &t.Nodes[n.nodeIdx[sp]]
			if c[k] == -2 {
				nt.MissedUsers++
			}
			if c[k] == -1 {
				nt.UnknownWalletSlots++
			}
			if slices.Index(u.spid[:k], sp) >= 0 {
				continue // a user counts once per node in the distinct counts
			}
			nt.AllUsers++
			switch cat {
			case catFully:
				nt.FullyByReplica++
			case catPartially:
				nt.PartiallyByReplica++
			case catUnsynced:
				nt.UnsyncedByReplica++
			}
		}
		if sp := u.spid[0]; sp != 0 {
			nt := &t.Nodes[n.nodeIdx[sp]]
			nt.PrimaryUsers++
			switch cat {
			case catFully:
				nt.FullyByPrimary++
			case catPartially:
				nt.PartiallyByPrimary++
			case catUnsynced:
				nt.UnsyncedByPrimary++
			}
		}
	}
	return t
}

// syncCategory is the category of a user whose slot clocks are p, s1 and s2 (clockNull for NULL).
func syncCategory(p, s1, s2 int64) int {
	if p == clockNull || s1 == clockNull || s2 == clockNull || p == -2 {
		return catNone
	}
	switch {
	case p == s1 && s1 == s2:
		return catFully
	case (p == s1 || p == s2) && s1 != s2:
		return catPartially
	case p != s1 && p != s2:
		return catUnsynced
	}
	return catNone
}

// LagBuckets are the lag label values of audius_nm_secondaries_by_clock_lag.
var LagBuckets = []string{"0", "1", "2-10", "11-100", "101-1000", "1001+", "ahead", "not_held", "no_answer"}

// LagBucket is the lag bucket of a secondary whose clock is s, behind a primary whose clock is
// p >= 0: not_held when the secondary does not know the wallet (-1), no_answer when it did not
// answer (-2), ahead when its clock is above the primary's, else the difference's range.
func LagBucket(p, s int64) string {
	switch d := p - s; {
	case s == -2:
		return "no_answer"
	case s == -1:
		return "not_held"
	case d < 0:
		return "ahead"
	case d == 0:
		return "0"
	case d == 1:
		return "1"
	case d <= 10:
		return "2-10"
	case d <= 100:
		return "11-100"
	case d <= 1000:
		return "101-1000"
	}
	return "1001+"
}

// slotValue is the clock netmon must record for slot k of u.
func (n *Network) slotValue(u *user, k int, sp int32) int64 {
	if sp == 0 || u.wallet < 0 {
		return clockNull
	}
	if n.nodes[n.nodeIdx[sp]].unreachable {
		return -2
	}
	return int64(u.clock[k])
}

// Samples lists every expected series, sorted by name, then SP id.
func (t Truth) Samples() []Sample {
	out := []Sample{
		{Name: "audius_nm_user_count", Value: float64(t.UserCount)},
		{Name: "audius_nm_fully_synced_user_count", Value: float64(t.FullySynced)},
		{Name: "audius_nm_partially_synced_user_count", Value: float64(t.PartiallySynced)},
		{Name: "audius_nm_unsynced_user_count", Value: float64(t.Unsynced)},
		{Name: "audius_nm_no_primary_user_count", Value: float64(t.NoPrimary)},
		{Name: "audius_nm_unhealthy_replica_users_count", Value: float64(t.UnhealthyReplica)},
		{Name: "audius_nm_users_with_all_foundation_node_replica_set", Value: float64(t.AllFoundationReplicaSet)},
		{Name: "audius_nm_users_with_no_foundation_node_replica_set", Value: float64(t.NoFoundationReplicaSet)},
	}
	for _, b := range LagBuckets {
		out = append(out, Sample{Name: "audius_nm_secondaries_by_clock_lag", Labels: map[string]string{"lag": b},
			Value: float64(t.SecondaryLag[b])})
	}
	for _, nt := range t.Nodes {
		labels := func() map[string]string {
			return map[string]string{"endpoint": nt.Endpoint, "sp_id": strconv.FormatInt(nt.SPID, 10)}
		}
		for _, s := range []struct {
			name  string
			value int64
		}{
			{"audius_nm_primary_user_count", nt.PrimaryUsers},
			{"audius_nm_all_user_count", nt.AllUsers},
			{"audius_nm_fully_synced_user_by_primary_count", nt.FullyByPrimary},
			{"audius_nm_partially_synced_user_by_primary_count", nt.PartiallyByPrimary},
			{"audius_nm_unsynced_user_by_primary_count", nt.UnsyncedByPrimary},
			{"audius_nm_fully_synced_user_by_replica_count", nt.FullyByReplica},
			{"audius_nm_partially_synced_user_by_replica_count", nt.PartiallyByReplica},
			{"audius_nm_unsynced_user_by_replica_count", nt.UnsyncedByReplica},
			{"audius_nm_missed_users_count", nt.MissedUsers},
			{"audius_nm_unknown_wallet_slots", nt.UnknownWalletSlots},
		} {
			out = append(out, Sample{Name: s.name, Labels: labels(), Value: float64(s.value)})
		}
	}
	slices.SortStableFunc(out, func(a, b Sample) int {
		if c := cmp.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		ai, _ := strconv.ParseInt(a.Labels["sp_id"], 10, 64)
		bi, _ := strconv.ParseInt(b.Labels["sp_id"], 10, 64)
		return cmp.Compare(ai, bi)
	})
	return out
}
