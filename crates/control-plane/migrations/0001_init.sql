-- Portable SQL: runs unchanged on SQLite and PostgreSQL (no AUTOINCREMENT/SERIAL, text ids,
-- integer booleans, unix-second timestamps). Statements end with ";" at the end of a line.

CREATE TABLE orgs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    sha256 TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    created_at BIGINT NOT NULL
);

CREATE TABLE regions (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    latitude DOUBLE PRECISION NOT NULL,
    longitude DOUBLE PRECISION NOT NULL
);

CREATE TABLE plans (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    description TEXT NOT NULL,
    max_data_bytes BIGINT NOT NULL,
    max_request_bytes BIGINT NOT NULL,
    max_record_bytes BIGINT NOT NULL,
    max_connections BIGINT NOT NULL,
    max_commands_per_second BIGINT NOT NULL,
    free_commands_per_day BIGINT,
    max_commands_per_day BIGINT,
    price_per_100k_commands_cents BIGINT NOT NULL,
    price_per_gb_month_cents BIGINT NOT NULL,
    monthly_price_cents BIGINT NOT NULL
);

CREATE TABLE databases (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    plan TEXT NOT NULL REFERENCES plans(name),
    primary_region TEXT NOT NULL REFERENCES regions(code),
    eviction BIGINT NOT NULL,
    password TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    region TEXT NOT NULL REFERENCES regions(code),
    redis_addr TEXT NOT NULL,
    capacity BIGINT NOT NULL,
    registered_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL
);

-- Intent: one row per (database, region); node_id is NULL until placed.
CREATE TABLE placements (
    database_id TEXT NOT NULL REFERENCES databases(id),
    region TEXT NOT NULL REFERENCES regions(code),
    role TEXT NOT NULL,
    node_id TEXT REFERENCES nodes(id),
    PRIMARY KEY (database_id, region)
);

-- Observed state: what each node reported hosting in its last heartbeat.
CREATE TABLE node_tenants (
    node_id TEXT NOT NULL REFERENCES nodes(id),
    database_id TEXT NOT NULL,
    PRIMARY KEY (node_id, database_id)
);

INSERT INTO regions (code, name, latitude, longitude) VALUES
    ('ams', 'Amsterdam, Netherlands', 52.3676, 4.9041),
    ('cdg', 'Paris, France', 49.0097, 2.5479),
    ('fra', 'Frankfurt, Germany', 50.1109, 8.6821),
    ('iad', 'Ashburn, Virginia (US)', 39.0438, -77.4874),
    ('lhr', 'London, United Kingdom', 51.5074, -0.1278),
    ('mad', 'Madrid, Spain', 40.4168, -3.7038),
    ('nrt', 'Tokyo, Japan', 35.6762, 139.6503),
    ('ord', 'Chicago, Illinois (US)', 41.8781, -87.6298),
    ('sjc', 'San Jose, California (US)', 37.3382, -121.8863),
    ('syd', 'Sydney, Australia', -33.8688, 151.2093),
    ('gru', 'Sao Paulo, Brazil', -23.5505, -46.6333),
    ('sin', 'Singapore', 1.3521, 103.8198);

INSERT INTO plans (name, position, description, max_data_bytes, max_request_bytes, max_record_bytes,
    max_connections, max_commands_per_second, free_commands_per_day, max_commands_per_day,
    price_per_100k_commands_cents, price_per_gb_month_cents, monthly_price_cents) VALUES
    ('free', 1, 'Free: 256 MB, 10,000 commands per day, one per org', 268435456, 10485760, 104857600, 1000, 1000, 10000, 10000, 0, 0, 0),
    ('payg', 2, 'Pay as you go: 10,000 free commands per day, then $0.20 per 100K commands', 107374182400, 104857600, 104857600, 10000, 10000, 10000, NULL, 20, 25, 0),
    ('fixed-250mb', 3, 'Fixed: 250 MB, unlimited commands, each read region +50%', 262144000, 104857600, 104857600, 10000, 10000, NULL, NULL, 0, 0, 1000),
    ('fixed-1gb', 4, 'Fixed: 1 GB, unlimited commands, each read region +50%', 1073741824, 104857600, 104857600, 10000, 10000, NULL, NULL, 0, 0, 2000),
    ('fixed-5gb', 5, 'Fixed: 5 GB, unlimited commands, each read region +50%', 5368709120, 104857600, 104857600, 10000, 10000, NULL, NULL, 0, 0, 5000),
    ('fixed-10gb', 6, 'Fixed: 10 GB, unlimited commands, each read region +50%', 10737418240, 104857600, 104857600, 10000, 10000, NULL, NULL, 0, 0, 10000),
    ('fixed-50gb', 7, 'Fixed: 50 GB, unlimited commands, each read region +50%', 53687091200, 104857600, 104857600, 10000, 10000, NULL, NULL, 0, 0, 20000);
