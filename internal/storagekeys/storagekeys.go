// Package storagekeys finds the blob keys a storage-v2 run checks (spec audius-storage-v2.md §5):
// from the discovery database (§5.3: tracks' track_cid, orig_file_cid and preview_cid, their audio
// upload, image columns holding an upload id or a legacy Qm directory, legacy single-image CIDs)
// and from a node's upload list (GET /uploads?after=, §5.1), and draws a uniform random sample of
// a configured size from them, or keeps every key. It consumes a discovery connection, a
// storagenode client and node endpoints, and produces the keys, each once, with the placement
// hosts that override their ranking, and counts of what it read and could not resolve.
package storagekeys

import (
	"strings"

	"github.com/audius-netmon/netmon/internal/placement"
	"github.com/audius-netmon/netmon/internal/storagenode"
)

// Key is a blob key, exactly as stored (case-sensitive), and, when its upload has placement_hosts
// and it is not a preview, those hosts normalised (placement.ParsePlacementHosts): its holders,
// whatever the ranking (spec §2.3).
type Key struct {
	Key            string
	PlacementHosts []string
}

// previewPrefix names an audio upload's preview results ("320_preview|<start seconds>").
const previewPrefix = "320_preview"

// UploadKeys are the keys repair keeps replicated for u (storagenode.Upload.Keys: the original,
// and for audio every result), each with u's placement hosts unless it is a preview: previews
// always follow the ranking (spec §2.3).
func UploadKeys(u storagenode.Upload) []Key {
	placed := normalizeHosts(u.PlacementHosts)
	previews := map[string]bool{}
	for name, k := range u.Results {
		if strings.HasPrefix(name, previewPrefix) {
			previews[k] = true
		}
	}
	var out []Key
	for _, k := range u.Keys() {
		key := Key{Key: k}
		if !previews[k] || k == u.OrigFileCID {
			key.PlacementHosts = placed
		}
		out = append(out, key)
	}
	return out
}

// normalizeHosts normalises an upload's placement hosts as discovery's are (nil for none).
func normalizeHosts(hosts []string) []string {
	return placement.ParsePlacementHosts(strings.Join(hosts, ","))
}

// UploadIndex resolves the upload ids the discovery database names (an audio upload's id, an
// image column's) to their upload's keys. Built from the upload list, it keeps per upload only
// its keys: about 300 bytes an upload.
type UploadIndex struct {
	byID map[string][]Key // upload id → its keys, the original first
}

// NewUploadIndex is an empty index.
func NewUploadIndex() *UploadIndex { return &UploadIndex{byID: map[string][]Key{}} }

// Add indexes u.
func (ix *UploadIndex) Add(u storagenode.Upload) { ix.byID[u.ID] = UploadKeys(u) }

// Len is the number of uploads indexed.
func (ix *UploadIndex) Len() int { return len(ix.byID) }

// keys are the keys of upload id, nil when unknown.
func (ix *UploadIndex) keys(id string) []Key { return ix.byID[id] }

// isULID reports whether s has the shape of an upload id: 26 characters of Crockford's base32.
func isULID(s string) bool {
	if len(s) != 26 || s[0] > '7' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U') {
			return false
		}
	}
	return true
}
