package simnet

import (
	"encoding/binary"
)

// CIDs are CIDv0 strings ("Qm" + 44 base58 characters: a sha2-256 multihash). Simnet's 32 digest
// bytes carry the owner user's index, the track, the segment and the kind, followed by check bytes
// derived from the seed, so a fake node can tell from the string alone whether it holds the CID:
// a node holds a CID when the owner's replica set lists it, except for a share of missing
// (CID, node) pairs.

// CID kinds, one per column a CID comes from.
const (
	kindUserMetadata uint8 = iota + 1
	kindProfilePicture
	kindProfilePictureSizes
	kindCoverPhoto
	kindCoverPhotoSizes
	kindCoverArt
	kindCoverArtSizes
	kindTrackMetadata
	kindDownload
	kindSegment
)

// isDir reports whether a kind is an image directory (the *_sizes columns): the only CIDs the
// batch_image_cids_exist route answers true for, as the real node looks for <dir>/original.jpg.
func isDir(kind uint8) bool {
	return kind == kindProfilePictureSizes || kind == kindCoverPhotoSizes || kind == kindCoverArtSizes
}

const noTrack = 0xFFFFFFFF

type cidRef struct {
	owner uint32 // user index
	track uint32 // track index within the owner's tracks, noTrack for user CIDs
	seg   uint16
	kind  uint8
}

// digest lays out a CID's 32 digest bytes. history marks CIDs of is_current = false rows, which
// no node holds (they do not decode).
func (n *Network) cidDigest(r cidRef, history bool) [32]byte {
	var d [32]byte
	binary.BigEndian.PutUint32(d[0:], r.owner^n.cidMask())
	binary.BigEndian.PutUint32(d[4:], r.track)
	binary.BigEndian.PutUint16(d[8:], r.seg)
	d[10] = r.kind
	tag := tagCID
	if history {
		tag = tagHistory
	}
	h := hash(n.seed, tag, uint64(r.owner), uint64(r.track), uint64(r.seg), uint64(r.kind))
	binary.BigEndian.PutUint64(d[11:], h)
	binary.BigEndian.PutUint64(d[19:], mix64(h))
	// d[27:32]: five more check bytes.
	h2 := mix64(h + 1)
	for k := 27; k < 32; k++ {
		d[k] = byte(h2 >> (8 * (k - 27)))
	}
	return d
}

func (n *Network) cidMask() uint32 { return uint32(hash(n.seed, tagCIDMask)) }

// appendCID appends the CID string of r.
func (n *Network) appendCID(dst []byte, r cidRef, history bool) []byte {
	d := n.cidDigest(r, history)
	var mh [34]byte
	mh[0], mh[1] = 0x12, 0x20
	copy(mh[2:], d[:])
	return appendBase58(dst, mh[:])
}

func (n *Network) cidString(r cidRef) string { return string(n.appendCID(nil, r, false)) }

// decodeCID finds which of this network's CIDs s is.
func (n *Network) decodeCID(s string) (cidRef, bool) {
	if len(s) != 46 || s[0] != 'Q' || s[1] != 'm' {
		return cidRef{}, false
	}
	var mh [34]byte
	if !decodeBase58(mh[:], s) || mh[0] != 0x12 || mh[1] != 0x20 {
		return cidRef{}, false
	}
	d := mh[2:]
	r := cidRef{
		owner: binary.BigEndian.Uint32(d[0:]) ^ n.cidMask(),
		track: binary.BigEndian.Uint32(d[4:]),
		seg:   binary.BigEndian.Uint16(d[8:]),
		kind:  d[10],
	}
	if int64(r.owner) >= int64(len(n.users)) || int(r.owner) < n.explicitN {
		return cidRef{}, false
	}
	if n.cidDigest(r, false) != [32]byte(d) {
		return cidRef{}, false
	}
	return r, true
}

