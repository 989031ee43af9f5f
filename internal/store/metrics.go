package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/message"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// Metric is one entry of the metric catalogue: the declaration and the query that computes it.
// The query takes the named arguments @run (the run id) and @foundation (bigint[] of foundation SP
// ids) and returns one row per series: the label values first, in Labels order, as text, then the
// value columns (a NULL value means no series). Most queries compute one metric and return one
// value column. A query that computes a family of metrics in one pass returns a named column per
// metric; each metric of the family has the same SQL and names its column in Value, and the query
// runs once for all of them. The metrics of a family may have different labels: the query's label
// columns are then the labels of all of them, in the order they first appear in the catalogue, and
// a row is a series of the metrics whose value columns it fills (NULL in the others), labelled by
// their label columns (which it must fill). Adding a metric is adding an entry here (and its
// column to the family's query); the aggregator publishes every entry as a gauge, and
// docs/metrics.md describes it.
type Metric struct {
	Name   string
	Help   string
	Labels []string
	SQL    string
	Value  string // the value column, for a query returning several; empty for a query returning one
}

// nodeLabels are the labels of every per-content-node metric. The original labelled by endpoint
// only; sp_id keeps series of nodes that share an endpoint (several deregistered "" SPs) apart.
var nodeLabels = []string{"endpoint", "sp_id"}

