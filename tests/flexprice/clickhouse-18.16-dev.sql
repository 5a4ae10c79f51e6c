-- Flexprice's ClickHouse tables, dev-migrations variant (docker-compose), adapted for Debian's
-- ClickHouse 18.16 (the test server). Written for exportd's tests from
-- shared/reference/flexprice-databases.md. Kept as Flexprice has them: engine and version
-- column, partition key, primary key and order key, Decimal scales, Nullability, defaults.
-- Adapted because 18.16 lacks them: NOT NULL (a plain type is not nullable), CODECs, skip
-- indexes, CHECK constraints, projections and newer MergeTree settings are dropped;
-- DateTime64(3) -> DateTime; now64(3) -> now(); LowCardinality(String) -> String.
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
    qty_total            Decimal(25, 15),
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
    external_customer_id String,
    environment_id       String,
    event_name           String,
    customer_id          Nullable(String),
    source               Nullable(String),
    timestamp            DateTime,
    ingested_at          DateTime DEFAULT now(),
    properties           String
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(timestamp)
PRIMARY KEY (tenant_id, environment_id)
ORDER BY (tenant_id, environment_id, timestamp, id)
SETTINGS index_granularity = 8192;
