package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/lifecycle"
)

// Run is a run's row, with how much of what its manifest promised has been loaded.
type Run struct {
	ID                  int64             `json:"run_id"`
	Network             lifecycle.Network `json:"network"`
	Status              lifecycle.Status  `json:"status"`
	BlockNumber         *int64            `json:"block_number,omitempty"`
	CreatedAt           time.Time         `json:"created_at"`
	Deadline            *time.Time        `json:"deadline,omitempty"`
	ManifestAt          *time.Time        `json:"manifest_at,omitempty"`
	LoadedAt            *time.Time        `json:"loaded_at,omitempty"`
	CompletedAt         *time.Time        `json:"completed_at,omitempty"`
	DiscoverySeconds    *float64          `json:"discovery_seconds,omitempty"`
	ExpectedUsers       *int64            `json:"expected_users,omitempty"`
	ExpectedUserBatches *int64            `json:"expected_user_batches,omitempty"`
	ExpectedNodes       *int64            `json:"expected_content_nodes,omitempty"`
	ExpectedItems       *int64            `json:"expected_work_items,omitempty"`
	ExpectedChecks      *int64            `json:"expected_wallet_checks,omitempty"`
	NodeSource          *string           `json:"node_source,omitempty"`       // discovery, static or ethereum
	NodeSourceBlock     *int64            `json:"node_source_block,omitempty"` // the block the node list was read at
	NodeRegistry        *string           `json:"node_registry,omitempty"`     // the Ethereum registry read, for ethereum
	LoadedUserBatches   int64             `json:"loaded_user_batches"`
	LoadedResults       int64             `json:"loaded_results"`
	Error               string            `json:"error,omitempty"`
	// Plan is the fingerprint of the settings the run was planned with (a resumed plan must match).
	Plan string `json:"-"`
	// Replay marks a row that `netmon replay` is rebuilding: not a live run.
	Replay bool `json:"replay,omitempty"`
	// The push of the run's metrics (lifecycle.Push).
	Push             lifecycle.Push `json:"push_state,omitempty"`
	PushPendingSince *time.Time     `json:"push_pending_since,omitempty"`
	PushedAt         *time.Time     `json:"pushed_at,omitempty"`
	PushAttempts     int64          `json:"push_attempts,omitempty"`
	PushError        string         `json:"push_error,omitempty"`
	// Announced: the run's end has been published to the run events stream.
	Announced bool `json:"-"`
}

const runColumns = `r.run_id, r.status, r.block_number, r.created_at, r.deadline, r.manifest_at, r.loaded_at,
	r.completed_at, r.discovery_seconds, r.expected_users, r.expected_user_batches, r.expected_content_nodes,
	r.expected_work_items, r.expected_wallet_checks, r.node_source, r.node_source_block, r.node_registry,
	(SELECT count(*) FROM loaded_batches b WHERE b.run_id = r.run_id AND b.kind = 'users'),
	(SELECT count(*) FROM fetch_results f WHERE f.run_id = r.run_id), r.error, r.plan, r.replay,
	r.push_state, r.push_pending_since, r.pushed_at, r.push_attempts, r.push_error, r.announced, r.network`

func scanRun(row pgx.Row) (Run, error) {
	var r Run
	err := row.Scan(&r.ID, &r.Status, &r.BlockNumber, &r.CreatedAt, &r.Deadline, &r.ManifestAt, &r.LoadedAt,
		&r.CompletedAt, &r.DiscoverySeconds, &r.ExpectedUsers, &r.ExpectedUserBatches, &r.ExpectedNodes,
		&r.ExpectedItems, &r.ExpectedChecks, &r.NodeSource, &r.NodeSourceBlock, &r.NodeRegistry,
		&r.LoadedUserBatches, &r.LoadedResults, &r.Error, &r.Plan, &r.Replay,
		&r.Push, &r.PushPendingSince, &r.PushedAt, &r.PushAttempts, &r.PushError, &r.Announced, &r.Network)
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

// ListRuns returns the newest runs of network n first ("": of every network), at most limit.
func (s *Store) ListRuns(ctx context.Context, n lifecycle.Network, limit int) ([]Run, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+runColumns+" FROM runs r WHERE $1 = '' OR r.network = $1 ORDER BY r.run_id DESC LIMIT $2",
		string(n), limit)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	runs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Run, error) { return scanRun(r) })
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return runs, nil
}

