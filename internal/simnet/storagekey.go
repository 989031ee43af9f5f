package simnet

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"slices"
	"strings"
	"time"
)

// Storage keys are strings in the shapes mediorum stores (spec §2.1): v2 CIDs ("baeaaaiqse…", a
// CIDv1 around an identity multihash of a sha2-256 digest), legacy CIDv0 ("Qm…") and legacy image
// paths ("Qm<dir>/original.jpg"); upload ids are ULIDs. Their 32 digest bytes (80 random bits of a
// ULID) carry what the key is (blobRef) and check bytes from the seed, so a node tells from the
// string alone which blob it is asked about, and strings that are not this network's decode to
// nothing.

// Key classes.
const (
	clsUpload       uint8 = iota + 1 // a blob of upload idx: col is the result (res*)
	clsLegacyDir                     // Qm<dir>/original.jpg of entity (ent, idx), column col
	clsLegacySingle                  // a legacy single-image Qm CID of entity (ent, idx), column col
	clsHistory                       // a key only an is_current = false row names: no node holds it
)

// Entities and their image columns.
const (
	entTrack uint8 = iota + 1
	entUser
	entPlaylist
	entOrphan // an audio upload no track names
)

const (
	colAudio         uint8 = iota + 1 // a track's (or orphan's) audio upload
	colCoverArt                       // tracks.cover_art_sizes / cover_art
	colPicture                        // users.profile_picture_sizes / profile_picture
	colCoverPhoto                     // users.cover_photo_sizes / cover_photo
	colPlaylistImage                  // playlists.playlist_image_sizes_multihash / playlist_image_multihash
)

// Upload results (spec §5.1 results): the original, the 320 kbps transcode, the preview.
const (
	resOrig uint8 = iota + 1
	res320
	resPreview
)

// blobRef is what a key names.
type blobRef struct {
	class, ent, col uint8
	idx             uint32
}

func (n *StorageNetwork) digest(r blobRef) [32]byte {
	var d [32]byte
	binary.BigEndian.PutUint32(d[0:], r.idx^n.mask)
	d[4], d[5], d[6] = r.class, r.ent, r.col
	h := hash(n.seed, tagStorageKey, uint64(r.class), uint64(r.ent), uint64(r.col), uint64(r.idx))
	binary.BigEndian.PutUint64(d[7:], h)
	binary.BigEndian.PutUint64(d[15:], mix64(h))
	binary.BigEndian.PutUint64(d[23:], mix64(h+1))
	d[31] = byte(mix64(h + 2))
	return d
}

// ref decodes digest bytes; ok is false when they are not this network's.
func (n *StorageNetwork) ref(d []byte) (blobRef, bool) {
	r := blobRef{idx: binary.BigEndian.Uint32(d[0:]) ^ n.mask, class: d[4], ent: d[5], col: d[6]}
	return r, n.digest(r) == [32]byte(d)
}

var cidBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// cidV1Prefix: CIDv1, codec 0x00, identity multihash of 0x22 bytes holding a sha2-256 multihash
// (mediorum's ComputeFileCID), so every key starts "baeaaaiqse".
var cidV1Prefix = []byte{0x01, 0x00, 0x00, 0x22, 0x12, 0x20}

func (n *StorageNetwork) cidV1(r blobRef) string {
	d := n.digest(r)
	return "b" + cidBase32.EncodeToString(append(slices.Clone(cidV1Prefix), d[:]...))
}

func (n *StorageNetwork) qm(r blobRef) string {
	d := n.digest(r)
	return string(appendBase58(nil, append([]byte{0x12, 0x20}, d[:]...)))
}

const legacyOriginal = "/original.jpg"

// key is the key string of r: v2 CIDs for uploads (and a history row's track CID), Qm for legacy.
func (n *StorageNetwork) key(r blobRef) string {
	switch r.class {
	case clsUpload:
		return n.cidV1(r)
	case clsLegacyDir:
		return n.qm(r) + legacyOriginal
	case clsHistory:
		if r.col == colAudio {
			return n.cidV1(r)
		}
		return n.qm(r)
	}
	return n.qm(r)
}

