package simnet

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
)

// CID check modes, as NETMON_CID_CHECKS names them.
const (
	CIDChecksAll    = "all"
	CIDChecksSample = "sample"
)

// CIDTruth is the exact set of CID metric values netmon must publish for a run over the network
// with CID checks in the given mode. It is computed in plain Go from the generated data, like
// Truth. Definitions (docs/simnet.md): the CID snapshot has one row per CID of a current user that
// is not deactivated, in metadata_multihash, profile_picture (not '0'), profile_picture_sizes,
// cover_photo and cover_photo_sizes, and per CID of that user's current tracks that are not
// deleted, in cover_art, cover_art_sizes, metadata_multihash, download's cid and each segment's
// multihash. A row is checked on each distinct SP of its owner's replica set (primary_id,
// secondary_ids[1], secondary_ids[2]): image directories (the *_sizes columns) with
// /batch_image_cids_exist, everything else with /batch_cids_exist. An SP netmon cannot reach (no
// endpoint, deregistered, a persistent fault) gives no answer; the others answer whether they hold
// the CID.
//
// With the sample mode only rows whose CID is in the sample count: with N rows and a target size
// s < N, rate = s/N and the CID is in the sample when its SampleHash is below floor(rate * 2^32).
type CIDTruth struct {
	Mode         string  `json:"mode"`
	SnapshotCIDs int64   `json:"snapshot_cids"`
	CheckedCIDs  int64   `json:"checked_cids"`
	SampleRatio  float64 `json:"cid_sample_ratio"`
	// MarginOfError is 1.96 * sqrt(0.25/n) * sqrt((N-n)/(N-1)) for n checked of N (0 when n = N).
	MarginOfError float64 `json:"cid_sample_margin_of_error"`
	// ByReplicationFactor[k]: checked rows held by k nodes of the owner's replica set.
	ByReplicationFactor [4]int64 `json:"cids_by_replication_factor"`
	// UsersBySyncedNodes[k]: users with checked rows, by the number of their replica-set nodes
	// that hold every one of them.
	UsersBySyncedNodes [4]int64 `json:"users_by_cid_synced_nodes"`
	// Nodes has one entry per content node of the run, in SP id order, zero-filled.
	Nodes []CIDNodeTruth `json:"nodes"`
}

// CIDNodeTruth holds the per-node CID series of one content node.
type CIDNodeTruth struct {
	SPID     int64  `json:"sp_id"`
	Endpoint string `json:"endpoint"`
	// Checked rows the node holds that another node of the replica set holds too, or none does.
	ReplicatedAtLeastOnce int64 `json:"cids_replicated_at_least_once"`
	NotReplicated         int64 `json:"cids_not_replicated"`
	// Checked rows of its users the node answered it does not hold, or gave no answer for.
	Missing      int64 `json:"cids_missing"`
	MissedChecks int64 `json:"missed_cid_checks"`
}

// SampleThreshold is the sampling threshold of a target size over n rows: every CID whose
// SampleHash is below it is in the sample (1<<32 keeps everything).
func SampleThreshold(n, target int64) (rate float64, threshold uint64) {
	if n <= 0 || target >= n {
		return 1, 1 << 32
	}
	if target <= 0 {
		return 0, 0
	}
	rate = float64(target) / float64(n)
	return rate, uint64(math.Floor(rate * float64(uint64(1)<<32)))
}

// InSample reports whether cid is below the sampling threshold.
func InSample(cid string, threshold uint64) bool {
	return uint64(SampleHash(cid)) < threshold
}

// SampleHash is the sampling hash of a CID: PostgreSQL's hashtext of the string, as an unsigned
// number (hashtext is Bob Jenkins' lookup3 hash of the bytes, as PostgreSQL's hash_bytes computes
// it on a little-endian machine). It is written here from the algorithm, not read back from
// Postgres, so the truth does not depend on the SQL it checks.
func SampleHash(cid string) uint32 {
	k := []byte(cid)
	a := 0x9e3779b9 + uint32(len(k)) + 3923095
	b, c := a, a
	for ; len(k) >= 12; k = k[12:] {
		a += binary.LittleEndian.Uint32(k)
		b += binary.LittleEndian.Uint32(k[4:])
		c += binary.LittleEndian.Uint32(k[8:])
		a, b, c = lookup3Mix(a, b, c)
	}
	// The last 0–11 bytes as little-endian words; the lowest byte of c is left for the length.
	var tail [12]byte
	copy(tail[:], k)
	a += binary.LittleEndian.Uint32(tail[:])
	b += binary.LittleEndian.Uint32(tail[4:])
	c += binary.LittleEndian.Uint32(tail[8:]) << 8
	return lookup3Final(a, b, c)
}

