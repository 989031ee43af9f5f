-- The user families' counts by part (issue 15, docs/benchmarks.md): a part's build counts its
-- users by the keys the metric families read, so the aggregator adds up a few thousand counts a
-- part instead of scanning every user after the last result. Released migrations are never
-- edited; add a new numbered file.

-- The part each user status row belongs to (0 for everything built before this migration), and a
-- block-range index to read a part's rows back: they are written in one COPY a part.
ALTER TABLE user_status ADD COLUMN part integer NOT NULL DEFAULT 0;
CREATE INDEX user_status_part ON user_status USING brin (part) WITH (pages_per_range = 8);

-- user_category gains the part (a view's columns are fixed when it is made; new ones go last). Its
-- definition of the categories is unchanged: fully, all three clocks known, primary answered, all
-- equal; partially, primary equals exactly one secondary; unsynced, primary equals neither; any
-- NULL slot puts the user in no category.
CREATE OR REPLACE VIEW user_category AS
SELECT s.run_id, s.user_id, s.has_wallet, s.primary_sp_id, s.secondary1_sp_id, s.secondary2_sp_id,
       s.primary_clock, s.secondary1_clock, s.secondary2_clock,
       CASE
           WHEN primary_clock IS NULL OR secondary1_clock IS NULL OR secondary2_clock IS NULL
               OR primary_clock = -2 THEN NULL
           WHEN primary_clock = secondary1_clock AND secondary1_clock = secondary2_clock THEN 'fully'
           WHEN primary_clock = secondary1_clock OR primary_clock = secondary2_clock THEN 'partially'
           ELSE 'unsynced'
       END AS category,
       s.part
FROM user_status s;

-- count_part_users counts the user status rows of one part of a run by five keys, each in its own
-- grouping set (a row of the result fills one key, or none: the group of the users that have no
-- value of a key, which every reader skips). The keys pack what a family needs to know about a
-- user into decimal digits:
--
--   - a slot key per slot (primary_key, secondary1_key, secondary2_key): sp_id * 1000 + role * 100
--     + clock * 10 + category: role 2 the primary, 1 a secondary naming a node no earlier slot
--     names (the slot a user counts at for a node it has twice), 0 a secondary repeating a node;
--     clock 2 no answer (-2), 1 wallet unknown to the node (-1), 0 anything else; category 0
--     none, 1 fully, 2 partially, 3 unsynced (user_category's). A slot without a node has no key.
--     SP ids times 1000 must fit a bigint (ids below 9.2e15).
--   - the user key, category + 10 * no primary clock + 100 * some clock -2 + 1000 * the first
--     secondary's lag + 10^4 * the second's (1 + the bucket's index in the lag buckets 0, 1, 2-10,
--     11-100, 101-1000, 1001+, ahead, not_held, no_answer; 0 when the slot is not counted: no
--     secondary clock, or the primary's is not >= 0).
--   - the replica set of a user with all three slots filled, as its nodes in ascending order
--     (replica_low, replica_mid, replica_high): which nodes are foundation nodes is the
--     aggregator's setting, applied when the counts are added up.
--
-- One key column per set, behind OFFSET 0 fences, keeps the pass hashed: behind a fence a key is
-- an opaque column, for which the planner assumes 200 values; without the fences it derives the
-- count from the clock columns the keys are computed from (about a group per user) and sorts the
-- users instead, twice the CPU at a million users (docs/benchmarks.md).
CREATE FUNCTION count_part_users(bigint, integer)
RETURNS TABLE (primary_key bigint, secondary1_key bigint, secondary2_key bigint, user_key bigint,
               replica_low bigint, replica_mid bigint, replica_high bigint, users bigint)
LANGUAGE sql STABLE AS $$
WITH u AS (
    SELECT u.primary_sp_id AS p, u.secondary1_sp_id AS s1, u.secondary2_sp_id AS s2,
           u.primary_clock AS pc, u.secondary1_clock AS c1, u.secondary2_clock AS c2,
           CASE u.category WHEN 'fully' THEN 1 WHEN 'partially' THEN 2 WHEN 'unsynced' THEN 3 ELSE 0 END AS category
    FROM user_category u
    WHERE u.run_id = $1 AND u.part = $2
    OFFSET 0
), k AS (
    SELECT p * 1000 + 200 + 10 * CASE pc WHEN -2 THEN 2 WHEN -1 THEN 1 ELSE 0 END + category AS primary_key,
           s1 * 1000 + 100 * (s1 IS DISTINCT FROM p)::int
           + 10 * CASE c1 WHEN -2 THEN 2 WHEN -1 THEN 1 ELSE 0 END + category AS secondary1_key,
           s2 * 1000 + 100 * (s2 IS DISTINCT FROM p AND s2 IS DISTINCT FROM s1)::int
           + 10 * CASE c2 WHEN -2 THEN 2 WHEN -1 THEN 1 ELSE 0 END + category AS secondary2_key,
           category + 10 * (pc IS NULL)::int + 100 * (-2 IN (pc, c1, c2) IS TRUE)::int
           + 1000 * CASE WHEN pc IS NULL OR pc < 0 OR c1 IS NULL THEN 0
                         WHEN c1 = -2 THEN 9 WHEN c1 = -1 THEN 8 WHEN pc < c1 THEN 7 WHEN pc = c1 THEN 1
                         WHEN pc - c1 = 1 THEN 2 WHEN pc - c1 <= 10 THEN 3 WHEN pc - c1 <= 100 THEN 4
                         WHEN pc - c1 <= 1000 THEN 5 ELSE 6 END
           + 10000 * CASE WHEN pc IS NULL OR pc < 0 OR c2 IS NULL THEN 0
                          WHEN c2 = -2 THEN 9 WHEN c2 = -1 THEN 8 WHEN pc < c2 THEN 7 WHEN pc = c2 THEN 1
                          WHEN pc - c2 = 1 THEN 2 WHEN pc - c2 <= 10 THEN 3 WHEN pc - c2 <= 100 THEN 4
                          WHEN pc - c2 <= 1000 THEN 5 ELSE 6 END AS user_key,
           CASE WHEN p IS NOT NULL AND s1 IS NOT NULL AND s2 IS NOT NULL THEN least(p, s1, s2) END AS replica_low,
           CASE WHEN p IS NOT NULL AND s1 IS NOT NULL AND s2 IS NOT NULL
                THEN p + s1 + s2 - least(p, s1, s2) - greatest(p, s1, s2) END AS replica_mid,
           CASE WHEN p IS NOT NULL AND s1 IS NOT NULL AND s2 IS NOT NULL THEN greatest(p, s1, s2) END AS replica_high
    FROM u
    OFFSET 0
)
SELECT primary_key, secondary1_key, secondary2_key, user_key, replica_low, replica_mid, replica_high, count(*)
FROM k
GROUP BY GROUPING SETS ((primary_key), (secondary1_key), (secondary2_key), (user_key),
                        (replica_low, replica_mid, replica_high))
$$;

-- Each built part's counts. The families add them up over the run's parts (store/metrics.go).
CREATE TABLE user_counts (
    run_id         bigint  NOT NULL REFERENCES runs ON DELETE CASCADE,
    part           integer NOT NULL,
    primary_key    bigint,
    secondary1_key bigint,
    secondary2_key bigint,
    user_key       bigint,
    replica_low    bigint,
    replica_mid    bigint,
    replica_high   bigint,
    users          bigint  NOT NULL
);
CREATE INDEX user_counts_run ON user_counts (run_id, part);

-- The runs built before this migration: their rows are all part 0.
INSERT INTO user_counts
SELECT r.run_id, 0, c.*
FROM runs r CROSS JOIN LATERAL count_part_users(r.run_id, 0) c
WHERE EXISTS (SELECT 1 FROM user_status s WHERE s.run_id = r.run_id);
