package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Run is a run's row, with how much of what its manifest promised has been loaded.
type Run struct {
	ID                  int64      `json:"run_id"`
	Status              string     `json:"status"`
	BlockNumber         *int64     `json:"block_number,omitempty"`
	CreatedAt           time.Time  `json:"created_at"`
	Deadline            *time.Time `json:"deadline,omitempty"`
	ManifestAt          *time.Time `json:"manifest_at,omitempty"`
	LoadedAt            *time.Time `json:"loaded_at,omitempty"`
	CompletedAt         *time.Time `json:"completed_at,omitempty"`
	DiscoverySeconds    *float64   `json:"discovery_seconds,omitempty"`
	ExpectedUsers       *int64     `json:"expected_users,omitempty"`
	ExpectedUserBatches *int64     `json:"expected_user_batches,omitempty"`
	ExpectedNodes       *int64     `json:"expected_content_nodes,omitempty"`
	ExpectedItems       *int64     `json:"expected_work_items,omitempty"`
	ExpectedChecks      *int64     `json:"expected_wallet_checks,omitempty"`
	NodeSource          *string    `json:"node_source,omitempty"`       // discovery, static or ethereum
	NodeSourceBlock     *int64     `json:"node_source_block,omitempty"` // the block the node list was read at
	NodeRegistry        *string    `json:"node_registry,omitempty"`     // the Ethereum registry read, for ethereum
	LoadedUserBatches   int64      `json:"loaded_user_batches"`
	LoadedResults       int64      `json:"loaded_results"`
	Error               string     `json:"error,omitempty"`
}

// Finished reports whether the run has ended (complete, incomplete or failed).
func (r Run) Finished() bool {
	return r.Status == "complete" || r.Status == "incomplete" || r.Status == "failed"
}

const runColumns = `r.run_id, r.status, r.block_number, r.created_at, r.deadline, r.manifest_at, r.loaded_at,
	r.completed_at, r.discovery_seconds, r.expected_users, r.expected_user_batches, r.expected_content_nodes,
	r.expected_work_items, r.expected_wallet_checks, r.node_source, r.node_source_block, r.node_registry,
	(SELECT count(*) FROM loaded_batches b WHERE b.run_id = r.run_id AND b.kind = 'users'),
	(SELECT count(*) FROM fetch_results f WHERE f.run_id = r.run_id), r.error`

func scanRun(row pgx.Row) (Run, error) {
	var r Run
	err := row.Scan(&r.ID, &r.Status, &r.BlockNumber, &r.CreatedAt, &r.Deadline, &r.ManifestAt, &r.LoadedAt,
		&r.CompletedAt, &r.DiscoverySeconds, &r.ExpectedUsers, &r.ExpectedUserBatches, &r.ExpectedNodes,
		&r.ExpectedItems, &r.ExpectedChecks, &r.NodeSource, &r.NodeSourceBlock, &r.NodeRegistry, &r.LoadedUserBatches, &r.LoadedResults, &r.Error)
	return r, err
}

// GetRun returns one run, or ErrNoRun.
func (s *Store) GetRun(ctx context.Context, run int64) (Run, error) {
	r, err := scanRun(s.pool.QueryRow(ctx, "SELECT "+runColumns+" FROM runs r WHERE r.run_id = $1", run))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("run %d: %w", run, ErrNoRun)
	}
	if err != nil {
		return r, fmt.Errorf("run %d: %w", run, err)
	}
	return r, nil
}

// ListRuns returns the newest runs first, at most limit.
func (s *Store) ListRuns(ctx context.Context, limit int) ([]Run, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+runColumns+" FROM runs r ORDER BY r.run_id DESC LIMIT $1", limit)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	runs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Run, error) { return scanRun(r) })
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return runs, nil
}

