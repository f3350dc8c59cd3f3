-- Timers. The due-time queue (jobs, kind 1) holds each running timer's next milestone or its expiry; this table
-- holds what the timer is. `spec` is the timers face's JSON.
CREATE TABLE timers (
    rowid_       INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    org_id       TEXT NOT NULL,
    status       INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    agent_id     TEXT,
    project_id   TEXT,
    milestones_sent INTEGER NOT NULL DEFAULT 0,
    ended_at     INTEGER,
    cancel_reason TEXT,
    -- While paused: since when. Time spent paused so far shifts the timer's remaining moments.
    paused_at    INTEGER,
    paused_ms    INTEGER NOT NULL DEFAULT 0,
    spec         TEXT NOT NULL
);
CREATE INDEX timers_org ON timers (org_id, id);

-- The scheduler finds the next delivery and the next timer separately (timers are claimed a little early).
CREATE INDEX jobs_kind_run_at ON jobs (kind, run_at);
