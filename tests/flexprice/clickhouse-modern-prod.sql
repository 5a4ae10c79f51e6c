-- Flexprice's ClickHouse tables as its production (ClickHouse 26.3) has them, for chdb-core
-- (ClickHouse 26.x in process). Written for exportd's tests from
-- shared/reference/flexprice-databases.md: this is the text exportd's queries must run on
-- unchanged (tests/flexprice/chdb_check.py). Differences from the dev variant:
-- meter_usage.qty_total Decimal(18, 8); events with codecs, LowCardinality, Nullable
-- external_customer_id/event_name/properties, skip indexes and a projection.
-- `{database}` is replaced by the test's database.

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
    qty_total            Decimal(18, 8)         NOT NULL CODEC(ZSTD(1)),
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
    id                   String                           CODEC(ZSTD(3)),
    tenant_id            String                           CODEC(ZSTD(3)),
    external_customer_id Nullable(String)                 CODEC(ZSTD(3)),
    environment_id       String                           CODEC(ZSTD(3)),
    event_name           LowCardinality(Nullable(String)) CODEC(ZSTD(3)),
    customer_id          Nullable(String)                 CODEC(ZSTD(3)),
    source               LowCardinality(Nullable(String)) CODEC(ZSTD(3)),
    timestamp            DateTime64(3) DEFAULT now64(3)   CODEC(Delta(8), ZSTD(3)),
    ingested_at          DateTime64(3) DEFAULT now64(3)   CODEC(Delta(8), ZSTD(3)),
    properties           Nullable(String)                 CODEC(ZSTD(6)),
    CONSTRAINT check_tenant_id CHECK tenant_id != '',
    CONSTRAINT check_event_id CHECK id != '',
    CONSTRAINT check_environment_id CHECK environment_id != '',
    INDEX idx_external_customer_id external_customer_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_event_name event_name TYPE set(0) GRANULARITY 4,
    PROJECTION proj_by_customer_event
    (
        SELECT *
        ORDER BY tenant_id, environment_id, external_customer_id, event_name, timestamp, id
    )
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMMDD(timestamp)
PRIMARY KEY (tenant_id, environment_id)
ORDER BY (tenant_id, environment_id, timestamp, id)
SETTINGS index_granularity = 16384,
         parts_to_delay_insert = 2000,
         parts_to_throw_insert = 4000,
         max_bytes_to_merge_at_max_space_in_pool = 5368709120,
         deduplicate_merge_projection_mode = 'rebuild',
         allow_nullable_key = 1;
