package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/message"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// Metric is one entry of the metric catalogue: the declaration and the query that computes it.
// The query takes the named arguments @run (the run id) and @foundation (bigint[] of foundation SP
// ids), returns one row per series with the label values first, in Labels order, as text, and the
// value last (a NULL value means no series). Adding a metric is adding an entry here; the
// aggregator publishes every entry as a gauge, and docs/metrics.md describes it.
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

// cidRun restricts a CID metric to runs that checked CIDs: a run planned with CID checks off has
// no CID series at all (rather than zeros that would read as "nothing replicated").
const cidRun = `JOIN runs r ON r.run_id = @run AND r.cid_mode <> 'off'`

// perNodeCID counts, for every content node of the run (zero-filled), over the cid_status rows
// (alias s: one per CID row and node of its owner's replica set) that name the node.
func perNodeCID(agg string) string {
	return `
SELECT n.endpoint, n.sp_id::text, ` + agg + `
FROM content_nodes n
` + cidRun + `
LEFT JOIN cid_status s ON s.run_id = @run AND s.sp_id = n.sp_id
WHERE n.run_id = @run
GROUP BY n.sp_id, n.endpoint
ORDER BY n.sp_id`
}

// fetchKinds are the kinds of work item, in label order.
var fetchKinds = []string{message.KindClock, message.KindCID, message.KindImageCID}

// fetchOutcomes are the outcome label values, in enum order: every Outcome but UNSPECIFIED.
var fetchOutcomes = func() []string {
	var out []string
	for v := int32(1); ; v++ {
		if _, ok := netmonv1.Outcome_name[v]; !ok {
			return out
		}
		out = append(out, OutcomeName(netmonv1.Outcome(v)))
	}
}()

// valuesList is a SQL VALUES list of (ord, text) rows, for zero-filled label sets.
func valuesList(vals []string) string {
	var b strings.Builder
	b.WriteString("(VALUES ")
	for i, v := range vals {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(%d, '%s')", i, strings.ReplaceAll(v, "'", "''"))
	}
	b.WriteString(")")
	return b.String()
}

// LagBuckets are the values of the lag label of audius_nm_secondaries_by_clock_lag, in order:
// how far a secondary's clock is behind its primary's, or why there is no difference.
var LagBuckets = []string{"0", "1", "2-10", "11-100", "101-1000", "1001+", "ahead", "not_held", "no_answer"}

