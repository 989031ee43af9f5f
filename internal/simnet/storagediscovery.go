package simnet

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// storageDiscoverySchema is the part of the discovery database of the storage-v2 era that names
// blobs (spec §5.3), with discovery's column names (the same in GN's ETL migrations) and types.
const storageDiscoverySchema = `
CREATE TABLE users (
	user_id               integer NOT NULL,
	is_current            boolean NOT NULL,
	txhash                varchar NOT NULL DEFAULT '',
	wallet                varchar,
	profile_picture       varchar,
	profile_picture_sizes varchar,
	cover_photo           varchar,
	cover_photo_sizes     varchar,
	is_deactivated        boolean NOT NULL DEFAULT false,
	PRIMARY KEY (user_id, is_current, txhash)
);
CREATE TABLE tracks (
	track_id        integer NOT NULL,
	is_current      boolean NOT NULL,
	txhash          varchar NOT NULL DEFAULT '',
	owner_id        integer NOT NULL,
	cover_art       varchar,
	cover_art_sizes varchar,
	track_cid       varchar,
	orig_file_cid   varchar,
	preview_cid     varchar,
	audio_upload_id varchar,
	placement_hosts text,
	track_segments  jsonb NOT NULL DEFAULT '[]',
	is_delete       boolean NOT NULL DEFAULT false,
	PRIMARY KEY (track_id, is_current, txhash)
);
CREATE TABLE playlists (
	playlist_id                    integer NOT NULL,
	is_current                     boolean NOT NULL,
	txhash                         varchar NOT NULL DEFAULT '',
	playlist_owner_id              integer NOT NULL,
	playlist_image_multihash       varchar,
	playlist_image_sizes_multihash varchar,
	is_delete                      boolean NOT NULL DEFAULT false,
	PRIMARY KEY (playlist_id, is_current, txhash)
);
`

// SeedDiscovery creates the storage-era discovery tables (users, tracks, playlists) in the empty
// database at url and fills them: for every entity its current row, and for a History share an
// is_current = false row naming keys no node holds. Call it after Start: placement_hosts name the
// nodes' loopback endpoints. The database is the storage network's own (the real discovery
// database has the legacy columns too; simnet keeps each network's tables apart).
func (n *StorageNetwork) SeedDiscovery(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("seed storage discovery: connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, storageDiscoverySchema); err != nil {
		return fmt.Errorf("seed storage discovery: create tables: %w", err)
	}
	hosts := n.hostsSnapshot()
	for _, t := range []struct {
		table string
		cols  []string
		count int
		row   func(idx uint32, current bool) []any
		ent   uint8
	}{
		{"users", []string{"user_id", "is_current", "txhash", "wallet", "profile_picture", "profile_picture_sizes",
			"cover_photo", "cover_photo_sizes", "is_deactivated"}, n.scenario.Users, n.userRow, entUser},
		{"tracks", []string{"track_id", "is_current", "txhash", "owner_id", "cover_art", "cover_art_sizes", "track_cid",
			"orig_file_cid", "preview_cid", "audio_upload_id", "placement_hosts", "is_delete"}, n.scenario.Tracks,
			func(idx uint32, current bool) []any { return n.trackRow(idx, current, hosts) }, entTrack},
		{"playlists", []string{"playlist_id", "is_current", "txhash", "playlist_owner_id", "playlist_image_multihash",
			"playlist_image_sizes_multihash", "is_delete"}, n.scenario.Playlists, n.playlistRow, entPlaylist},
	} {
		idx, history := uint32(0), false
		src := pgx.CopyFromFunc(func() ([]any, error) {
			for int64(idx) < int64(t.count) {
				if !history && n.history(t.ent, idx) {
					history = true
					return t.row(idx, false), nil
				}
				history = false
				idx++
				return t.row(idx-1, true), nil
			}
			return nil, nil
		})
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{t.table}, t.cols, src); err != nil {
			return fmt.Errorf("seed storage discovery: copy %s: %w", t.table, err)
		}
	}
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		return fmt.Errorf("seed storage discovery: analyze: %w", err)
	}
	return nil
}

