-- Queue sources (inbound registrations of type rabbitMq, redis, …): one node at a time consumes each (`leased_by`
-- until `leased_until`, renewed while it lives). `version` is the registration's `updated_at`: a node holding an
-- older one restarts its consumer with the new config. `active`: the registration is not inactive.
CREATE TABLE queue_sources (
    registration_id TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    active          INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    leased_by       TEXT,
    leased_until    INTEGER NOT NULL DEFAULT 0
);
