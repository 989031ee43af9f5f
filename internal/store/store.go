// Package store holds all of netmon's SQL: the NM DB (schema migrations, the loader's idempotent
// COPY writes, the run lifecycle, the metric queries) and the discovery-DB snapshot read. pgx is
// imported here and nowhere else in the pipeline.
package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is the NM DB. Its contract, for every method below unless its comment says otherwise:
//
//   - Concurrency: safe for concurrent use by many goroutines and processes (several loaders, the
//     aggregator, replay, the command line); what must happen once is serialised in the database
//     (a run's row lock, an advisory lock, a conditional UPDATE), never in this process.
//   - Idempotence: writing the same message again changes nothing. A batch or a result (Save*
//     reporting a bool) claims its ledger row (fetch_results, loaded_batches: MessageKey) in the
//     transaction that writes its rows, so a second write writes nothing and reports false; the
//     run, content-node and manifest messages set the run row's columns to the same values again.
//     A lifecycle transition moves a run only from its source statuses, so repeating one reports
//     false.
//   - Ordering: the messages of a run may be written in any order, from any number of writers,
//     once the run's row exists (CreateRun, or EnsureRun for replay); TryFinishLoad decides, after
//     each, whether everything promised has arrived.
//   - Cancellation: ctx bounds each call; a cancelled call rolls its transaction back and leaves
//     nothing half written. Unavailable(err) tells an NM DB that cannot be reached (wait and try
//     again) from a failure of the statement itself.
type Store struct {
	pool *pgxpool.Pool
	// builds lets partBuilds part builds (parts.go) of this process run at once.
	builds chan struct{}
}

// poolConfig parses a database URL for netmon's pools: no JIT compilation in its sessions (unless
// the URL asks for it). netmon's large statements are planned on estimates that are far off (the
// NM DB's partitions written seconds before; discovery's CID snapshot, whose tracks spread into an
// unknown number of segments), so every run paid for inlining and optimising their expressions
// for no faster execution: 1.5-3.7 s of CPU in the user status build at a million users, 1.7 s in
// counting the CID snapshot (docs/benchmarks.md).
func poolConfig(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	if _, set := cfg.ConnConfig.RuntimeParams["jit"]; !set {
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	return cfg, nil
}

// Open connects to the NM DB. It does not migrate; call Migrate.
func Open(ctx context.Context, url string, maxConns int32) (*Store, error) {
	cfg, err := poolConfig(url)
	if err != nil {
		return nil, fmt.Errorf("nm db url: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open nm db: %w", err)
	}
	return &Store{pool: pool, builds: make(chan struct{}, partBuilds)}, nil
}

// partBuilds is how many part builds one process runs at once. One at a time left a backlog
// whenever parts completed faster than one build each: a loader catching up on results already in
// the stream built the last three parts of a million users after its last write, 0.67-0.80 s,
// where two at a time took 0.30 s, with the same end to end time when the loader keeps pace with
// the fetch (docs/benchmarks.md, thirteenth part). Each build holds its part's users in memory,
// about 20 MB for 100,000.
const partBuilds = 2

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock key serialising concurrent migrators (every stage migrates
// at start).
const migrationLock = 7_411_001

// Migrate applies the embedded migrations not applied yet, in order, each in its own transaction.
// It is safe to run from several processes at once.
func (s *Store) Migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock) //nolint:errcheck

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, f := range files {
		name := strings.TrimPrefix(f, "migrations/")
		version, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migrate: file %s has no version prefix", name)
		}
		var applied bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", version).Scan(&applied); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if applied {
			continue
		}
		body, err := migrations.ReadFile(f)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	return nil
}
