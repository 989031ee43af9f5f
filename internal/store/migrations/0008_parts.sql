-- A clocks run's plan comes in parts (issue 15, docs/benchmarks.md): consecutive user batches and
-- the clock work items that ask about exactly those users' wallets. The loader builds a part's
-- user status as soon as everything the part names is written, while the rest of the run is
-- being fetched. Released migrations are never edited; add a new numbered file.

-- The part each user row and ledger row belongs to (0 for everything written before parts
-- existed: such a run is one part).
ALTER TABLE users ADD COLUMN part integer NOT NULL DEFAULT 0;
ALTER TABLE loaded_batches ADD COLUMN part integer NOT NULL DEFAULT 0;
ALTER TABLE fetch_results ADD COLUMN part integer NOT NULL DEFAULT 0;

-- A part's build reads its users back. They are written in part order, so a block-range index
-- finds them without the cost of maintaining a b-tree on every row written.
CREATE INDEX users_part ON users USING brin (part) WITH (pages_per_range = 8);

-- What tells whether a part is complete: its ledger rows, counted by part.
CREATE INDEX loaded_batches_users_part ON loaded_batches (run_id, part) WHERE kind = 'users';
CREATE INDEX fetch_results_clock_part ON fetch_results (run_id, part) WHERE kind = 'clock';

-- One row per part: what its Part message promised (NULL until it arrives: a deadline's cut may
-- build a part whose message never came) and when its user status was built.
CREATE TABLE run_parts (
    run_id           bigint  NOT NULL REFERENCES runs ON DELETE CASCADE,
    part             integer NOT NULL,
    first_user_batch bigint,
    user_batches     bigint,
    users            bigint,
    work_items       bigint,
    built_at         timestamptz,
    built_users      bigint,
    PRIMARY KEY (run_id, part)
);

-- Raw answers, one row per clock work item: the wallets asked and the clocks answered, in the
-- same order (-1 unknown to the node, -2 not answered). A row per answer (the clocks table, which
-- keeps the runs loaded before this migration) cost Postgres more to write than anything else in
-- a run, and the build more to read back. The arrays are stored uncompressed (STORAGE EXTERNAL),
-- so writing them spends no CPU on compression; compressed storage was not measured.
CREATE TABLE clock_results (
    run_id  bigint   NOT NULL,
    sp_id   bigint   NOT NULL,
    batch   bigint   NOT NULL,
    part    integer  NOT NULL,
    wallets text[]   NOT NULL,
    clocks  bigint[] NOT NULL
) PARTITION BY LIST (run_id);
ALTER TABLE clock_results ALTER COLUMN wallets SET STORAGE EXTERNAL, ALTER COLUMN clocks SET STORAGE EXTERNAL;

-- Every run's raw answers, one row per (node, batch, wallet), whichever table holds them.
CREATE VIEW clock_answers AS
SELECT run_id, sp_id, batch, wallet, clock FROM clocks
UNION ALL
SELECT r.run_id, r.sp_id, r.batch, a.wallet, a.clock
FROM clock_results r CROSS JOIN LATERAL unnest(r.wallets, r.clocks) AS a(wallet, clock);
