//! The `invoice` export: Flexprice's 38 columns, one row per invoice changed in the window.
//! Rows are chosen by `updated_at` (default), so finalizing, paying or voiding an invoice puts
//! it again in the file of the window where that happened, with its new status;
//! `window_field: "created_at"` gives Flexprice's selection.

use std::sync::atomic::AtomicBool;

use super::{Cursor, ExportError, PAGE, Source, keyset_pages};
use crate::formats::pipeline::Pipeline;
use crate::formats::time::{Kind, cells};
use crate::scheduled_tasks::job_config::WindowField;

pub const COLUMNS: [&str; 38] = [
    "id",
    "tenant_id",
    "environment_id",
    "customer_id",
    "subscription_id",
    "invoice_number",
    "invoice_type",
    "invoice_status",
    "payment_status",
    "currency",
    "amount_due",
    "amount_paid",
    "amount_remaining",
    "subtotal",
    "total",
    "total_discount",
    "total_tax",
    "adjustment_amount",
    "refunded_amount",
    "billing_sequence",
    "description",
    "due_date",
    "paid_at",
    "voided_at",
    "finalized_at",
    "billing_period",
    "period_start",
    "period_end",
    "invoice_pdf_url",
    "billing_reason",
    "metadata",
    "idempotency_key",
    "version",
    "status",
    "created_by",
    "updated_by",
    "created_at",
    "updated_at",
];

/// How each column is stored, in COLUMNS order (the table's columns have the same names).
const KINDS: [Kind; 38] = {
    use Kind::*;
    [
        Text, Text, Text, Text, Text, Text, Text, Text, Text, Text, Decimal, Decimal, Decimal,
        Decimal, Decimal, Decimal, Decimal, Decimal, Decimal, Int, Text, Time, Time, Time, Time,
        Text, Time, Time, Text, Text, Text, Text, Int, Text, Text, Text, Time, Time,
    ]
};

pub fn write_rows(
    src: &Source<'_>,
    out: &mut Pipeline<'_>,
    cancel: &AtomicBool,
) -> Result<u64, ExportError> {
    let t = match src.task.job_config.window_field {
        Some(WindowField::CreatedAt) => "created_at",
        _ => "updated_at",
    };
    let sql = format!(
        "SELECT {}, {t} FROM invoices
         WHERE tenant_id = ?1 AND environment_id = ?2 AND status = 'published' AND {t} >= ?3 AND {t} < ?4
           AND ({t}, id) > (?5, ?6)
         ORDER BY {t}, id LIMIT ?7",
        COLUMNS.join(", ")
    );
    keyset_pages(
        &src.app.store,
        cancel,
        |tx, cursor, page: &mut Vec<(Vec<String>, Cursor)>| {
            let (after_t, after_id) = cursor.map_or((i64::MIN, ""), |(t, id)| (*t, id.as_str()));
            let mut stmt = tx.prepare_cached(&sql)?;
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
                let row = cells(r, &KINDS)?;
                let key = (r.get::<_, i64>(COLUMNS.len())?, row[0].clone());
                page.push((row, key));
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
