-- hookd's embedded store. Times are milliseconds since the Unix epoch.

CREATE TABLE orgs (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    is_default  INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

-- API tokens, stored as SHA-256 of the token text.
CREATE TABLE tokens (
    hash        BLOB PRIMARY KEY,
    org_id      TEXT NOT NULL,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Configuration documents (applications, endpoints, event types).
CREATE TABLE docs (
    kind        TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    parent      TEXT NOT NULL DEFAULT '',
    id          TEXT NOT NULL,
    uid         TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    data        TEXT NOT NULL,
    PRIMARY KEY (kind, org_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX docs_uid ON docs (kind, org_id, parent, uid) WHERE uid IS NOT NULL;
CREATE INDEX docs_parent ON docs (kind, org_id, parent, id);

CREATE TABLE messages (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    app_id      TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    event_id    TEXT,
    channels    TEXT,
    created_at  INTEGER NOT NULL,
    payload     TEXT
);
CREATE INDEX messages_app ON messages (app_id, id);
CREATE UNIQUE INDEX messages_event_id ON messages (app_id, event_id) WHERE event_id IS NOT NULL;

-- One message for one endpoint.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    org_id          TEXT NOT NULL,
    app_id          TEXT NOT NULL,
    msg_id          TEXT NOT NULL,
    endpoint_id     TEXT NOT NULL,
    status          INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    updated_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX deliveries_msg ON deliveries (msg_id, endpoint_id);
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, msg_id);

-- The due-time queue. A job is claimable when run_at <= now; claiming sets run_at to the lease's end and
-- leased = 1, so a crashed worker's job comes back when its lease runs out. Narrow rows: the scheduler scans only
-- this table.
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    kind        INTEGER NOT NULL,
    ref_id      INTEGER NOT NULL,
    run_at      INTEGER NOT NULL,
    leased      INTEGER NOT NULL DEFAULT 0,
    manual      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_run_at ON jobs (run_at);

CREATE TABLE attempts (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL,
    app_id       TEXT NOT NULL,
    msg_id       TEXT NOT NULL,
    endpoint_id  TEXT NOT NULL,
    url          TEXT NOT NULL,
    status_code  INTEGER NOT NULL,
    status       INTEGER NOT NULL,
    manual       INTEGER NOT NULL,
    duration_ms  INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    response     TEXT NOT NULL
);
CREATE INDEX attempts_msg ON attempts (msg_id, id);
CREATE INDEX attempts_endpoint ON attempts (endpoint_id, id);

-- Since when an endpoint has failed without a success (absent once it succeeds).
CREATE TABLE endpoint_failing (
    endpoint_id  TEXT PRIMARY KEY,
    since        INTEGER NOT NULL
);

CREATE TABLE idempotency (
    org_id      TEXT NOT NULL,
    key         TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    status      INTEGER NOT NULL,
    body        BLOB NOT NULL,
    PRIMARY KEY (org_id, key)
);
