-- A clocks run's plan comes in parts (issue 15, docs/benchmarks.md): consecutive user batches and
-- the clock work items that ask about exactly those users' wallets. The loader builds a part's
-- user status as soon as everything the part names is written, while the rest of the run is
-- being fetched. Released migrations are never edited; add a new numbered file.

-- The part each user row, answer and ledger row belongs to (0 for everything written before parts
-- existed: such a run is one part).
ALTER TABLE users ADD COLUMN part integer NOT NULL DEFAULT 0;
ALTER TABLE clocks ADD COLUMN part integer NOT NULL DEFAULT 0;
ALTER TABLE loaded_batches ADD COLUMN part integer NOT NULL DEFAULT 0;
ALTER TABLE fetch_results ADD COLUMN part integer NOT NULL DEFAULT 0;

-- A part's build reads its users and answers back. Rows are written roughly in part order, so a
-- block-range index finds them without the cost of maintaining a b-tree on every row written.
CREATE INDEX users_part ON users USING brin (part) WITH (pages_per_range = 8);
CREATE INDEX clocks_part ON clocks USING brin (part) WITH (pages_per_range = 4);

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
