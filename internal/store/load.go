package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/message"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// partitioned are the per-run tables; each run gets its own partition of each.
var partitioned = []string{"users", "clocks", "clock_results", "user_status", "user_counts", "cids", "cid_checks", "cid_status",
	"storage_keys", "storage_checks"}

// EnsureRun makes sure a run that `netmon replay` rebuilds has a row and partitions. A missing
// row (the NM DB lost it) is created marked as a replay, so the run's passage through the active
// statuses is nobody's live run; RestoreRun ends the replay. It is idempotent. Live runs are
// created by the planner (CreateRun), never here.
func (s *Store) EnsureRun(ctx context.Context, run int64) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO runs (run_id, status, replay) VALUES ($1, $2, true) ON CONFLICT DO NOTHING",
			run, lifecycle.Planned); err != nil {
			return err
		}
		return createPartitions(ctx, tx, run)
	})
	if err != nil {
		return fmt.Errorf("ensure run %d: %w", run, err)
	}
	return nil
}

// createPartitions creates the run's partition of every per-run table, if missing.
func createPartitions(ctx context.Context, tx pgx.Tx, run int64) error {
	// Serialise concurrent creators of the same run's partitions.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", run); err != nil {
		return err
	}
	for _, t := range partitioned {
		q := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s PARTITION OF %s FOR VALUES IN (%d)", partitionName(t, run), t, run)
		if _, err := tx.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

func partitionName(table string, run int64) string { return fmt.Sprintf("%s_r%d", table, run) }

// analyze gives the run's partitions of tables statistics of what they hold now, inside tx. Every
// set-based build calls it on the partitions it reads before it runs (and on the partition it
// wrote after), so no plan depends on whether autovacuum has analysed a run's fresh partitions
// yet: planned on a partition autovacuum had not reached, the CID status build of a 1M-user run
// took more than 12 minutes instead of 2.4 s (docs/benchmarks.md). It samples 3,000 rows of each
// partition, whatever its size (statistics target 10 instead of the server's default 100, for
// this ANALYZE only): the steps after it need row counts and distinct counts to choose their
// joins and aggregates, not fine histograms, and sampling 30,000 rows took 0.5 s of the CID
// status build at a million users. Autovacuum analyses the partitions later with the server's
// target.
func analyze(ctx context.Context, tx pgx.Tx, run int64, tables ...string) error {
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = pgx.Identifier{partitionName(t, run)}.Sanitize()
	}
	if _, err := tx.Exec(ctx, "SET LOCAL default_statistics_target = 10; ANALYZE "+strings.Join(names, ", ")+
		"; SET LOCAL default_statistics_target TO DEFAULT"); err != nil {
		return fmt.Errorf("analyze %s: %w", strings.Join(names, ", "), err)
	}
	return nil
}

// SaveRun records the run's opening message (a run replayed into an NM DB that lost its row
// takes its network from it).
func (s *Store) SaveRun(ctx context.Context, r *netmonv1.Run) error {
	network, err := lifecycle.ParseNetwork(r.GetNetwork())
	if err != nil {
		return fmt.Errorf("save run %d: %w", r.GetRunId(), err)
	}
	_, err = s.pool.Exec(ctx, `UPDATE runs SET block_number = $2, created_at = $3, deadline = $4, network = $5 WHERE run_id = $1`,
		r.GetRunId(), r.GetBlockNumber(), r.GetCreatedAt().AsTime(), r.GetDeadline().AsTime(), network)
	if err != nil {
		return fmt.Errorf("save run %d: %w", r.GetRunId(), err)
	}
	return nil
}

// setNodeSource records where a run's content-node list came from: source, the block it was read
// at (0: none) and the registry contract ("" unless ethereum). The planner records it before it
// publishes the list (SetBlock), the loader again when it loads it: the same values.
const setNodeSource = `UPDATE runs SET node_source = $2, node_source_block = NULLIF($3::bigint, 0),
	node_registry = NULLIF($4::text, '') WHERE run_id = $1`