// LastRun returns the newest run of network n; ok is false before its first.
func (s *Store) LastRun(ctx context.Context, n lifecycle.Network) (Run, bool, error) {
	r, err := scanRun(s.pool.QueryRow(ctx, "SELECT "+runColumns+" FROM runs r WHERE r.network = $1 ORDER BY r.run_id DESC LIMIT 1", n))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("last %s run: %w", n, err)
	}
	return r, true, nil
}

// activeStatuses are lifecycle.Active as query parameters.
func activeStatuses() []string { return statusNames(lifecycle.Active...) }

func statusNames(ss ...lifecycle.Status) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// ActiveRun returns the live run of network n that holds its active-run slot, if any (rows being
// replayed are not live runs).
func (s *Store) ActiveRun(ctx context.Context, n lifecycle.Network) (Run, bool, error) {
	r, err := scanRun(s.pool.QueryRow(ctx, "SELECT "+runColumns+` FROM runs r
		WHERE r.status = ANY($1) AND NOT r.replay AND r.network = $2 ORDER BY r.run_id DESC LIMIT 1`, activeStatuses(), n))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("active run: %w", err)
	}
	return r, true, nil
}

// NewRun is what the planner knows of a run when it creates it.
type NewRun struct {
	// Floor is the lowest id the run may take (ids handed out elsewhere, such as the JetStream
	// counter, stay unique); the id is also above every run the NM DB has ever held.
	Floor     int64
	CreatedAt time.Time
	Deadline  time.Time
	Plan      string
	// Network is what the run checks; empty is lifecycle.Clocks.
	Network lifecycle.Network
}

// createLock serialises run creation (the advisory lock key).
const createLock = 7_411_002

// CreateRun creates a run's row (planned, with its deadline) and partitions, and returns its id:
// the larger of n.Floor and one above the highest run id the NM DB holds (of any network), so an
// id is never reused, whatever happened to the JetStream state that hands out ids. It fails with
// lifecycle.ErrActive while another run of its network is active: the row is the network's
// active-run slot.
func (s *Store) CreateRun(ctx context.Context, n NewRun) (int64, error) {
	if n.Network == "" {
		n.Network = lifecycle.Clocks
	}
	var id int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", createLock); err != nil {
			return err
		}
		var active lifecycle.ErrActive
		var deadline *time.Time
		err := tx.QueryRow(ctx, `SELECT run_id, status, deadline FROM runs
			WHERE status = ANY($1) AND NOT replay AND network = $2 ORDER BY run_id DESC LIMIT 1`, activeStatuses(), n.Network).
			Scan(&active.Run, &active.Status, &deadline)
		switch {
		case err == nil:
			if deadline != nil {
				active.Deadline = *deadline
			}
			return active
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		// Pruning always keeps the newest run, so the highest id ever used is still here.
		if err := tx.QueryRow(ctx, `SELECT greatest($1::bigint, coalesce(max(run_id), 0) + 1) FROM runs`,
			n.Floor).Scan(&id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO runs (run_id, status, created_at, deadline, plan, network)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, lifecycle.Planned, n.CreatedAt, n.Deadline, n.Plan, n.Network); err != nil {
			return err
		}
		return createPartitions(ctx, tx, id)
	})
	var active lifecycle.ErrActive
	if errors.As(err, &active) {
		return 0, active
	}
	if err != nil {
		return 0, fmt.Errorf("create run: %w", err)
	}
	return id, nil
}

// LastRunCreated is when the newest run of network n was created; ok is false before its first.
func (s *Store) LastRunCreated(ctx context.Context, n lifecycle.Network) (t time.Time, ok bool, err error) {
	var at *time.Time
	if err := s.pool.QueryRow(ctx, "SELECT max(created_at) FROM runs WHERE NOT replay AND network = $1", n).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("last run: %w", err)
	}
	if at == nil {
		return time.Time{}, false, nil
	}
	return *at, true, nil
}

