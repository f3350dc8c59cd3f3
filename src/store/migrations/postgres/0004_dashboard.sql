-- The dashboard's charts and searches, at no cost to the hot path (no index on messages or attempts beyond the
-- API's own, none on a column the delivery's per-attempt update changes, which would end its HOT updates).
-- Messages, attempts and successes per minute, of an organization (endpoint_id '') and of each endpoint, added up
-- in each group commit. Each node adds to its own rows (`node`), so that nodes never wait on each other's counts.
CREATE TABLE activity (
    org_id      TEXT COLLATE "C" NOT NULL,
    endpoint_id TEXT COLLATE "C" NOT NULL,
    minute      BIGINT NOT NULL,
    node        TEXT COLLATE "C" NOT NULL DEFAULT '',
    messages    BIGINT NOT NULL DEFAULT 0,
    attempts    BIGINT NOT NULL DEFAULT 0,
    succeeded   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, endpoint_id, minute, node)
);
-- The hourly prune deletes the oldest minutes.
CREATE INDEX activity_minute ON activity (minute);
-- When a delivery gave up (NULL while it may still succeed): the dead letters, found without walking the
-- deliveries that succeeded. Successful attempts leave it NULL, so they never touch the index.
ALTER TABLE deliveries ADD COLUMN failed_at BIGINT;
UPDATE deliveries SET failed_at = updated_at WHERE status = 2;
CREATE INDEX deliveries_failed ON deliveries (app_id, msg_id) WHERE failed_at IS NOT NULL;
