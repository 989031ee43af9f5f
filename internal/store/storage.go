package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/message"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// Blob states as stored (storage_checks.state): what a node said of a key.
const (
	blobPresent     = 1
	blobAbsent      = 0
	blobUnknown     = -1
	blobNotAnswered = -2
)

func blobStateValue(s netmonv1.BlobState) int16 {
	switch s {
	case netmonv1.BlobState_BLOB_STATE_PRESENT:
		return blobPresent
	case netmonv1.BlobState_BLOB_STATE_ABSENT:
		return blobAbsent
	case netmonv1.BlobState_BLOB_STATE_UNKNOWN:
		return blobUnknown
	}
	return blobNotAnswered
}

// ledgerRow is a result's row in fetch_results, the ledger that makes result loading idempotent.
type ledgerRow struct {
	run, sp    int64
	kind       string
	batch      int64
	part       int64 // the plan's part of a clock result (0 for every other kind)
	outcome    netmonv1.Outcome
	detail     string
	items      int // wallets, CIDs or keys asked
	missing    int32
	attempts   int32
	httpStatus int32
	duration   time.Duration
}

// claimResult inserts the ledger row of a result inside tx and reports whether this call is the
// first to write it: only the first writer writes the result's rows.
func claimResult(ctx context.Context, tx pgx.Tx, l ledgerRow) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO fetch_results (run_id, sp_id, kind, batch, outcome, detail, wallets, missing,
		attempts, http_status, duration_seconds, part) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT DO NOTHING`,
		l.run, l.sp, l.kind, l.batch, OutcomeName(l.outcome), l.detail, l.items, l.missing, l.attempts, l.httpStatus,
		l.duration.Seconds(), l.part)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// SaveStorageKeys writes a batch of a storage run's key sample once; it reports whether rows were
// written.
func (s *Store) SaveStorageKeys(ctx context.Context, b *netmonv1.StorageKeyBatch) (bool, error) {
	var wrote bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		first, err := claimBatch(ctx, tx, b.GetRunId(), message.KindKeys, b.GetBatch(), len(b.GetKeys()), 0)
		if err != nil || !first {
			return err
		}
		keys := b.GetKeys()
		rows := newCopyRows(6, len(keys)*160)
		for i, k := range keys {
			rows.row()
			rows.int8(b.GetRunId())
			rows.int8(b.GetBatch())
			rows.int4(int32(i))
			rows.text(k.GetKey())
			rows.int8Array(k.GetHolders())
			rows.bool(k.GetPlaced())
		}
		err = copyIn(ctx, tx, partitionName("storage_keys", b.GetRunId()),
			[]string{"run_id", "batch", "idx", "key", "holders", "placed"}, rows)
		wrote = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("save keys batch %d of run %d: %w", b.GetBatch(), b.GetRunId(), err)
	}
	return wrote, nil
}

// SaveStorageResult writes a blob-presence result once: its ledger row (kind storage) and one
// storage_checks row per key.
func (s *Store) SaveStorageResult(ctx context.Context, r *netmonv1.StorageResult) (bool, error) {
	keys, states := r.GetKeys(), r.GetStates()
	if len(keys) != len(states) {
		return false, fmt.Errorf("storage result %d/%d of run %d: %d keys but %d states",
			r.GetSpId(), r.GetBatch(), r.GetRunId(), len(keys), len(states))
	}
	var wrote bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		first, err := claimResult(ctx, tx, ledgerRow{run: r.GetRunId(), sp: r.GetSpId(), kind: message.KindStorage,
			batch: r.GetBatch(), outcome: r.GetOutcome(), detail: r.GetDetail(), items: len(keys), missing: r.GetMissing(),
			attempts: r.GetAttempts(), httpStatus: r.GetHttpStatus(), duration: r.GetDuration().AsDuration()})
		if err != nil || !first {
			return err
		}
		rows := newCopyRows(6, len(keys)*120)
		for i, key := range keys {
			rows.row()
			rows.int8(r.GetRunId())
			rows.int8(r.GetSpId())
			rows.int8(r.GetBatch())
			rows.text(key)
			rows.bool(r.GetNonHolder())
			rows.int2(blobStateValue(states[i]))
		}
		err = copyIn(ctx, tx, partitionName("storage_checks", r.GetRunId()),
			[]string{"run_id", "sp_id", "batch", "key", "non_holder", "state"}, rows)
		wrote = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("save storage result %d/%d of run %d: %w", r.GetSpId(), r.GetBatch(), r.GetRunId(), err)
	}
	return wrote, nil
}

// SaveHealthResult writes a node's health result once: its ledger row (kind health, batch 0) and
// its storage_health row.
func (s *Store) SaveHealthResult(ctx context.Context, r *netmonv1.HealthResult) (bool, error) {
	var wrote bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		first, err := claimResult(ctx, tx, ledgerRow{run: r.GetRunId(), sp: r.GetSpId(), kind: message.KindHealth,
			outcome: r.GetOutcome(), detail: r.GetDetail(), items: 1, attempts: r.GetAttempts(),
			httpStatus: r.GetHttpStatus(), duration: r.GetDuration().AsDuration()})
		if err != nil || !first {
			return err
		}
		if r.GetOutcome() != netmonv1.Outcome_OUTCOME_OK {
			_, err = tx.Exec(ctx, `INSERT INTO storage_health (run_id, sp_id, outcome, detail) VALUES ($1, $2, $3, $4)`,
				r.GetRunId(), r.GetSpId(), OutcomeName(r.GetOutcome()), r.GetDetail())
			wrote = err == nil
			return err
		}
		finished := func(rs *netmonv1.RepairState) *time.Time {
			if rs.GetFinishedAt() == nil || rs.GetFinishedAt().AsTime().Year() <= 1 {
				return nil // never finished: the zero time
			}
			t := rs.GetFinishedAt().AsTime()
			return &t
		}
		rep, cln := r.GetLastRepair(), r.GetLastCleanup()
		_, err = tx.Exec(ctx, `INSERT INTO storage_health (run_id, sp_id, outcome, detail, format, healthy, version,
			replication_factor, signature, wallet_registered, storage_error, repair_finished_at, repair_aborted,
			repair_pull_mine_needed, repair_delete_over_needed, cleanup_finished_at, cleanup_aborted, unreachable_peers,
			storage_used, storage_expectation)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
			r.GetRunId(), r.GetSpId(), OutcomeName(r.GetOutcome()), r.GetDetail(), r.GetFormat(), r.GetHealthy(),
			r.GetVersion(), r.GetReplicationFactor(), r.GetSignature(), r.GetWalletRegistered(), r.GetStorageError(),
			finished(rep), rep.GetAbortedReason(), rep.GetPullMineNeeded(), rep.GetDeleteOverReplicatedNeeded(),
			finished(cln), cln.GetAbortedReason(), r.GetUnreachablePeers(), float64(r.GetStorageUsed()),
			float64(r.GetStorageExpectation()))
		wrote = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("save health result %d of run %d: %w", r.GetSpId(), r.GetRunId(), err)
	}
	return wrote, nil
}

