//! The `credit_topups` export: Flexprice's 10 columns, one row per completed credit (top-up)
//! wallet transaction created in the window, in (created_at, id) order. Optional values that
//! are NULL are empty cells; no row is ever dropped (Flexprice silently lost rows there).

use std::sync::atomic::AtomicBool;

use super::{Cursor, ExportError, PAGE, Source, keyset_pages};
use crate::formats::pipeline::Pipeline;
use crate::formats::time::{Kind, cells};

pub const COLUMNS: [&str; 10] = [
    "topup_id",
    "external_id",
    "name",
    "wallet_id",
    "amount",
    "credit_balance_before",
    "credit_balance_after",
    "reference_id",
    "transaction_reason",
    "created_at",
];

const KINDS: [Kind; 10] = {
    use Kind::*;
    [
        Text, Text, Text, Text, Decimal, Decimal, Decimal, Text, Text, Time,
    ]
};

const SQL: &str =
    "SELECT t.id, c.external_id, c.name, t.wallet_id, t.amount, t.balance_before, t.balance_after,
        t.reference_id, t.transaction_reason, t.created_at
     FROM wallet_transactions t
     JOIN wallets w ON w.id = t.wallet_id
     JOIN customers c ON c.id = w.customer_id
     WHERE t.tenant_id = ?1 AND t.environment_id = ?2 AND t.type = 'credit'
       AND t.transaction_status = 'completed' AND t.status = 'published'
       AND t.created_at >= ?3 AND t.created_at < ?4 AND (t.created_at, t.id) > (?5, ?6)
     ORDER BY t.created_at, t.id LIMIT ?7";

pub fn write_rows(
    src: &Source<'_>,
    out: &mut Pipeline<'_>,
    cancel: &AtomicBool,
) -> Result<u64, ExportError> {
    keyset_pages(
        &src.app.store,
        cancel,
        |tx, cursor, page: &mut Vec<(Vec<String>, Cursor)>| {
            let (after_t, after_id) = cursor.map_or((i64::MIN, ""), |(t, id)| (*t, id.as_str()));
            let mut stmt = tx.prepare_cached(SQL)?;
            let mut rows = stmt.query(rusqlite::params![
                src.scope.tenant_id,
                src.scope.environment_id,
                src.window.0,
                src.window.1,
                after_t,
                after_id,
                PAGE as i64
            ])?;
            while let Some(r) = rows.next()? {
                let key = (r.get::<_, i64>(9)?, r.get::<_, String>(0)?);
                page.push((cells(r, &KINDS)?, key));
            }
            Ok(page.len() == PAGE)
        },
        |(_, key)| key.clone(),
        |(row, _)| {
            out.records
                .write_record(row)
                .map_err(|e| out.write_error(e))
        },
    )
}