// imageColumns are an entity's (sizes, single) image column values: an upload id in sizes (and,
// for cover photos, in the single column too, as the SDK writes it), or a legacy Qm directory,
// and a legacy single Qm CID where there is no upload.
func (n *StorageNetwork) imageColumns(ent, col uint8, idx uint32, upload int32) (sizes, single any) {
	switch n.imageState(ent, col, idx) {
	case imgUpload:
		sizes = n.ulid(uint32(upload))
		if col == colCoverPhoto {
			single = sizes
		}
	case imgLegacyDir:
		sizes = n.qm(blobRef{class: clsLegacyDir, ent: ent, col: col, idx: idx})
	}
	if n.legacySingle(ent, col, idx) {
		single = n.key(blobRef{class: clsLegacySingle, ent: ent, col: col, idx: idx})
	}
	return sizes, single
}

// historyDir is the legacy directory an is_current = false row names instead.
func (n *StorageNetwork) historyDir(ent, col uint8, idx uint32) string {
	return n.qm(blobRef{class: clsHistory, ent: ent, col: col, idx: idx})
}

func (n *StorageNetwork) owner(ent uint8, idx uint32) int64 {
	return int64(hash(n.seed, tagStorageDeleted, uint64(ent), uint64(idx), 1)%uint64(max(n.scenario.Users, 1))) + 1
}

func (n *StorageNetwork) userRow(u uint32, current bool) []any {
	pic, picSingle := n.imageColumns(entUser, colPicture, u, n.userPicture[u])
	cover, coverSingle := n.imageColumns(entUser, colCoverPhoto, u, n.userCover[u])
	if !current {
		pic, picSingle, cover, coverSingle = n.historyDir(entUser, colPicture, u), nil, nil, nil
	}
	return []any{int64(u) + 1, current, storageTx(n, entUser, u, current), ownerWallet(n.seed, int64(u)+100000),
		picSingle, pic, coverSingle, cover, current && n.deleted(entUser, u)}
}

func (n *StorageNetwork) trackRow(t uint32, current bool, hosts []string) []any {
	sizes, single := n.imageColumns(entTrack, colCoverArt, t, n.trackCover[t])
	var trackCID, orig, preview, uploadID, placement any
	if a := n.trackAudio[t]; a >= 0 {
		i := uint32(a)
		trackCID = n.key(blobRef{class: clsUpload, col: res320, idx: i})
		orig = n.key(blobRef{class: clsUpload, col: resOrig, idx: i})
		if n.hasPreview(i) {
			preview = n.key(blobRef{class: clsUpload, col: resPreview, idx: i})
		}
		uploadID = n.ulid(i)
		if p := n.placementNodes(i); p != nil {
			// As written by hand: spaces, and the first in capitals with a trailing "/".
			parts := make([]string, len(p))
			for k, node := range p {
				parts[k] = hosts[node]
			}
			parts[0] = strings.ToUpper(parts[0]) + "/"
			placement = strings.Join(parts, ", ")
		}
	}
	if !current {
		sizes, single, preview, uploadID, placement = n.historyDir(entTrack, colCoverArt, t), nil, nil, nil, nil
		trackCID = n.key(blobRef{class: clsHistory, col: colAudio, idx: t})
		orig = trackCID
	}
	return []any{int64(t) + 1, current, storageTx(n, entTrack, t, current), n.owner(entTrack, t), single, sizes,
		trackCID, orig, preview, uploadID, placement, current && n.deleted(entTrack, t)}
}

func (n *StorageNetwork) playlistRow(p uint32, current bool) []any {
	sizes, single := n.imageColumns(entPlaylist, colPlaylistImage, p, n.playlistImage[p])
	if !current {
		sizes, single = n.historyDir(entPlaylist, colPlaylistImage, p), nil
	}
	return []any{int64(p) + 1, current, storageTx(n, entPlaylist, p, current), n.owner(entPlaylist, p), single, sizes,
		current && n.deleted(entPlaylist, p)}
}

func storageTx(n *StorageNetwork, ent uint8, idx uint32, current bool) string {
	c := uint64(0)
	if current {
		c = 1
	}
	return txHash(n.seed, 0x5707, uint64(ent), uint64(idx), c)
}
