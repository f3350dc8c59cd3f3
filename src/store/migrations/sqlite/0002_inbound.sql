-- Inbound webhooks: every verified request as it arrived (raw body and headers), deduplicated by the
-- provider's delivery id, and per-registration counters for health.

CREATE TABLE inbound_events (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL,
    registration_id  TEXT NOT NULL,
    delivery_id      TEXT,
    received_at      INTEGER NOT NULL,
    match_key        TEXT NOT NULL,
    forwarded_msg_id TEXT,
    headers          TEXT NOT NULL,
    normalized       TEXT NOT NULL,
    body             BLOB NOT NULL
);
CREATE UNIQUE INDEX inbound_events_dedup ON inbound_events (registration_id, delivery_id) WHERE delivery_id IS NOT NULL;
CREATE INDEX inbound_events_registration ON inbound_events (registration_id, id);

CREATE TABLE inbound_stats (
    registration_id      TEXT PRIMARY KEY,
    total                INTEGER NOT NULL DEFAULT 0,
    failures             INTEGER NOT NULL DEFAULT 0,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_event_at        INTEGER,
    last_failure_at      INTEGER
);

-- Inbound webhook URLs carry a registration id and no token: documents are found by id alone.
CREATE INDEX docs_id ON docs (kind, id);