// OverdueRuns lists the runs still loading (planned, fetching) or loaded but not finished whose
// deadline is at or before now, oldest first. A run whose opening message has not been loaded yet
// has no deadline; fallback after its creation counts instead.
func (s *Store) OverdueRuns(ctx context.Context, now time.Time, fallback time.Duration) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT run_id FROM runs
		WHERE status IN ('planned', 'fetching', 'loaded')
		  AND coalesce(deadline, created_at + make_interval(secs => $2)) <= $1
		ORDER BY run_id`, now, fallback.Seconds())
	if err != nil {
		return nil, fmt.Errorf("overdue runs: %w", err)
	}
	runs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("overdue runs: %w", err)
	}
	return runs, nil
}

// ExpireRun ends the loading of a run whose deadline has passed: it builds the per-user clock
// table from what has arrived (a slot whose answer is missing counts as -2, not answered) and
// marks the run loaded, with the reason it is incomplete in its error column (empty if, after
// all, everything had arrived). It reports whether the run is now loaded or further along; a
// failed run stays failed. It is serialised with the loader's TryFinishLoad on the run's row.
//
// The cut of an incomplete run also records which messages it counted (in_cut on their
// fetch_results and loaded_batches rows; RunCut lists them), for replay. The transaction is
// repeatable read, so the per-user tables and that set come from the same snapshot whatever the
// loader commits meanwhile; a lost race on the run's row is retried.
func (s *Store) ExpireRun(ctx context.Context, run int64) (bool, error) {
	var loaded bool
	var err error
	for attempt := 1; ; attempt++ {
		loaded, err = s.expireRun(ctx, run)
		if !serializationFailure(err) || attempt == 5 {
			break
		}
	}
	if err != nil {
		return false, fmt.Errorf("expire run %d: %w", run, err)
	}
	return loaded, nil
}

func (s *Store) expireRun(ctx context.Context, run int64) (bool, error) {
	var loaded bool
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		p, err := progress(ctx, tx, run, true)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNoRun
		}
		if err != nil {
			return err
		}
		switch p.Status {
		case "loaded", "complete", "incomplete":
			loaded = true
			return nil
		case "failed":
			return nil
		}
		if err := buildUserStatus(ctx, tx, run); err != nil {
			return err
		}
		reason := shortfall(p)
		if reason != "" {
			// A cut that found everything is a complete load, recorded as such.
			if err := markCut(ctx, tx, run); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, "UPDATE runs SET status = 'loaded', loaded_at = now(), error = $2 WHERE run_id = $1",
			run, reason)
		loaded = err == nil
		return err
	})
	return loaded, err
}

// shortfall says what a run's data lacks; empty when everything the manifest promised is there.
func shortfall(p Progress) string {
	switch {
	case p.Complete():
		return ""
	case !p.ManifestSeen:
		return fmt.Sprintf("deadline passed before the planner finished (%d user batches and %d results loaded, no manifest)",
			p.UserBatches, p.Results)
	}
	return fmt.Sprintf("deadline passed with %d of %d work items and %d of %d user batches loaded",
		p.Results, p.ExpectedWorkItems, p.UserBatches, p.ExpectedUserBatches)
}

// FailRun marks a run failed with the reason, creating its row if no message of the run has
// been loaded yet. A run that already ended keeps its status.
func (s *Store) FailRun(ctx context.Context, run int64, reason string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO runs (run_id, status, error, completed_at) VALUES ($1, 'failed', $2, now())
		ON CONFLICT (run_id) DO UPDATE SET status = 'failed', error = $2, completed_at = now()
		WHERE runs.status NOT IN ('complete', 'incomplete', 'failed')`, run, reason)
	if err != nil {
		return fmt.Errorf("fail run %d: %w", run, err)
	}
	return nil
}

// RunTimes are the moments a live run recorded, which a replay restores.
type RunTimes struct {
	ManifestAt, LoadedAt, CompletedAt *time.Time
}

// RestoreRun gives a replayed run the final status, reason and times its live run recorded.
func (s *Store) RestoreRun(ctx context.Context, run int64, status, reason string, t RunTimes) error {
	tag, err := s.pool.Exec(ctx, `UPDATE runs SET status = $2, error = $3, manifest_at = $4, loaded_at = $5,
		completed_at = $6 WHERE run_id = $1`, run, status, reason, t.ManifestAt, t.LoadedAt, t.CompletedAt)
	if err != nil {
		return fmt.Errorf("restore run %d: %w", run, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("restore run %d: %w", run, ErrNoRun)
	}
	return nil
}

// FinishRun sets a run's final status (complete, incomplete or failed) with a reason.
func (s *Store) FinishRun(ctx context.Context, run int64, status, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE runs SET status = $2, error = $3, completed_at = coalesce(completed_at, now())
		WHERE run_id = $1`, run, status, reason)
	if err != nil {
		return fmt.Errorf("finish run %d: %w", run, err)
	}
	return nil
}

// Prune deletes every run but the newest keep ones and, when maxAge > 0, every run created more
// than maxAge ago (the newest run is always kept). Each run's partitions are detached
// concurrently before they are dropped, so pruning never blocks the loading of another run.
func (s *Store) Prune(ctx context.Context, keep int, maxAge time.Duration) ([]int64, error) {
	victims, err := s.PruneCandidates(ctx, keep, maxAge)
	if err != nil {
		return nil, err
	}
	for _, run := range victims {
		if err := s.DeleteRun(ctx, run); err != nil {
			return nil, err
		}
	}
	return victims, nil
}

// PruneCandidates are the runs Prune would delete, oldest first.
func (s *Store) PruneCandidates(ctx context.Context, keep int, maxAge time.Duration) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT run_id FROM runs
		WHERE run_id < (SELECT max(run_id) FROM runs) AND (
			run_id NOT IN (SELECT run_id FROM runs ORDER BY run_id DESC LIMIT $1)
			OR ($2 > 0 AND created_at < now() - make_interval(secs => $2)))
		ORDER BY run_id`, keep, maxAge.Seconds())
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	victims, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	return victims, nil
}

