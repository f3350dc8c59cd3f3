-- Pausing or cancelling a timer deletes its job by the timer's row id. Without this index that walked every
-- pending timer's job. Partial: delivery jobs, the hot path's, are not in it, and no update changes `kind` or
-- `ref_id`, so updates stay in place (HOT).
CREATE INDEX jobs_timer ON jobs (ref_id) WHERE kind = 1;
