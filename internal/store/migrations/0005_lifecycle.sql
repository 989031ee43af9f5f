-- The run lifecycle lives in the runs table alone (internal/lifecycle, docs/lifecycle.md).
-- Released migrations are never edited; add a new numbered file.

-- Runs never overlap: at most one run is active (planned, fetching or loaded). The planner
-- creates a run's row, with its deadline, before it publishes anything, and that row is the
-- active-run slot ("the lease"): a run frees it by reaching a terminal status. A row that `netmon
-- replay` is rebuilding passes through the active statuses without being a live run.
ALTER TABLE runs
    ADD COLUMN replay boolean NOT NULL DEFAULT false,
    -- Fingerprint of the plan settings, so a restarted planner can resume an interrupted plan.
    ADD COLUMN plan text NOT NULL DEFAULT '',
    -- Pushing is not finishing: a finished run's push is pending until it gets through, or a
    -- newer run's supersedes it.
    ADD COLUMN push_state text NOT NULL DEFAULT ''
        CHECK (push_state IN ('', 'pending', 'pushed', 'superseded')),
    ADD COLUMN push_pending_since timestamptz,
    ADD COLUMN pushed_at timestamptz,
    ADD COLUMN push_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN push_error text NOT NULL DEFAULT '';

-- Runs that were active when this migration ran, other than the newest, can never end on their
-- own (before it, a run could stay planned with no deadline forever): they end as failed.
UPDATE runs SET status = 'failed', completed_at = coalesce(completed_at, now()),
       error = 'ended by migration 0005: still active when a newer run was active'
WHERE status IN ('planned', 'fetching', 'loaded')
  AND run_id < (SELECT max(run_id) FROM runs WHERE status IN ('planned', 'fetching', 'loaded'));

-- Runs finished before push states existed were pushed (the old aggregator pushed before it
-- marked a run).
UPDATE runs SET push_state = 'pushed', pushed_at = completed_at WHERE status IN ('complete', 'incomplete');

CREATE UNIQUE INDEX runs_one_active ON runs ((true))
    WHERE status IN ('planned', 'fetching', 'loaded') AND NOT replay;

-- A run's end is announced (its final event and, for a run with metrics, its record published to
-- the run events stream) after it is recorded here, by the aggregator, until it gets through: a
-- run ends even while NATS is down.
ALTER TABLE runs ADD COLUMN announced boolean NOT NULL DEFAULT false;
UPDATE runs SET announced = true WHERE status IN ('complete', 'incomplete', 'failed');

-- The run's record (netmon.v1.RunRecord), stored with its metrics when it is finished and
-- published when its end is announced; replay reads it back from the stream.
ALTER TABLE runs ADD COLUMN record bytea;
