-- The Part messages a clocks run's manifest promised (issue 15). A run is loaded only once every
-- one is written, as every other promised message: before, a run could be loaded (its parts built
-- by the load) while a Part message was still on its way, which then changed run_parts after the
-- run was loaded. NULL in runs planned before this migration: none are waited for.
ALTER TABLE runs ADD COLUMN expected_parts bigint;