// userFamilies computes every family over the run's users (the user counts, the per-node user and
// slot counts, the secondaries by clock lag) from the counts each part's build wrote in
// user_counts: the part's users counted by the keys of counts.go, which pack what a family needs
// to know about a user. Adding them up reads a few thousand rows a part where deriving the keys
// of every user after the last result took 1.2 s at a million users (docs/benchmarks.md, ninth
// part). It has three kinds of row: one of user counts (no labels), one per content node of the
// run (endpoint, sp_id; zero-filled), and one per lag bucket (lag, in LagBuckets order;
// zero-filled). The user count counts user_status's rows, one per users row: a part's build writes
// a row for each of its users rows, and their counts, once (parts.go), and a run's users rows have
// distinct ids (the planner passes each user_id once, Snapshot.Users, and a batch is loaded once).
// Which nodes are foundation nodes is applied here, to the counts of users by replica set. A slot
// key is split into its digits by integer division, which is exact as keys are never negative.
var userFamilies = `
WITH g AS (
    SELECT primary_key, secondary1_key, secondary2_key, user_key, users AS n
    FROM user_counts WHERE run_id = @run AND replica_low IS NULL
), slots AS (
    SELECT key / 1000 AS sp_id, key % 1000 / 100 AS role, key % 100 / 10 AS clock, key % 10 AS category, n
    FROM (SELECT primary_key, n FROM g WHERE primary_key IS NOT NULL
          UNION ALL SELECT secondary1_key, n FROM g WHERE secondary1_key IS NOT NULL
          UNION ALL SELECT secondary2_key, n FROM g WHERE secondary2_key IS NOT NULL) AS keys(key, n)
), nodes AS (
    SELECT sp_id,
           sum(n) FILTER (WHERE role = 2) AS primary_users,
           sum(n) FILTER (WHERE role >= 1) AS all_users,
           sum(n) FILTER (WHERE role = 2 AND category = 1) AS fully_by_primary,
           sum(n) FILTER (WHERE role = 2 AND category = 2) AS partially_by_primary,
           sum(n) FILTER (WHERE role = 2 AND category = 3) AS unsynced_by_primary,
           sum(n) FILTER (WHERE role >= 1 AND category = 1) AS fully_by_replica,
           sum(n) FILTER (WHERE role >= 1 AND category = 2) AS partially_by_replica,
           sum(n) FILTER (WHERE role >= 1 AND category = 3) AS unsynced_by_replica,
           sum(n) FILTER (WHERE clock = 2) AS missed_slots,
           sum(n) FILTER (WHERE clock = 1) AS unknown_wallet_slots
    FROM slots GROUP BY sp_id
), users AS (
    SELECT user_key % 10 AS category, user_key % 100 / 10 AS no_primary, user_key % 1000 / 100 AS unhealthy,
           user_key % 10000 / 1000 AS lag1, user_key / 10000 AS lag2, n
    FROM g WHERE user_key IS NOT NULL
), foundation AS (
    SELECT coalesce(sum(users) FILTER (WHERE replica_low = ANY(@foundation) AND replica_mid = ANY(@foundation)
                                       AND replica_high = ANY(@foundation)), 0)::bigint AS all_foundation,
           coalesce(sum(users) FILTER (WHERE NOT (replica_low = ANY(@foundation)) AND NOT (replica_mid = ANY(@foundation))
                                       AND NOT (replica_high = ANY(@foundation))), 0)::bigint AS no_foundation
    FROM user_counts WHERE run_id = @run AND replica_low IS NOT NULL
)
SELECT endpoint, sp_id, lag, user_count, fully, partially, unsynced, no_primary, unhealthy, all_foundation, no_foundation,
       primary_users, all_users, fully_by_primary, partially_by_primary, unsynced_by_primary,
       fully_by_replica, partially_by_replica, unsynced_by_replica, missed_slots, unknown_wallet_slots, lag_slots
FROM (
    SELECT 1 AS part, 0::bigint AS ord, NULL::text AS endpoint, NULL::text AS sp_id, NULL::text AS lag,
           coalesce(sum(n), 0)::bigint AS user_count,
           coalesce(sum(n) FILTER (WHERE category = 1), 0)::bigint AS fully,
           coalesce(sum(n) FILTER (WHERE category = 2), 0)::bigint AS partially,
           coalesce(sum(n) FILTER (WHERE category = 3), 0)::bigint AS unsynced,
           coalesce(sum(n) FILTER (WHERE no_primary = 1), 0)::bigint AS no_primary,
           coalesce(sum(n) FILTER (WHERE unhealthy = 1), 0)::bigint AS unhealthy,
           (SELECT all_foundation FROM foundation) AS all_foundation, (SELECT no_foundation FROM foundation) AS no_foundation,
           NULL::bigint AS primary_users, NULL::bigint AS all_users, NULL::bigint AS fully_by_primary,
           NULL::bigint AS partially_by_primary, NULL::bigint AS unsynced_by_primary, NULL::bigint AS fully_by_replica,
           NULL::bigint AS partially_by_replica, NULL::bigint AS unsynced_by_replica, NULL::bigint AS missed_slots,
           NULL::bigint AS unknown_wallet_slots, NULL::bigint AS lag_slots
    FROM users
    UNION ALL
    SELECT 2, n.sp_id, n.endpoint, n.sp_id::text, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           coalesce(a.primary_users, 0), coalesce(a.all_users, 0), coalesce(a.fully_by_primary, 0),
           coalesce(a.partially_by_primary, 0), coalesce(a.unsynced_by_primary, 0), coalesce(a.fully_by_replica, 0),
           coalesce(a.partially_by_replica, 0), coalesce(a.unsynced_by_replica, 0), coalesce(a.missed_slots, 0),
           coalesce(a.unknown_wallet_slots, 0), NULL
    FROM content_nodes n
    LEFT JOIN nodes a ON a.sp_id = n.sp_id
    WHERE n.run_id = @run
    UNION ALL
    SELECT 3, b.ord, NULL, NULL, b.bucket,
           NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           (coalesce(sum(u.n) FILTER (WHERE u.lag1 = b.ord + 1), 0) + coalesce(sum(u.n) FILTER (WHERE u.lag2 = b.ord + 1), 0))::bigint
    FROM ` + valuesList(LagBuckets) + ` AS b(ord, bucket)
    LEFT JOIN users u ON true
    GROUP BY b.ord, b.bucket
) AS r
ORDER BY part, ord`

