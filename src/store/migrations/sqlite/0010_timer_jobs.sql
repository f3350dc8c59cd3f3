-- Pausing or cancelling a timer deletes its job by the timer's row id. Without this index that walked every
-- pending timer's job while holding the writer (a million timers: a long stall per cancel). Partial: delivery
-- jobs, the hot path's, are not in it. Queries must say `kind = 1` literally for SQLite to use it.
CREATE INDEX jobs_timer ON jobs (ref_id) WHERE kind = 1;
