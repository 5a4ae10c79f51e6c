-- Many invoices for benchmarks and scale tests, made inside PostgreSQL (seconds for a million
-- rows). psql variables: tag (id prefix), tenant, env, n (how many), from and to (timestamptz
-- text): created_at = updated_at spread evenly over [from, to). Example:
--   psql -v tag=bench -v tenant=acme -v env=prod -v n=1000000 \
--        -v from=2025-10-16T00:00:00Z -v to=2025-10-17T00:00:00Z -f pg_bulk_invoices.sql
-- Every fourth invoice has NULL metadata, every third NULL optional amounts; amounts have up
-- to 8 decimal places.
INSERT INTO invoices (
    id, tenant_id, status, created_at, updated_at, environment_id, customer_id, subscription_id,
    invoice_type, invoice_status, payment_status, currency, amount_due, amount_paid,
    amount_remaining, subtotal, total, total_discount, total_tax, description, due_date,
    finalized_at, billing_reason, metadata, version, invoice_number, billing_sequence,
    idempotency_key
)
SELECT 'inv_' || :'tag' || '_' || lpad(g::text, 10, '0'),
       :'tenant',
       'published',
       s.t,
       s.t,
       :'env',
       'cus_' || :'tag' || '_' || (g % 1000),
       CASE WHEN g % 2 = 0 THEN 'sub_' || :'tag' || '_' || (g % 500) END,
       (ARRAY['SUBSCRIPTION', 'ONE_OFF', 'CREDIT'])[1 + g % 3],
       (ARRAY['DRAFT', 'FINALIZED', 'VOIDED', 'SKIPPED'])[1 + g % 4],
       (ARRAY['PENDING', 'SUCCEEDED', 'FAILED'])[1 + g % 3],
       (ARRAY['USD', 'EUR'])[1 + g % 2],
       a.due,
       0,
       a.due,
       CASE WHEN g % 3 <> 0 THEN a.due END,
       CASE WHEN g % 3 <> 0 THEN a.due END,
       CASE WHEN g % 3 <> 0 THEN 0 END,
       CASE WHEN g % 3 <> 0 THEN round(a.due / 10, 8) END,
       'Bulk invoice ' || g || ', "generated"',
       s.t + interval '30 days',
       CASE WHEN g % 4 = 1 THEN s.t END,
       'MANUAL',
       CASE WHEN g % 4 <> 0 THEN jsonb_build_object('batch', :'tag', 'n', g::text) END,
       1,
       'INV-' || :'tag' || '-' || g,
       CASE WHEN g % 2 = 0 THEN (g % 12)::int END,
       NULL
FROM generate_series(1, :n) AS g
CROSS JOIN LATERAL (
    SELECT :'from'::timestamptz
           + (:'to'::timestamptz - :'from'::timestamptz) * ((g - 1)::float8 / :n) AS t
) AS s
CROSS JOIN LATERAL (SELECT round((g::bigint * 7919 % 10000000)::numeric / 100000 + 0.00000001 * (g % 97), 8) AS due) AS a;
