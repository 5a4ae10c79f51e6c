-- exportd schema v2: ingested usage events, and the multipart upload a run has open (so an
-- interrupted run's upload can be aborted at the next start).

CREATE TABLE events (
    tenant_id             TEXT NOT NULL,
    environment_id        TEXT NOT NULL,
    id                    TEXT NOT NULL,   -- the client's event_id, or event_<ULID>
    event_name            TEXT NOT NULL,
    external_customer_id  TEXT NOT NULL,
    customer_id           TEXT,
    source                TEXT,
    timestamp             INTEGER NOT NULL, -- when it happened (client clock), ms
    ingested_at           INTEGER NOT NULL, -- when exportd accepted it (monotonic), ms
    properties            TEXT,             -- JSON object with sorted keys, NULL when not given
    PRIMARY KEY (tenant_id, environment_id, id)
) WITHOUT ROWID;
CREATE INDEX events_by_ingested_at ON events (tenant_id, environment_id, ingested_at, id);
CREATE INDEX events_by_timestamp ON events (tenant_id, environment_id, timestamp, id);

ALTER TABLE runs ADD COLUMN upload_id TEXT;