// SaveContentNodes records the run's content-node list and, on the run's row, where it came from.
func (s *Store) SaveContentNodes(ctx context.Context, b *netmonv1.ContentNodeBatch) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if b.GetSource() != "" {
			if _, err := tx.Exec(ctx, setNodeSource, b.GetRunId(), b.GetSource(), b.GetSourceBlock(), b.GetRegistry()); err != nil {
				return fmt.Errorf("save content-node source: %w", err)
			}
		}
		for _, n := range b.GetNodes() {
			if _, err := tx.Exec(ctx, `INSERT INTO content_nodes (run_id, sp_id, endpoint, delegate_wallet, replication_factor)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
				b.GetRunId(), n.GetSpId(), n.GetEndpoint(), n.GetDelegateWallet(), n.GetReplicationFactor()); err != nil {
				return fmt.Errorf("save content node %d: %w", n.GetSpId(), err)
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO loaded_batches (run_id, kind, batch, rows) VALUES ($1, 'nodes', 0, $2)
			ON CONFLICT DO NOTHING`, b.GetRunId(), len(b.GetNodes()))
		return err
	})
}

// claimBatch inserts the ledger row of a batch inside tx and reports whether this call is the
// first to write it. Only the first writer COPYs the rows, so a redelivered batch changes nothing.
// part is the plan's part of a users batch (0 for every other kind).
func claimBatch(ctx context.Context, tx pgx.Tx, run int64, kind string, batch int64, rows int, part int64) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO loaded_batches (run_id, kind, batch, rows, part) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING`, run, kind, batch, rows, part)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// SaveUserBatch writes a batch of the user snapshot once; it reports whether rows were written.
func (s *Store) SaveUserBatch(ctx context.Context, b *netmonv1.UserBatch) (bool, error) {
	var wrote bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		first, err := claimBatch(ctx, tx, b.GetRunId(), "users", b.GetBatch(), len(b.GetUsers()), b.GetPart())
		if err != nil || !first {
			return err
		}
		part, err := int4Part(b.GetPart())
		if err != nil {
			return err
		}
		users := b.GetUsers()
		rows := newCopyRows(8, len(users)*160)
		for _, u := range users {
			rows.row()
			rows.int8(b.GetRunId())
			rows.int8(u.GetUserId())
			rows.optText(nullString(u.GetWallet(), u.GetWalletNull()))
			rows.optText(nullString(u.GetReplicaSet(), u.GetReplicaSetNull()))
			rows.optInt8(u.PrimarySpId)
			rows.optInt8(u.Secondary1SpId)
			rows.optInt8(u.Secondary2SpId)
			rows.int4(part)
		}
		err = copyIn(ctx, tx, partitionName("users", b.GetRunId()),
			[]string{"run_id", "user_id", "wallet", "replica_set", "primary_sp_id", "secondary1_sp_id", "secondary2_sp_id", "part"}, rows)
		wrote = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("save users batch %d of run %d: %w", b.GetBatch(), b.GetRunId(), err)
	}
	return wrote, nil
}

// int4Part is a message's part as the integer column it is stored in.
func int4Part(part int64) (int32, error) {
	if part < 0 || part > math.MaxInt32 {
		return 0, fmt.Errorf("part %d out of range", part)
	}
	return int32(part), nil
}

func nullString(s string, isNull bool) *string {
	if isNull {
		return nil
	}
	return &s
}

// SaveManifest records what the planner promised and moves the run to fetching
// (lifecycle.Publish). The planner calls it before it publishes the manifest, so the run's row
// has its expected counts whatever becomes of that message; the loader calls it again when the
// message arrives (and replay, which has no planner), which changes nothing.
func (s *Store) SaveManifest(ctx context.Context, m *netmonv1.Manifest) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := saveManifest(ctx, tx, m); err != nil {
			return err
		}
		_, err := move(ctx, tx, m.GetRunId(), lifecycle.Publish, "")
		return err
	})
	if err != nil {
		return fmt.Errorf("save manifest of run %d: %w", m.GetRunId(), err)
	}
	return nil
}

func saveManifest(ctx context.Context, tx pgx.Tx, m *netmonv1.Manifest) error {
	_, err := tx.Exec(ctx, `UPDATE runs SET manifest_at = coalesce(manifest_at, now()),
		expected_user_batches = $2, expected_users = $3, expected_content_nodes = $4,
		expected_work_items = $5, expected_wallet_checks = $6, discovery_seconds = $7,
		cid_mode = coalesce(nullif($8, ''), 'off'), expected_cid_batches = $9, snapshot_cids = $10,
		sampled_cids = $11, cid_sample_rate = $12,
		key_mode = nullif($13, ''), expected_key_batches = $14, population_keys = $15, sampled_keys = $16,
		expected_parts = $17
		WHERE run_id = $1`,
		m.GetRunId(), m.GetUserBatches(), m.GetUsers(), m.GetContentNodes(), m.GetWorkItems(),
		m.GetWalletChecks(), m.GetDiscoveryDuration().AsDuration().Seconds(),
		m.GetCidChecks(), m.GetCidBatches(), m.GetSnapshotCids(), m.GetSampledCids(), m.GetCidSampleRate(),
		m.GetKeyMode(), m.GetKeyBatches(), m.GetPopulationKeys(), m.GetSampledKeys(), m.GetParts())
	return err
}

// SaveResult writes a fetch result once: its ledger row in fetch_results and its answers in
// clock_results.
func (s *Store) SaveResult(ctx context.Context, r *netmonv1.FetchResult) (bool, error) {
	if len(r.GetWallets()) != len(r.GetClocks()) {
		return false, fmt.Errorf("result %d/%d of run %d: %d wallets but %d clocks",
			r.GetSpId(), r.GetBatch(), r.GetRunId(), len(r.GetWallets()), len(r.GetClocks()))
	}
	var wrote bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		first, err := claimResult(ctx, tx, ledgerRow{run: r.GetRunId(), sp: r.GetSpId(), kind: message.KindClock,
			batch: r.GetBatch(), part: r.GetPart(), outcome: r.GetOutcome(), detail: r.GetDetail(), items: len(r.GetWallets()),
			missing: r.GetMissing(), attempts: r.GetAttempts(), httpStatus: r.GetHttpStatus(),
			duration: r.GetDuration().AsDuration()})
		if err != nil || !first {
			return err
		}
		part, err := int4Part(r.GetPart())
		if err != nil {
			return err
		}
		rows := newCopyRows(6, 64+len(r.GetWallets())*(12+48))
		rows.row()
		rows.int8(r.GetRunId())
		rows.int8(r.GetSpId())
		rows.int8(r.GetBatch())
		rows.int4(part)
		rows.textArray(r.GetWallets())
		rows.int8Array(r.GetClocks())
		err = copyIn(ctx, tx, partitionName("clock_results", r.GetRunId()),
			[]string{"run_id", "sp_id", "batch", "part", "wallets", "clocks"}, rows)
		wrote = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("save result %d/%d of run %d: %w", r.GetSpId(), r.GetBatch(), r.GetRunId(), err)
	}
	return wrote, nil
}

// OutcomeName is the stored and labelled name of an outcome: "ok", "timeout", ...
func OutcomeName(o netmonv1.Outcome) string {
	return strings.ToLower(strings.TrimPrefix(o.String(), "OUTCOME_"))
}

// Progress is how far the loading of a run has come.
type Progress struct {
	Status                           lifecycle.Status
	ManifestSeen                     bool
	UserBatches, ExpectedUserBatches int64
	Results, ExpectedWorkItems       int64
	NodesLoaded                      bool
	CreatedAt, LoadedAt              time.Time
	// CID snapshot batches written and promised (0 without CID checks).
	CIDBatches, ExpectedCIDBatches int64
	// Key batches of a storage run written and promised (0 in clocks runs).
	KeyBatches, ExpectedKeyBatches int64
	// Part messages of a clocks run written and promised (0 in runs planned before parts).
	Parts, ExpectedParts int64
}

// Complete reports whether everything the manifest promised has been written.
func (p Progress) Complete() bool {
	return p.ManifestSeen && p.NodesLoaded && p.UserBatches >= p.ExpectedUserBatches && p.Results >= p.ExpectedWorkItems &&
		p.CIDBatches >= p.ExpectedCIDBatches && p.KeyBatches >= p.ExpectedKeyBatches && p.Parts >= p.ExpectedParts
}

func progress(ctx context.Context, q pgx.Tx, run int64, lock bool) (Progress, error) {
	var p Progress
	var expUB, expWI *int64
	var loadedAt *time.Time
	sql := `SELECT status, expected_user_batches, expected_work_items, created_at, loaded_at,
		coalesce(expected_cid_batches, 0), coalesce(expected_key_batches, 0), coalesce(expected_parts, 0)
		FROM runs WHERE run_id = $1`
	if lock {
		sql += " FOR UPDATE"
	}
	if err := q.QueryRow(ctx, sql, run).Scan(&p.Status, &expUB, &expWI, &p.CreatedAt, &loadedAt, &p.ExpectedCIDBatches,
		&p.ExpectedKeyBatches, &p.ExpectedParts); err != nil {
		return p, err
	}
	if expUB != nil && expWI != nil {
		p.ManifestSeen = true
		p.ExpectedUserBatches, p.ExpectedWorkItems = *expUB, *expWI
	}
	if loadedAt != nil {
		p.LoadedAt = *loadedAt
	}
	err := q.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM loaded_batches WHERE run_id = $1 AND kind = 'users'),
		(SELECT count(*) FROM fetch_results WHERE run_id = $1),
		EXISTS (SELECT 1 FROM loaded_batches WHERE run_id = $1 AND kind = 'nodes'),
		(SELECT count(*) FROM loaded_batches WHERE run_id = $1 AND kind = 'cids'),
		(SELECT count(*) FROM loaded_batches WHERE run_id = $1 AND kind = 'keys'),
		(SELECT count(*) FROM run_parts WHERE run_id = $1 AND user_batches IS NOT NULL)`, run).
		Scan(&p.UserBatches, &p.Results, &p.NodesLoaded, &p.CIDBatches, &p.KeyBatches, &p.Parts)
	return p, err
}