func lookup3Mix(a, b, c uint32) (uint32, uint32, uint32) {
	a -= c
	a ^= bits.RotateLeft32(c, 4)
	c += b
	b -= a
	b ^= bits.RotateLeft32(a, 6)
	a += c
	c -= b
	c ^= bits.RotateLeft32(b, 8)
	b += a
	a -= c
	a ^= bits.RotateLeft32(c, 16)
	c += b
	b -= a
	b ^= bits.RotateLeft32(a, 19)
	a += c
	c -= b
	c ^= bits.RotateLeft32(b, 4)
	b += a
	return a, b, c
}

func lookup3Final(a, b, c uint32) uint32 {
	c ^= b
	c -= bits.RotateLeft32(b, 14)
	a ^= c
	a -= bits.RotateLeft32(c, 11)
	b ^= a
	b -= bits.RotateLeft32(a, 25)
	c ^= b
	c -= bits.RotateLeft32(b, 16)
	a ^= c
	a -= bits.RotateLeft32(c, 4)
	b ^= a
	b -= bits.RotateLeft32(a, 14)
	c ^= b
	c -= bits.RotateLeft32(b, 24)
	return c
}

// cidRow is one row of the CID snapshot.
type cidRow struct {
	owner int
	cid   string
	image bool // checked with /batch_image_cids_exist
}

// eachCID calls fn for every row of the CID snapshot, by owner.
func (n *Network) eachCID(fn func(cidRow)) {
	vals := make([]any, 5)
	userKinds := [5]uint8{kindUserMetadata, kindProfilePicture, kindProfilePictureSizes, kindCoverPhoto, kindCoverPhotoSizes}
	for i := n.explicitN; i < len(n.users); i++ {
		if n.users[i].flags&flagDeactivated != 0 {
			continue
		}
		clear(vals)
		n.userCIDs(i, vals)
		for k, v := range vals {
			if s, ok := v.(string); ok && s != "0" {
				fn(cidRow{owner: i, cid: s, image: isDir(userKinds[k])})
			}
		}
		for t := range n.tracksOf(i) {
			sh := n.trackShape(i, t)
			if sh.deleted {
				continue
			}
			ref := cidRef{owner: uint32(i), track: uint32(t)}
			emit := func(kind uint8, seg int) {
				ref.kind, ref.seg = kind, uint16(seg)
				fn(cidRow{owner: i, cid: n.cidString(ref), image: isDir(kind)})
			}
			if sh.cover != 0 {
				emit(sh.cover, 0)
			}
			emit(kindTrackMetadata, 0)
			if sh.download == 2 {
				emit(kindDownload, 0)
			}
			for k := range n.segmentsOf(i, t) {
				emit(kindSegment, k)
			}
		}
	}
}

