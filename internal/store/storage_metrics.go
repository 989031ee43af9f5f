package store

import (
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/message"
)

// CatalogueOf is the metric catalogue of a network's runs: Catalogue for clocks runs,
// StorageCatalogue for storage runs.
func CatalogueOf(n lifecycle.Network) []Metric {
	if n == lifecycle.Storage {
		return StorageCatalogue
	}
	return Catalogue
}

// wilsonZ is the normal quantile of the storage metrics' intervals: 95 % two-sided.
const wilsonZ = "1.96"

// storageSlots is every (key, expected holder) pair of the run's key sample with the holder's
// answer (storage_checks.state; -2 when no answer arrived). census is true when the run checked
// every key (a share is then exact, and its interval is the share itself).
const storageSlots = `
WITH run AS (
    SELECT r.key_mode = 'all' AS census, coalesce(r.population_keys, 0) AS population
    FROM runs r WHERE r.run_id = @run AND r.network = 'storage'
), slots AS (
    SELECT k.key, h.sp_id, coalesce(c.state, -2) AS state
    FROM storage_keys k
    CROSS JOIN LATERAL unnest(k.holders) AS h(sp_id)
    LEFT JOIN storage_checks c ON c.run_id = @run AND c.sp_id = h.sp_id AND c.key = k.key AND NOT c.non_holder
    WHERE k.run_id = @run
)`

// interval is the share k/n of a sample and its 95 % Wilson bounds, as the columns
// <name>, <name>_lower, <name>_upper (NULL, no series, when n is 0); in a census the bounds are
// the share.
func interval(name, k, n string) string {
	share := "CASE WHEN " + n + " > 0 THEN " + k + "::float8 / " + n + " END"
	bound := func(upper string) string {
		return "CASE WHEN run.census THEN " + share + " ELSE nm_wilson(" + k + ", " + n + ", " + wilsonZ + ", " + upper + ") END"
	}
	return share + " AS " + name + ", " + bound("false") + " AS " + name + "_lower, " + bound("true") + " AS " + name + "_upper"
}

// nodeStorage counts, for every node of a storage run (zero-filled), the sampled keys it is an
// expected holder of by its answer, its held share of those it answered, and its non-holder
// probes.
var nodeStorage = storageSlots + `, a AS (
    SELECT sp_id,
           count(*) AS expected,
           count(*) FILTER (WHERE state = 1) AS held,
           count(*) FILTER (WHERE state = 0) AS missing,
           count(*) FILTER (WHERE state = -1) AS unknown,
           count(*) FILTER (WHERE state = -2) AS unanswered
    FROM slots GROUP BY sp_id
), x AS (
    SELECT sp_id, count(*) FILTER (WHERE state IN (0, 1)) AS probed, count(*) FILTER (WHERE state = 1) AS extra
    FROM storage_checks WHERE run_id = @run AND non_holder GROUP BY sp_id
), n AS (
    SELECT n.endpoint, n.sp_id, coalesce(a.expected, 0) AS expected, coalesce(a.held, 0) AS held,
           coalesce(a.missing, 0) AS missing, coalesce(a.unknown, 0) AS unknown,
           coalesce(a.unanswered, 0) AS unanswered, coalesce(x.probed, 0) AS probed, coalesce(x.extra, 0) AS extra
    FROM content_nodes n
    LEFT JOIN a ON a.sp_id = n.sp_id
    LEFT JOIN x ON x.sp_id = n.sp_id
    WHERE n.run_id = @run
)
SELECT n.endpoint, n.sp_id::text, n.expected, n.held, n.missing, n.unknown, n.unanswered,
       ` + interval("held_share", "n.held", "(n.held + n.missing)") + `,
       n.probed AS nonholder_probes, n.extra AS extra_copies
FROM n CROSS JOIN run
ORDER BY n.sp_id`