// SetBlock records the discovery block a run's plan reads and where its content-node list comes
// from (source, the block it was read at, the registry: as in SaveContentNodes), before the plan
// publishes anything: a restarted planner resumes the plan only at the same discovery block, and
// reads the node list at the same block.
func (s *Store) SetBlock(ctx context.Context, run, block int64, source string, sourceBlock int64, registry string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE runs SET block_number = $2 WHERE run_id = $1", run, block); err != nil {
			return fmt.Errorf("run %d: record block: %w", run, err)
		}
		if _, err := tx.Exec(ctx, setNodeSource, run, source, sourceBlock, registry); err != nil {
			return fmt.Errorf("run %d: record content-node source: %w", run, err)
		}
		return nil
	})
}

// Move applies transition t to the run, with reason (why it failed or is incomplete), and
// reports whether it moved: false when the run is not in one of t.From (someone moved it first,
// or it ended). Finishing a run with metrics makes its push pending and supersedes any older
// pending push of its network.
func (s *Store) Move(ctx context.Context, run int64, t lifecycle.Transition, reason string) (bool, error) {
	var moved bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		moved, err = move(ctx, tx, run, t, reason)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("run %d: %s: %w", run, t.Name, err)
	}
	return moved, nil
}

// move is Move inside tx. Each column a transition records is set by the target status: the
// reason for every target but fetching, the loading time for loaded (the wall clock at the
// statement, not the transaction's start: a cut or a load builds the per-user tables first), the
// end time for the terminal statuses, and the pending push for those with metrics.
func move(ctx context.Context, tx pgx.Tx, run int64, t lifecycle.Transition, reason string) (bool, error) {
	to := t.To
	tag, err := tx.Exec(ctx, `UPDATE runs SET status = $2,
			error = CASE WHEN $4 THEN $3 ELSE error END,
			loaded_at = CASE WHEN $5 THEN clock_timestamp() ELSE loaded_at END,
			completed_at = CASE WHEN $6 THEN coalesce(completed_at, clock_timestamp()) ELSE completed_at END,
			push_state = CASE WHEN $7 THEN $9 ELSE push_state END,
			push_pending_since = CASE WHEN $7 THEN clock_timestamp() ELSE push_pending_since END
		WHERE run_id = $1 AND status = ANY($8)`,
		run, to, reason, to != lifecycle.Fetching, to == lifecycle.Loaded, to.Terminal(), to.HasMetrics(),
		statusNames(t.From...), lifecycle.PushPending)
	if err != nil || tag.RowsAffected() == 0 {
		return false, err
	}
	if to.HasMetrics() {
		if err := supersede(ctx, tx, run); err != nil {
			return false, err
		}
	}
	return true, nil
}

// Finish gives a loaded run its final status with metrics (lifecycle.Finish or
// FinishIncomplete), completed at at, and stores its series and its record (the encoded
// RunRecord the aggregator announces), in one transaction: a run is complete exactly when its
// metrics are stored. It reports whether it moved the run (false: someone finished it first).
func (s *Store) Finish(ctx context.Context, run int64, t lifecycle.Transition, reason string, at time.Time,
	samples []Sample, record []byte) (bool, error) {
	var moved bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if moved, err = move(ctx, tx, run, t, reason); err != nil || !moved {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE runs SET completed_at = $2, record = $3 WHERE run_id = $1", run, at, record); err != nil {
			return err
		}
		return saveSamples(ctx, tx, run, samples)
	})
	if err != nil {
		return false, fmt.Errorf("run %d: %s: %w", run, t.Name, err)
	}
	return moved, nil
}

// Record is the run's stored record (nil for a run without metrics, or finished before records
// were stored).
func (s *Store) Record(ctx context.Context, run int64) ([]byte, error) {
	var rec []byte
	if err := s.pool.QueryRow(ctx, "SELECT record FROM runs WHERE run_id = $1", run).Scan(&rec); err != nil {
		return nil, fmt.Errorf("run %d: record: %w", run, err)
	}
	return rec, nil
}

// Unannounced lists the runs that ended but whose end is not yet published, oldest first.
func (s *Store) Unannounced(ctx context.Context) ([]Run, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+runColumns+` FROM runs r WHERE r.status = ANY($1) AND NOT r.announced
		ORDER BY r.run_id`, statusNames(lifecycle.Complete, lifecycle.Incomplete, lifecycle.Failed))
	if err != nil {
		return nil, fmt.Errorf("unannounced runs: %w", err)
	}
	runs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Run, error) { return scanRun(r) })
	if err != nil {
		return nil, fmt.Errorf("unannounced runs: %w", err)
	}
	return runs, nil
}

