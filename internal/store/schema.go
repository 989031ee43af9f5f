package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Migration is one embedded schema migration and, once applied, when.
type Migration struct {
	Name      string     `json:"name"`
	AppliedAt *time.Time `json:"applied_at,omitempty"`
}

// Migrations lists every embedded migration in order with its state in the NM DB. A database
// never migrated has every migration pending.
func (s *Store) Migrations(ctx context.Context) ([]Migration, error) {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	applied := map[string]time.Time{}
	rows, err := s.pool.Query(ctx, "SELECT name, applied_at FROM schema_migrations")
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "42P01": // undefined_table: never migrated
	case err != nil:
		return nil, fmt.Errorf("schema migrations: %w", err)
	default:
		for rows.Next() {
			var name string
			var at time.Time
			if err := rows.Scan(&name, &at); err != nil {
				rows.Close()
				return nil, fmt.Errorf("schema migrations: %w", err)
			}
			applied[name] = at
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("schema migrations: %w", err)
		}
	}
	out := make([]Migration, 0, len(files))
	for _, f := range files {
		m := Migration{Name: strings.TrimPrefix(f, "migrations/")}
		if at, ok := applied[m.Name]; ok {
			m.AppliedAt = &at
		}
		out = append(out, m)
	}
	return out, nil
}
