//! `credit_usage` from Flexprice's customers, wallets and wallet transactions: Flexprice's 6
//! columns plus the task's metadata columns, a balance snapshot at the window's end.
//!
//! One row per published customer of the scope created before the window end, and per currency
//! of its wallets that are published, `active` and created before the window end (Flexprice
//! sums currencies blindly); a customer without such wallets gets one row of zeros. Rows come
//! in (external id, customer id, currency) byte order.
//! - `current_balance`: the sum over those wallets of the `credit_balance_after` of the
//!   wallet's last published, completed transaction created before the window end (by
//!   `(created_at, id)`), 0 without one.
//! - `real_time_balance`: the sum of the wallets' `credit_balance` when the run reads them.
//!   Flexprice's own also subtracts unpaid invoices and current usage priced by its pricing
//!   engine, which exportd does not reimplement.
//! - `number_of_wallets`: how many wallets of that currency.
//! - Metadata columns: `customer` fields from `customers.metadata`, `wallet` fields from the
//!   first wallet of the currency (by `(created_at, id)`) whose metadata is not NULL.
//!
//! One query does it all server-side and streams the result, so memory stays flat whatever
//! the number of customers.

use rust_decimal::Decimal;

use super::postgres::Snapshot;
use super::{Cell, Request, RowSink};
use crate::failure::ExportError;
use crate::sources::metadata_values;

/// The query of a snapshot (`$1` tenant, `$2` environment, `$3` the window end).
pub const SQL: &str = r#"
WITH wallet AS (
    SELECT w.id, w.customer_id, w.currency, w.credit_balance, w.metadata, w.created_at,
           coalesce((SELECT t.credit_balance_after FROM wallet_transactions t
                     WHERE t.tenant_id = $1 AND t.environment_id = $2 AND t.wallet_id = w.id
                       AND t.status = 'published' AND t.transaction_status = 'completed'
                       AND t.created_at < $3
                     ORDER BY t.created_at DESC, t.id COLLATE "C" DESC
                     LIMIT 1), 0) AS at_end
    FROM wallets w
    WHERE w.tenant_id = $1 AND w.environment_id = $2 AND w.status = 'published'
      AND w.wallet_status = 'active' AND w.created_at < $3
)
SELECT c.id, c.external_id, c.name, c.metadata::text,
       g.current_balance, g.real_time_balance, g.wallets, g.wallet_metadata
FROM customers c
LEFT JOIN LATERAL (
    SELECT w.currency,
           sum(w.at_end) AS current_balance,
           sum(w.credit_balance) AS real_time_balance,
           count(*) AS wallets,
           (array_agg(w.metadata::text ORDER BY w.created_at, w.id COLLATE "C")
               FILTER (WHERE w.metadata IS NOT NULL))[1] AS wallet_metadata
    FROM wallet w
    WHERE w.customer_id = c.id
    GROUP BY w.currency
) g ON true
WHERE c.tenant_id = $1 AND c.environment_id = $2 AND c.status = 'published' AND c.created_at < $3
ORDER BY c.external_id COLLATE "C", c.id COLLATE "C", g.currency COLLATE "C"
"#;

/// Streams the snapshot's rows into `out`; returns how many.
pub fn export(
    snap: &mut Snapshot<'_>,
    req: &Request<'_>,
    out: &mut dyn RowSink,
) -> Result<u64, ExportError> {
    snap.stream(
        SQL,
        &[&req.tenant_id, &req.environment_id, &req.pg_window().1],
        req.cancel,
        |row| {
            let zero = |cell| match cell {
                Cell::Null => Cell::Decimal(Decimal::ZERO),
                other => other,
            };
            let extra = if req.metadata.is_empty() {
                Vec::new()
            } else {
                metadata_values(req.metadata, row.get(3)?, row.get(7)?)
            };
            let mut cells = vec![
                row.text(2)?,
                row.text(1)?,
                row.text(0)?,
                zero(row.decimal(4)?),
                zero(row.decimal(5)?),
                Cell::Int(row.get::<Option<i64>>(6)?.unwrap_or_default()),
            ];
            cells.extend(extra.iter().map(|v| Cell::text(v.as_deref())));
            out.row(&cells)
        },
    )
}