// decodeKey finds which of this network's keys s is.
func (n *StorageNetwork) decodeKey(s string) (blobRef, bool) {
	switch {
	case strings.HasPrefix(s, "b"):
		b, err := cidBase32.DecodeString(s[1:])
		if err != nil || len(b) != 38 || !slices.Equal(b[:6], cidV1Prefix) {
			return blobRef{}, false
		}
		r, ok := n.ref(b[6:])
		return r, ok && (r.class == clsUpload || r.class == clsHistory) && n.validRef(r)
	case strings.HasPrefix(s, "Qm"):
		dir, isDir := strings.CutSuffix(s, legacyOriginal)
		var mh [34]byte
		if len(dir) != 46 || !decodeBase58(mh[:], dir) || mh[0] != 0x12 || mh[1] != 0x20 {
			return blobRef{}, false
		}
		r, ok := n.ref(mh[2:])
		want := clsLegacySingle
		if isDir {
			want = clsLegacyDir
		}
		return r, ok && (r.class == want || (r.class == clsHistory && !isDir)) && n.validRef(r)
	}
	return blobRef{}, false
}

// validRef: the ref names a blob the network generated (digests can be made for any ref).
func (n *StorageNetwork) validRef(r blobRef) bool {
	switch r.class {
	case clsUpload:
		if int64(r.idx) >= int64(len(n.uploads)) {
			return false
		}
		u := n.uploads[r.idx]
		switch r.col {
		case resOrig:
			return true
		case res320:
			return u.col == colAudio
		case resPreview:
			return u.col == colAudio && n.hasPreview(r.idx)
		}
		return false
	case clsLegacyDir, clsLegacySingle:
		return n.legacyState(r.ent, r.col, r.idx, r.class)
	case clsHistory:
		return true
	}
	return false
}

// ULIDs (upload ids): 48 bits of created_at in milliseconds, then the upload index masked and
// 48 check bits, in Crockford's base32.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

func (n *StorageNetwork) ulid(i uint32) string {
	var b [16]byte
	ms := uint64(n.createdAt(i).UnixMilli())
	binary.BigEndian.PutUint64(b[0:], ms<<16)
	binary.BigEndian.PutUint32(b[6:], i^n.mask)
	h := hash(n.seed, tagStorageULID, uint64(i))
	for k := 0; k < 6; k++ {
		b[10+k] = byte(h >> (8 * k))
	}
	// 128 bits as 26 characters: the first takes the top 3 bits (2 zero bits of padding).
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for k := 25; k >= 0; k-- {
		out[k] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// decodeULID is the upload index of this network's upload id s.
func (n *StorageNetwork) decodeULID(s string) (uint32, bool) {
	if len(s) != 26 {
		return 0, false
	}
	var hi, lo uint64
	for k := 0; k < 26; k++ {
		v := strings.IndexByte(crockford, s[k])
		if v < 0 {
			return 0, false
		}
		hi = hi<<5 | lo>>59
		lo = lo<<5 | uint64(v)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	i := binary.BigEndian.Uint32(b[6:]) ^ n.mask
	if int64(i) >= int64(len(n.uploads)) || n.ulid(i) != s {
		return 0, false
	}
	return i, true
}

// uploadsEpoch is the first upload's created_at; uploads are 1.5 s apart plus under 1 s of
// jitter, so created_at strictly increases with the index.
var uploadsEpoch = time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)

func (n *StorageNetwork) createdAt(i uint32) time.Time {
	jitter := time.Duration(hash(n.seed, tagStorageTime, uint64(i))%1_000_000) * time.Microsecond
	return uploadsEpoch.Add(time.Duration(i)*1500*time.Millisecond + jitter)
}

// blobSize is a blob's size in bytes (audio a few MB, images less).
func (n *StorageNetwork) blobSize(r blobRef) int64 {
	h := hash(n.seed, tagStorageSize, uint64(r.class), uint64(r.ent), uint64(r.col), uint64(r.idx))
	if r.class == clsUpload && r.col != resOrig || r.class == clsUpload && n.uploads[r.idx].col == colAudio {
		return 1_000_000 + int64(h%9_000_000)
	}
	return 20_000 + int64(h%480_000)
}

// blobMD5 is the base64 "MD5" attribute of a blob, a stand-in derived from its key.
func blobMD5(key string) []byte {
	s := sha256.Sum256([]byte(key))
	return s[:16]
}
