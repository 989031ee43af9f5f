-- Where each run's content-node list came from. Released migrations are never edited; add a new
-- numbered file.

-- node_source: discovery (ursm_content_nodes), static (NETMON_CONTENT_NODES) or ethereum (the
-- Audius registry); node_source_block: discovery's block, or the Ethereum block the registry was
-- read at (NULL for static); node_registry: the registry contract's address for ethereum. All
-- NULL for runs loaded before this migration, or whose content-node list has not been loaded yet.
ALTER TABLE runs ADD COLUMN node_source text;
ALTER TABLE runs ADD COLUMN node_source_block bigint;
ALTER TABLE runs ADD COLUMN node_registry text;
