package simnet

import (
	"slices"
)

// Purpose tags of the storage network (apart from the legacy network's).
const (
	tagStorageMask uint64 = 1000 + iota
	tagStorageKey
	tagStorageULID
	tagStorageTime
	tagStorageSize
	tagStorageLegacyTrack
	tagStoragePreview
	tagStorageImage
	tagStorageSingle
	tagStorageDeleted
	tagStorageHistory
	tagStoragePlacement
	tagStorageLost
	tagStorageUnder
	tagStorageMissing
	tagStorageExtra
	tagStorageSigner
	tagStorageLatency
	tagStorageCounters
)

// uploadRef is what an upload belongs to: entity ent's index idx, column col (colAudio for audio
// uploads, an image column for image uploads).
type uploadRef struct {
	ent, col uint8
	idx      uint32
}

// Image column states.
const (
	imgNone uint8 = iota
	imgUpload
	imgLegacyDir
)

func (n *StorageNetwork) generate() {
	s := n.scenario
	fill := func(k int) []int32 {
		v := make([]int32, k)
		for i := range v {
			v[i] = -1
		}
		return v
	}
	n.trackAudio, n.trackCover = fill(s.Tracks), fill(s.Tracks)
	n.userPicture, n.userCover = fill(s.Users), fill(s.Users)
	n.playlistImage = fill(s.Playlists)
	n.trackLegacy = make([]bool, s.Tracks)
	add := func(ent, col uint8, idx int) int32 {
		n.uploads = append(n.uploads, uploadRef{ent: ent, col: col, idx: uint32(idx)})
		return int32(len(n.uploads) - 1)
	}
	for t := 0; t < s.Tracks; t++ {
		n.trackLegacy[t] = chance(hash(n.seed, tagStorageLegacyTrack, uint64(t)), n.shares.LegacyTrack)
		if !n.trackLegacy[t] {
			n.trackAudio[t] = add(entTrack, colAudio, t)
		}
		if n.imageState(entTrack, colCoverArt, uint32(t)) == imgUpload {
			n.trackCover[t] = add(entTrack, colCoverArt, t)
		}
	}
	for u := 0; u < s.Users; u++ {
		if n.imageState(entUser, colPicture, uint32(u)) == imgUpload {
			n.userPicture[u] = add(entUser, colPicture, u)
		}
		if n.imageState(entUser, colCoverPhoto, uint32(u)) == imgUpload {
			n.userCover[u] = add(entUser, colCoverPhoto, u)
		}
	}
	for p := 0; p < s.Playlists; p++ {
		if n.imageState(entPlaylist, colPlaylistImage, uint32(p)) == imgUpload {
			n.playlistImage[p] = add(entPlaylist, colPlaylistImage, p)
		}
	}
	for o := 0; o < s.OrphanUploads; o++ {
		add(entOrphan, colAudio, o)
	}
	n.blobRefs(func(blobRef) { n.keyCount++ })
}

// imageState says what entity (ent, idx)'s image column col holds: nothing, an image upload's id
// or a legacy Qm directory. A legacy track has no uploads.
func (n *StorageNetwork) imageState(ent, col uint8, idx uint32) uint8 {
	h := hash(n.seed, tagStorageImage, uint64(ent), uint64(col), uint64(idx))
	if chance(h, n.shares.NoImage) {
		return imgNone
	}
	legacyTrack := ent == entTrack && chance(hash(n.seed, tagStorageLegacyTrack, uint64(idx)), n.shares.LegacyTrack)
	if !legacyTrack && chance(mix64(h), n.shares.ImageUpload) {
		return imgUpload
	}
	return imgLegacyDir
}

// legacySingle says whether (ent, idx)'s single-image column of col holds a legacy Qm CID: only
// where the sizes column holds no upload.
func (n *StorageNetwork) legacySingle(ent, col uint8, idx uint32) bool {
	return n.imageState(ent, col, idx) != imgUpload &&
		chance(hash(n.seed, tagStorageSingle, uint64(ent), uint64(col), uint64(idx)), n.shares.LegacySingle)
}

// legacyState says whether a legacy key of class cls exists for (ent, col, idx).
func (n *StorageNetwork) legacyState(ent, col uint8, idx uint32, cls uint8) bool {
	if !n.entityExists(ent, idx) || !entityHasColumn(ent, col) {
		return false
	}
	if cls == clsLegacyDir {
		return n.imageState(ent, col, idx) == imgLegacyDir
	}
	return n.legacySingle(ent, col, idx)
}

func (n *StorageNetwork) entityExists(ent uint8, idx uint32) bool {
	switch ent {
	case entTrack:
		return int64(idx) < int64(n.scenario.Tracks)
	case entUser:
		return int64(idx) < int64(n.scenario.Users)
	case entPlaylist:
		return int64(idx) < int64(n.scenario.Playlists)
	}
	return false
}

func entityHasColumn(ent, col uint8) bool {
	switch ent {
	case entTrack:
		return col == colCoverArt
	case entUser:
		return col == colPicture || col == colCoverPhoto
	case entPlaylist:
		return col == colPlaylistImage
	}
	return false
}

// hasPreview: audio upload i has a preview (orphans always do).
func (n *StorageNetwork) hasPreview(i uint32) bool {
	return !chance(hash(n.seed, tagStoragePreview, uint64(i)), n.shares.NoPreview)
}

// deleted: a deleted track or playlist, a deactivated user.
func (n *StorageNetwork) deleted(ent uint8, idx uint32) bool {
	return chance(hash(n.seed, tagStorageDeleted, uint64(ent), uint64(idx)), n.shares.Deleted)
}

