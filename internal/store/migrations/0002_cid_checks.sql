-- CID replication checks (spec §4, §5.4): the run's CID snapshot, the content nodes' answers, and
-- the per-run CID status the CID metrics read. Released migrations are never edited.

-- One ledger for every work item of a run: clock items (kind 'clock') and CID items (kind 'cid'
-- for /batch_cids_exist, 'image_cid' for /batch_image_cids_exist), each numbered per node and kind.
ALTER TABLE fetch_results ADD COLUMN kind text NOT NULL DEFAULT 'clock';
ALTER TABLE fetch_results DROP CONSTRAINT fetch_results_pkey;
ALTER TABLE fetch_results ADD PRIMARY KEY (run_id, sp_id, kind, batch);

-- What the manifest said of the run's CID checks. cid_mode is 'off' for runs planned without CID
-- checks (or before they existed); the CID metrics are published only for the other runs.
ALTER TABLE runs
    ADD COLUMN cid_mode             text NOT NULL DEFAULT 'off',
    ADD COLUMN expected_cid_batches bigint,
    ADD COLUMN snapshot_cids        bigint,
    ADD COLUMN sampled_cids         bigint,
    ADD COLUMN cid_sample_rate      double precision;

-- The CID snapshot after sampling: one row per CID row of discovery (a user and a column or track
-- segment it comes from), identified by its batch and position. route is where it is checked.
CREATE TABLE cids (
    run_id  bigint   NOT NULL,
    batch   bigint   NOT NULL,
    idx     integer  NOT NULL,
    user_id bigint   NOT NULL,
    ctype   text     NOT NULL,
    route   text     NOT NULL,
    cid     text     NOT NULL
) PARTITION BY LIST (run_id);

-- Raw answers: one row per (node, route, CID) asked. state 1 present, 0 absent, -2 not answered.
CREATE TABLE cid_checks (
    run_id bigint   NOT NULL,
    sp_id  bigint   NOT NULL,
    route  text     NOT NULL,
    batch  bigint   NOT NULL,
    cid    text     NOT NULL,
    state  smallint NOT NULL
) PARTITION BY LIST (run_id);

-- Every CID row with each distinct node of its owner's replica set (sp_id NULL, one row, when the
-- owner has none): the node's answer (state as in cid_checks; -2 also when the node was never
-- asked) and how many of those nodes hold the CID (replicas). Built in one set-based step when the
-- run is loaded.
CREATE TABLE cid_status (
    run_id   bigint   NOT NULL,
    batch    bigint   NOT NULL,
    idx      integer  NOT NULL,
    user_id  bigint   NOT NULL,
    sp_id    bigint,
    state    smallint,
    replicas smallint NOT NULL
) PARTITION BY LIST (run_id);

-- The original's CID tables, by their names and columns (spec §3), over the new ones. Values have
-- no JSON quotes; only CIDs a replica confirmed are "from content".
CREATE VIEW network_monitoring_cids_from_discovery AS
SELECT cid, run_id::int AS run_id, user_id::int AS user_id, ctype FROM cids;

CREATE VIEW network_monitoring_cids_from_content AS
SELECT c.cid, s.run_id::int AS run_id, s.user_id::int AS user_id, s.sp_id::int AS content_node_spid
FROM cid_status s
JOIN cids c ON c.run_id = s.run_id AND c.batch = s.batch AND c.idx = s.idx
WHERE s.state = 1;