// CIDTruth computes the expected CID metrics of a run in mode (all or sample, with the target
// sample size) against nodes (nil: the nominal endpoints).
func (n *Network) CIDTruth(nodes *Nodes, mode string, sampleSize int64) CIDTruth {
	endpoints := n.endpointsSnapshot()
	if nodes != nil {
		endpoints = nodes.endpoints()
	}
	t := CIDTruth{Mode: mode, Nodes: make([]CIDNodeTruth, len(n.nodes))}
	for i, ni := range n.nodes {
		t.Nodes[i] = CIDNodeTruth{SPID: ni.spec.SPID, Endpoint: endpoints[i]}
	}
	n.eachCID(func(cidRow) { t.SnapshotCIDs++ })
	t.SampleRatio = 1
	threshold := uint64(1) << 32
	if mode == CIDChecksSample {
		t.SampleRatio, threshold = SampleThreshold(t.SnapshotCIDs, sampleSize)
	}

	// Per owner: its replica-set nodes and whether each holds all its checked rows so far.
	holdsAll := map[int]map[int32]bool{}
	n.eachCID(func(r cidRow) {
		if !InSample(r.cid, threshold) {
			return
		}
		t.CheckedCIDs++
		u := &n.users[r.owner]
		var set []int32
		for _, sp := range u.spid {
			if sp != 0 && !contains(set, sp) {
				set = append(set, sp)
			}
		}
		if holdsAll[r.owner] == nil {
			holdsAll[r.owner] = map[int32]bool{}
			for _, sp := range set {
				holdsAll[r.owner][sp] = true
			}
		}
		held := 0
		state := make([]int, len(set)) // 1 held, 0 absent, -2 no answer
		for k, sp := range set {
			switch {
			case n.nodes[n.nodeIdx[sp]].unreachable:
				state[k] = -2
			case n.cidExists(sp, r.cid, r.image):
				state[k] = 1
				held++
			}
			if state[k] != 1 {
				holdsAll[r.owner][sp] = false
			}
		}
		t.ByReplicationFactor[held]++
		for k, sp := range set {
			nt := &t.Nodes[n.nodeIdx[sp]]
			switch {
			case state[k] == 1 && held >= 2:
				nt.ReplicatedAtLeastOnce++
			case state[k] == 1:
				nt.NotReplicated++
			case state[k] == 0:
				nt.Missing++
			default:
				nt.MissedChecks++
			}
		}
	})
	for _, nodes := range holdsAll {
		k := 0
		for _, all := range nodes {
			if all {
				k++
			}
		}
		t.UsersBySyncedNodes[k]++
	}
	big, small := float64(t.SnapshotCIDs), float64(t.CheckedCIDs)
	switch {
	case big <= 1 || small >= big:
	case small == 0:
		t.MarginOfError = 1
	default:
		t.MarginOfError = math.Min(1, 1.96*math.Sqrt(0.25/small)*math.Sqrt((big-small)/(big-1)))
	}
	return t
}

func contains(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Samples lists every expected CID series (the margin of error is compared with a tolerance by
// tests: it is a float computed twice).
func (t CIDTruth) Samples() []Sample {
	out := []Sample{
		{Name: "audius_nm_snapshot_cids", Value: float64(t.SnapshotCIDs)},
		{Name: "audius_nm_checked_cids", Value: float64(t.CheckedCIDs)},
		{Name: "audius_nm_cid_sample_ratio", Value: t.SampleRatio},
		{Name: "audius_nm_cid_sample_margin_of_error", Value: t.MarginOfError},
	}
	for k := 0; k < 4; k++ {
		out = append(out,
			Sample{Name: "audius_nm_cids_by_replication_factor", Labels: map[string]string{"replicas": strconv.Itoa(k)},
				Value: float64(t.ByReplicationFactor[k])},
			Sample{Name: "audius_nm_users_by_cid_synced_nodes", Labels: map[string]string{"nodes": strconv.Itoa(k)},
				Value: float64(t.UsersBySyncedNodes[k])})
	}
	for _, nt := range t.Nodes {
		labels := map[string]string{"endpoint": nt.Endpoint, "sp_id": strconv.FormatInt(nt.SPID, 10)}
		out = append(out,
			Sample{Name: "audius_nm_cids_replicated_at_least_once", Labels: labels, Value: float64(nt.ReplicatedAtLeastOnce)},
			Sample{Name: "audius_nm_cids_not_replicated", Labels: labels, Value: float64(nt.NotReplicated)},
			Sample{Name: "audius_nm_cids_missing", Labels: labels, Value: float64(nt.Missing)},
			Sample{Name: "audius_nm_missed_cid_checks", Labels: labels, Value: float64(nt.MissedChecks)})
	}
	return out
}

// FetchOutcomes lists the outcomes netmon may report for work items (clock and CID) of node sp:
// ok for a node that answers (after retries, waits and pacing where its faults need them), the
// failure its persistent fault causes or circuit_open once its breaker opened, and the skip
// reason of an SP without endpoint or a deregistered one.
func (n *Network) FetchOutcomes(sp int64) []string {
	i, ok := n.nodeIdx[int32(sp)]
	if !ok {
		return nil
	}
	spec := n.nodes[i].spec
	f := spec.Faults
	switch {
	case spec.NoEndpoint:
		return []string{"skipped_no_endpoint"}
	case spec.Deregistered:
		return []string{"skipped_deregistered"}
	case f.Down:
		return []string{"refused", "circuit_open"}
	case f.Hang:
		return []string{"timeout", "circuit_open"}
	case f.ReadOnly:
		return []string{"http_error", "circuit_open"}
	case f.Truncated, f.Malformed, f.Oversized:
		return []string{"bad_response", "circuit_open"}
	}
	return []string{"ok"}
}
