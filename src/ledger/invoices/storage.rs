//! The `invoices`, `invoice_line_items` and `invoice_sequences` tables.

use rusqlite::{Row, Transaction};

use crate::ledger::invoices::{Invoice, InvoiceStatus, LineItem, invoice_number};
use crate::ledger::money::format;
use crate::store::{Filter, Page, Result, Scope, parse_column, select_one, select_page};
use crate::store::{decimal, metadata, metadata_json};

const COLUMNS: &str = "id, tenant_id, environment_id, customer_id, subscription_id, \
     invoice_number, invoice_type, invoice_status, payment_status, currency, amount_due, \
     amount_paid, amount_remaining, subtotal, total, total_discount, total_tax, \
     adjustment_amount, refunded_amount, billing_sequence, description, due_date, paid_at, \
     voided_at, finalized_at, billing_period, period_start, period_end, invoice_pdf_url, \
     billing_reason, metadata, idempotency_key, version, status, created_by, updated_by, \
     created_at, updated_at";

const LINE_COLUMNS: &str = "id, tenant_id, environment_id, invoice_id, display_name, amount, \
     quantity, meter_id, period_start, period_end, metadata, created_at";

/// Filters of `GET /v1/invoices`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InvoiceFilter {
    pub customer_id: Option<String>,
    pub invoice_status: Option<InvoiceStatus>,
    pub payment_status: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

fn read_row(r: &Row<'_>) -> Result<Invoice> {
    Ok(Invoice {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        environment_id: r.get(2)?,
        customer_id: r.get(3)?,
        subscription_id: r.get(4)?,
        invoice_number: r.get(5)?,
        invoice_type: r.get(6)?,
        invoice_status: parse_column("invoice_status", r.get(7)?, InvoiceStatus::parse)?,
        payment_status: r.get(8)?,
        currency: r.get(9)?,
        amount_due: decimal(r, 10, "amount_due")?,
        amount_paid: decimal(r, 11, "amount_paid")?,
        amount_remaining: decimal(r, 12, "amount_remaining")?,
        subtotal: decimal(r, 13, "subtotal")?,
        total: decimal(r, 14, "total")?,
        total_discount: decimal(r, 15, "total_discount")?,
        total_tax: decimal(r, 16, "total_tax")?,
        adjustment_amount: decimal(r, 17, "adjustment_amount")?,
        refunded_amount: decimal(r, 18, "refunded_amount")?,
        billing_sequence: r.get(19)?,
        description: r.get(20)?,
        due_date: r.get(21)?,
        paid_at: r.get(22)?,
        voided_at: r.get(23)?,
        finalized_at: r.get(24)?,
        billing_period: r.get(25)?,
        period_start: r.get(26)?,
        period_end: r.get(27)?,
        invoice_pdf_url: r.get(28)?,
        billing_reason: r.get(29)?,
        metadata: metadata(r, 30)?,
        idempotency_key: r.get(31)?,
        version: r.get(32)?,
        status: r.get(33)?,
        created_by: r.get(34)?,
        updated_by: r.get(35)?,
        created_at: r.get(36)?,
        updated_at: r.get(37)?,
    })
}

