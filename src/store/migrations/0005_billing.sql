-- exportd schema v5: the billing system jobs (SPEC 7.1). Each environment enables its own
-- billing-period update and draft finalization jobs; the scheduler runs them when they are
-- due. started_at is set while a run is claimed or running, and next_run_at moves only when
-- the run ends, so a run a crash interrupted is due again at the next start.

CREATE TABLE system_jobs (
    tenant_id       TEXT NOT NULL,
    environment_id  TEXT NOT NULL,
    name            TEXT NOT NULL,             -- update_billing_period | draft_finalization
    interval_ms     INTEGER NOT NULL,
    enabled         INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    next_run_at     INTEGER,
    last_run_at     INTEGER,
    last_status     TEXT,                      -- COMPLETED | FAILED
    last_error      TEXT,
    started_at      INTEGER,                   -- NULL when no run is claimed or running
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (tenant_id, environment_id, name)
);
CREATE INDEX system_jobs_due ON system_jobs (next_run_at)
    WHERE enabled = 1 AND started_at IS NULL;

-- One invoice per subscription period, whatever happens to the job that makes it.
CREATE UNIQUE INDEX invoices_subscription_period ON invoices (subscription_id, period_start)
    WHERE invoice_type = 'SUBSCRIPTION' AND subscription_id IS NOT NULL;
-- Drafts whose period has ended (draft finalization).
CREATE INDEX invoices_drafts ON invoices (tenant_id, environment_id, invoice_status, period_end);
-- Active subscriptions whose current period has ended (billing-period update).
CREATE INDEX subscriptions_billing
    ON subscriptions (tenant_id, environment_id, subscription_status, current_period_end);
