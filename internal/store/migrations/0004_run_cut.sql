-- Which messages the deadline cut of an incomplete run counted. Released migrations are never
-- edited; add a new numbered file.

-- in_cut: the row was in the NM DB when its run was cut off at the deadline, in the transaction
-- that built the run's per-user tables (user_status, cid_status) from it. The cut sets it once;
-- it stays false on every row of a run that completed and on rows written after the cut. The
-- aggregator carries the set in the run's record (RunRecord.cut), so `netmon replay` rebuilds the
-- cut from exactly these messages rather than from stream times.
ALTER TABLE fetch_results ADD COLUMN in_cut boolean NOT NULL DEFAULT false;
ALTER TABLE loaded_batches ADD COLUMN in_cut boolean NOT NULL DEFAULT false;