// storageKeys counts the run's sampled keys by how their expected holders answered: a key is
// under-replicated when some expected holder did not answer present (absent, 500 or no answer),
// lost when none did; their shares of the sample with their intervals, and of the whole
// population as estimated counts. Unresolved keys (some holder gave no present-or-absent answer)
// are counted apart: they are why an under-replicated or lost key may yet be held.
var storageKeys = storageSlots + `, per_key AS (
    SELECT key, count(*) AS holders, count(*) FILTER (WHERE state = 1) AS held, bool_and(state IN (0, 1)) AS resolved
    FROM slots GROUP BY key
), t AS (
    SELECT (SELECT count(*) FROM storage_keys WHERE run_id = @run) AS sampled,
           count(*) FILTER (WHERE NOT resolved) AS unresolved,
           count(*) FILTER (WHERE held < holders) AS under,
           count(*) FILTER (WHERE held = 0) AS lost
    FROM per_key
), s AS (
    SELECT t.*, run.population, ` + interval("under_share", "t.under", "t.sampled") + `,
           ` + interval("lost_share", "t.lost", "t.sampled") + `
    FROM t CROSS JOIN run
)
SELECT s.sampled, s.population, s.unresolved, s.under_share, s.under_share_lower, s.under_share_upper,
       s.lost_share, s.lost_share_lower, s.lost_share_upper,
       s.under_share * s.population AS under_estimated, s.under_share_lower * s.population AS under_estimated_lower,
       s.under_share_upper * s.population AS under_estimated_upper,
       s.lost_share * s.population AS lost_estimated, s.lost_share_lower * s.population AS lost_estimated_lower,
       s.lost_share_upper * s.population AS lost_estimated_upper
FROM s`

// nodeHealth is every node of a storage run with its health answer: up (the fetcher got an
// answer) for every node, the rest only for nodes that answered. disagrees compares the node's
// R with the consensus: the R most nodes report, the larger on a tie (placement.Consensus).
const nodeHealth = `
WITH consensus AS (
    SELECT h.replication_factor AS r FROM storage_health h
    WHERE h.run_id = @run AND h.replication_factor > 0
    GROUP BY h.replication_factor ORDER BY count(*) DESC, h.replication_factor DESC LIMIT 1
)
SELECT n.endpoint, n.sp_id::text,
       CASE WHEN h.outcome = 'ok' THEN 1 ELSE 0 END AS up,
       CASE WHEN h.outcome = 'ok' THEN h.healthy::int END AS healthy,
       CASE WHEN h.outcome = 'ok' THEN h.wallet_registered::int END AS wallet_registered,
       nullif(h.replication_factor, 0) AS reported_r,
       nullif(n.replication_factor, 0) AS planned_r,
       CASE WHEN h.replication_factor > 0 THEN (h.replication_factor <> (SELECT r FROM consensus))::int END AS disagrees,
       h.repair_pull_mine_needed AS pull_mine_needed,
       h.repair_delete_over_needed AS delete_over_needed,
       h.unreachable_peers, h.storage_used, h.storage_expectation
FROM content_nodes n
JOIN runs r ON r.run_id = n.run_id AND r.network = 'storage'
LEFT JOIN storage_health h ON h.run_id = n.run_id AND h.sp_id = n.sp_id
WHERE n.run_id = @run
ORDER BY n.sp_id`

