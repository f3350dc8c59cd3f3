-- Recurring timers: a timer runs in cycles. `cycle_start` is when the current cycle began (a one-shot timer has
-- one cycle, from its creation); `runs` counts the cycles that have ended.
ALTER TABLE timers ADD COLUMN cycle_start INTEGER NOT NULL DEFAULT 0;
ALTER TABLE timers ADD COLUMN runs INTEGER NOT NULL DEFAULT 0;
UPDATE timers SET cycle_start = created_at, runs = CASE WHEN status = 1 THEN 1 ELSE 0 END;
