-- netmon NM DB, first schema. Released migrations are never edited; add a new numbered file.

-- One row per run: its lifecycle and what the manifest promised.
CREATE TABLE runs (
    run_id                 bigint PRIMARY KEY,
    status                 text NOT NULL DEFAULT 'planned'
        CHECK (status IN ('planned', 'fetching', 'loaded', 'complete', 'incomplete', 'failed')),
    block_number           bigint,
    created_at             timestamptz NOT NULL DEFAULT now(),
    deadline               timestamptz,
    manifest_at            timestamptz,
    loaded_at              timestamptz,
    completed_at           timestamptz,
    discovery_seconds      double precision,
    expected_user_batches  bigint,
    expected_users         bigint,
    expected_content_nodes bigint,
    expected_work_items    bigint,
    expected_wallet_checks bigint,
    error                  text NOT NULL DEFAULT ''
);

-- The run's content-node list (small: written row by row, idempotent on the key).
CREATE TABLE content_nodes (
    run_id   bigint NOT NULL REFERENCES runs ON DELETE CASCADE,
    sp_id    bigint NOT NULL,
    endpoint text   NOT NULL,
    PRIMARY KEY (run_id, sp_id)
);

-- Which snapshot batches have been written, so a redelivered batch is written once.
CREATE TABLE loaded_batches (
    run_id bigint NOT NULL REFERENCES runs ON DELETE CASCADE,
    kind   text   NOT NULL,
    batch  bigint NOT NULL,
    rows   bigint NOT NULL,
    PRIMARY KEY (run_id, kind, batch)
);

-- One row per work item's result: the ledger that makes result loading idempotent, and per-node
-- fetch health.
CREATE TABLE fetch_results (
    run_id           bigint NOT NULL REFERENCES runs ON DELETE CASCADE,
    sp_id            bigint NOT NULL,
    batch            bigint NOT NULL,
    outcome          text   NOT NULL,
    detail           text   NOT NULL DEFAULT '',
    wallets          integer NOT NULL,
    missing          integer NOT NULL DEFAULT 0,
    attempts         integer NOT NULL DEFAULT 0,
    http_status      integer NOT NULL DEFAULT 0,
    duration_seconds double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, sp_id, batch)
);

-- The large per-run tables are partitioned by run: a run's rows are written append-only with
-- COPY into its own partition, and pruning a run detaches and drops its partitions without
-- touching (or blocking) the run being loaded.
CREATE TABLE users (
    run_id           bigint NOT NULL,
    user_id          bigint NOT NULL,
    wallet           text,
    replica_set      text,
    primary_sp_id    bigint,
    secondary1_sp_id bigint,
    secondary2_sp_id bigint
) PARTITION BY LIST (run_id);

-- Raw answers: one row per (node, wallet) asked. -1 unknown to the node, -2 not answered.
CREATE TABLE clocks (
    run_id bigint NOT NULL,
    sp_id  bigint NOT NULL,
    batch  bigint NOT NULL,
    wallet text   NOT NULL,
    clock  bigint NOT NULL
) PARTITION BY LIST (run_id);

-- Users with their three slot clocks, built in one set-based step when the run is loaded.
CREATE TABLE user_status (
    run_id           bigint NOT NULL,
    user_id          bigint NOT NULL,
    has_wallet       boolean NOT NULL,
    primary_sp_id    bigint,
    secondary1_sp_id bigint,
    secondary2_sp_id bigint,
    primary_clock    bigint,
    secondary1_clock bigint,
    secondary2_clock bigint
) PARTITION BY LIST (run_id);

-- The metric values each run produced, for `netmon runs show/diff` and replay comparisons.
CREATE TABLE metric_values (
    run_id bigint NOT NULL REFERENCES runs ON DELETE CASCADE,
    name   text   NOT NULL,
    labels jsonb  NOT NULL,
    value  double precision NOT NULL,
    PRIMARY KEY (run_id, name, labels)
);

-- Sync category of every user (NULL when it is in none): the one definition every metric uses.
-- fully: all three clocks known, primary answered, all equal; partially: primary equals exactly
-- one secondary; unsynced: primary equals neither. Any NULL slot puts the user in no category.
CREATE VIEW user_category AS
SELECT s.*,
       CASE
           WHEN primary_clock IS NULL OR secondary1_clock IS NULL OR secondary2_clock IS NULL
               OR primary_clock = -2 THEN NULL
           WHEN primary_clock = secondary1_clock AND secondary1_clock = secondary2_clock THEN 'fully'
           WHEN primary_clock = secondary1_clock OR primary_clock = secondary2_clock THEN 'partially'
           ELSE 'unsynced'
       END AS category
FROM user_status s;

-- Compatibility views with the original service's table and column names, so hand-written SQL
-- against the original NM DB keeps working.
CREATE VIEW network_monitoring_index_blocks AS
SELECT r.run_id::int AS run_id,
       r.run_id = (SELECT max(run_id) FROM runs) AS is_current,
       r.block_number::int AS blocknumber,
       r.status IN ('complete', 'incomplete') AS is_complete,
       r.created_at
FROM runs r;

CREATE VIEW network_monitoring_content_nodes AS
SELECT sp_id::int AS spid, endpoint, run_id::int AS run_id FROM content_nodes;

CREATE VIEW network_monitoring_users AS
SELECT u.user_id::int AS user_id,
       u.wallet,
       u.replica_set,
       u.run_id::int AS run_id,
       s.primary_clock::int AS primary_clock_value,
       s.secondary1_clock::int AS secondary1_clock_value,
       s.secondary2_clock::int AS secondary2_clock_value,
       u.primary_sp_id::int AS primaryspid,
       u.secondary1_sp_id::int AS secondary1spid,
       u.secondary2_sp_id::int AS secondary2spid
FROM users u
LEFT JOIN user_status s ON s.run_id = u.run_id AND s.user_id = u.user_id;
