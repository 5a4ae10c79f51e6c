-- Flexprice's ClickHouse tables as Flexprice's dev migrations write them (docker-compose,
-- ClickHouse 24.9), for chdb-core (ClickHouse 26.x in process). Written for exportd's tests
-- from shared/reference/flexprice-databases.md: this is the text exportd's queries must run
-- on unchanged (tests/flexprice/chdb_check.py). `{database}` is replaced by the test's
-- database.

CREATE TABLE {database}.meter_usage
(
    id                   String                 NOT NULL CODEC(ZSTD(1)),
    tenant_id            LowCardinality(String) NOT NULL,
    environment_id       LowCardinality(String) NOT NULL,
    external_customer_id LowCardinality(String) NOT NULL,
    meter_id             LowCardinality(String) NOT NULL,
    event_name           LowCardinality(String) NOT NULL,
    timestamp            DateTime               NOT NULL CODEC(DoubleDelta, ZSTD(1)),
    ingested_at          DateTime64(3)          NOT NULL DEFAULT now64(3) CODEC(Delta, ZSTD(1)),
    qty_total            Decimal(25, 15)        NOT NULL CODEC(ZSTD(1)),
    unique_hash          String                 NOT NULL DEFAULT '' CODEC(ZSTD(1)),
    source               LowCardinality(String) NOT NULL DEFAULT '',
    properties           String                 NOT NULL DEFAULT '' CODEC(ZSTD(3)),
    INDEX idx_ingested_at ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMMDD(timestamp)
PRIMARY KEY (tenant_id, environment_id, external_customer_id, meter_id, timestamp)
ORDER BY (tenant_id, environment_id, external_customer_id, meter_id, timestamp, id)
SETTINGS index_granularity = 8192,
         parts_to_delay_insert = 150,
         parts_to_throw_insert = 300,
         max_bytes_to_merge_at_max_space_in_pool = 2147483648,
         min_bytes_for_wide_part = 10485760,
         enable_mixed_granularity_parts = 1;

CREATE TABLE {database}.events
(
    id                   String,
    tenant_id            String,
    external_customer_id String,
    environment_id       String,
    event_name           String,
    customer_id          Nullable(String),
    source               Nullable(String),
    timestamp            DateTime64(3),
    ingested_at          DateTime64(3) DEFAULT now64(3),
    properties           String,
    CONSTRAINT check_event_name CHECK event_name != '',
    CONSTRAINT check_tenant_id CHECK tenant_id != '',
    CONSTRAINT check_event_id CHECK id != '',
    INDEX external_customer_id_idx external_customer_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX event_name_idx event_name TYPE set(0) GRANULARITY 4,
    INDEX source_idx source TYPE set(0) GRANULARITY 4
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(timestamp)
PRIMARY KEY (tenant_id, environment_id)
ORDER BY (tenant_id, environment_id, timestamp, id)
SETTINGS index_granularity = 8192, allow_nullable_key = 1;
