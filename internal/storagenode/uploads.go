package storagenode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// UploadsPageSize is the most uploads one GET /uploads answer holds (§5.1): a shorter page is the
// last.
const UploadsPageSize = 2000

// Upload templates (uploads.template).
const (
	TemplateAudio       = "audio"
	TemplateImgSquare   = "img_square"
	TemplateImgBackdrop = "img_backdrop"
)

// Upload is one row of a node's uploads table, the fields that name blobs and their holders.
type Upload struct {
	ID          string `json:"id"` // a ULID
	Template    string `json:"template"`
	OrigFileCID string `json:"orig_file_cid"`
	// Results are the transcodes: for audio {"320": CID, "320_preview|<start>": CID}; for images
	// {"original.jpg": the original's CID}.
	Results        map[string]string `json:"results"`
	PlacementHosts []string          `json:"placement_hosts"`
	Mirrors        []string          `json:"mirrors"`
	Status         string            `json:"status"`
	CreatedAt      time.Time         `json:"created_at"`
}

// Keys are the blob keys repair keeps replicated for this upload (§5.2), each once, in a fixed
// order: the original, then for audio every result (transcode and previews) sorted by name.
// Resized images are made on demand and never replicated. All of them follow the upload's
// PlacementHosts when it has some.
func (u Upload) Keys() []string {
	var keys []string
	add := func(k string) {
		if k != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	add(u.OrigFileCID)
	if u.Template == TemplateAudio {
		for _, n := range slices.Sorted(maps.Keys(u.Results)) {
			add(u.Results[n])
		}
	}
	return keys
}

// Uploads GETs one page of endpoint's upload list: up to UploadsPageSize uploads created after
// after, oldest first (GET /uploads?after=<RFC 3339 nano>, no auth). The next page starts after
// the last upload's CreatedAt; like mediorum's own scroller, uploads sharing that exact instant
// across a page boundary are skipped. The zero time starts from the beginning.
func (c *Client) Uploads(ctx context.Context, endpoint string, after time.Time) ([]Upload, error) {
	q := url.Values{"after": {after.UTC().Format(time.RFC3339Nano)}}
	a, target, err := c.get(ctx, endpoint, PathUploads, q.Encode())
	if err != nil {
		return nil, err
	}
	if a.status != http.StatusOK {
		return nil, statusError(target, a)
	}
	page, err := DecodeUploads(a.body)
	if err != nil {
		return nil, badResponse(target, a.status, err)
	}
	return page, nil
}

// DecodeUploads reads a GET /uploads body: a JSON array of uploads, each with an id, at most
// UploadsPageSize of them, in created_at order.
func DecodeUploads(body []byte) ([]Upload, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '[' {
		if string(body) == "null" { // an empty Go slice that was nil
			return nil, nil
		}
		return nil, errors.New("uploads: not a JSON array")
	}
	var page []Upload
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("uploads: %w", err)
	}
	if len(page) > UploadsPageSize {
		return nil, fmt.Errorf("uploads: %d in one page, the node sends at most %d", len(page), UploadsPageSize)
	}
	for i, u := range page {
		if strings.TrimSpace(u.ID) == "" {
			return nil, fmt.Errorf("uploads[%d]: no id", i)
		}
		if i > 0 && u.CreatedAt.Before(page[i-1].CreatedAt) {
			return nil, fmt.Errorf("uploads[%d]: created_at %s before the previous one's", i, u.CreatedAt.Format(time.RFC3339Nano))
		}
	}
	return page, nil
}
