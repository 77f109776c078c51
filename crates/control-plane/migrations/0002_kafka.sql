-- Kafka clusters, their credentials and placements. Portable SQL like 0001 (runs unchanged on
-- SQLite and PostgreSQL). Statements end with ";" at the end of a line.

-- The HOST:PORT Kafka clients use for a node; NULL for a node that serves no Kafka.
ALTER TABLE nodes ADD COLUMN kafka_addr TEXT;

CREATE TABLE kafka_clusters (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    plan TEXT NOT NULL REFERENCES plans(name),
    primary_region TEXT NOT NULL REFERENCES regions(code),
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

-- The password is kept as given to clients: nodes need it to verify SASL PLAIN and to derive
-- SCRAM secrets (as databases keep theirs). access: full | produce | consume; scope_kind:
-- all | topic | prefix with scope_value the topic or prefix ('' for all).
CREATE TABLE kafka_credentials (
    username TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES kafka_clusters(id),
    password TEXT NOT NULL,
    access TEXT NOT NULL,
    scope_kind TEXT NOT NULL,
    scope_value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Intent: one row per (cluster, region); node_id is NULL until placed.
CREATE TABLE kafka_placements (
    cluster_id TEXT NOT NULL REFERENCES kafka_clusters(id),
    region TEXT NOT NULL REFERENCES regions(code),
    role TEXT NOT NULL,
    node_id TEXT REFERENCES nodes(id),
    PRIMARY KEY (cluster_id, region)
);

-- Observed state: the Kafka clusters each node reported hosting in its last heartbeat.
CREATE TABLE node_kafka_clusters (
    node_id TEXT NOT NULL REFERENCES nodes(id),
    cluster_id TEXT NOT NULL,
    PRIMARY KEY (node_id, cluster_id)
);
