-- exportd schema v1. Every tenant-owned row carries tenant_id and environment_id, and every
-- query filters on both. Timestamps are milliseconds since the Unix epoch (UTC).

CREATE TABLE connections (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    environment_id  TEXT NOT NULL,
    name            TEXT NOT NULL,
    provider_type   TEXT NOT NULL,
    sync_s3         TEXT,            -- JSON of sync_config.s3, NULL when not given
    metadata        TEXT,            -- JSON object of strings, NULL when not given
    sealed_secrets  TEXT,            -- JSON of AES-256-GCM sealed credentials, NULL for managed
    status          TEXT NOT NULL CHECK (status IN ('published', 'archived')),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    created_by      TEXT NOT NULL,
    updated_by      TEXT NOT NULL
);
CREATE INDEX connections_scope ON connections (tenant_id, environment_id, status, created_at);

CREATE TABLE scheduled_tasks (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL,
    environment_id       TEXT NOT NULL,
    connection_id        TEXT NOT NULL REFERENCES connections (id),
    entity_type          TEXT NOT NULL,
    interval             TEXT NOT NULL,
    enabled              INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    job_config           TEXT NOT NULL,  -- JSON, defaults filled in
    status               TEXT NOT NULL CHECK (status IN ('published', 'deleted')),
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    created_by           TEXT NOT NULL,
    updated_by           TEXT NOT NULL,
    -- Scheduler state: the end of the last window exported by the scheduler, and run summary.
    watermark            INTEGER,
    next_run_at          INTEGER,
    last_run_at          INTEGER,
    last_run_status      TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX scheduled_tasks_scope ON scheduled_tasks (tenant_id, environment_id, status, created_at);
CREATE INDEX scheduled_tasks_connection ON scheduled_tasks (connection_id, status);

-- Runs: one row per export attempt (Flexprice's "tasks").
CREATE TABLE runs (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL,
    environment_id     TEXT NOT NULL,
    scheduled_task_id  TEXT NOT NULL REFERENCES scheduled_tasks (id),
    entity_type        TEXT NOT NULL,
    trigger            TEXT NOT NULL CHECK (trigger IN ('scheduled', 'manual', 'retry', 'backfill')),
    attempt            INTEGER NOT NULL,
    window_start       INTEGER NOT NULL,
    window_end         INTEGER NOT NULL,
    task_status        TEXT NOT NULL CHECK (task_status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED')),
    file_url           TEXT,
    object_key         TEXT,
    total_records      INTEGER,
    processed_records  INTEGER NOT NULL DEFAULT 0,
    successful_records INTEGER NOT NULL DEFAULT 0,
    failed_records     INTEGER NOT NULL DEFAULT 0,
    uncompressed_bytes INTEGER,
    stored_bytes       INTEGER,
    sha256             TEXT,
    error_summary      TEXT,
    started_at         INTEGER,
    completed_at       INTEGER,
    failed_at          INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    created_by         TEXT NOT NULL
);
CREATE INDEX runs_scope ON runs (tenant_id, environment_id, created_at);
CREATE INDEX runs_task ON runs (scheduled_task_id, created_at);
CREATE INDEX runs_status ON runs (task_status);

-- The development API key made on first start when no key is configured (its hash only).
CREATE TABLE generated_api_keys (
    key_sha256      TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    environment_id  TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