// Catalogue is every metric computed from a run's rows: the original's (spec §7) with their names
// and labels and the corrections of spec §12 (every node, zero-filled, no dropped users), then the
// ones netmon adds. docs/metrics.md documents each.
var Catalogue = []Metric{
	// ---- The original's metrics (spec §7).
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
	{Name: "audius_nm_user_batch_duration", Help: "Mean seconds per clock batch request to this content node, retries included; 0 when the node was never called.", Labels: nodeLabels,
		SQL: `SELECT n.endpoint, n.sp_id::text, coalesce(avg(f.duration_seconds), 0)
FROM content_nodes n
LEFT JOIN fetch_results f ON f.run_id = n.run_id AND f.sp_id = n.sp_id AND f.kind = 'clock' AND f.attempts > 0
WHERE n.run_id = @run GROUP BY n.sp_id, n.endpoint ORDER BY n.sp_id`},
	{Name: "audius_nm_indexing_discovery_duration", Help: "Seconds the planner spent reading discovery and publishing the snapshot.",
		SQL: "SELECT discovery_seconds FROM runs WHERE run_id = @run AND discovery_seconds IS NOT NULL"},
	{Name: "audius_nm_indexing_content_duration", Help: "Seconds from the run's start until every content-node answer was loaded.",
		SQL: "SELECT extract(epoch FROM loaded_at - created_at)::float8 FROM runs WHERE run_id = @run AND loaded_at IS NOT NULL"},

	// ---- Beyond the original: stage timing, fetch health, clock lag.
	{Name: "audius_nm_stage_duration_seconds", Help: "Seconds a stage of the run took: discovery (reading discovery and publishing the snapshot), content (from the run's start until every answer was loaded), metrics (computing the metrics).",
		Labels: []string{"stage"},
		SQL: `SELECT 'discovery', discovery_seconds FROM runs WHERE run_id = @run
UNION ALL
SELECT 'content', extract(epoch FROM loaded_at - created_at)::float8 FROM runs WHERE run_id = @run`},
	{Name: "audius_nm_fetch_items", Help: "Work items of the run by content node, kind (clock, cid, image_cid) and outcome (ok, or why the node gave no answer).",
		Labels: []string{"endpoint", "sp_id", "kind", "outcome"},
		SQL: `SELECT n.endpoint, n.sp_id::text, k.kind, o.outcome, count(f.batch)
FROM content_nodes n
JOIN runs r ON r.run_id = n.run_id
CROSS JOIN ` + valuesList(fetchKinds) + ` AS k(kord, kind)
CROSS JOIN ` + valuesList(fetchOutcomes) + ` AS o(oord, outcome)
LEFT JOIN fetch_results f ON f.run_id = n.run_id AND f.sp_id = n.sp_id AND f.kind = k.kind AND f.outcome = o.outcome
WHERE n.run_id = @run AND (k.kind = 'clock' OR r.cid_mode <> 'off')
GROUP BY n.sp_id, n.endpoint, k.kord, k.kind, o.oord, o.outcome
ORDER BY n.sp_id, k.kord, o.oord`},
	{Name: "audius_nm_secondaries_by_clock_lag", Help: "Secondary replica slots of users whose primary holds them (primary clock >= 0), by how far the secondary's clock is behind the primary's: 0, 1, 2-10, 11-100, 101-1000, 1001+, ahead (the secondary is further), not_held (-1) or no_answer (-2).",
		Labels: []string{"lag"},
		SQL: `WITH lag AS (
    SELECT CASE WHEN x.s = -2 THEN 'no_answer'
                WHEN x.s = -1 THEN 'not_held'
                WHEN u.primary_clock < x.s THEN 'ahead'
                WHEN u.primary_clock = x.s THEN '0'
                WHEN u.primary_clock - x.s = 1 THEN '1'
                WHEN u.primary_clock - x.s <= 10 THEN '2-10'
                WHEN u.primary_clock - x.s <= 100 THEN '11-100'
                WHEN u.primary_clock - x.s <= 1000 THEN '101-1000'
                ELSE '1001+' END AS bucket
    FROM user_status u
    CROSS JOIN LATERAL (VALUES (u.secondary1_clock), (u.secondary2_clock)) AS x(s)
    WHERE u.run_id = @run AND u.primary_clock >= 0 AND x.s IS NOT NULL
)
SELECT b.bucket, count(l.bucket)
FROM ` + valuesList(LagBuckets) + ` AS b(ord, bucket)
LEFT JOIN lag l ON l.bucket = b.bucket
GROUP BY b.ord, b.bucket ORDER BY b.ord`},
	{Name: "audius_nm_unknown_wallet_slots", Help: "User replica slots on this content node whose wallet the node answered it does not know (clock -1).", Labels: nodeLabels,
		SQL: perNode("count(s.user_id) FILTER (WHERE s.clock = -1)")},

	// ---- CID replication (runs with CID checks only). A "CID" is a row of the CID snapshot: a CID
	// of a user, or of one of its tracks, in one column or track segment.
	{Name: "audius_nm_snapshot_cids", Help: "CIDs in the discovery snapshot (active users and their undeleted tracks), before sampling.",
		SQL: `SELECT r.snapshot_cids FROM runs r WHERE r.run_id = @run AND r.cid_mode <> 'off'`},
	{Name: "audius_nm_checked_cids", Help: "CIDs checked on their owners' replica sets: the sample (all of the snapshot unless NETMON_CID_CHECKS=sample).",
		SQL: `SELECT count(c.idx) FROM runs r LEFT JOIN cids c ON c.run_id = @run
WHERE r.run_id = @run AND r.cid_mode <> 'off' GROUP BY r.run_id`},
	{Name: "audius_nm_cid_sample_ratio", Help: "Share of the snapshot's CIDs the sample keeps (1 when every CID is checked).",
		SQL: `SELECT coalesce(r.cid_sample_rate, 1) FROM runs r WHERE r.run_id = @run AND r.cid_mode <> 'off'`},
	{Name: "audius_nm_cid_sample_margin_of_error", Help: "Worst-case 95% margin of error of a share estimated from the checked CIDs (1.96*sqrt(0.25/n), with the finite population correction); 0 when every CID is checked.",
		SQL: `WITH s AS (
    SELECT r.snapshot_cids::float8 AS big_n, (SELECT count(*) FROM cids WHERE run_id = @run)::float8 AS n
    FROM runs r WHERE r.run_id = @run AND r.cid_mode <> 'off'
)
SELECT CASE WHEN big_n IS NULL OR big_n <= 1 OR n >= big_n THEN 0
            WHEN n = 0 THEN 1
            ELSE least(1, 1.96 * sqrt(0.25 / n) * sqrt((big_n - n) / (big_n - 1))) END
FROM s`},
	{Name: "audius_nm_cids_by_replication_factor", Help: "Checked CIDs by the number of nodes of the owner's replica set that hold them (0 to 3).",
		Labels: []string{"replicas"},
		SQL: `WITH f AS (
    SELECT DISTINCT ON (batch, idx) replicas FROM cid_status WHERE run_id = @run ORDER BY batch, idx
)
SELECT k.replicas::text, count(f.replicas)
FROM runs r
CROSS JOIN generate_series(0, 3) AS k(replicas)
LEFT JOIN f ON f.replicas = k.replicas
WHERE r.run_id = @run AND r.cid_mode <> 'off'
GROUP BY k.replicas ORDER BY k.replicas`},
	{Name: "audius_nm_users_by_cid_synced_nodes", Help: "Users with checked CIDs by the number of nodes of their replica set that hold all of them (0 to 3).",
		Labels: []string{"nodes"},
		SQL: `WITH per_node AS (
    SELECT user_id, sp_id, bool_and(state = 1) AS holds_all
    FROM cid_status WHERE run_id = @run GROUP BY user_id, sp_id
), per_user AS (
    SELECT user_id, count(*) FILTER (WHERE holds_all) AS nodes FROM per_node GROUP BY user_id
)
SELECT k.nodes::text, count(u.user_id)
FROM runs r
CROSS JOIN generate_series(0, 3) AS k(nodes)
LEFT JOIN per_user u ON u.nodes = k.nodes
WHERE r.run_id = @run AND r.cid_mode <> 'off'
GROUP BY k.nodes ORDER BY k.nodes`},
	{Name: "audius_nm_cids_replicated_at_least_once", Help: "Checked CIDs this content node holds that at least one other node of the owner's replica set holds too.", Labels: nodeLabels,
		SQL: perNodeCID("count(s.idx) FILTER (WHERE s.state = 1 AND s.replicas >= 2)")},
	{Name: "audius_nm_cids_not_replicated", Help: "Checked CIDs this content node holds that no other node of the owner's replica set holds.", Labels: nodeLabels,
		SQL: perNodeCID("count(s.idx) FILTER (WHERE s.state = 1 AND s.replicas = 1)")},
	{Name: "audius_nm_cids_missing", Help: "Checked CIDs of users with this content node in their replica set that the node answered it does not hold.", Labels: nodeLabels,
		SQL: perNodeCID("count(s.idx) FILTER (WHERE s.state = 0)")},
	{Name: "audius_nm_missed_cid_checks", Help: "Checked CIDs of users with this content node in their replica set that got no answer from it (skipped, failed or never fetched).", Labels: nodeLabels,
		SQL: perNodeCID("count(s.idx) FILTER (WHERE s.state = -2)")},
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
	out, _, err := s.compute(ctx, run, foundation, false)
	return out, err
}