// nodeCIDs counts, for every content node of the run (zero-filled), over the cid_status rows (one
// per CID row and node of its owner's replica set) that name the node, in one pass. A run planned
// with CID checks off has no CID series at all (rather than zeros that would read as "nothing
// replicated").
const nodeCIDs = `
WITH a AS (
    SELECT sp_id,
           count(*) FILTER (WHERE state = 1 AND replicas >= 2) AS replicated,
           count(*) FILTER (WHERE state = 1 AND replicas = 1) AS not_replicated,
           count(*) FILTER (WHERE state = 0) AS missing,
           count(*) FILTER (WHERE state = -2) AS missed
    FROM cid_status WHERE run_id = @run GROUP BY sp_id
)
SELECT n.endpoint, n.sp_id::text,
       coalesce(a.replicated, 0) AS replicated,
       coalesce(a.not_replicated, 0) AS not_replicated,
       coalesce(a.missing, 0) AS missing,
       coalesce(a.missed, 0) AS missed
FROM content_nodes n
JOIN runs r ON r.run_id = @run AND r.cid_mode <> 'off'
LEFT JOIN a ON a.sp_id = n.sp_id
WHERE n.run_id = @run
ORDER BY n.sp_id`

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
		SQL: userFamilies, Value: "user_count"},
	{Name: "audius_nm_fully_synced_user_count", Help: "Users whose primary and both secondaries report the same clock.",
		SQL: userFamilies, Value: "fully"},
	{Name: "audius_nm_partially_synced_user_count", Help: "Users whose primary agrees with exactly one secondary.",
		SQL: userFamilies, Value: "partially"},
	{Name: "audius_nm_unsynced_user_count", Help: "Users whose primary agrees with neither secondary.",
		SQL: userFamilies, Value: "unsynced"},
	{Name: "audius_nm_no_primary_user_count", Help: "Users without a primary clock (no primary, or no wallet).",
		SQL: userFamilies, Value: "no_primary"},
	{Name: "audius_nm_unhealthy_replica_users_count", Help: "Users with at least one replica that did not answer (clock -2).",
		SQL: userFamilies, Value: "unhealthy"},
	{Name: "audius_nm_users_with_all_foundation_node_replica_set", Help: "Users whose three replicas are all foundation nodes.",
		SQL: userFamilies, Value: "all_foundation"},
	{Name: "audius_nm_users_with_no_foundation_node_replica_set", Help: "Users whose three replicas include no foundation node.",
		SQL: userFamilies, Value: "no_foundation"},
	{Name: "audius_nm_primary_user_count", Help: "Users whose primary is this content node.", Labels: nodeLabels,
		SQL: userFamilies, Value: "primary_users"},
	{Name: "audius_nm_all_user_count", Help: "Users that have this content node anywhere in their replica set.", Labels: nodeLabels,
		SQL: userFamilies, Value: "all_users"},
	{Name: "audius_nm_fully_synced_user_by_primary_count", Help: "Fully synced users by primary content node.", Labels: nodeLabels,
		SQL: userFamilies, Value: "fully_by_primary"},
	{Name: "audius_nm_partially_synced_user_by_primary_count", Help: "Partially synced users by primary content node.", Labels: nodeLabels,
		SQL: userFamilies, Value: "partially_by_primary"},
	{Name: "audius_nm_unsynced_user_by_primary_count", Help: "Unsynced users by primary content node.", Labels: nodeLabels,
		SQL: userFamilies, Value: "unsynced_by_primary"},
	{Name: "audius_nm_fully_synced_user_by_replica_count", Help: "Fully synced users that have this content node in their replica set.", Labels: nodeLabels,
		SQL: userFamilies, Value: "fully_by_replica"},
	{Name: "audius_nm_partially_synced_user_by_replica_count", Help: "Partially synced users that have this content node in their replica set.", Labels: nodeLabels,
		SQL: userFamilies, Value: "partially_by_replica"},
	{Name: "audius_nm_unsynced_user_by_replica_count", Help: "Unsynced users that have this content node in their replica set.", Labels: nodeLabels,
		SQL: userFamilies, Value: "unsynced_by_replica"},
	{Name: "audius_nm_missed_users_count", Help: "User replica slots on this content node that got no answer (skipped, failed or never fetched).", Labels: nodeLabels,
		SQL: userFamilies, Value: "missed_slots"},
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
	{Name: "audius_nm_stage_duration_seconds", Help: "Seconds a stage of the run took: discovery (reading discovery and publishing the snapshot), content (from the run's start until every answer was loaded and the per-user tables built; it includes discovery), metrics (from then until the metrics were computed). content + metrics is the job.",
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
		Labels: []string{"lag"}, SQL: userFamilies, Value: "lag_slots"},
	{Name: "audius_nm_unknown_wallet_slots", Help: "User replica slots on this content node whose wallet the node answered it does not know (clock -1).", Labels: nodeLabels,
		SQL: userFamilies, Value: "unknown_wallet_slots"},

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
		SQL: nodeCIDs, Value: "replicated"},
	{Name: "audius_nm_cids_not_replicated", Help: "Checked CIDs this content node holds that no other node of the owner's replica set holds.", Labels: nodeLabels,
		SQL: nodeCIDs, Value: "not_replicated"},
	{Name: "audius_nm_cids_missing", Help: "Checked CIDs of users with this content node in their replica set that the node answered it does not hold.", Labels: nodeLabels,
		SQL: nodeCIDs, Value: "missing"},
	{Name: "audius_nm_missed_cid_checks", Help: "Checked CIDs of users with this content node in their replica set that got no answer from it (skipped, failed or never fetched).", Labels: nodeLabels,
		SQL: nodeCIDs, Value: "missed"},
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