// MarkAnnounced records that the run's end is published.
func (s *Store) MarkAnnounced(ctx context.Context, run int64) error {
	if _, err := s.pool.Exec(ctx, "UPDATE runs SET announced = true WHERE run_id = $1", run); err != nil {
		return fmt.Errorf("run %d: mark announced: %w", run, err)
	}
	return nil
}

// OverdueRuns lists the live runs still loading (planned, fetching) whose deadline is at or
// before now, oldest first. A run created before deadlines were recorded with the row has none;
// fallback after its creation counts instead.
func (s *Store) OverdueRuns(ctx context.Context, now time.Time, fallback time.Duration) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT run_id FROM runs
		WHERE status = ANY($3) AND NOT replay
		  AND coalesce(deadline, created_at + make_interval(secs => $2)) <= $1
		ORDER BY run_id`, now, fallback.Seconds(), statusNames(lifecycle.Cut.From...))
	if err != nil {
		return nil, fmt.Errorf("overdue runs: %w", err)
	}
	runs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("overdue runs: %w", err)
	}
	return runs, nil
}

// LoadedRuns lists the live runs whose data is loaded and whose metrics are still to compute,
// oldest first.
func (s *Store) LoadedRuns(ctx context.Context) ([]Run, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+runColumns+` FROM runs r WHERE r.status = $1 AND NOT r.replay
		ORDER BY r.run_id`, lifecycle.Loaded)
	if err != nil {
		return nil, fmt.Errorf("loaded runs: %w", err)
	}
	runs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Run, error) { return scanRun(r) })
	if err != nil {
		return nil, fmt.Errorf("loaded runs: %w", err)
	}
	return runs, nil
}

// ExpireRun cuts off the loading of a run whose deadline has passed (lifecycle.Cut): it builds
// the per-user clock table from what has arrived (a slot whose answer is missing counts as -2,
// not answered) and marks the run loaded, with the reason it is incomplete in its error column
// (empty if, after all, everything had arrived). It reports whether the run is now loaded or
// further along; a failed run stays failed. It is serialised with the loader's TryFinishLoad on
// the run's row.
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
		if !lifecycle.Cut.Allows(p.Status) {
			loaded = p.Status == lifecycle.Loaded || p.Status.HasMetrics()
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
		loaded, err = move(ctx, tx, run, lifecycle.Cut, reason)
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
	if p.ExpectedKeyBatches > 0 {
		return fmt.Sprintf("deadline passed with %d of %d work items and %d of %d key batches loaded",
			p.Results, p.ExpectedWorkItems, p.KeyBatches, p.ExpectedKeyBatches)
	}
	return fmt.Sprintf("deadline passed with %d of %d work items and %d of %d user batches loaded",
		p.Results, p.ExpectedWorkItems, p.UserBatches, p.ExpectedUserBatches)
}

// RunTimes are the moments a live run recorded, which a replay restores.
type RunTimes struct {
	ManifestAt, LoadedAt, CompletedAt *time.Time
}

// RestoreRun gives a replayed run the final status, reason, times and record its live run
// recorded, and ends the replay: the row is a finished (and announced) run again. Its push state
// is left alone (replay pushes only when asked: MarkPushed).
func (s *Store) RestoreRun(ctx context.Context, run int64, status lifecycle.Status, reason string, t RunTimes, record []byte) error {
	tag, err := s.pool.Exec(ctx, `UPDATE runs SET status = $2, error = $3, manifest_at = $4, loaded_at = $5,
		completed_at = $6, record = $7, replay = false, announced = true WHERE run_id = $1`,
		run, status, reason, t.ManifestAt, t.LoadedAt, t.CompletedAt, record)
	if err != nil {
		return fmt.Errorf("restore run %d: %w", run, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("restore run %d: %w", run, ErrNoRun)
	}
	return nil
}

// supersede marks every pending push of run's network older than run superseded: only the newest
// run of a network is pushed (each network has its own Pushgateway job).
func supersede(ctx context.Context, tx pgx.Tx, run int64) error {
	_, err := tx.Exec(ctx, `UPDATE runs SET push_state = $2 WHERE run_id < $1 AND push_state = $3
		AND network = (SELECT network FROM runs WHERE run_id = $1)`, run, lifecycle.PushSuperseded, lifecycle.PushPending)
	return err
}

// PendingPush returns the run of network n whose push is pending (the newest, should older ones
// linger), if any.
func (s *Store) PendingPush(ctx context.Context, n lifecycle.Network) (Run, bool, error) {
	r, err := scanRun(s.pool.QueryRow(ctx, "SELECT "+runColumns+` FROM runs r WHERE r.push_state = $1 AND r.network = $2
		ORDER BY r.run_id DESC LIMIT 1`, lifecycle.PushPending, n))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("pending push: %w", err)
	}
	return r, true, nil
}

// LatestPush returns the newest run of network n with metrics (whose push state matters: older
// ones are pushed or superseded); ok is false before the first.
func (s *Store) LatestPush(ctx context.Context, n lifecycle.Network) (Run, bool, error) {
	r, err := scanRun(s.pool.QueryRow(ctx, "SELECT "+runColumns+` FROM runs r WHERE r.status = ANY($1) AND NOT r.replay
		AND r.network = $2 ORDER BY r.run_id DESC LIMIT 1`, statusNames(lifecycle.Complete, lifecycle.Incomplete), n))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("latest push: %w", err)
	}
	return r, true, nil
}

// LastPushed is when a run's metrics were last pushed; ok is false before the first push.
func (s *Store) LastPushed(ctx context.Context) (time.Time, bool, error) {
	var at *time.Time
	if err := s.pool.QueryRow(ctx, "SELECT max(pushed_at) FROM runs").Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("last push: %w", err)
	}
	if at == nil {
		return time.Time{}, false, nil
	}
	return *at, true, nil
}

// MarkPushed records that run's metrics are on the Pushgateway; any older pending push of its
// network is superseded by it.
func (s *Store) MarkPushed(ctx context.Context, run int64) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE runs SET push_state = $2, pushed_at = clock_timestamp(), push_error = ''
			WHERE run_id = $1`, run, lifecycle.Pushed); err != nil {
			return err
		}
		return supersede(ctx, tx, run)
	})
	if err != nil {
		return fmt.Errorf("run %d: mark pushed: %w", run, err)
	}
	return nil
}