// ErrNoRun is returned for a run the NM DB does not know.
var ErrNoRun = errors.New("no such run")

// TryFinishLoad marks the run loaded if everything its manifest promised is written, building the
// per-user clock table in one set-based step first. It reports whether the run is (now or already)
// loaded or further along. Concurrent callers are serialised on the run's row; only one builds.
func (s *Store) TryFinishLoad(ctx context.Context, run int64) (bool, error) {
	// Most messages cannot finish the run. They look without locking, read-only, so they neither
	// queue on the run's row nor pay a WAL flush for the row lock (one per message before: 800 at
	// a million users). The caller's write has committed before this look, so whoever writes the
	// last missing piece sees the run complete and takes the locked path below.
	var quick Progress
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		quick, err = progress(ctx, tx, run, false)
		return err
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, fmt.Errorf("finish load of run %d: %w", run, ErrNoRun)
	case err != nil:
		return false, fmt.Errorf("finish load of run %d: %w", run, err)
	}
	if !lifecycle.Load.Allows(quick.Status) {
		return quick.Status == lifecycle.Loaded || quick.Status.HasMetrics(), nil
	}
	if !quick.Complete() {
		return false, nil
	}

	var loaded bool
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		p, err := progress(ctx, tx, run, true)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNoRun
		}
		if err != nil {
			return err
		}
		if !lifecycle.Load.Allows(p.Status) {
			loaded = p.Status == lifecycle.Loaded || p.Status.HasMetrics()
			return nil
		}
		if !p.Complete() {
			return nil
		}
		if err := buildUserStatus(ctx, tx, run); err != nil {
			return err
		}
		loaded, err = move(ctx, tx, run, lifecycle.Load, "")
		return err
	})
	if err != nil {
		return false, fmt.Errorf("finish load of run %d: %w", run, err)
	}
	return loaded, nil
}

// buildUserStatus finishes the per-user tables of a run whose load is ending (loaded, or cut at
// its deadline), inside tx, which holds the run's row for update: it builds the user status of
// every part not built yet (parts.go), then the CID status. Every partition a set-based step reads
// next (the CID status build here, the metric families in the aggregator) is analysed first.
func buildUserStatus(ctx context.Context, tx pgx.Tx, run int64) error {
	if err := buildRemainingParts(ctx, tx, run); err != nil {
		return err
	}
	// The metric families read the user counts next, in the aggregator; nothing set-based reads
	// user_status (analysing it and users cost 0.28 s after the last result at a million users).
	if err := analyze(ctx, tx, run, "user_counts"); err != nil {
		return err
	}
	// The CID status is built with the user status, in the same transaction (cid.go), and the
	// storage tables the storage metrics read are analysed (storage.go).
	if err := buildCIDStatus(ctx, tx, run); err != nil {
		return err
	}
	return analyze(ctx, tx, run, "storage_keys", "storage_checks")
}