// StorageCatalogue is every metric of a storage run (docs/metrics.md, "Storage runs"). Per-node
// series are labelled like the clocks run's (nodeLabels): the node's normalised endpoint and its
// id in the run's node list (planner.StorageNodes). Shares
// come with their 95 % Wilson score interval (_lower, _upper); a run that checked every key gives
// exact shares, whose bounds equal them.
var StorageCatalogue = []Metric{
	// ---- Per node: the sampled keys it should hold.
	{Name: "audius_nm_storage_node_keys_expected", Help: "Sampled keys this node is an expected holder of (rank below its R, or named in the upload's placement_hosts).",
		Labels: nodeLabels, SQL: nodeStorage, Value: "expected"},
	{Name: "audius_nm_storage_node_keys_held", Help: "Sampled keys this node should hold and said it holds (GET /internal/blobs/info 200).",
		Labels: nodeLabels, SQL: nodeStorage, Value: "held"},
	{Name: "audius_nm_storage_node_keys_missing", Help: "Sampled keys this node should hold and said it does not (404 blob not found).",
		Labels: nodeLabels, SQL: nodeStorage, Value: "missing"},
	{Name: "audius_nm_storage_node_keys_unknown", Help: "Sampled keys this node should hold about which it answered 500 (its database down, or a storage error).",
		Labels: nodeLabels, SQL: nodeStorage, Value: "unknown"},
	{Name: "audius_nm_storage_node_keys_unanswered", Help: "Sampled keys this node should hold that got no answer from it (down, hung, refused, skipped, or never fetched).",
		Labels: nodeLabels, SQL: nodeStorage, Value: "unanswered"},
	{Name: "audius_nm_storage_node_held_share", Help: "Share of the keys this node should hold and answered about (held + missing) that it holds; no series when it answered about none.",
		Labels: nodeLabels, SQL: nodeStorage, Value: "held_share"},
	{Name: "audius_nm_storage_node_held_share_lower", Help: "Lower bound of the 95% Wilson interval of audius_nm_storage_node_held_share (the share itself when every key was checked).",
		Labels: nodeLabels, SQL: nodeStorage, Value: "held_share_lower"},
	{Name: "audius_nm_storage_node_held_share_upper", Help: "Upper bound of the 95% Wilson interval of audius_nm_storage_node_held_share (the share itself when every key was checked).",
		Labels: nodeLabels, SQL: nodeStorage, Value: "held_share_upper"},
	{Name: "audius_nm_storage_node_nonholder_probes", Help: "Sampled keys this node is not an expected holder of that it was asked about and answered (present or absent).",
		Labels: nodeLabels, SQL: nodeStorage, Value: "nonholder_probes"},
	{Name: "audius_nm_storage_node_extra_copies", Help: "Of those non-holder probes, the keys it holds anyway (extra copies).",
		Labels: nodeLabels, SQL: nodeStorage, Value: "extra_copies"},

	// ---- Network: replication of the sampled keys.
	{Name: "audius_nm_storage_keys_sampled", Help: "Keys checked by the run (the sample, or every key).",
		SQL: storageKeys, Value: "sampled"},
	{Name: "audius_nm_storage_keys_population", Help: "Keys the key source listed: the population the sample estimates.",
		SQL: storageKeys, Value: "population"},
	{Name: "audius_nm_storage_keys_unresolved", Help: "Sampled keys some expected holder of which said neither present nor absent (500 or no answer): they count as not held there, so an under-replicated or lost key among them may yet be held.",
		SQL: storageKeys, Value: "unresolved"},
	{Name: "audius_nm_storage_keys_by_replicas", Help: "Sampled keys by how many of their expected holders answered that they hold them (0 to the most holders a key has).",
		Labels: []string{"replicas"},
		SQL: storageSlots + `, per_key AS (
    SELECT key, count(*) FILTER (WHERE state = 1) AS held
    FROM slots GROUP BY key
), top AS (
    SELECT coalesce(max(cardinality(holders)), 0) AS m FROM storage_keys WHERE run_id = @run
)
SELECT g.n::text, count(p.key)
FROM run CROSS JOIN top CROSS JOIN generate_series(0, top.m) AS g(n)
LEFT JOIN per_key p ON p.held = g.n
GROUP BY g.n ORDER BY g.n`},
	{Name: "audius_nm_storage_under_replicated_share", Help: "Share of the sampled keys that some expected holder did not answer present for (absent, 500 or no answer).",
		SQL: storageKeys, Value: "under_share"},
	{Name: "audius_nm_storage_under_replicated_share_lower", Help: "Lower bound of the 95% Wilson interval of audius_nm_storage_under_replicated_share.",
		SQL: storageKeys, Value: "under_share_lower"},
	{Name: "audius_nm_storage_under_replicated_share_upper", Help: "Upper bound of the 95% Wilson interval of audius_nm_storage_under_replicated_share.",
		SQL: storageKeys, Value: "under_share_upper"},
	{Name: "audius_nm_storage_lost_share", Help: "Share of the sampled keys that no expected holder answered present for.",
		SQL: storageKeys, Value: "lost_share"},
	{Name: "audius_nm_storage_lost_share_lower", Help: "Lower bound of the 95% Wilson interval of audius_nm_storage_lost_share.",
		SQL: storageKeys, Value: "lost_share_lower"},
	{Name: "audius_nm_storage_lost_share_upper", Help: "Upper bound of the 95% Wilson interval of audius_nm_storage_lost_share.",
		SQL: storageKeys, Value: "lost_share_upper"},
	{Name: "audius_nm_storage_under_replicated_keys_estimated", Help: "Estimated under-replicated keys in the whole population (share times population).",
		SQL: storageKeys, Value: "under_estimated"},
	{Name: "audius_nm_storage_under_replicated_keys_estimated_lower", Help: "Lower 95% bound of audius_nm_storage_under_replicated_keys_estimated.",
		SQL: storageKeys, Value: "under_estimated_lower"},
	{Name: "audius_nm_storage_under_replicated_keys_estimated_upper", Help: "Upper 95% bound of audius_nm_storage_under_replicated_keys_estimated.",
		SQL: storageKeys, Value: "under_estimated_upper"},
	{Name: "audius_nm_storage_lost_keys_estimated", Help: "Estimated lost keys (held by none of their expected holders) in the whole population.",
		SQL: storageKeys, Value: "lost_estimated"},
	{Name: "audius_nm_storage_lost_keys_estimated_lower", Help: "Lower 95% bound of audius_nm_storage_lost_keys_estimated.",
		SQL: storageKeys, Value: "lost_estimated_lower"},
	{Name: "audius_nm_storage_lost_keys_estimated_upper", Help: "Upper 95% bound of audius_nm_storage_lost_keys_estimated.",
		SQL: storageKeys, Value: "lost_estimated_upper"},

	// ---- Per node, from its /health_check.
	{Name: "audius_nm_storage_node_up", Help: "1 when the node answered its /health_check (any health body), 0 when it did not (down, hung, refused, an error status).",
		Labels: nodeLabels, SQL: nodeHealth, Value: "up"},
	{Name: "audius_nm_storage_node_healthy", Help: "The node's own verdict in its health answer (its database answers; mediorum also: its wallet is registered).",
		Labels: nodeLabels, SQL: nodeHealth, Value: "healthy"},
	{Name: "audius_nm_storage_node_wallet_registered", Help: "1 when the node says its (host, wallet) pair is registered (wallet_is_registered).",
		Labels: nodeLabels, SQL: nodeHealth, Value: "wallet_registered"},
	{Name: "audius_nm_storage_node_replication_factor", Help: "The replication factor R the node reports it runs with; no series when it did not say.",
		Labels: nodeLabels, SQL: nodeHealth, Value: "reported_r"},
	{Name: "audius_nm_storage_node_planned_replication_factor", Help: "The R the run's plan gave the node when it chose the keys' holders (its reported R, or NETMON_STORAGE_DEFAULT_R).",
		Labels: nodeLabels, SQL: nodeHealth, Value: "planned_r"},
	{Name: "audius_nm_storage_node_replication_factor_disagrees", Help: "1 when the node's R differs from the consensus R (audius_nm_storage_consensus_replication_factor), 0 when it agrees; no series when it did not report one.",
		Labels: nodeLabels, SQL: nodeHealth, Value: "disagrees"},
	{Name: "audius_nm_storage_node_pull_mine_needed", Help: "pull_mine_needed of the node's last successful repair: keys it should hold and lacked.",
		Labels: nodeLabels, SQL: nodeHealth, Value: "pull_mine_needed"},
	{Name: "audius_nm_storage_node_delete_over_replicated_needed", Help: "delete_over_replicated_needed of the node's last successful repair: copies it held too far down the ranking.",
		Labels: nodeLabels, SQL: nodeHealth, Value: "delete_over_needed"},
	{Name: "audius_nm_storage_node_unreachable_peers", Help: "Registered peers the node has not reached for 2 minutes (unreachablePeers).",
		Labels: nodeLabels, SQL: nodeHealth, Value: "unreachable_peers"},
	{Name: "audius_nm_storage_node_storage_used_bytes", Help: "Bytes in the node's blob directory (mediorumPathUsed).",
		Labels: nodeLabels, SQL: nodeHealth, Value: "storage_used"},
	{Name: "audius_nm_storage_node_storage_expectation_bytes", Help: "Bytes the node should hold by Open Audio's commitment (storageExpectation).",
		Labels: nodeLabels, SQL: nodeHealth, Value: "storage_expectation"},
	{Name: "audius_nm_storage_consensus_replication_factor", Help: "The R most nodes report (the larger on a tie).",
		SQL: `SELECT h.replication_factor FROM storage_health h WHERE h.run_id = @run AND h.replication_factor > 0
GROUP BY h.replication_factor ORDER BY count(*) DESC, h.replication_factor DESC LIMIT 1`},
	{Name: "audius_nm_storage_node_signature", Help: "1 for the verdict on the node's health signature: valid, unsigned, malformed, mismatch (recovers to another address than the claimed signer), wrong_signer (not the registered delegate wallet) or no_delegate (no registered wallet to compare with).",
		Labels: []string{"endpoint", "sp_id", "state"},
		SQL: `SELECT n.endpoint, n.sp_id::text, h.signature, 1
FROM content_nodes n JOIN storage_health h ON h.run_id = n.run_id AND h.sp_id = n.sp_id AND h.outcome = 'ok'
WHERE n.run_id = @run ORDER BY n.sp_id`},
	{Name: "audius_nm_storage_node_version", Help: "1 for the version the node reports.",
		Labels: []string{"endpoint", "sp_id", "version"},
		SQL: `SELECT n.endpoint, n.sp_id::text, h.version, 1
FROM content_nodes n JOIN storage_health h ON h.run_id = n.run_id AND h.sp_id = n.sp_id AND h.outcome = 'ok'
WHERE n.run_id = @run ORDER BY n.sp_id`},
	{Name: "audius_nm_storage_node_repair_age_seconds", Help: "Seconds from the node's last successful repair (mode repair: either mode; cleanup: the last cleanup) to the run's start; no series when it never finished one.",
		Labels: []string{"endpoint", "sp_id", "mode"},
		SQL: `SELECT n.endpoint, n.sp_id::text, m.mode, extract(epoch FROM r.created_at - m.finished)::float8
FROM content_nodes n
JOIN runs r ON r.run_id = n.run_id
JOIN storage_health h ON h.run_id = n.run_id AND h.sp_id = n.sp_id AND h.outcome = 'ok'
CROSS JOIN LATERAL (VALUES (1, 'repair', h.repair_finished_at), (2, 'cleanup', h.cleanup_finished_at)) AS m(ord, mode, finished)
WHERE n.run_id = @run AND m.finished IS NOT NULL ORDER BY n.sp_id, m.ord`},
	{Name: "audius_nm_storage_node_repair_aborted", Help: "1 when the node's last successful repair (mode repair) or cleanup stopped with an abort reason (reason, such as DISK_FULL), 0 when it ran clean.",
		Labels: []string{"endpoint", "sp_id", "mode", "reason"},
		SQL: `SELECT n.endpoint, n.sp_id::text, m.mode, m.reason, (m.reason <> '')::int
FROM content_nodes n
JOIN storage_health h ON h.run_id = n.run_id AND h.sp_id = n.sp_id AND h.outcome = 'ok'
CROSS JOIN LATERAL (VALUES (1, 'repair', h.repair_finished_at, h.repair_aborted),
                           (2, 'cleanup', h.cleanup_finished_at, h.cleanup_aborted)) AS m(ord, mode, finished, reason)
WHERE n.run_id = @run AND m.finished IS NOT NULL ORDER BY n.sp_id, m.ord`},

	// ---- The run.
	{Name: "audius_nm_storage_stage_duration_seconds", Help: "Seconds a stage of the storage run took: planning (reading the nodes' list, their R and the keys, and publishing), probing (from the run's start until every answer was loaded; it includes planning), metrics (from then until the metrics were computed). probing + metrics is the job.",
		Labels: []string{"stage"},
		SQL: `SELECT 'planning', discovery_seconds FROM runs WHERE run_id = @run
UNION ALL
SELECT 'probing', extract(epoch FROM loaded_at - created_at)::float8 FROM runs WHERE run_id = @run`},
	{Name: "audius_nm_storage_fetch_items", Help: "Work items of the storage run by node, kind (storage: blob probes, health) and outcome (ok, or why the node gave no answer).",
		Labels: []string{"endpoint", "sp_id", "kind", "outcome"},
		SQL: `SELECT n.endpoint, n.sp_id::text, k.kind, o.outcome, count(f.batch)
FROM content_nodes n
CROSS JOIN ` + valuesList([]string{message.KindStorage, message.KindHealth}) + ` AS k(kord, kind)
CROSS JOIN ` + valuesList(fetchOutcomes) + ` AS o(oord, outcome)
LEFT JOIN fetch_results f ON f.run_id = n.run_id AND f.sp_id = n.sp_id AND f.kind = k.kind AND f.outcome = o.outcome
WHERE n.run_id = @run
GROUP BY n.sp_id, n.endpoint, k.kord, k.kind, o.oord, o.outcome
ORDER BY n.sp_id, k.kord, o.oord`},
}
