package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Metric is one entry of the metric catalogue: the declaration and the query that computes it.
// The query takes the named arguments @run (the run id) and @foundation (bigint[] of foundation SP
// ids), returns one row per series with the label values first, in Labels order, as text, and the
// value last. Adding a metric is adding an entry here; the aggregator publishes every entry.
type Metric struct {
	Name   string
	Help   string
	Labels []string
	SQL    string
}

// nodeLabels are the labels of every per-content-node metric. The original labelled by endpoint
// only; sp_id keeps series of nodes that share an endpoint (several deregistered "" SPs) apart.
var nodeLabels = []string{"endpoint", "sp_id"}

// userCount counts users of the run matching a condition on user_category (alias u).
func userCount(cond string) string {
	return "SELECT count(*) FROM user_category u WHERE u.run_id = @run AND " + cond
}

// perNode counts, for every content node of the run (zero-filled), over the slots (user, role)
// that name the node: slot columns are s.user_id, s.clock and s.category, plus s.role.
func perNode(agg string) string {
	return `
WITH slots AS (
    SELECT u.user_id, u.category, r.role, r.sp_id, r.clock
    FROM user_category u
    CROSS JOIN LATERAL (VALUES ('primary', u.primary_sp_id, u.primary_clock),
                               ('secondary1', u.secondary1_sp_id, u.secondary1_clock),
                               ('secondary2', u.secondary2_sp_id, u.secondary2_clock)) AS r(role, sp_id, clock)
    WHERE u.run_id = @run AND r.sp_id IS NOT NULL
)
SELECT n.endpoint, n.sp_id::text, ` + agg + `
FROM content_nodes n
LEFT JOIN slots s ON s.sp_id = n.sp_id
WHERE n.run_id = @run
GROUP BY n.sp_id, n.endpoint
ORDER BY n.sp_id`
}

const allInFoundation = `u.primary_sp_id = ANY(@foundation) AND u.secondary1_sp_id = ANY(@foundation) AND u.secondary2_sp_id = ANY(@foundation)`

const fullReplicaSet = `u.primary_sp_id IS NOT NULL AND u.secondary1_sp_id IS NOT NULL AND u.secondary2_sp_id IS NOT NULL`

// Catalogue is every metric computed from a run's rows, with the original's names and meanings
// (spec §7) and the corrections of spec §12 (every node, zero-filled, no dropped users).
var Catalogue = []Metric{
	{Name: "audius_nm_user_count", Help: "Users in the discovery snapshot.",
		SQL: "SELECT count(*) FROM users WHERE run_id = @run"},
	{Name: "audius_nm_fully_synced_user_count", Help: "Users whose primary and both secondaries report the same clock.",
		SQL: userCount("u.category = 'fully'")},
	{Name: "audius_nm_partially_synced_user_count", Help: "Users whose primary agrees with exactly one secondary.",
		SQL: userCount("u.category = 'partially'")},
	{Name: "audius_nm_unsynced_user_count", Help: "Users whose primary agrees with neither secondary.",
		SQL: userCount("u.category = 'unsynced'")},
	{Name: "audius_nm_no_primary_user_count", Help: "Users without a primary clock (no primary, or no wallet).",
		SQL: userCount("u.primary_clock IS NULL")},
	{Name: "audius_nm_unhealthy_replica_users_count", Help: "Users with at least one replica that did not answer (clock -2).",
		SQL: userCount("-2 IN (u.primary_clock, u.secondary1_clock, u.secondary2_clock)")},
	{Name: "audius_nm_users_with_all_foundation_node_replica_set", Help: "Users whose three replicas are all foundation nodes.",
		SQL: userCount(fullReplicaSet + " AND " + allInFoundation)},
	{Name: "audius_nm_users_with_no_foundation_node_replica_set", Help: "Users whose three replicas include no foundation node.",
		SQL: userCount(fullReplicaSet + " AND NOT (u.primary_sp_id = ANY(@foundation)) AND NOT (u.secondary1_sp_id = ANY(@foundation)) AND NOT (u.secondary2_sp_id = ANY(@foundation))")},
	{Name: "audius_nm_primary_user_count", Help: "Users whose primary is this content node.", Labels: nodeLabels,
		SQL: perNode("count(s.user_id) FILTER (WHERE s.role = 'primary')")},
	{Name: "audius_nm_all_user_count", Help: "Users that have this content node anywhere in their replica set.", Labels: nodeLabels,
		SQL: perNode("count(DISTINCT s.user_id)")},
	{Name: "audius_nm_fully_synced_user_by_primary_count", Help: "Fully synced users by primary content node.", Labels: nodeLabels,
		SQL: perNode("count(s.user_id) FILTER (WHERE s.role = 'primary' AND s.category = 'fully')")},
	{Name: "audius_nm_partially_synced_user_by_primary_count", Help: "Partially synced users by primary content node.", Labels: nodeLabels,
		SQL: perNode("count(s.user_id) FILTER (WHERE s.role = 'primary' AND s.category = 'partially')")},
	{Name: "audius_nm_unsynced_user_by_primary_count", Help: "Unsynced users by primary content node.", Labels: nodeLabels,
		SQL: perNode("count(s.user_id) FILTER (WHERE s.role = 'primary' AND s.category = 'unsynced')")},
	{Name: "audius_nm_fully_synced_user_by_replica_count", Help: "Fully synced users that have this content node in their replica set.", Labels: nodeLabels,
		SQL: perNode("count(DISTINCT s.user_id) FILTER (WHERE s.category = 'fully')")},
	{Name: "audius_nm_partially_synced_user_by_replica_count", Help: "Partially synced users that have this content node in their replica set.", Labels: nodeLabels,
		SQL: perNode("count(DISTINCT s.user_id) FILTER (WHERE s.category = 'partially')")},
	{Name: "audius_nm_unsynced_user_by_replica_count", Help: "Unsynced users that have this content node in their replica set.", Labels: nodeLabels,
		SQL: perNode("count(DISTINCT s.user_id) FILTER (WHERE s.category = 'unsynced')")},
	{Name: "audius_nm_missed_users_count", Help: "User replica slots on this content node that got no answer (skipped, failed or never fetched).", Labels: nodeLabels,
		SQL: perNode("count(s.user_id) FILTER (WHERE s.clock = -2)")},
	{Name: "audius_nm_user_batch_duration", Help: "Mean seconds per clock batch request to this content node, retries included.", Labels: nodeLabels,
		SQL: `SELECT n.endpoint, n.sp_id::text, avg(f.duration_seconds)
FROM content_nodes n JOIN fetch_results f ON f.run_id = n.run_id AND f.sp_id = n.sp_id
WHERE n.run_id = @run GROUP BY n.sp_id, n.endpoint ORDER BY n.sp_id`},
	{Name: "audius_nm_indexing_discovery_duration", Help: "Seconds the planner spent reading discovery and publishing the snapshot.",
		SQL: "SELECT discovery_seconds FROM runs WHERE run_id = @run AND discovery_seconds IS NOT NULL"},
	{Name: "audius_nm_indexing_content_duration", Help: "Seconds from the run's start until every content-node answer was loaded.",
		SQL: "SELECT extract(epoch FROM loaded_at - created_at)::float8 FROM runs WHERE run_id = @run AND loaded_at IS NOT NULL"},
}

