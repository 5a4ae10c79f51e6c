-- exportd schema v3: scheduling. A task is due when it is enabled, published and its
-- next_run_at has passed; next_run_at is NULL while a scheduled run of it is in flight.

ALTER TABLE scheduled_tasks ADD COLUMN paused_reason TEXT;
CREATE INDEX scheduled_tasks_due ON scheduled_tasks (next_run_at)
    WHERE enabled = 1 AND status = 'published';
