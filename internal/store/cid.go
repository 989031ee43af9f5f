package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/message"

	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// CIDRouteName is the stored name of a CID route: the kind of its work items.
func CIDRouteName(r netmonv1.CIDRoute) string { return message.CIDRouteKind(r) }

// CIDTypeName is the original's ctype of a CID type: metadata, image, dir or track.
func CIDTypeName(t netmonv1.CIDType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "CID_TYPE_"))
}

// CID states as stored: what a node said of a CID.
const (
	cidPresent     = 1
	cidAbsent      = 0
	cidNotAnswered = -2
)

func cidStateValue(s netmonv1.CIDState) int16 {
	switch s {
	case netmonv1.CIDState_CID_STATE_PRESENT:
		return cidPresent
	case netmonv1.CIDState_CID_STATE_ABSENT:
		return cidAbsent
	}
	return cidNotAnswered
}

// SaveCIDBatch writes a batch of the CID snapshot once; it reports whether rows were written.
func (s *Store) SaveCIDBatch(ctx context.Context, b *netmonv1.CIDBatch) (bool, error) {
	var wrote bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		first, err := claimBatch(ctx, tx, b.GetRunId(), "cids", b.GetBatch(), len(b.GetCids()), 0)
		if err != nil || !first {
			return err
		}
		cids := b.GetCids()
		rows := newCopyRows(7, len(cids)*120)
		for i, c := range cids {
			rows.row()
			rows.int8(b.GetRunId())
			rows.int8(b.GetBatch())
			rows.int4(int32(i))
			rows.int8(c.GetUserId())
			rows.text(CIDTypeName(c.GetType()))
			rows.text(CIDRouteName(c.GetRoute()))
			rows.text(c.GetCid())
		}
		err = copyIn(ctx, tx, partitionName("cids", b.GetRunId()),
			[]string{"run_id", "batch", "idx", "user_id", "ctype", "route", "cid"}, rows)
		wrote = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("save cids batch %d of run %d: %w", b.GetBatch(), b.GetRunId(), err)
	}
	return wrote, nil
}

// SaveCIDResult writes a CID result once: its ledger row in fetch_results (kind = the route's
// name) and one cid_checks row per CID.
func (s *Store) SaveCIDResult(ctx context.Context, r *netmonv1.CIDResult) (bool, error) {
	if len(r.GetCids()) != len(r.GetStates()) {
		return false, fmt.Errorf("cid result %d/%s/%d of run %d: %d cids but %d states",
			r.GetSpId(), CIDRouteName(r.GetRoute()), r.GetBatch(), r.GetRunId(), len(r.GetCids()), len(r.GetStates()))
	}
	route := CIDRouteName(r.GetRoute())
	var wrote bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		first, err := claimResult(ctx, tx, ledgerRow{run: r.GetRunId(), sp: r.GetSpId(), kind: route, batch: r.GetBatch(),
			outcome: r.GetOutcome(), detail: r.GetDetail(), items: len(r.GetCids()), missing: r.GetMissing(),
			attempts: r.GetAttempts(), httpStatus: r.GetHttpStatus(), duration: r.GetDuration().AsDuration()})
		if err != nil || !first {
			return err
		}
		cids, states := r.GetCids(), r.GetStates()
		rows := newCopyRows(6, len(cids)*110)
		for i, cid := range cids {
			rows.row()
			rows.int8(r.GetRunId())
			rows.int8(r.GetSpId())
			rows.text(route)
			rows.int8(r.GetBatch())
			rows.text(cid)
			rows.int2(cidStateValue(states[i]))
		}
		err = copyIn(ctx, tx, partitionName("cid_checks", r.GetRunId()),
			[]string{"run_id", "sp_id", "route", "batch", "cid", "state"}, rows)
		wrote = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("save cid result %d/%s/%d of run %d: %w", r.GetSpId(), route, r.GetBatch(), r.GetRunId(), err)
	}
	return wrote, nil
}

// buildCIDStatus joins the run's CID rows with their owners' replica sets (the run's users) and
// the nodes' answers, in one set-based step: one cid_status row per CID row and distinct node of
// the replica set. A node that was never asked or did not answer (no result, or a node missing
// from the run's list) is -2, as in the clock table. If a node was asked the same CID twice on a
// route, the answer of the lowest batch wins.
//
// The statement names the run's partitions, not the partitioned tables: the planner estimates
// joins from the statistics of the relations the statement names, and a partitioned table has
// none (ANALYZE of its partitions does not give it any), so a join through the parents was
// planned as if a user id matched 5,000 users, its inputs sorted and hashed on disk. A CID
// row meets its owner's users row directly (a run's users rows have distinct ids: Snapshot.Users
// passes each once, and a batch is loaded once) and takes its nodes from a three-row VALUES list
// (three NULL rows when it has none); one sort then serves three ends: a node named twice, and a
// replica set without nodes, become one row (DISTINCT ON), the lowest batch's answer is the one
// kept, and the rows of a CID are together for the count of replicas. At the production shape's
// 1M users and 100k sampled CIDs the statement takes 1.2 s instead of 1.9 s (docs/benchmarks.md).
func buildCIDStatus(ctx context.Context, tx pgx.Tx, run int64) error {
	if _, err := tx.Exec(ctx, "DELETE FROM cid_status WHERE run_id = $1", run); err != nil {
		return err
	}
	// A run without CID rows (checks off, or none sampled) has nothing to build.
	var has bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM cids WHERE run_id = $1)", run).Scan(&has); err != nil || !has {
		return err
	}
	if err := analyze(ctx, tx, run, "users", "cids", "cid_checks"); err != nil {
		return err
	}
	part := func(table string) string { return pgx.Identifier{partitionName(table, run)}.Sanitize() }
	if _, err := tx.Exec(ctx, `
INSERT INTO cid_status (run_id, batch, idx, user_id, sp_id, state, replicas)
WITH owner AS (
    SELECT c.batch, c.idx, c.user_id, c.route, c.cid,
           u.primary_sp_id AS p, u.secondary1_sp_id AS s1, u.secondary2_sp_id AS s2
    FROM `+part("cids")+` c
    LEFT JOIN `+part("users")+` u ON u.user_id = c.user_id
), slot AS (
    SELECT o.batch, o.idx, o.user_id, o.route, o.cid, n.sp_id
    FROM owner o
    CROSS JOIN LATERAL (VALUES (o.p), (o.s1), (o.s2)) AS n(sp_id)
    WHERE n.sp_id IS NOT NULL OR num_nonnulls(o.p, o.s1, o.s2) = 0
), answered AS (
    SELECT DISTINCT ON (s.batch, s.idx, s.sp_id) s.batch, s.idx, s.user_id, s.sp_id,
           CASE WHEN s.sp_id IS NULL THEN NULL ELSE coalesce(k.state, -2) END AS state
    FROM slot s
    LEFT JOIN `+part("cid_checks")+` k ON k.sp_id = s.sp_id AND k.route = s.route AND k.cid = s.cid
    ORDER BY s.batch, s.idx, s.sp_id, k.batch
)
SELECT $1::bigint, batch, idx, user_id, sp_id, state,
       count(*) FILTER (WHERE state = 1) OVER (PARTITION BY batch, idx)
FROM answered`, run); err != nil {
		return err
	}
	// The CID families read it next, in the aggregator.
	return analyze(ctx, tx, run, "cid_status")
}
