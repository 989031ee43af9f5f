-- The user families' counts by part (issue 15, docs/benchmarks.md): a part's build counts its
-- users by the keys the metric families read (store/counts.go describes them), so the aggregator
-- adds up a few thousand counts a part instead of deriving keys for every user after the last
-- result. Released migrations are never edited; add a new numbered file.

-- A row per key value of a part: one of the key columns filled (a slot key, the user key, or the
-- replica set of a user with all three slots filled, as its nodes in ascending order), the users
-- counted under it. A per-run table, partitioned as the others.
CREATE TABLE user_counts (
    run_id         bigint NOT NULL,
    part           bigint NOT NULL,
    primary_key    bigint,
    secondary1_key bigint,
    secondary2_key bigint,
    user_key       bigint,
    replica_low    bigint,
    replica_mid    bigint,
    replica_high   bigint,
    users          bigint NOT NULL
) PARTITION BY LIST (run_id);

-- The runs built before this migration get their partition and their counts, from their user
-- status, as part 0 (the same keys, derived in SQL once).
DO $$
DECLARE
    r bigint;
BEGIN
    FOR r IN SELECT run_id FROM runs WHERE to_regclass('user_status_r' || run_id) IS NOT NULL ORDER BY run_id LOOP
        EXECUTE format('CREATE TABLE user_counts_r%s PARTITION OF user_counts FOR VALUES IN (%s)', r, r);
    END LOOP;
END $$;

INSERT INTO user_counts
SELECT run_id, 0, primary_key, secondary1_key, secondary2_key, user_key, replica_low, replica_mid, replica_high, users
FROM (
    WITH u AS (
        SELECT u.run_id, u.primary_sp_id AS p, u.secondary1_sp_id AS s1, u.secondary2_sp_id AS s2,
               u.primary_clock AS pc, u.secondary1_clock AS c1, u.secondary2_clock AS c2,
               CASE u.category WHEN 'fully' THEN 1 WHEN 'partially' THEN 2 WHEN 'unsynced' THEN 3 ELSE 0 END AS category
        FROM user_category u
        OFFSET 0
    ), k AS (
        SELECT run_id,
               p * 1000 + 200 + 10 * CASE pc WHEN -2 THEN 2 WHEN -1 THEN 1 ELSE 0 END + category AS primary_key,
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
    SELECT run_id, primary_key, secondary1_key, secondary2_key, user_key, replica_low, replica_mid, replica_high,
           count(*) AS users
    FROM k
    GROUP BY GROUPING SETS ((run_id, primary_key), (run_id, secondary1_key), (run_id, secondary2_key),
                            (run_id, user_key), (run_id, replica_low, replica_mid, replica_high))
) AS c
WHERE coalesce(primary_key, secondary1_key, secondary2_key, user_key, replica_low) IS NOT NULL;
