package storagekeys

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/placement"
)

// Ref is one blob reference in the discovery database: a column value and what kind of value
// the column holds.
type Ref struct {
	Kind  string
	Value string
	// Placement is tracks.placement_hosts for a track's own CIDs and its audio upload, "" else.
	Placement string
}

// Reference kinds (DiscoverySQL's first column).
const (
	RefCID     = "cid"     // a blob key itself (tracks.track_cid, orig_file_cid), placed by placement_hosts
	RefPreview = "preview" // tracks.preview_cid: a key that always follows the ranking
	RefUpload  = "upload"  // tracks.audio_upload_id: every key of that upload
	RefSizes   = "sizes"   // an image sizes column: an upload id (its original) or a legacy Qm directory
	RefSingle  = "single"  // a single-image column: a legacy Qm CID, or (cover_photo) an upload id
)

// DiscoverySQL lists every blob reference of the current rows of the discovery database that
// are not deleted (spec §5.3), one row per non-empty column value: (kind, value, placement).
// Deleted tracks and playlists and deactivated users are left out (their blobs stay stored, but
// nobody can play them), as are is_current = false rows (older values). Legacy '0' placeholders
// are no keys. It does not deduplicate: a sort of every reference would load the discovery
// database; the caller deduplicates keys as it reads them (Sample).
const DiscoverySQL = `
SELECT r.kind, r.value, coalesce(r.placement, '')
FROM tracks t CROSS JOIN LATERAL (VALUES
	('cid', t.track_cid, t.placement_hosts),
	('cid', t.orig_file_cid, t.placement_hosts),
	('preview', t.preview_cid, NULL),
	('upload', t.audio_upload_id, t.placement_hosts),
	('sizes', t.cover_art_sizes, NULL),
	('single', t.cover_art, NULL)) AS r(kind, value, placement)
WHERE t.is_current AND NOT t.is_delete AND r.value IS NOT NULL AND r.value NOT IN ('', '0')
UNION ALL
SELECT r.kind, r.value, ''
FROM users u CROSS JOIN LATERAL (VALUES
	('sizes', u.profile_picture_sizes),
	('single', u.profile_picture),
	('sizes', u.cover_photo_sizes),
	('single', u.cover_photo)) AS r(kind, value)
WHERE u.is_current AND NOT u.is_deactivated AND r.value IS NOT NULL AND r.value NOT IN ('', '0')
UNION ALL
SELECT r.kind, r.value, ''
FROM playlists p CROSS JOIN LATERAL (VALUES
	('sizes', p.playlist_image_sizes_multihash),
	('single', p.playlist_image_multihash)) AS r(kind, value)
WHERE p.is_current AND NOT p.is_delete AND r.value IS NOT NULL AND r.value NOT IN ('', '0')`

// Querier runs a query: *pgx.Conn, *pgxpool.Pool and pgx.Tx fit.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// ScanDiscovery runs DiscoverySQL and calls fn for each reference, streaming.
func ScanDiscovery(ctx context.Context, db Querier, fn func(Ref) error) error {
	rows, err := db.Query(ctx, DiscoverySQL)
	if err != nil {
		return fmt.Errorf("discovery keys: %w", err)
	}
	defer rows.Close()
	var r Ref
	for rows.Next() {
		if err := rows.Scan(&r.Kind, &r.Value, &r.Placement); err != nil {
			return fmt.Errorf("discovery keys: %w", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("discovery keys: %w", err)
	}
	return nil
}

// Why a reference named no key.
const (
	UnresolvedUpload = "upload_not_listed" // an upload id no upload list (index) holds
	UnresolvedSizes  = "sizes_not_qm"      // a sizes value that is neither an upload id nor a Qm directory
)

// Resolve turns a reference into the keys it names, using ix for upload ids (nil: none
// resolve), or says why it names none:
//   - cid: the value, placed by the track's placement_hosts; preview: the value, unplaced;
//   - upload: every key of the upload (UploadKeys);
//   - sizes: an upload id's original, or "<Qm dir>/original.jpg" for a legacy directory (the
//     resized variants are made from it on demand and never replicated, §5.2);
//   - single: an upload id's original (the SDK writes a cover photo's id there too), else the
//     value (a legacy single-image CID).
func Resolve(r Ref, ix *UploadIndex) ([]Key, string) {
	upload := func(original bool) ([]Key, string) {
		var keys []Key
		if ix != nil {
			keys = ix.keys(r.Value)
		}
		if keys == nil {
			return nil, UnresolvedUpload
		}
		if original {
			return keys[:1], ""
		}
		return keys, ""
	}
	switch {
	case r.Kind == RefCID:
		return []Key{{Key: r.Value, PlacementHosts: placement.ParsePlacementHosts(r.Placement)}}, ""
	case r.Kind == RefUpload:
		return upload(false)
	case (r.Kind == RefSizes || r.Kind == RefSingle) && isULID(r.Value):
		return upload(true)
	case r.Kind == RefSizes && len(r.Value) == 46 && r.Value[:2] == "Qm":
		return []Key{{Key: r.Value + "/original.jpg"}}, ""
	case r.Kind == RefSizes:
		return nil, UnresolvedSizes
	}
	return []Key{{Key: r.Value}}, "" // preview, single
}
