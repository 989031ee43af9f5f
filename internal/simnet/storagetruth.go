package simnet

import (
	"maps"
	"slices"
	"strconv"
	"time"
)

// StorageKey is a blob key and, when its upload has placement_hosts (and it is not a preview),
// those hosts, normalised: its holders whatever the ranking.
type StorageKey struct {
	Key            string   `json:"key"`
	PlacementHosts []string `json:"placement_hosts,omitempty"`
}

// StorageKeyTruth is what a check of one key must find.
type StorageKeyTruth struct {
	Key            string   `json:"key"`
	PlacementHosts []string `json:"placement_hosts,omitempty"`
	// Expected are the nodes a monitor must expect to hold the key, in preferred order: the
	// placement hosts, or each registered node whose rank is below its R as its health reports
	// it (the scenario's R for a node whose health cannot be read, spec §2.3).
	Expected []int64 `json:"expected"`
	// Present, Absent, Unknown and NoAnswer split Expected by what GET /internal/blobs/info
	// answers (Probe*), each in Expected's order.
	Present  []int64 `json:"present"`
	Absent   []int64 `json:"absent"`
	Unknown  []int64 `json:"unknown"`
	NoAnswer []int64 `json:"no_answer"`
	// Holders are the nodes that really hold it, registered or not, by id.
	Holders []int64 `json:"holders"`
}

// monitorR is the R a monitor applies to node i: the one its health reports, or the scenario's
// when its health cannot be read.
func (n *StorageNetwork) monitorR(i int) int {
	if n.nodes[i].spec.Faults.answers() {
		return n.nodes[i].r
	}
	return n.r
}

// KeyTruth is the truth of one key; ok is false when key is not one of the network's keys. Call
// it after Start (the ranking is over the endpoints the nodes listen on).
func (n *StorageNetwork) KeyTruth(key string) (StorageKeyTruth, bool) {
	r, ok := n.decodeKey(key)
	if !ok || r.class == clsHistory {
		return StorageKeyTruth{}, false
	}
	return n.keyTruth(r, key, n.hostsSnapshot()), true
}

func (n *StorageNetwork) keyTruth(r blobRef, key string, hosts []string) StorageKeyTruth {
	t := StorageKeyTruth{Key: key, PlacementHosts: n.placementHosts(r, hosts)}
	order := n.rankNodes(key, hosts)
	should := n.pick(r, order, n.nodeR)
	held := make([]bool, len(n.nodes))
	for i := range n.nodes {
		if held[i] = n.holds(i, r, should); held[i] {
			t.Holders = append(t.Holders, int64(i+1))
		}
	}
	for _, i := range n.pick(r, order, n.monitorR) {
		id := int64(i + 1)
		t.Expected = append(t.Expected, id)
		switch n.answer(i, held[i]) {
		case ProbePresent:
			t.Present = append(t.Present, id)
		case ProbeAbsent:
			t.Absent = append(t.Absent, id)
		case ProbeUnknown:
			t.Unknown = append(t.Unknown, id)
		default:
			t.NoAnswer = append(t.NoAnswer, id)
		}
	}
	return t
}

func (n *StorageNetwork) placementHosts(r blobRef, hosts []string) []string {
	var out []string
	for _, k := range n.placed(r) {
		out = append(out, hosts[k])
	}
	return out
}

// StorageNodeTruth is one node's truth: its registration, its health, and the answers of its
// probes over the keys of the truth.
type StorageNodeTruth struct {
	ID         int64  `json:"id"`
	Endpoint   string `json:"endpoint"`
	Host       string `json:"host"`
	Service    string `json:"service"` // its registry service type
	Registered bool   `json:"registered"`
	Delegate   string `json:"delegate"` // its registered delegate wallet ("" unregistered)
	R          int    `json:"r"`        // the R it runs with
	// Faults in netmon-simnet's --faults form ("" for none).
	Faults string        `json:"faults"`
	Health StorageHealth `json:"health"`
	// Should: keys it is expected to hold (StorageKeyTruth.Expected), split by its answers into
	// Held (present), Missing (absent), Unknown (500) and NoAnswer; Holds: of them, the ones it
	// really holds.
	Should   int64 `json:"should"`
	Held     int64 `json:"held"`
	Missing  int64 `json:"missing"`
	Unknown  int64 `json:"unknown"`
	NoAnswer int64 `json:"no_answer"`
	Holds    int64 `json:"holds"`
	// NotExpected: keys it is not expected to hold; ExtraHeld: of them, the ones a probe finds
	// present (a copy not cleaned up, or a lie); ExtraHolds: the ones it really holds.
	NotExpected int64 `json:"not_expected"`
	ExtraHeld   int64 `json:"extra_held"`
	ExtraHolds  int64 `json:"extra_holds"`
}

