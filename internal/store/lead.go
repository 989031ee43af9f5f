package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// leadLock is the advisory lock key of the aggregator's leadership.
const leadLock = 7_411_003

// Leadership is the right to drive runs through their lifecycle (deadlines, finishing, pushing,
// announcing): one aggregator at a time holds it, so every transition it makes has one owner
// even when several aggregators run. It is a session advisory lock on a connection of its own:
// the lock goes when the holder's connection does (a crash, or the NM DB restarting), and a
// standby aggregator takes over.
type Leadership struct {
	conn *pgxpool.Conn
}

// TryLead takes the leadership if no one holds it; ok is false when another session does.
func (s *Store) TryLead(ctx context.Context) (l *Leadership, ok bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("lead: %w", err)
	}
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", leadLock).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("lead: %w", err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	return &Leadership{conn: conn}, true, nil
}

// Held reports whether the leadership's connection is still alive (and so the lock held).
func (l *Leadership) Held(ctx context.Context) bool {
	_, err := l.conn.Exec(ctx, "SELECT 1")
	return err == nil
}

// Release gives the leadership up: the connection, which holds the lock, is closed.
func (l *Leadership) Release() {
	_ = l.conn.Conn().Close(context.Background())
	l.conn.Release()
}
