package simnet

import (
	"net/http"
	"sort"
	"strconv"
	"time"
)

// StorageUploadsPage is the most uploads one GET /uploads answer holds (mediorum's limit).
const StorageUploadsPage = 2000

// previewStart is the preview's start second in its result name ("320_preview|<start>").
func (n *StorageNetwork) previewStart(i uint32) int {
	return int(hash(n.seed, tagStoragePreview, uint64(i), 1) % 60)
}

// templateOf is an upload's template.
func templateOf(u uploadRef) string {
	switch u.col {
	case colAudio:
		return "audio"
	case colCoverPhoto:
		return "img_backdrop"
	}
	return "img_square"
}

// uploadJSON is upload i as mediorum's Upload marshals it (the fields a monitor reads, and a
// few more).
func (n *StorageNetwork) uploadJSON(i uint32, hosts []string) map[string]any {
	u := n.uploads[i]
	orig := n.key(blobRef{class: clsUpload, col: resOrig, idx: i})
	results := map[string]string{}
	filename := "artwork.jpg"
	if u.col == colAudio {
		filename = "track.wav"
		results["320"] = n.key(blobRef{class: clsUpload, col: res320, idx: i})
		if n.hasPreview(i) {
			results["320_preview|"+strconv.Itoa(n.previewStart(i))] = n.key(blobRef{class: clsUpload, col: resPreview, idx: i})
		}
	} else {
		results["original.jpg"] = orig
	}
	placement := []string{}
	for _, k := range n.placementNodes(i) {
		placement = append(placement, hosts[k])
	}
	var mirrors []string
	for _, k := range n.expected(blobRef{class: clsUpload, col: resOrig, idx: i}, orig, hosts, n.nodeR) {
		mirrors = append(mirrors, hosts[k])
	}
	at := n.createdAt(i)
	by := hosts[n.ranked[int(hash(n.seed, tagStorageULID, uint64(i), 1)%uint64(len(n.ranked)))]]
	return map[string]any{
		"id": n.ulid(i), "user_wallet": nil, "template": templateOf(u), "orig_filename": filename,
		"orig_file_cid": orig, "selected_preview": nil, "probe": nil, "error": "", "error_count": 0,
		"mirrors": mirrors, "transcoded_mirrors": mirrors, "placement_hosts": placement, "status": "done",
		"created_by": by, "created_at": at, "updated_at": at.Add(time.Minute), "transcoded_by": by,
		"transcoded_at": at.Add(time.Minute), "transcode_progress": 1, "results": results,
	}
}

// uploadList is GET /uploads?after=<RFC 3339 nano>: up to StorageUploadsPage uploads created
// after it, oldest first; an unparsable after is the zero time (spec §5.1). A node whose
// database is down answers 500.
func (f *storageFake) uploadList(w http.ResponseWriter, r *http.Request) {
	f.stats.uploads.Add(1)
	if f.node.spec.Faults.DBDown { // the list is a query of the node's database
		echoError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	after, err := time.Parse(time.RFC3339Nano, r.URL.Query().Get("after"))
	if err != nil {
		after = time.Time{}
	}
	n := f.net
	first := sort.Search(len(n.uploads), func(i int) bool { return n.createdAt(uint32(i)).After(after) })
	page := make([]map[string]any, 0, StorageUploadsPage)
	for i := first; i < len(n.uploads) && len(page) < StorageUploadsPage; i++ {
		page = append(page, n.uploadJSON(uint32(i), f.hosts))
	}
	writeJSON(w, http.StatusOK, page)
}

// upload is GET /uploads/<id>: 404 for an unknown id, 503 while the database is down.
func (f *storageFake) upload(w http.ResponseWriter, r *http.Request) {
	f.stats.uploads.Add(1)
	if f.node.spec.Faults.DBDown { // requireHealthy
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "database not healthy"})
		return
	}
	i, ok := f.net.decodeULID(r.PathValue("id"))
	if !ok {
		echoError(w, http.StatusNotFound, "upload not found")
		return
	}
	writeJSON(w, http.StatusOK, f.net.uploadJSON(i, f.hosts))
}
