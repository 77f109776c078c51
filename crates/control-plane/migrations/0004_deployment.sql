-- The state's identity, and one free database per org enforced by the database. Portable SQL
-- like 0001 (runs unchanged on SQLite and PostgreSQL). Statements end with ";" at the end of a
-- line.

-- One row: the random id of this state, written once by the first control plane that opens it
-- (`Store::open`, `ON CONFLICT DO NOTHING`). Nodes remember it and refuse deletions from a
-- control plane on another state (a new, empty one would otherwise wipe them).
CREATE TABLE deployment (
    singleton BIGINT PRIMARY KEY CHECK (singleton = 1),
    id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- What a node last reported holding back (JSON of control_api::HeldBack), NULL when it applies
-- its intent fully.
ALTER TABLE nodes ADD COLUMN held_back TEXT;

-- At most one free database per org, whatever requests run at the same time: the API checks
-- first for the friendly message, this index refuses the one that slips between check and write.
CREATE UNIQUE INDEX databases_one_free_per_org ON databases (org_id) WHERE plan = 'free';
