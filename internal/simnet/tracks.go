package simnet

import "strconv"

var trackColumns = []string{
	"track_id", "is_current", "txhash", "owner_id", "cover_art", "cover_art_sizes",
	"metadata_multihash", "download", "track_segments", "is_delete",
}

// tracksOf is how many tracks generated user i owns.
func (n *Network) tracksOf(i int) int {
	u := &n.users[i]
	if u.flags&flagArtist == 0 || n.shares.TracksPerArtist == 0 {
		return 0
	}
	return 1 + int(hash(n.seed, tagTrack, uint64(i))%uint64(n.shares.TracksPerArtist))
}

// trackSource streams the tracks rows of every artist, in user order, with track ids 1, 2, ...
// Some tracks also get an is_current = false row (an older version, whose CIDs no node holds).
type trackSource struct {
	n       *Network
	i       int // owner's user index
	t       int // track index within the owner's tracks
	nt      int
	id      int32
	history bool // the next row is the history version of the current track
	vals    []any
	seg     []byte
	dl      []byte
	cids    [3][]byte
}

func (n *Network) newTrackSource() *trackSource {
	return &trackSource{n: n, i: n.explicitN - 1, vals: make([]any, len(trackColumns))}
}

func (s *trackSource) Next() bool {
	n := s.n
	if s.history {
		s.history = false
		s.row(true)
		return true
	}
	s.t++
	for s.t >= s.nt {
		s.i++
		if s.i >= len(n.users) {
			return false
		}
		s.t = 0
		s.nt = n.tracksOf(s.i)
	}
	s.id++
	s.row(false)
	s.history = n.trackHistory(s.i, s.t)
	return true
}

// segmentsOf is the number of track_segments of track t of user i.
func (n *Network) segmentsOf(i, t int) int {
	if n.shares.SegmentsPerTrack == 0 {
		return 0
	}
	return 1 + int(mix64(hash(n.seed, tagTrack, uint64(i), uint64(t))+2)%uint64(n.shares.SegmentsPerTrack))
}

// trackHistory reports whether track t of user i also has an is_current = false row.
func (n *Network) trackHistory(i, t int) bool {
	return chance(hash(n.seed, tagTrack, uint64(i), uint64(t), 1), n.shares.History)
}

// RowCounts are the numbers of discovery rows SeedDiscovery writes.
type RowCounts struct {
	Users         int64 `json:"users"`
	CurrentUsers  int64 `json:"current_users"`
	Tracks        int64 `json:"tracks"`
	CurrentTracks int64 `json:"current_tracks"`
	Segments      int64 `json:"segments"` // elements of the current tracks' track_segments
	ContentNodes  int64 `json:"ursm_content_nodes"`
}

// Rows counts the rows SeedDiscovery writes, without writing them.
func (n *Network) Rows() RowCounts {
	var c RowCounts
	c.CurrentUsers = int64(len(n.users))
	c.Users = c.CurrentUsers
	for i := n.explicitN; i < len(n.users); i++ {
		c.Users += int64(n.historyRows(i))
		for t := range n.tracksOf(i) {
			c.CurrentTracks++
			c.Segments += int64(n.segmentsOf(i, t))
			if n.trackHistory(i, t) {
				c.Tracks++
			}
		}
	}
	c.Tracks += c.CurrentTracks
	c.ContentNodes = int64(len(n.nodes))
	if n.nodeHistory() {
		c.ContentNodes += int64(len(n.nodes)) + 1
	}
	return c
}

func (s *trackSource) Values() ([]any, error) { return s.vals, nil }
func (s *trackSource) Err() error             { return nil }

// trackShape is what track t of generated user i has, the same in its current and history rows.
type trackShape struct {
	cover    uint8 // kindCoverArt, kindCoverArtSizes, or 0 for neither
	download int   // 0: download is SQL NULL; 1: {"cid": null, ...}; 2: a CID
	deleted  bool  // is_delete
}

func (n *Network) trackShape(i, t int) trackShape {
	h := hash(n.seed, tagTrack, uint64(i), uint64(t))
	var sh trackShape
	switch p := unit(mix64(h)); {
	case p < 0.1:
		sh.cover = kindCoverArt
	case p < 0.9:
		sh.cover = kindCoverArtSizes
	}
	sh.download = int(mix64(h+1) % 3)
	sh.deleted = chance(mix64(h+4), 0.03)
	return sh
}

func (s *trackSource) row(history bool) {
	n := s.n
	v := s.vals
	i, t := s.i, s.t
	h := hash(n.seed, tagTrack, uint64(i), uint64(t))
	sh := n.trackShape(i, t)
	ref := cidRef{owner: uint32(i), track: uint32(t)}
	cid := func(k int, kind uint8) []byte {
		ref.kind, ref.seg = kind, 0
		s.cids[k] = n.appendCID(s.cids[k][:0], ref, history)
		return s.cids[k]
	}
	v[0] = s.id
	v[1] = !history
	if history {
		v[2] = txHash(n.seed, tagTrack, uint64(i), uint64(t), 1)
	} else {
		v[2] = txHash(n.seed, tagTrack, uint64(i), uint64(t))
	}
	v[3] = n.users[i].id
	v[4], v[5] = nil, nil
	switch sh.cover {
	case kindCoverArt:
		v[4] = cid(0, kindCoverArt)
	case kindCoverArtSizes:
		v[5] = cid(1, kindCoverArtSizes)
	}
	v[6] = cid(2, kindTrackMetadata)
	// download: SQL NULL, a JSON null cid, or a cid (stored by netmon with its JSON quotes).
	switch sh.download {
	case 0:
		v[7] = nil
	case 1:
		s.dl = append(s.dl[:0], `{"cid": null, "is_downloadable": false, "requires_follow": false}`...)
		v[7] = s.dl
	default:
		s.dl = append(s.dl[:0], `{"cid": "`...)
		ref.kind, ref.seg = kindDownload, 0
		s.dl = n.appendCID(s.dl, ref, history)
		s.dl = append(s.dl, `", "is_downloadable": true, "requires_follow": false}`...)
		v[7] = s.dl
	}
	segs := n.segmentsOf(i, t)
	s.seg = append(s.seg[:0], '[')
	for k := 0; k < segs; k++ {
		if k > 0 {
			s.seg = append(s.seg, ", "...)
		}
		s.seg = append(s.seg, `{"duration": `...)
		d := 6.016
		if k == segs-1 {
			d = 1 + float64(mix64(h+3)%5000)/1000
		}
		s.seg = strconv.AppendFloat(s.seg, d, 'f', 3, 64)
		s.seg = append(s.seg, `, "multihash": "`...)
		ref.kind, ref.seg = kindSegment, uint16(k)
		s.seg = n.appendCID(s.seg, ref, history)
		s.seg = append(s.seg, `"}`...)
	}
	s.seg = append(s.seg, ']')
	v[8] = s.seg
	v[9] = sh.deleted
}