// ComputeSeen is Compute that also returns the run's messages (ledger keys) the series were
// computed over. The queries and the keys read one snapshot (a read-only repeatable-read
// transaction), so rows the loader commits meanwhile are in all of them or in none.
func (s *Store) ComputeSeen(ctx context.Context, run int64, foundation []int64) ([]Sample, Cut, error) {
	return s.compute(ctx, run, foundation, true)
}

func (s *Store) compute(ctx context.Context, run int64, foundation []int64, withKeys bool) ([]Sample, Cut, error) {
	if _, err := s.GetRun(ctx, run); err != nil {
		return nil, nil, err
	}
	if foundation == nil {
		foundation = []int64{}
	}
	var out []Sample
	var seen Cut
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if out, err = computeIn(ctx, tx, run, foundation); err != nil || !withKeys {
			return err
		}
		if seen, err = cutKeys(ctx, tx, run, false); err != nil {
			return fmt.Errorf("metrics of run %d: %w", run, err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, seen, nil
}

func computeIn(ctx context.Context, tx pgx.Tx, run int64, foundation []int64) ([]Sample, error) {
	args := pgx.NamedArgs{"run": run, "foundation": foundation}
	var out []Sample
	for _, m := range Catalogue {
		rows, err := tx.Query(ctx, m.SQL, args)
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

// LatestSample is the value of the unlabelled series name stored for the newest run before run
// that has it; ok is false when no earlier run has it.
func (s *Store) LatestSample(ctx context.Context, name string, run int64) (v float64, ok bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT value FROM metric_values WHERE name = $1 AND run_id < $2 AND labels = '{}'
		ORDER BY run_id DESC LIMIT 1`, name, run).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("latest %s before run %d: %w", name, run, err)
	}
	return v, true, nil
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
