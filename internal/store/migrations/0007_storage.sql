-- Storage-network runs (issue 12, docs/storage.md). Released migrations are never edited; add a
-- new numbered file.

-- A run checks one network: 'clocks' (replica sets and clocks, every run before this migration)
-- or 'storage' (storage v2 blob replication). Runs of one network never overlap; a clocks run and
-- a storage run may.
ALTER TABLE runs ADD COLUMN network text NOT NULL DEFAULT 'clocks' CHECK (network IN ('clocks', 'storage'));
DROP INDEX runs_one_active;
CREATE UNIQUE INDEX runs_one_active ON runs (network)
    WHERE status IN ('planned', 'fetching', 'loaded') AND NOT replay;

-- What a storage run's manifest said of its keys: 'all' or 'sample', the key batches the loader
-- must write, the keys the source listed (the population) and those sampled.
ALTER TABLE runs
    ADD COLUMN key_mode             text,
    ADD COLUMN expected_key_batches bigint,
    ADD COLUMN population_keys      bigint,
    ADD COLUMN sampled_keys         bigint;

-- A storage node's registered delegate wallet ('' when unknown) and the replication factor the
-- plan gave it (0 in clocks runs).
ALTER TABLE content_nodes
    ADD COLUMN delegate_wallet    text    NOT NULL DEFAULT '',
    ADD COLUMN replication_factor integer NOT NULL DEFAULT 0;

-- The key sample: one row per key, with its expected holders (SP ids) in preference order.
CREATE TABLE storage_keys (
    run_id  bigint   NOT NULL,
    batch   bigint   NOT NULL,
    idx     integer  NOT NULL,
    key     text     NOT NULL,
    holders bigint[] NOT NULL,
    placed  boolean  NOT NULL
) PARTITION BY LIST (run_id);

-- Raw answers: one row per (node, key) probed. state 1 present, 0 absent, -1 unknown (the node
-- answered 500), -2 not answered. non_holder: the node is not an expected holder of the key.
CREATE TABLE storage_checks (
    run_id     bigint   NOT NULL,
    sp_id      bigint   NOT NULL,
    batch      bigint   NOT NULL,
    key        text     NOT NULL,
    non_holder boolean  NOT NULL,
    state      smallint NOT NULL
) PARTITION BY LIST (run_id);

-- Each node's /health_check as the fetcher read it (one row per node and run; small). The fields
-- after outcome are NULL unless the outcome is 'ok'.
CREATE TABLE storage_health (
    run_id                       bigint NOT NULL REFERENCES runs ON DELETE CASCADE,
    sp_id                        bigint NOT NULL,
    outcome                      text   NOT NULL,
    detail                       text   NOT NULL DEFAULT '',
    format                       text,
    healthy                      boolean,
    version                      text,
    replication_factor           integer,
    signature                    text,
    wallet_registered            boolean,
    storage_error                text,
    repair_finished_at           timestamptz,
    repair_aborted               text,
    repair_pull_mine_needed      bigint,
    repair_delete_over_needed    bigint,
    cleanup_finished_at          timestamptz,
    cleanup_aborted              text,
    unreachable_peers            integer,
    storage_used                 double precision,
    storage_expectation          double precision,
    PRIMARY KEY (run_id, sp_id)
);

-- The Wilson score interval of a share k/n at normal quantile z (1.96 for 95 %): its lower bound,
-- or its upper bound when upper. NULL when n is 0. Unlike the normal approximation it stays inside
-- [0, 1] and is not empty at k = 0 or k = n, where lost and fully held keys live.
CREATE FUNCTION nm_wilson(k double precision, n double precision, z double precision, upper boolean)
RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN n <= 0 THEN NULL ELSE least(1, greatest(0,
        (k / n + z * z / (2 * n) + (CASE WHEN upper THEN 1 ELSE -1 END)
            * z * sqrt(greatest(0, k / n * (1 - k / n)) / n + z * z / (4 * n * n)))
        / (1 + z * z / n))) END
$$;
