-- Replication of databases to their read regions. Portable SQL like 0001.
-- Where other nodes reach a node's replication listener (NULL: an older node, not followed).
ALTER TABLE nodes ADD COLUMN replication_addr TEXT;
-- How a hosted replica follows its primary, from heartbeats: 'connecting', 'full_sync' or
-- 'streaming' (NULL for a primary copy), and how many records it was behind.
ALTER TABLE node_tenants ADD COLUMN replication TEXT;
ALTER TABLE node_tenants ADD COLUMN lag_records BIGINT NOT NULL DEFAULT 0;
