-- Inbound requests hookd refused (bad or missing signature, stale timestamp, unreadable body, too large, over the
-- rate, inactive registration), kept so that a tenant sees why: the newest 100 per registration, for 7 days.
-- `headers` is a JSON object of a few of the request's headers; `body` its first 2 KiB, `body_size` its length.
CREATE TABLE inbound_refused (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    registration_id TEXT NOT NULL,
    received_at     INTEGER NOT NULL,
    status          INTEGER NOT NULL,
    reason          TEXT NOT NULL,
    detail          TEXT NOT NULL,
    source_ip       TEXT,
    headers         TEXT NOT NULL,
    body            BLOB NOT NULL,
    body_size       INTEGER NOT NULL
);
CREATE INDEX inbound_refused_registration ON inbound_refused (registration_id, id);

-- Requests accepted and refused per registration and hour (hours since the Unix epoch): the recent window a
-- registration's health is computed over. Pruned with the refused requests.
CREATE TABLE inbound_health (
    registration_id TEXT NOT NULL,
    hour            INTEGER NOT NULL,
    accepted        INTEGER NOT NULL DEFAULT 0,
    refused         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (registration_id, hour)
) WITHOUT ROWID;
CREATE INDEX inbound_health_hour ON inbound_health (hour);
