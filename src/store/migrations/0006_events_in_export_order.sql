-- exportd schema v6: events are kept in the order exports read them, (tenant, environment,
-- ingested_at, id), instead of in id order. An export of a window then reads one stretch of
-- the table front to back; before, it went through the ingested_at index and looked each row
-- up by its id, a random page read per row, which was most of an export's time. Ingest
-- appends at the end of the table instead of inserting at random places. An event_id stays
-- unique per environment through its own index, so an event sent again is still stored once.

CREATE TABLE events_v6 (
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
    PRIMARY KEY (tenant_id, environment_id, ingested_at, id)
) WITHOUT ROWID;

INSERT INTO events_v6 (tenant_id, environment_id, id, event_name, external_customer_id,
                       customer_id, source, timestamp, ingested_at, properties)
    SELECT tenant_id, environment_id, id, event_name, external_customer_id,
           customer_id, source, timestamp, ingested_at, properties
    FROM events
    ORDER BY tenant_id, environment_id, ingested_at, id;

DROP TABLE events;
ALTER TABLE events_v6 RENAME TO events;

CREATE UNIQUE INDEX events_by_id ON events (tenant_id, environment_id, id);
CREATE INDEX events_by_timestamp ON events (tenant_id, environment_id, timestamp, id);