// NodeHealth is how fetching went for one content node of a run: its work items by outcome.
type NodeHealth struct {
	SPID     int64            `json:"sp_id"`
	Endpoint string           `json:"endpoint"`
	Items    int64            `json:"items"`
	Outcomes map[string]int64 `json:"outcomes"`
	// Wallets asked in the items that have a result, and those the node's OK answers left out.
	Wallets int64 `json:"wallets"`
	Missing int64 `json:"missing"`
	// MeanSeconds per item and Attempts over all items, retries included.
	MeanSeconds float64 `json:"mean_seconds"`
	Attempts    int64   `json:"attempts"`
}

// NodeHealth lists every content node of the run (those without any result too) with its
// results grouped by outcome, by SP id.
func (s *Store) NodeHealth(ctx context.Context, run int64) ([]NodeHealth, error) {
	rows, err := s.pool.Query(ctx, `SELECT n.sp_id, n.endpoint, f.outcome, count(f.batch),
			coalesce(sum(f.wallets), 0), coalesce(sum(f.missing), 0), coalesce(sum(f.duration_seconds), 0),
			coalesce(sum(f.attempts), 0)
		FROM content_nodes n LEFT JOIN fetch_results f ON f.run_id = n.run_id AND f.sp_id = n.sp_id
		WHERE n.run_id = $1
		GROUP BY n.sp_id, n.endpoint, f.outcome ORDER BY n.sp_id, f.outcome`, run)
	if err != nil {
		return nil, fmt.Errorf("node health of run %d: %w", run, err)
	}
	defer rows.Close()
	var out []NodeHealth
	var secs []float64
	for rows.Next() {
		var (
			sp                               int64
			endpoint                         string
			outcome                          *string
			items, wallets, missing, attempt int64
			seconds                          float64
		)
		if err := rows.Scan(&sp, &endpoint, &outcome, &items, &wallets, &missing, &seconds, &attempt); err != nil {
			return nil, fmt.Errorf("node health of run %d: %w", run, err)
		}
		if len(out) == 0 || out[len(out)-1].SPID != sp {
			out = append(out, NodeHealth{SPID: sp, Endpoint: endpoint, Outcomes: map[string]int64{}})
			secs = append(secs, 0)
		}
		h := &out[len(out)-1]
		if outcome != nil {
			h.Outcomes[*outcome] += items
		}
		h.Items += items
		h.Wallets += wallets
		h.Missing += missing
		h.Attempts += attempt
		secs[len(secs)-1] += seconds
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("node health of run %d: %w", run, err)
	}
	for i := range out {
		if out[i].Items > 0 {
			out[i].MeanSeconds = secs[i] / float64(out[i].Items)
		}
	}
	return out, nil
}

// DeleteRun removes a run and all its rows.
func (s *Store) DeleteRun(ctx context.Context, run int64) error {
	for _, t := range partitioned {
		p := partitionName(t, run)
		var attached bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE c.relname = $1)`, p).Scan(&attached); err != nil {
			return fmt.Errorf("delete run %d: %w", run, err)
		}
		if attached {
			if _, err := s.pool.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DETACH PARTITION %s CONCURRENTLY", t, p)); err != nil {
				return fmt.Errorf("delete run %d: detach %s: %w", run, p, err)
			}
		}
		if _, err := s.pool.Exec(ctx, "DROP TABLE IF EXISTS "+p); err != nil {
			return fmt.Errorf("delete run %d: drop %s: %w", run, p, err)
		}
	}
	if _, err := s.pool.Exec(ctx, "DELETE FROM runs WHERE run_id = $1", run); err != nil {
		return fmt.Errorf("delete run %d: %w", run, err)
	}
	return nil
}
