//! The `invoices`, `invoice_line_items` and `invoice_sequences` tables.

use rusqlite::Transaction;

use crate::ledger::invoices::{Invoice, InvoiceStatus, LineItem, invoice_number};
use crate::ledger::money::Money;
use crate::ledger::money::format;
use crate::store::Audit;
use crate::store::record::Json;
use crate::store::record::{self, Stored};
use crate::store::{Filter, Result, Scope};

/// Filters of `GET /v1/invoices`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InvoiceFilter {
    pub customer_id: Option<String>,
    pub invoice_status: Option<InvoiceStatus>,
    pub payment_status: Option<String>,
}

crate::store::record::stored!(Invoice in "invoices" {
    id, tenant_id, environment_id, customer_id, subscription_id, invoice_number, invoice_type,
    invoice_status, payment_status, currency, amount_due: Money, amount_paid: Money,
    amount_remaining: Money, subtotal: Money, total: Money, total_discount: Money,
    total_tax: Money, adjustment_amount: Money, refunded_amount: Money, billing_sequence,
    description, due_date, paid_at, voided_at, finalized_at, billing_period, period_start,
    period_end, invoice_pdf_url, billing_reason, metadata: Json, idempotency_key, version,
    status, ..audit: Audit,
});

crate::store::record::stored!(LineItem in "invoice_line_items" {
    id, tenant_id, environment_id, invoice_id, display_name, amount: Money, quantity: Money,
    meter_id, period_start, period_end, metadata: Json, created_at,
});

/// The next invoice number of the scope's environment (`INV-000001`, ...). Call it in the
/// transaction that inserts the invoice, so numbers are never skipped or repeated.
pub(crate) fn next_number(tx: &Transaction<'_>, scope: &Scope) -> Result<String> {
    let n: i64 = tx.query_row(
        "INSERT INTO invoice_sequences (tenant_id, environment_id, last_number) VALUES (?1, ?2, 1)
         ON CONFLICT (tenant_id, environment_id) DO UPDATE SET last_number = last_number + 1
         RETURNING last_number",
        rusqlite::params![scope.tenant_id, scope.environment_id],
        |r| r.get(0),
    )?;
    Ok(invoice_number(n))
}

/// Inserts an invoice and its line items.
pub(crate) fn insert(tx: &Transaction<'_>, i: &Invoice, lines: &[LineItem]) -> Result<()> {
    record::insert(tx, i)?;
    lines.iter().try_for_each(|l| record::insert(tx, l))
}

/// Writes back what a status transition changes, if the invoice is still at the version it
/// was read at; returns whether it was.
pub(crate) fn update_status(tx: &Transaction<'_>, i: &Invoice) -> Result<bool> {
    let changed = tx.execute(
        "UPDATE invoices SET invoice_status = ?1, payment_status = ?2, amount_paid = ?3,
             amount_remaining = ?4, paid_at = ?5, voided_at = ?6, finalized_at = ?7,
             version = ?8, updated_at = ?9, updated_by = ?10
         WHERE id = ?11 AND tenant_id = ?12 AND environment_id = ?13 AND version = ?8 - 1",
        rusqlite::params![
            i.invoice_status.as_str(),
            i.payment_status,
            format(i.amount_paid),
            format(i.amount_remaining),
            i.paid_at,
            i.voided_at,
            i.finalized_at,
            i.version,
            i.audit.updated_at,
            i.audit.updated_by,
            i.id,
            i.tenant_id,
            i.environment_id,
        ],
    )?;
    Ok(changed == 1)
}

/// An invoice's line items, in the order they were given.
pub(crate) fn line_items(
    tx: &Transaction<'_>,
    scope: &Scope,
    invoice_id: &str,
) -> Result<Vec<LineItem>> {
    let mut f = Filter::scoped(scope);
    f.eq("invoice_id", invoice_id.to_owned());
    Ok(record::page(tx, &f, "created_at, id", (i64::MAX, 0))?.items)
}

impl record::ListQuery for InvoiceFilter {
    type Record = Invoice;

    fn narrow(&self, f: &mut Filter) {
        f.eq_some("customer_id", self.customer_id.clone());
        f.eq_some("invoice_status", self.invoice_status);
        f.eq_some("payment_status", self.payment_status.clone());
    }
}

/// Up to `limit` DRAFT invoices of the scope whose period ended before `before`, oldest
/// period first (draft finalization).
pub(crate) fn drafts_ended_before(
    tx: &Transaction<'_>,
    scope: &Scope,
    before: i64,
    limit: usize,
) -> Result<Vec<Invoice>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {} FROM invoices
         WHERE tenant_id = ?1 AND environment_id = ?2 AND invoice_status = ?3
           AND status = 'published' AND period_end < ?4
         ORDER BY period_end, id LIMIT ?5",
        Invoice::columns()
    ))?;
    record::all(stmt.query(rusqlite::params![
        scope.tenant_id,
        scope.environment_id,
        InvoiceStatus::Draft,
        before,
        limit as i64
    ])?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;
    use crate::store::testing::{scope, temp_store};

    #[test]
    fn numbers_count_up_per_environment_and_roll_back_with_their_transaction() {
        let (_dir, store) = temp_store();
        let numbers = store
            .write(|tx| {
                Ok::<_, StoreError>(vec![
                    next_number(tx, &scope("prod"))?,
                    next_number(tx, &scope("prod"))?,
                    next_number(tx, &scope("dev"))?,
                ])
            })
            .unwrap();
        assert_eq!(numbers, ["INV-000001", "INV-000002", "INV-000001"]);
        let failed: Result<()> = store.write(|tx| {
            next_number(tx, &scope("prod"))?;
            Err(StoreError::Corrupt("stop".into()))
        });
        assert!(failed.is_err());
        let next = store.write(|tx| next_number(tx, &scope("prod"))).unwrap();
        assert_eq!(next, "INV-000003");
    }
}