// Compute runs every query of the run's network's catalogue (CatalogueOf) for the run. An error in any query is an error of the
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
	r, err := s.GetRun(ctx, run)
	if err != nil {
		return nil, nil, err
	}
	if foundation == nil {
		foundation = []int64{}
	}
	var out []Sample
	var seen Cut
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if out, err = computeIn(ctx, tx, run, CatalogueOf(r.Network), foundation); err != nil || !withKeys {
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

// computeIn runs every distinct query of the run's catalogue once, in catalogue order, and returns the series
// in catalogue order: a metric's series in its query's row order.
func computeIn(ctx context.Context, tx pgx.Tx, run int64, catalogue []Metric, foundation []int64) ([]Sample, error) {
	args := pgx.NamedArgs{"run": run, "foundation": foundation}
	labels := queryLabels(catalogue)
	results := map[string]*result{} // by SQL
	var out []Sample
	for _, m := range catalogue {
		r, ok := results[m.SQL]
		if !ok {
			var err error
			if r, err = query(ctx, tx, m.SQL, labels[m.SQL], args); err != nil {
				return nil, fmt.Errorf("metric %s: %w", m.Name, err)
			}
			results[m.SQL] = r
		}
		col, at, err := r.column(m)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", m.Name, err)
		}
		for _, row := range r.rows {
			v := row.values[col]
			if v == nil {
				continue
			}
			smp := Sample{Name: m.Name, Value: *v}
			if len(m.Labels) > 0 {
				smp.Labels = make(map[string]string, len(m.Labels))
				for i, l := range m.Labels {
					if row.labels[at[i]] == nil {
						return nil, fmt.Errorf("metric %s: a row with a value has no %s", m.Name, l)
					}
					smp.Labels[l] = *row.labels[at[i]]
				}
			}
			out = append(out, smp)
		}
	}
	return out, nil
}

// queryLabels is, by SQL, the label columns of each query of the catalogue: the labels of the
// metrics that share it, in the order they first appear.
func queryLabels(catalogue []Metric) map[string][]string {
	out := map[string][]string{}
	for _, m := range catalogue {
		ls := out[m.SQL]
		for _, l := range m.Labels {
			if !slices.Contains(ls, l) {
				ls = append(ls, l)
			}
		}
		out[m.SQL] = ls
	}
	return out
}

// result is the rows of one catalogue query, for every metric that shares it.
type result struct {
	labels  []string // names of the label columns, first in each row
	columns []string // names of the value columns that follow
	rows    []resultRow
}

type resultRow struct {
	labels []*string  // nil: NULL, a label the row does not have
	values []*float64 // nil: NULL, no series
}

func query(ctx context.Context, tx pgx.Tx, sql string, labels []string, args pgx.NamedArgs) (*result, error) {
	rows, err := tx.Query(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	fields := rows.FieldDescriptions()
	if len(fields) <= len(labels) {
		return nil, fmt.Errorf("%d columns for %d labels and a value", len(fields), len(labels))
	}
	r := &result{labels: labels}
	for _, f := range fields[len(labels):] {
		r.columns = append(r.columns, f.Name)
	}
	for rows.Next() {
		row := resultRow{labels: make([]*string, len(labels)), values: make([]*float64, len(r.columns))}
		dest := make([]any, 0, len(labels)+len(r.columns))
		for i := range row.labels {
			dest = append(dest, &row.labels[i])
		}
		for i := range row.values {
			dest = append(dest, &row.values[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		r.rows = append(r.rows, row)
	}
	return r, rows.Err()
}

// column is the index of m's value column among r's, and the indexes of m's labels among r's
// label columns.
func (r *result) column(m Metric) (int, []int, error) {
	at := make([]int, len(m.Labels))
	for i, l := range m.Labels {
		at[i] = slices.Index(r.labels, l)
	}
	switch {
	case m.Value == "" && len(r.columns) == 1:
		return 0, at, nil
	case m.Value == "":
		return 0, nil, fmt.Errorf("its query returns the value columns %v: name one in Value", r.columns)
	}
	for i, c := range r.columns {
		if c == m.Value {
			return i, at, nil
		}
	}
	return 0, nil, fmt.Errorf("its query returns no value column %q (it returns %v)", m.Value, r.columns)
}

// SaveSamples stores the run's computed series (replacing any earlier set).
func (s *Store) SaveSamples(ctx context.Context, run int64, samples []Sample) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return saveSamples(ctx, tx, run, samples) })
}

func saveSamples(ctx context.Context, tx pgx.Tx, run int64, samples []Sample) error {
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
