package store

import (
	"context"
	"fmt"

	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// DiscoveryCID is one row of the CID snapshot with its owner's replica set (nil pointers are SQL
// NULLs).
type DiscoveryCID struct {
	UserID     int64
	Type       netmonv1.CIDType
	CID        string
	Primary    *int64
	Secondary1 *int64
	Secondary2 *int64
}

// SampleAll is the sampling threshold that keeps every CID.
const SampleAll = int64(1) << 32

// cidSnapshotSQL lists the CID rows of the snapshot (spec §4's ten sources) as CTE c, one row per
// (user, column) and per track segment, each with its owner's replica set: CIDs of current users
// that are not deactivated, and of their current tracks that are not deleted. JSON values are read
// with ->>, so they come without their quotes; NULL, JSON null and empty values, and the legacy
// profile_picture '0', are left out. %s is the users filter for deactivated users (empty when
// discovery has no is_deactivated column). Tracks are joined to their owners before they are
// spread into CIDs (the OFFSET 0 fence): the other way round, at a million users, Postgres hashed
// the 3M track CIDs and spilled them to disk in 512 batches (docs/benchmarks.md).
const cidSnapshotSQL = `
WITH u AS (
    SELECT DISTINCT ON (user_id) user_id, primary_id, secondary_ids[1] AS s1, secondary_ids[2] AS s2,
           metadata_multihash, profile_picture, profile_picture_sizes, cover_photo, cover_photo_sizes
    FROM users WHERE is_current %s
    ORDER BY user_id
), c AS (
    SELECT u.user_id, 0 AS src, 0::bigint AS track_id, x.ord, x.type, x.cid, u.primary_id, u.s1, u.s2
    FROM u CROSS JOIN LATERAL (VALUES
        (1, 1, u.metadata_multihash::text),
        (2, 2, nullif(u.profile_picture, '0')::text),
        (3, 3, u.profile_picture_sizes::text),
        (4, 2, u.cover_photo::text),
        (5, 3, u.cover_photo_sizes::text)) AS x(ord, type, cid)
    UNION ALL
    SELECT t.owner_id, 1, t.track_id, x.ord, x.type, x.cid, t.primary_id, t.s1, t.s2
    FROM (SELECT t.*, u.primary_id, u.s1, u.s2 FROM tracks t JOIN u ON u.user_id = t.owner_id
          WHERE t.is_current AND NOT coalesce(t.is_delete, false) OFFSET 0) t
    CROSS JOIN LATERAL (
        SELECT 1::bigint AS ord, 2 AS type, t.cover_art::text AS cid
        UNION ALL SELECT 2, 3, t.cover_art_sizes::text
        UNION ALL SELECT 3, 1, t.metadata_multihash::text
        UNION ALL SELECT 4, 4, t.download ->> 'cid'
        UNION ALL SELECT 4 + s.n, 4, s.seg ->> 'multihash'
            FROM jsonb_array_elements(CASE WHEN jsonb_typeof(t.track_segments) = 'array'
                                           THEN t.track_segments ELSE '[]'::jsonb END)
                 WITH ORDINALITY AS s(seg, n)
    ) AS x
)`

// sampleBelow is the SQL condition that a CID's sampling hash, PostgreSQL's hashtext of it as an
// unsigned 32-bit number, is below $1. A CID is in a sample of rate r when its hash is below
// floor(r * 2^32); the rule depends only on the CID string, so the same CIDs are drawn from one
// night to the next. hashtext is the hash Postgres uses for its own hash tables: at a million
// users the statement took about 5 s less than with MD5 (docs/benchmarks.md), and
// simnet.SampleHash computes the same number in Go. COLLATE "C" makes it hash the bytes whatever
// the column's collation.
const sampleBelow = `(hashtext(c.cid COLLATE "C")::bigint & 4294967295) < $1`

// cidFilter is the users condition for deactivated users, or "" when discovery has no
// is_deactivated column (a discovery schema older than deactivation).
func (s *Snapshot) cidFilter(ctx context.Context) (string, error) {
	var has bool
	err := s.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'users' AND column_name = 'is_deactivated')`).Scan(&has)
	if err != nil {
		return "", fmt.Errorf("discovery: users columns: %w", err)
	}
	if !has {
		return "", nil
	}
	return "AND NOT coalesce(is_deactivated, false)", nil
}

// cidCountSQL counts the rows cidSnapshotSQL lists, row by row of users and tracks instead of
// CID by CID: the non-empty CID columns of each current user (one row per user_id) and of each of
// their current tracks, and each track's segments with a non-empty multihash. Spreading the
// snapshot into its CIDs to count them took twice as long (docs/benchmarks.md); TestDiscoveryCIDs
// holds the two equal on every edge the snapshot has (NULL, empty and JSON null values, the
// legacy '0' picture, segments that are not an array, deleted tracks, deactivated users, old
// rows). %s is cidFilter's condition, twice.
const cidCountSQL = `
SELECT (SELECT coalesce(sum(u.n), 0) FROM (
            SELECT DISTINCT ON (user_id) num_nonnulls(nullif(metadata_multihash::text, ''),
                nullif(nullif(profile_picture, '0')::text, ''), nullif(profile_picture_sizes::text, ''),
                nullif(cover_photo::text, ''), nullif(cover_photo_sizes::text, '')) AS n
            FROM users WHERE is_current %[1]s
            ORDER BY user_id) u)
     + (SELECT coalesce(sum(num_nonnulls(nullif(t.cover_art::text, ''), nullif(t.cover_art_sizes::text, ''),
                nullif(t.metadata_multihash::text, ''), nullif(t.download ->> 'cid', ''))
            + (SELECT count(*) FROM jsonb_array_elements(CASE WHEN jsonb_typeof(t.track_segments) = 'array'
                                                         THEN t.track_segments ELSE '[]'::jsonb END) AS s(seg)
               WHERE s.seg ->> 'multihash' <> '')), 0)
        FROM tracks t
        WHERE t.is_current AND NOT coalesce(t.is_delete, false)
          AND t.owner_id IN (SELECT user_id FROM users WHERE is_current %[1]s))`

// CIDCount counts the CID rows of the snapshot (cidCountSQL).
func (s *Snapshot) CIDCount(ctx context.Context) (int64, error) {
	filter, err := s.cidFilter(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.tx.QueryRow(ctx, fmt.Sprintf(cidCountSQL, filter)).Scan(&n); err != nil {
		return 0, fmt.Errorf("discovery: count cids: %w", err)
	}
	return n, nil
}

// CIDs streams the CID rows whose sampling hash is below threshold (SampleAll: every row) to fn,
// in user_id order (a user's own CIDs, then its tracks' in track_id order), one at a time.
func (s *Snapshot) CIDs(ctx context.Context, threshold int64, fn func(DiscoveryCID) error) error {
	filter, err := s.cidFilter(ctx)
	if err != nil {
		return err
	}
	q := fmt.Sprintf(cidSnapshotSQL, filter) + `
SELECT c.user_id, c.type, c.cid, c.primary_id, c.s1, c.s2
FROM c
WHERE c.cid IS NOT NULL AND c.cid <> ''`
	args := []any{}
	if threshold < SampleAll {
		q += " AND " + sampleBelow
		args = append(args, threshold)
	}
	q += " ORDER BY c.user_id, c.src, c.track_id, c.ord"
	rows, err := s.tx.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("discovery: cids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c DiscoveryCID
		var typ int32
		if err := rows.Scan(&c.UserID, &typ, &c.CID, &c.Primary, &c.Secondary1, &c.Secondary2); err != nil {
			return fmt.Errorf("discovery: cids: %w", err)
		}
		c.Type = netmonv1.CIDType(typ)
		if err := fn(c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("discovery: cids: %w", err)
	}
	return nil
}