// StorageTruth is what a full check of a set of keys must find.
type StorageTruth struct {
	R       int       `json:"r"`       // the scenario's R
	Started time.Time `json:"started"` // the nodes' start: health's repair times are relative to it
	Keys    int64     `json:"keys"`
	// ByPresent[k]: keys of which exactly k expected holders answer present; ByHeld[k]: keys of
	// which exactly k expected holders really hold them.
	ByPresent []int64 `json:"by_present"`
	ByHeld    []int64 `json:"by_held"`
	// UnderReplicated: keys some expected holder does not answer present for (missing, unknown or
	// no answer); Lost: keys no expected holder answers present for. TrulyUnder and TrulyLost
	// are the same by real holdings.
	UnderReplicated int64 `json:"under_replicated"`
	Lost            int64 `json:"lost"`
	TrulyUnder      int64 `json:"truly_under"`
	TrulyLost       int64 `json:"truly_lost"`
	// ConsensusR is the R most readable nodes report (a tie: the larger); Dissenters the node
	// ids reporting another.
	ConsensusR int                `json:"consensus_r"`
	Dissenters []int64            `json:"dissenters"`
	Nodes      []StorageNodeTruth `json:"nodes"`
}

// StorageTruth is the truth of a check of keys (AllKeys, DiscoveryKeys, UploadKeys, or a sample
// of one of them) against the running nodes. Keys that are not the network's count nowhere.
func (n *StorageNetwork) StorageTruth(nodes *StorageNodes, keys []string) StorageTruth {
	hosts := n.hostsSnapshot()
	t := StorageTruth{R: n.r, Started: nodes.Started(), Nodes: make([]StorageNodeTruth, len(n.nodes))}
	registered := map[int]bool{}
	for _, i := range n.ranked {
		registered[i] = true
	}
	reported := map[int]int{}
	for i, sn := range n.nodes {
		nt := &t.Nodes[i]
		*nt = StorageNodeTruth{ID: int64(i + 1), Endpoint: nodes.Endpoint(int64(i + 1)), Host: hosts[i],
			Service: sn.service, Registered: registered[i], R: sn.r, Faults: sn.spec.String(),
			Health: n.health(i, hosts, nodes.Started())}
		if nt.Registered {
			nt.Delegate = n.signer(i, 0).Address()
		}
		if nt.Health.Readable {
			reported[nt.Health.R]++
		}
	}
	for r, c := range reported {
		if c > reported[t.ConsensusR] || (c == reported[t.ConsensusR] && r > t.ConsensusR) {
			t.ConsensusR = r
		}
	}
	for i := range n.nodes {
		if h := t.Nodes[i].Health; h.Readable && h.R != t.ConsensusR {
			t.Dissenters = append(t.Dissenters, int64(i+1))
		}
	}
	grow := func(s []int64, k int) []int64 {
		for len(s) <= k {
			s = append(s, 0)
		}
		return s
	}
	for _, key := range keys {
		r, ok := n.decodeKey(key)
		if !ok || r.class == clsHistory {
			continue
		}
		t.Keys++
		kt := n.keyTruth(r, key, hosts)
		truly := 0
		expected := map[int64]bool{}
		for _, id := range kt.Expected {
			expected[id] = true
			if slices.Contains(kt.Holders, id) {
				truly++
				t.Nodes[id-1].Holds++
			}
			t.Nodes[id-1].Should++
		}
		for _, id := range kt.Present {
			t.Nodes[id-1].Held++
		}
		for _, id := range kt.Absent {
			t.Nodes[id-1].Missing++
		}
		for _, id := range kt.Unknown {
			t.Nodes[id-1].Unknown++
		}
		for _, id := range kt.NoAnswer {
			t.Nodes[id-1].NoAnswer++
		}
		for i := range n.nodes {
			id := int64(i + 1)
			if expected[id] {
				continue
			}
			nt := &t.Nodes[i]
			nt.NotExpected++
			held := slices.Contains(kt.Holders, id)
			if n.answer(i, held) == ProbePresent {
				nt.ExtraHeld++
			}
			if held {
				nt.ExtraHolds++
			}
		}
		present := len(kt.Present)
		t.ByPresent = grow(t.ByPresent, present)
		t.ByPresent[present]++
		t.ByHeld = grow(t.ByHeld, truly)
		t.ByHeld[truly]++
		if present < len(kt.Expected) {
			t.UnderReplicated++
		}
		if present == 0 {
			t.Lost++
		}
		if truly < len(kt.Expected) {
			t.TrulyUnder++
		}
		if truly == 0 {
			t.TrulyLost++
		}
	}
	return t
}

