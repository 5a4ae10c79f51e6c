-- Many meter_usage rows for benchmarks and scale tests, made by ClickHouse itself (works on
-- 18.16 and on modern servers). Placeholders, filled by the test harness (ChDb::
-- bulk_meter_usage) or by sed: {database}, {tag} (id prefix), {tenant}, {env}, {n} (rows),
-- {from} (unix seconds), {span} (seconds: event times spread evenly over [from, from+span)),
-- {qty_type} (Decimal(25, 15) or Decimal(18, 8)). Three meters, 1000 customers, sources
-- sdk/api/empty; ingested_at is 0-4 s after the event time; quantities have up to 3 decimals.
INSERT INTO {database}.meter_usage
    (id, tenant_id, environment_id, external_customer_id, meter_id, event_name, timestamp,
     ingested_at, qty_total, unique_hash, source, properties)
SELECT
    concat('evt_{tag}_', toString(number)),
    '{tenant}',
    '{env}',
    concat('bulk-', toString(number % 1000)),
    concat('mtr_{tag}_', toString(number % 3)),
    'api_call',
    toDateTime({from} + intDiv(number * {span}, {n})),
    toDateTime({from} + intDiv(number * {span}, {n}) + number % 5),
    CAST(concat(toString(number % 100000), '.', toString(number % 1000)) AS {qty_type}),
    concat('api_call:evt_{tag}_', toString(number)),
    ['sdk', 'api', ''][number % 3 + 1],
    concat('{"bytes":', toString(number % 100000), ',"n":"', toString(number), '"}')
FROM numbers({n})
