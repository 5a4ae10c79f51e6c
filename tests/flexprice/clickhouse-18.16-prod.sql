-- Flexprice's ClickHouse tables, production variant (ClickHouse 26.3), adapted for Debian's
-- ClickHouse 18.16 (the test server); see clickhouse-18.16-dev.sql for what is kept and what
-- is adapted. Differences from the dev variant, kept here: meter_usage.qty_total is
-- Decimal(18, 8); events.external_customer_id, event_name and properties are Nullable; events
-- are partitioned by day. Its skip indexes and projection cannot exist on 18.16.
-- `{database}` is replaced by the test's database.

CREATE TABLE {database}.meter_usage
(
    id                   String,
    tenant_id            String,
    environment_id       String,
    external_customer_id String,
    meter_id             String,
    event_name           String,
    timestamp            DateTime,
    ingested_at          DateTime DEFAULT now(),
    qty_total            Decimal(18, 8),
    unique_hash          String DEFAULT '',
    source               String DEFAULT '',
    properties           String DEFAULT ''
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMMDD(timestamp)
PRIMARY KEY (tenant_id, environment_id, external_customer_id, meter_id, timestamp)
ORDER BY (tenant_id, environment_id, external_customer_id, meter_id, timestamp, id)
SETTINGS index_granularity = 8192;

CREATE TABLE {database}.events
(
    id                   String,
    tenant_id            String,
    external_customer_id Nullable(String),
    environment_id       String,
    event_name           Nullable(String),
    customer_id          Nullable(String),
    source               Nullable(String),
    timestamp            DateTime,
    ingested_at          DateTime DEFAULT now(),
    properties           Nullable(String)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMMDD(timestamp)
PRIMARY KEY (tenant_id, environment_id)
ORDER BY (tenant_id, environment_id, timestamp, id)
SETTINGS index_granularity = 8192;
