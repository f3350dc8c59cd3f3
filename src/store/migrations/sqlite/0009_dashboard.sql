-- The dashboard's charts and searches, at no cost to the hot path (no index on messages or attempts beyond the
-- API's own, none on a column the delivery's per-attempt update changes).
-- Messages, attempts and successes per minute, of an organization (endpoint_id '') and of each endpoint, added up
-- in each group commit. `node` is the writing node on PostgreSQL (each node adds to its own rows, so that nodes
-- never wait on each other's counts); '' here.
CREATE TABLE activity (
    org_id      TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    minute      INTEGER NOT NULL,
    node        TEXT NOT NULL DEFAULT '',
    messages    INTEGER NOT NULL DEFAULT 0,
    attempts    INTEGER NOT NULL DEFAULT 0,
    succeeded   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, endpoint_id, minute, node)
) WITHOUT ROWID;
-- The hourly prune deletes the oldest minutes.
CREATE INDEX activity_minute ON activity (minute);
-- When a delivery gave up (NULL while it may still succeed): the dead letters, found without walking the
-- deliveries that succeeded. Successful attempts leave it NULL, so they never touch the index.
ALTER TABLE deliveries ADD COLUMN failed_at INTEGER;
UPDATE deliveries SET failed_at = updated_at WHERE status = 2;
CREATE INDEX deliveries_failed ON deliveries (app_id, msg_id) WHERE failed_at IS NOT NULL;
