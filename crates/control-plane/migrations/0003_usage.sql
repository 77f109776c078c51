-- Usage metering and notifications. Portable SQL like 0001 (runs unchanged on SQLite and
-- PostgreSQL). Statements end with ";" at the end of a line.

-- What each node counted per database (kind 'redis') or Kafka cluster (kind 'kafka') and UTC
-- hour (Unix seconds of its start). Values are the node's totals for the hour, replaced on
-- every report (upsert), so retried or repeated reports never add up twice. Rows stay when a
-- database is deleted (the month's bill still needs them).
CREATE TABLE usage_hours (
    node_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    hour BIGINT NOT NULL,
    billable_commands BIGINT NOT NULL,
    free_commands BIGINT NOT NULL,
    bytes_in BIGINT NOT NULL,
    bytes_out BIGINT NOT NULL,
    peak_data_bytes BIGINT NOT NULL,
    data_bytes BIGINT NOT NULL,
    peak_connections BIGINT NOT NULL,
    connections BIGINT NOT NULL,
    messages_produced BIGINT NOT NULL,
    messages_consumed BIGINT NOT NULL,
    bytes_produced BIGINT NOT NULL,
    bytes_consumed BIGINT NOT NULL,
    reported_at BIGINT NOT NULL,
    PRIMARY KEY (node_id, kind, owner_id, hour)
);

CREATE INDEX usage_hours_owner ON usage_hours (kind, owner_id, hour);

-- Notifications to an org; (org_id, kind, subject, day) is unique, so "passed the daily free
-- allowance" is recorded once per database and day however many reports follow.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    day BIGINT NOT NULL,
    message TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, kind, subject, day)
);