// PushFailed records a failed push attempt of run's metrics and why.
func (s *Store) PushFailed(ctx context.Context, run int64, why string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE runs SET push_attempts = push_attempts + 1, push_error = $2
		WHERE run_id = $1`, run, why); err != nil {
		return fmt.Errorf("run %d: record push failure: %w", run, err)
	}
	return nil
}

// Prune deletes, in each network, every run but the newest keep runs with data (failed runs hold
// none and do not count; a failed run goes once it is older than every kept run of its network)
// and, when maxAge > 0, every run created more than maxAge ago. The newest run of each network
// and an active run are always kept. Each run's
// partitions are detached concurrently before they are dropped, so pruning never blocks the
// loading of another run.
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
	rows, err := s.pool.Query(ctx, `WITH kept AS (
			SELECT run_id, network FROM (
				SELECT run_id, network, row_number() OVER (PARTITION BY network ORDER BY run_id DESC) AS nth
				FROM runs WHERE status = ANY($3)) k
			WHERE nth <= $1
		), net AS (
			SELECT r.network, max(r.run_id) AS newest,
			       (SELECT count(*) FROM kept k WHERE k.network = r.network) AS kept,
			       (SELECT min(k.run_id) FROM kept k WHERE k.network = r.network) AS oldest_kept
			FROM runs r GROUP BY r.network)
		SELECT r.run_id FROM runs r JOIN net ON net.network = r.network
		WHERE r.run_id < net.newest AND r.status <> ALL($4) AND (
			(r.status = ANY($3) AND r.run_id NOT IN (SELECT run_id FROM kept))
			OR (r.status <> ALL($3) AND net.kept >= $1 AND r.run_id < net.oldest_kept)
			OR ($2 > 0 AND r.created_at < now() - make_interval(secs => $2)))
		ORDER BY r.run_id`, keep, maxAge.Seconds(), statusNames(lifecycle.Complete, lifecycle.Incomplete), activeStatuses())
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