// Wilson is the 95 % Wilson score interval of k successes in n trials, as the storage metrics
// compute it (nm_wilson, migration 0007).
func (s *Store) Wilson(ctx context.Context, k, n float64) (lower, upper float64, err error) {
	err = s.pool.QueryRow(ctx, "SELECT nm_wilson($1, $2, "+wilsonZ+", false), nm_wilson($1, $2, "+wilsonZ+", true)", k, n).
		Scan(&lower, &upper)
	return lower, upper, err
}

// StorageNodeAnswer is one node of a storage run with what it answered of one key: State as in
// storage_checks (1 present, 0 absent, -1 unknown, -2 not answered), nil when it was not asked.
type StorageNodeAnswer struct {
	SPID              int64  `json:"sp_id"`
	Endpoint          string `json:"endpoint"`
	ReplicationFactor int    `json:"replication_factor"` // the R the plan gave the node
	Expected          bool   `json:"expected"`           // an expected holder of the key
	State             *int   `json:"state,omitempty"`
}

// StorageKeyAnswers is every node of storage run run with its answer about key; found is false
// when the key is not in the run's sample. Expected holders come in the plan's preference order
// first, then the other nodes by id.
func (s *Store) StorageKeyAnswers(ctx context.Context, run int64, key string) (nodes []StorageNodeAnswer, placed, found bool, err error) {
	var holders []int64
	err = s.pool.QueryRow(ctx, "SELECT holders, placed FROM storage_keys WHERE run_id = $1 AND key = $2 LIMIT 1", run, key).
		Scan(&holders, &placed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, false, nil
	}
	if err != nil {
		return nil, false, false, fmt.Errorf("key %q in run %d: %w", key, run, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT n.sp_id, n.endpoint, n.replication_factor, n.sp_id = ANY($3), c.state
		FROM content_nodes n
		LEFT JOIN storage_checks c ON c.run_id = n.run_id AND c.sp_id = n.sp_id AND c.key = $2
		WHERE n.run_id = $1
		ORDER BY array_position($3, n.sp_id) NULLS LAST, n.sp_id`, run, key, holders)
	if err != nil {
		return nil, false, false, fmt.Errorf("key %q in run %d: %w", key, run, err)
	}
	nodes, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (StorageNodeAnswer, error) {
		var a StorageNodeAnswer
		var state *int16
		err := r.Scan(&a.SPID, &a.Endpoint, &a.ReplicationFactor, &a.Expected, &state)
		if state != nil {
			v := int(*state)
			a.State = &v
		}
		return a, err
	})
	if err != nil {
		return nil, false, false, fmt.Errorf("key %q in run %d: %w", key, run, err)
	}
	return nodes, placed, true, nil
}