// history: the entity has an is_current = false row.
func (n *StorageNetwork) history(ent uint8, idx uint32) bool {
	return chance(hash(n.seed, tagStorageHistory, uint64(ent), uint64(idx)), n.shares.History)
}

// placementNodes are upload i's placement_hosts as node indices (nil: none): R distinct
// registered nodes picked by hash.
func (n *StorageNetwork) placementNodes(i uint32) []int {
	h := hash(n.seed, tagStoragePlacement, uint64(i))
	if !chance(h, n.shares.Placement) {
		return nil
	}
	pool := slices.Clone(n.ranked)
	k := min(n.r, len(pool))
	for j := 0; j < k; j++ {
		h = mix64(h + uint64(j))
		m := j + int(h%uint64(len(pool)-j))
		pool[j], pool[m] = pool[m], pool[j]
	}
	return pool[:k]
}

// blobKeys lists every key the network stores, each once: every upload's (original, and for
// audio the transcode and the preview), then every existing entity's legacy keys.
func (n *StorageNetwork) blobRefs(fn func(blobRef)) {
	for i := range n.uploads {
		n.uploadRefs(uint32(i), fn)
	}
	legacy := func(ent, col uint8, count int) {
		for idx := uint32(0); int64(idx) < int64(count); idx++ {
			if n.imageState(ent, col, idx) == imgLegacyDir {
				fn(blobRef{class: clsLegacyDir, ent: ent, col: col, idx: idx})
			}
			if n.legacySingle(ent, col, idx) {
				fn(blobRef{class: clsLegacySingle, ent: ent, col: col, idx: idx})
			}
		}
	}
	legacy(entTrack, colCoverArt, n.scenario.Tracks)
	legacy(entUser, colPicture, n.scenario.Users)
	legacy(entUser, colCoverPhoto, n.scenario.Users)
	legacy(entPlaylist, colPlaylistImage, n.scenario.Playlists)
}

// uploadRefs lists upload i's keys in Upload.Keys order: the original, then for audio the
// results sorted by name ("320" before "320_preview|…").
func (n *StorageNetwork) uploadRefs(i uint32, fn func(blobRef)) {
	fn(blobRef{class: clsUpload, col: resOrig, idx: i})
	if n.uploads[i].col == colAudio {
		fn(blobRef{class: clsUpload, col: res320, idx: i})
		if n.hasPreview(i) {
			fn(blobRef{class: clsUpload, col: resPreview, idx: i})
		}
	}
}

// placedRef: r follows its upload's placement_hosts (originals and transcodes do; previews always
// follow the ranking, spec §2.3).
func (n *StorageNetwork) placed(r blobRef) []int {
	if r.class != clsUpload || r.col == resPreview {
		return nil
	}
	return n.placementNodes(r.idx)
}

// expected are the nodes expected to hold key (of ref r), as node indices in preferred order:
// the placement hosts, or each candidate whose rank is below rOf(its index).
func (n *StorageNetwork) expected(r blobRef, key string, hosts []string, rOf func(int) int) []int {
	return n.pick(r, n.rankNodes(key, hosts), rOf)
}

// rankNodes is the start of key's ranking of the registered nodes, as node indices: as deep as
// the largest R any node runs with (or a monitor assumes).
func (n *StorageNetwork) rankNodes(key string, hosts []string) []int {
	cand := make([]string, len(n.ranked))
	for k, i := range n.ranked {
		cand[k] = hosts[i]
	}
	depth := n.r
	for _, sn := range n.nodes {
		depth = max(depth, sn.r)
	}
	order := rendezvous(cand, key, depth)
	for k, c := range order {
		order[k] = n.ranked[c]
	}
	return order
}

// pick is the expected holders of r given its ranking order: its placement hosts, or each node
// whose position is below rOf(it).
func (n *StorageNetwork) pick(r blobRef, order []int, rOf func(int) int) []int {
	if p := n.placed(r); p != nil {
		return p
	}
	var out []int
	for pos, i := range order {
		if pos < rOf(i) {
			out = append(out, i)
		}
	}
	return out
}

// nodeR is the R node i runs with.
func (n *StorageNetwork) nodeR(i int) int { return n.nodes[i].r }

// holds says whether node i holds the blob r, given the nodes that should (with their own R).
func (n *StorageNetwork) holds(i int, r blobRef, should []int) bool {
	if r.class == clsHistory {
		return false
	}
	kh := hash(n.seed, tagStorageLost, uint64(r.class), uint64(r.ent), uint64(r.col), uint64(r.idx))
	if chance(kh, n.shares.Lost) {
		return false
	}
	f := n.nodes[i].spec.Faults
	pos := slices.Index(should, i)
	if pos < 0 {
		return chance(hash(n.seed, tagStorageExtra, uint64(r.class), uint64(r.ent), uint64(r.col), uint64(r.idx), uint64(i)), f.ExtraShare)
	}
	if f.Unpulled {
		return false
	}
	uh := hash(n.seed, tagStorageUnder, uint64(r.class), uint64(r.ent), uint64(r.col), uint64(r.idx))
	if chance(uh, n.shares.Under) && pos == int(mix64(uh)%uint64(len(should))) {
		return false
	}
	return !chance(hash(n.seed, tagStorageMissing, uint64(r.class), uint64(r.ent), uint64(r.col), uint64(r.idx), uint64(i)), f.MissingShare)
}
