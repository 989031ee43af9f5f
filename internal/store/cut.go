package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// MessageKey names a message of a run's history by the ledger row it writes: a fetch result
// (Result) by its kind (clock, cid, image_cid: fetch_results.kind), content node and batch; a
// snapshot batch by its kind (nodes, users, cids: loaded_batches.kind) and batch, with SPID 0. The
// run's opening message and its manifest have no key.
type MessageKey struct {
	Result bool
	Kind   string
	SPID   int64
	Batch  int64
}

// A Cut is a set of a run's messages, ordered by ledger (snapshot batches first), kind, node and
// batch.
type Cut []MessageKey

// Without returns the keys of c that are not in other, in c's order.
func (c Cut) Without(other Cut) Cut {
	drop := make(map[MessageKey]bool, len(other))
	for _, k := range other {
		drop[k] = true
	}
	var out Cut
	for _, k := range c {
		if !drop[k] {
			out = append(out, k)
		}
	}
	return out
}

// cutKeys lists the run's ledger rows as message keys: all of them, or only those its deadline cut
// counted (inCut).
func cutKeys(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, run int64, inCut bool) (Cut, error) {
	rows, err := q.Query(ctx, `SELECT false, kind, 0::bigint, batch FROM loaded_batches WHERE run_id = $1 AND (in_cut OR NOT $2)
		UNION ALL
		SELECT true, kind, sp_id, batch FROM fetch_results WHERE run_id = $1 AND (in_cut OR NOT $2)
		ORDER BY 1, 2, 3, 4`, run, inCut)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (MessageKey, error) {
		var k MessageKey
		err := r.Scan(&k.Result, &k.Kind, &k.SPID, &k.Batch)
		return k, err
	})
}

// RunCut lists the messages the deadline cut of the run counted (empty for a run that completed).
func (s *Store) RunCut(ctx context.Context, run int64) (Cut, error) {
	c, err := cutKeys(ctx, s.pool, run, true)
	if err != nil {
		return nil, fmt.Errorf("cut of run %d: %w", run, err)
	}
	return c, nil
}

// markCut records, inside the cut's transaction, which of the run's ledger rows the cut counts:
// every one its snapshot sees, which is what the per-user tables were just built from.
func markCut(ctx context.Context, tx pgx.Tx, run int64) error {
	if _, err := tx.Exec(ctx, "UPDATE fetch_results SET in_cut = true WHERE run_id = $1", run); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "UPDATE loaded_batches SET in_cut = true WHERE run_id = $1", run)
	return err
}

// serializationFailure reports whether a repeatable-read transaction lost a race on a row a
// concurrent transaction updated; it is retried from the start.
func serializationFailure(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40001"
}