// cidExists reports whether node sp holds cid. The image route (batch_image_cids_exist) only
// knows image directories.
func (n *Network) cidExists(sp int32, cid string, image bool) bool {
	r, ok := n.decodeCID(cid)
	if !ok || (image && !isDir(r.kind)) {
		return false
	}
	u := &n.users[r.owner]
	if u.spid[0] != sp && u.spid[1] != sp && u.spid[2] != sp {
		return false
	}
	return !n.cidMissing(r, sp)
}

// cidMissing: node sp lacks the CID although the owner's replica set lists it.
func (n *Network) cidMissing(r cidRef, sp int32) bool {
	return chance(hash(n.seed, tagMissingCID, uint64(r.owner), uint64(r.track), uint64(r.seg), uint64(r.kind), uint64(sp)), n.shares.MissingCID)
}

// userCIDs fills metadata_multihash, profile_picture, profile_picture_sizes, cover_photo and
// cover_photo_sizes of generated user i (nil for NULL). profile_picture is sometimes the legacy '0'.
func (n *Network) userCIDs(i int, dst []any) {
	h := hash(n.seed, tagUserCID, uint64(i))
	r := cidRef{owner: uint32(i), track: noTrack}
	set := func(k int, kind uint8) {
		r.kind = kind
		dst[k] = n.cidString(r)
	}
	if unit(h) < 0.95 {
		set(0, kindUserMetadata)
	}
	switch p := unit(mix64(h)); {
	case p < 0.05:
		dst[1] = "0"
	case p < 0.15:
		set(1, kindProfilePicture)
	}
	if unit(mix64(h+1)) < 0.6 {
		set(2, kindProfilePictureSizes)
	}
	if unit(mix64(h+2)) < 0.05 {
		set(3, kindCoverPhoto)
	}
	if unit(mix64(h+3)) < 0.3 {
		set(4, kindCoverPhotoSizes)
	}
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

var base58Index = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(base58Alphabet); i++ {
		t[base58Alphabet[i]] = int8(i)
	}
	return t
}()

// appendBase58 encodes b (at most 64 bytes) in Bitcoin's base58, working on 32-bit limbs and
// dividing by 58^5 at a time.
func appendBase58(dst, b []byte) []byte {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	// Big-endian 32-bit limbs of the number (the leading partial limb is short).
	var limbs [17]uint32
	nl := (len(b) + 3) / 4
	for i, c := range b {
		pos := len(b) - 1 - i // byte position from the least significant end
		limbs[nl-1-pos/4] |= uint32(c) << (8 * (pos % 4))
	}
	var digits [96]byte
	nd := 0
	const chunk = 58 * 58 * 58 * 58 * 58
	start := 0
	for start < nl {
		var rem uint64
		for i := start; i < nl; i++ {
			cur := rem<<32 | uint64(limbs[i])
			limbs[i] = uint32(cur / chunk)
			rem = cur % chunk
		}
		for start < nl && limbs[start] == 0 {
			start++
		}
		for k := 0; k < 5; k++ {
			digits[nd] = byte(rem % 58)
			rem /= 58
			nd++
			if start >= nl && rem == 0 {
				break
			}
		}
	}
	for nd > 0 && digits[nd-1] == 0 {
		nd--
	}
	for i := 0; i < zeros; i++ {
		dst = append(dst, '1')
	}
	for i := nd - 1; i >= 0; i-- {
		dst = append(dst, base58Alphabet[digits[i]])
	}
	return dst
}

// decodeBase58 decodes s into exactly len(out) bytes.
func decodeBase58(out []byte, s string) bool {
	for i := range out {
		out[i] = 0
	}
	for i := 0; i < len(s); i++ {
		v := base58Index[s[i]]
		if v < 0 {
			return false
		}
		carry := uint32(v)
		for j := len(out) - 1; j >= 0; j-- {
			carry += uint32(out[j]) * 58
			out[j] = byte(carry)
			carry >>= 8
		}
		if carry != 0 {
			return false
		}
	}
	return true
}
