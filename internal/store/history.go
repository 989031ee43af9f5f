package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// RunSample is a stored series of a run.
type RunSample struct {
	Run int64 `json:"run_id"`
	Sample
}

// SeriesOf returns the stored series named in names of the given runs, by run then series key.
func (s *Store) SeriesOf(ctx context.Context, runs []int64, names []string) ([]RunSample, error) {
	rows, err := s.pool.Query(ctx, `SELECT run_id, name, labels, value FROM metric_values
		WHERE run_id = ANY($1) AND name = ANY($2) ORDER BY run_id, name, labels::text`, runs, names)
	if err != nil {
		return nil, fmt.Errorf("series of runs %v: %w", runs, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RunSample, error) {
		var rs RunSample
		var labels []byte
		if err := r.Scan(&rs.Run, &rs.Name, &labels, &rs.Value); err != nil {
			return rs, err
		}
		if err := json.Unmarshal(labels, &rs.Labels); err != nil {
			return rs, err
		}
		if len(rs.Labels) == 0 {
			rs.Labels = nil
		}
		return rs, nil
	})
	if err != nil {
		return nil, fmt.Errorf("series of runs %v: %w", runs, err)
	}
	return out, nil
}

// MetricNames lists the names of the series stored for any run, sorted.
func (s *Store) MetricNames(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, "SELECT DISTINCT name FROM metric_values ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("metric names: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("metric names: %w", err)
	}
	return names, nil
}

// Failure is a group of a run's failed work items: a node, a kind, an outcome and the error
// text they share, with how many items.
type Failure struct {
	SPID    int64  `json:"sp_id"`
	Kind    string `json:"kind"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail"`
	Items   int64  `json:"items"`
}

// Failures lists the run's work items whose outcome is not ok, grouped by node, kind, outcome
// and error text, by node then the most frequent first.
func (s *Store) Failures(ctx context.Context, run int64) ([]Failure, error) {
	rows, err := s.pool.Query(ctx, `SELECT sp_id, kind, outcome, detail, count(*) FROM fetch_results
		WHERE run_id = $1 AND outcome <> 'ok'
		GROUP BY sp_id, kind, outcome, detail ORDER BY sp_id, count(*) DESC, kind, outcome, detail`, run)
	if err != nil {
		return nil, fmt.Errorf("failures of run %d: %w", run, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Failure])
	if err != nil {
		return nil, fmt.Errorf("failures of run %d: %w", run, err)
	}
	return out, nil
}