// AllKeys lists every key the network stores, each once: every upload's (in created_at order,
// original then results by name), then the legacy keys.
func (n *StorageNetwork) AllKeys() []StorageKey {
	hosts := n.hostsSnapshot()
	out := make([]StorageKey, 0, n.keyCount)
	n.blobRefs(func(r blobRef) {
		out = append(out, StorageKey{Key: n.key(r), PlacementHosts: n.placementHosts(r, hosts)})
	})
	return out
}

// UploadKeys lists the keys of every upload as GET /uploads pages give them (spec §5.1, §5.2),
// in created_at order, each upload's in storagenode.Upload.Keys order.
func (n *StorageNetwork) UploadKeys() []StorageKey {
	hosts := n.hostsSnapshot()
	var out []StorageKey
	for i := range n.uploads {
		n.uploadRefs(uint32(i), func(r blobRef) {
			out = append(out, StorageKey{Key: n.key(r), PlacementHosts: n.placementHosts(r, hosts)})
		})
	}
	return out
}

// DiscoveryKeys lists the keys the discovery database names (spec §5.3): of current tracks not
// deleted, track_cid, orig_file_cid, preview_cid, the keys of the audio upload, the cover art;
// of current users not deactivated, their pictures and cover photos; of current playlists not
// deleted, their images. An upload id stands for its upload's keys (an image's: its original),
// a legacy Qm directory for "<dir>/original.jpg". Each key once, sorted.
func (n *StorageNetwork) DiscoveryKeys() []StorageKey {
	hosts := n.hostsSnapshot()
	set := map[string]StorageKey{}
	add := func(r blobRef) {
		k := n.key(r)
		set[k] = StorageKey{Key: k, PlacementHosts: n.placementHosts(r, hosts)}
	}
	addUpload := func(u int32) {
		if u >= 0 {
			n.uploadRefs(uint32(u), add)
		}
	}
	image := func(ent, col uint8, idx uint32, upload int32) {
		switch n.imageState(ent, col, idx) {
		case imgUpload:
			add(blobRef{class: clsUpload, col: resOrig, idx: uint32(upload)})
		case imgLegacyDir:
			add(blobRef{class: clsLegacyDir, ent: ent, col: col, idx: idx})
		}
		if n.legacySingle(ent, col, idx) {
			add(blobRef{class: clsLegacySingle, ent: ent, col: col, idx: idx})
		}
	}
	for t := 0; t < n.scenario.Tracks; t++ {
		if n.deleted(entTrack, uint32(t)) {
			continue
		}
		addUpload(n.trackAudio[t])
		image(entTrack, colCoverArt, uint32(t), n.trackCover[t])
	}
	for u := 0; u < n.scenario.Users; u++ {
		if !n.deleted(entUser, uint32(u)) {
			image(entUser, colPicture, uint32(u), n.userPicture[u])
			image(entUser, colCoverPhoto, uint32(u), n.userCover[u])
		}
	}
	for p := 0; p < n.scenario.Playlists; p++ {
		if !n.deleted(entPlaylist, uint32(p)) {
			image(entPlaylist, colPlaylistImage, uint32(p), n.playlistImage[p])
		}
	}
	out := make([]StorageKey, 0, len(set))
	for _, k := range slices.Sorted(maps.Keys(set)) {
		out = append(out, set[k])
	}
	return out
}

// KeyStrings are the keys' strings.
func KeyStrings(keys []StorageKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.Key
	}
	return out
}

// CountSamples are the storage series that count the truth's keys exactly, whether a run checked
// every key or a sample of them (then the truth must be of the sampled keys): the keys checked,
// the keys by how many expected holders answered present, and per registered node that spID
// names its expected, held, missing, unknown and unanswered keys. spID maps a node's host to the
// sp_id label the run gave it. The storage e2e test and the storage benchmark compare these.
func (t StorageTruth) CountSamples(spID map[string]string) []Sample {
	out := []Sample{{Name: "audius_nm_storage_keys_sampled", Value: float64(t.Keys)}}
	for k, n := range t.ByPresent {
		out = append(out, Sample{Name: "audius_nm_storage_keys_by_replicas", Labels: map[string]string{"replicas": strconv.Itoa(k)},
			Value: float64(n)})
	}
	for _, nt := range t.Nodes {
		id, ok := spID[nt.Host]
		if !nt.Registered || !ok {
			continue
		}
		for name, v := range map[string]int64{"expected": nt.Should, "held": nt.Held, "missing": nt.Missing,
			"unknown": nt.Unknown, "unanswered": nt.NoAnswer} {
			out = append(out, Sample{Name: "audius_nm_storage_node_keys_" + name,
				Labels: map[string]string{"endpoint": nt.Host, "sp_id": id}, Value: float64(v)})
		}
	}
	return out
}
