-- exportd schema v7: the webhook outbox. A row is written in the same transaction that records
-- a run's outcome (or a task's auto-pause), one per webhook that wants the event, so an event
-- is delivered at least once even if exportd stops right after the commit. The delivery thread
-- posts pending rows when next_attempt_at has passed.

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,  -- whd_<ULID>, one per event and webhook
    event_id        TEXT NOT NULL,     -- evt_<ULID>, the same for every webhook of one event
    event_type      TEXT NOT NULL,     -- run.completed | run.failed | task.auto_paused
    url             TEXT NOT NULL,     -- the webhook it is for; its secret stays in the config
    body            TEXT NOT NULL,     -- the exact JSON that is signed and sent
    state           TEXT NOT NULL,     -- pending | delivered | failed
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,  -- ms, real clock
    last_error      TEXT,
    created_at      INTEGER NOT NULL,  -- ms, real clock (for webhook_delivery.max_age)
    updated_at      INTEGER NOT NULL
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_done ON webhook_deliveries (updated_at)
    WHERE state <> 'pending';
