package store

import (
	"context"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Discovery reads a discovery node's Postgres directly (no postgres_fdw, no superuser): the
// tables blocks, users and ursm_content_nodes, read-only.
type Discovery struct {
	pool *pgxpool.Pool
}

// OpenDiscovery connects to the discovery database.
func OpenDiscovery(ctx context.Context, url string) (*Discovery, error) {
	cfg, err := poolConfig(url)
	if err != nil {
		return nil, fmt.Errorf("discovery db url: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open discovery db: %w", err)
	}
	return &Discovery{pool: pool}, nil
}

// Close closes the pool.
func (d *Discovery) Close() { d.pool.Close() }

// Ping checks the database answers.
func (d *Discovery) Ping(ctx context.Context) error { return d.pool.Ping(ctx) }

// DiscoveryNode is a row of ursm_content_nodes.
type DiscoveryNode struct {
	SPID     int64
	Endpoint string
	// Delegate is the delegate wallet registered with the endpoint (0x-hex), when the source says
	// (the Ethereum registry); storage runs verify health signatures against it.
	Delegate string
}

// DiscoveryUser is a current users row. Nil pointers are SQL NULLs.
type DiscoveryUser struct {
	UserID     int64
	Wallet     *string
	ReplicaSet *string
	Primary    *int64
	Secondary1 *int64
	Secondary2 *int64
}

// Snapshot is one consistent read of discovery, valid inside Discovery.Read's callback.
type Snapshot struct {
	tx   pgx.Tx
	pool *pgxpool.Pool
}

// Read runs fn inside one REPEATABLE READ, READ ONLY transaction, so everything fn reads comes
// from the same snapshot of the database.
func (d *Discovery) Read(ctx context.Context, fn func(*Snapshot) error) error {
	tx, err := d.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("discovery snapshot: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	if err := fn(&Snapshot{tx: tx, pool: d.pool}); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// snapshotID is what pg_export_snapshot returns: hexadecimal numbers joined by dashes.
var snapshotID = regexp.MustCompile(`^[0-9A-Fa-f]+(-[0-9A-Fa-f]+)+$`)

// Fork opens a second reader of the same snapshot on a connection of its own: s's snapshot is
// exported (pg_export_snapshot) and imported by a new REPEATABLE READ, READ ONLY transaction (SET
// TRANSACTION SNAPSHOT), so two statements of one consistent read can run at once. end closes the
// fork; call it before Read's callback returns. Works on a standby too (Postgres 10 and later).
func (s *Snapshot) Fork(ctx context.Context) (fork *Snapshot, end func(), err error) {
	var id string
	if err := s.tx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&id); err != nil {
		return nil, nil, fmt.Errorf("discovery: export snapshot: %w", err)
	}
	if !snapshotID.MatchString(id) {
		return nil, nil, fmt.Errorf("discovery: export snapshot: unexpected snapshot id %q", id)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("discovery: second connection: %w", err)
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err == nil {
		_, err = tx.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+id+"'")
	}
	end = func() {
		if tx != nil {
			tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
		}
		conn.Release()
	}
	if err != nil {
		end()
		return nil, nil, fmt.Errorf("discovery: import snapshot %s: %w", id, err)
	}
	return &Snapshot{tx: tx, pool: s.pool}, end, nil
}

// Query runs a query inside the snapshot (for readers of discovery outside this package, such as
// storagekeys.ScanDiscovery).
func (s *Snapshot) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return s.tx.Query(ctx, sql, args...)
}

// BlockNumber is the current chain head (blocks.number where is_current).
func (s *Snapshot) BlockNumber(ctx context.Context) (int64, error) {
	var n int64
	err := s.tx.QueryRow(ctx, "SELECT number FROM blocks WHERE is_current ORDER BY number DESC LIMIT 1").Scan(&n)
	if err == pgx.ErrNoRows {
		return 0, fmt.Errorf("discovery: no current block (blocks has no row with is_current = true)")
	}
	if err != nil {
		return 0, fmt.Errorf("discovery: current block: %w", err)
	}
	return n, nil
}

// ContentNodes lists the current rows of ursm_content_nodes, one per SP id (the highest-keyed
// row wins if discovery has several current rows for one SP), trailing "/" removed.
func (s *Snapshot) ContentNodes(ctx context.Context) ([]DiscoveryNode, error) {
	rows, err := s.tx.Query(ctx, `SELECT DISTINCT ON (cnode_sp_id) cnode_sp_id, rtrim(coalesce(endpoint, ''), '/')
		FROM ursm_content_nodes WHERE is_current AND cnode_sp_id IS NOT NULL ORDER BY cnode_sp_id`)
	if err != nil {
		return nil, fmt.Errorf("discovery: content nodes: %w", err)
	}
	nodes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DiscoveryNode, error) {
		var n DiscoveryNode
		err := r.Scan(&n.SPID, &n.Endpoint)
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("discovery: content nodes: %w", err)
	}
	return nodes, nil
}

// Users streams the current users in user_id order to fn, one row at a time (the result is
// never held in memory). A user_id with several current rows is passed once. Rows are read in
// their binary form, the ids cast to bigint: decoding them through pgx's reflection was a fifth
// of the planner's CPU (docs/benchmarks.md, fifteenth part).
func (s *Snapshot) Users(ctx context.Context, fn func(DiscoveryUser) error) error {
	rows, err := s.tx.Query(ctx, `SELECT user_id::bigint, primary_id::bigint, secondary_ids[1]::bigint,
		secondary_ids[2]::bigint, wallet, creator_node_endpoint
		FROM users WHERE is_current ORDER BY users.user_id`)
	if err != nil {
		return fmt.Errorf("discovery: users: %w", err)
	}
	defer rows.Close()
	if err := binaryBigints(rows, 4); err != nil {
		return fmt.Errorf("discovery: users: %w", err)
	}
	last := int64(-1 << 62)
	for rows.Next() {
		v := rows.RawValues()
		if v[0] == nil {
			return fmt.Errorf("discovery: users: a current row without a user_id")
		}
		id := int8Value(v[0])
		if id == last {
			continue
		}
		last = id
		u := DiscoveryUser{UserID: id, Primary: nullBigint(v[1]), Secondary1: nullBigint(v[2]),
			Secondary2: nullBigint(v[3]), Wallet: nullText(v[4]), ReplicaSet: nullText(v[5])}
		if err := fn(u); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("discovery: users: %w", err)
	}
	return nil
}

// nullBigint is a binary bigint, or nil for NULL.
func nullBigint(b []byte) *int64 {
	if b == nil {
		return nil
	}
	n := int8Value(b)
	return &n
}

// nullText is a text value (the same bytes in either form), or nil for NULL.
func nullText(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}