// Sample is one computed series.
type Sample struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Value  float64           `json:"value"`
}

// Key is a stable identity of the series: name{label="value",...} with sorted labels.
func (s Sample) Key() string {
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(s.Name)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, s.Labels[k])
	}
	b.WriteByte('}')
	return b.String()
}

// Compute runs every catalogue query for the run. An error in any query is an error of the
// whole computation: a broken query never shows up as a zero.
func (s *Store) Compute(ctx context.Context, run int64, foundation []int64) ([]Sample, error) {
	if _, err := s.GetRun(ctx, run); err != nil {
		return nil, err
	}
	if foundation == nil {
		foundation = []int64{}
	}
	args := pgx.NamedArgs{"run": run, "foundation": foundation}
	var out []Sample
	for _, m := range Catalogue {
		rows, err := s.pool.Query(ctx, m.SQL, args)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", m.Name, err)
		}
		for rows.Next() {
			vals := make([]any, len(m.Labels)+1)
			labels := make([]string, len(m.Labels))
			var v *float64
			for i := range labels {
				vals[i] = &labels[i]
			}
			vals[len(labels)] = &v
			if err := rows.Scan(vals...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("metric %s: %w", m.Name, err)
			}
			if v == nil {
				continue
			}
			smp := Sample{Name: m.Name, Value: *v}
			if len(labels) > 0 {
				smp.Labels = make(map[string]string, len(labels))
				for i, l := range m.Labels {
					smp.Labels[l] = labels[i]
				}
			}
			out = append(out, smp)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("metric %s: %w", m.Name, err)
		}
	}
	return out, nil
}

// SaveSamples stores the run's computed series (replacing any earlier set).
func (s *Store) SaveSamples(ctx context.Context, run int64, samples []Sample) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM metric_values WHERE run_id = $1", run); err != nil {
			return err
		}
		for _, smp := range samples {
			labels, err := json.Marshal(smp.Labels)
			if err != nil {
				return err
			}
			if smp.Labels == nil {
				labels = []byte("{}")
			}
			if _, err := tx.Exec(ctx, "INSERT INTO metric_values (run_id, name, labels, value) VALUES ($1, $2, $3, $4)",
				run, smp.Name, labels, smp.Value); err != nil {
				return fmt.Errorf("save sample %s: %w", smp.Key(), err)
			}
		}
		return nil
	})
}

// Samples returns the stored series of a run, sorted by key.
func (s *Store) Samples(ctx context.Context, run int64) ([]Sample, error) {
	rows, err := s.pool.Query(ctx, "SELECT name, labels, value FROM metric_values WHERE run_id = $1", run)
	if err != nil {
		return nil, fmt.Errorf("samples of run %d: %w", run, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Sample, error) {
		var smp Sample
		var labels []byte
		if err := r.Scan(&smp.Name, &labels, &smp.Value); err != nil {
			return smp, err
		}
		if err := json.Unmarshal(labels, &smp.Labels); err != nil {
			return smp, err
		}
		if len(smp.Labels) == 0 {
			smp.Labels = nil
		}
		return smp, nil
	})
	if err != nil {
		return nil, fmt.Errorf("samples of run %d: %w", run, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out, nil
}
