-- Destinations (ordered batches of an application's messages): each application's messages in commit order are a
-- log. `app_log.last_pos` is the last position handed out; a message takes the next one in the commit that stores
-- it (`messages.log_pos`, NULL for messages stored before this version).
CREATE TABLE app_log (
    app_id   TEXT PRIMARY KEY,
    last_pos INTEGER NOT NULL
);
ALTER TABLE messages ADD COLUMN log_pos INTEGER;
CREATE INDEX messages_log ON messages (app_id, log_pos) WHERE log_pos IS NOT NULL;

-- Where each destination stands in its application's log: `acked_pos` is the last position acknowledged (a batch
-- taken by the receiver), `start_pos` where the log began for it. A failing batch holds the cursor and waits for
-- `next_retry_at`. `active`: enabled and pushed by the engine (not a polling endpoint). One node holds a
-- destination at a time (`leased_by` until `leased_until`), renewed while it lives.
CREATE TABLE destination_state (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL,
    app_id         TEXT NOT NULL,
    active         INTEGER NOT NULL,
    acked_pos      INTEGER NOT NULL,
    start_pos      INTEGER NOT NULL,
    failures       INTEGER NOT NULL DEFAULT 0,
    failing_since  INTEGER,
    failure_reason TEXT,
    next_retry_at  INTEGER,
    leased_by      TEXT,
    leased_until   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX destination_state_active ON destination_state (active, leased_until);

-- Each batch sent (or tried) to a destination.
CREATE TABLE destination_attempts (
    id             TEXT PRIMARY KEY,
    destination_id TEXT NOT NULL,
    status         INTEGER NOT NULL,
    status_code    INTEGER NOT NULL,
    status_text    TEXT NOT NULL,
    first_msg_id   TEXT NOT NULL,
    last_msg_id    TEXT NOT NULL,
    first_pos      INTEGER NOT NULL,
    last_pos       INTEGER NOT NULL,
    num_events     INTEGER NOT NULL,
    duration_ms    INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX destination_attempts_dest ON destination_attempts (destination_id, id);

-- A polling endpoint's server-kept cursors, one per consumer id.
CREATE TABLE poller_consumers (
    destination_id TEXT NOT NULL,
    consumer_id    TEXT NOT NULL,
    acked_pos      INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (destination_id, consumer_id)
);