fn read_line(r: &Row<'_>) -> Result<LineItem> {
    Ok(LineItem {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        environment_id: r.get(2)?,
        invoice_id: r.get(3)?,
        display_name: r.get(4)?,
        amount: decimal(r, 5, "amount")?,
        quantity: decimal(r, 6, "quantity")?,
        meter_id: r.get(7)?,
        period_start: r.get(8)?,
        period_end: r.get(9)?,
        metadata: metadata(r, 10)?,
        created_at: r.get(11)?,
    })
}

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
    let placeholders: Vec<String> = (1..=38).map(|n| format!("?{n}")).collect();
    tx.execute(
        &format!(
            "INSERT INTO invoices ({COLUMNS}) VALUES ({})",
            placeholders.join(", ")
        ),
        rusqlite::params![
            i.id,
            i.tenant_id,
            i.environment_id,
            i.customer_id,
            i.subscription_id,
            i.invoice_number,
            i.invoice_type,
            i.invoice_status.as_str(),
            i.payment_status,
            i.currency,
            format(i.amount_due),
            format(i.amount_paid),
            format(i.amount_remaining),
            format(i.subtotal),
            format(i.total),
            format(i.total_discount),
            format(i.total_tax),
            format(i.adjustment_amount),
            format(i.refunded_amount),
            i.billing_sequence,
            i.description,
            i.due_date,
            i.paid_at,
            i.voided_at,
            i.finalized_at,
            i.billing_period,
            i.period_start,
            i.period_end,
            i.invoice_pdf_url,
            i.billing_reason,
            metadata_json(&i.metadata)?,
            i.idempotency_key,
            i.version,
            i.status,
            i.created_by,
            i.updated_by,
            i.created_at,
            i.updated_at,
        ],
    )?;
    let mut stmt = tx.prepare_cached(&format!(
        "INSERT INTO invoice_line_items ({LINE_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    ))?;
    for l in lines {
        stmt.execute(rusqlite::params![
            l.id,
            l.tenant_id,
            l.environment_id,
            l.invoice_id,
            l.display_name,
            format(l.amount),
            format(l.quantity),
            l.meter_id,
            l.period_start,
            l.period_end,
            metadata_json(&l.metadata)?,
            l.created_at,
        ])?;
    }
    Ok(())
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
            i.updated_at,
            i.updated_by,
            i.id,
            i.tenant_id,
            i.environment_id,
        ],
    )?;
    Ok(changed == 1)
}

pub(crate) fn get(tx: &Transaction<'_>, scope: &Scope, id: &str) -> Result<Option<Invoice>> {
    let mut f = Filter::scoped(scope);
    f.eq("id", id.to_owned());
    select_one(tx, "invoices", COLUMNS, &f, read_row)
}

pub(crate) fn get_by_idempotency_key(
    tx: &Transaction<'_>,
    scope: &Scope,
    key: &str,
) -> Result<Option<Invoice>> {
    let mut f = Filter::scoped(scope);
    f.eq("idempotency_key", key.to_owned());
    select_one(tx, "invoices", COLUMNS, &f, read_row)
}

/// An invoice's line items, in the order they were given.
pub(crate) fn line_items(
    tx: &Transaction<'_>,
    scope: &Scope,
    invoice_id: &str,
) -> Result<Vec<LineItem>> {
    let mut f = Filter::scoped(scope);
    f.eq("invoice_id", invoice_id.to_owned());
    let page = select_page(
        tx,
        "invoice_line_items",
        LINE_COLUMNS,
        &f,
        "created_at, id",
        (i64::MAX, 0),
        read_line,
    )?;
    Ok(page.items)
}

/// Newest first, id as tie-break; `total` counts every match.
pub(crate) fn list(
    tx: &Transaction<'_>,
    scope: &Scope,
    q: &InvoiceFilter,
) -> Result<Page<Invoice>> {
    let mut f = Filter::scoped(scope);
    if let Some(c) = &q.customer_id {
        f.eq("customer_id", c.clone());
    }
    if let Some(s) = q.invoice_status {
        f.eq("invoice_status", s.as_str().to_owned());
    }
    if let Some(s) = &q.payment_status {
        f.eq("payment_status", s.clone());
    }
    select_page(
        tx,
        "invoices",
        COLUMNS,
        &f,
        "created_at DESC, id DESC",
        (q.limit, q.offset),
        read_row,
    )
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
        "SELECT {COLUMNS} FROM invoices
         WHERE tenant_id = ?1 AND environment_id = ?2 AND invoice_status = ?3
           AND status = 'published' AND period_end < ?4
         ORDER BY period_end, id LIMIT ?5"
    ))?;
    crate::store::collect(
        stmt.query(rusqlite::params![
            scope.tenant_id,
            scope.environment_id,
            InvoiceStatus::Draft.as_str(),
            before,
            limit as i64
        ])?,
        read_row,
    )
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
