//! `/v1/invoices`: one-off invoices (create, list, get) and their transitions: finalize,
//! void and payment.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use super::storage::{self, InvoiceFilter};
use crate::clock::rfc3339_ms;
use crate::http::{ApiError, Ctx, Outcome, Reply, View};
use crate::ids::{INVOICE, new_id};
use crate::ledger::customers::handlers::check_customer_exists;
use crate::ledger::invoices::{self, Illegal, Invoice, InvoiceStatus, LineItem, PAYMENT_STATUSES};
use crate::ledger::money;
use crate::store::record::Stored;

/// An invoice on the wire: every column of the table, decimals as strings, times as RFC 3339
/// or null; `line_items` on single-invoice answers (not in lists).
#[derive(Serialize)]
pub(crate) struct InvoiceView<'a> {
    id: &'a str,
    customer_id: &'a str,
    subscription_id: Option<&'a str>,
    invoice_number: &'a str,
    invoice_type: &'a str,
    invoice_status: &'static str,
    payment_status: &'a str,
    currency: &'a str,
    amount_due: String,
    amount_paid: String,
    amount_remaining: String,
    subtotal: String,
    total: String,
    total_discount: String,
    total_tax: String,
    adjustment_amount: String,
    refunded_amount: String,
    billing_sequence: Option<i64>,
    description: Option<&'a str>,
    due_date: Option<String>,
    paid_at: Option<String>,
    voided_at: Option<String>,
    finalized_at: Option<String>,
    billing_period: Option<&'a str>,
    period_start: Option<String>,
    period_end: Option<String>,
    invoice_pdf_url: Option<&'a str>,
    billing_reason: &'a str,
    metadata: Option<&'a BTreeMap<String, String>>,
    idempotency_key: Option<&'a str>,
    version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    line_items: Option<Vec<LineItemView<'a>>>,
    #[serde(flatten)]
    base: crate::http::BaseView<'a>,
}

#[derive(Serialize)]
struct LineItemView<'a> {
    id: &'a str,
    tenant_id: &'a str,
    environment_id: &'a str,
    invoice_id: &'a str,
    display_name: &'a str,
    amount: String,
    quantity: String,
    meter_id: Option<&'a str>,
    period_start: Option<String>,
    period_end: Option<String>,
    metadata: Option<&'a BTreeMap<String, String>>,
    created_at: String,
}

fn line_view(l: &LineItem) -> LineItemView<'_> {
    LineItemView {
        id: &l.id,
        tenant_id: &l.tenant_id,
        environment_id: &l.environment_id,
        invoice_id: &l.invoice_id,
        display_name: &l.display_name,
        amount: money::format(l.amount),
        quantity: money::format(l.quantity),
        meter_id: l.meter_id.as_deref(),
        period_start: l.period_start.map(rfc3339_ms),
        period_end: l.period_end.map(rfc3339_ms),
        metadata: l.metadata.as_ref(),
        created_at: rfc3339_ms(l.created_at),
    }
}

fn view<'a>(i: &'a Invoice, lines: Option<&'a [LineItem]>) -> InvoiceView<'a> {
    let f = |d: Decimal| money::format(d);
    InvoiceView {
        id: &i.id,
        customer_id: &i.customer_id,
        subscription_id: i.subscription_id.as_deref(),
        invoice_number: &i.invoice_number,
        invoice_type: &i.invoice_type,
        invoice_status: i.invoice_status.as_str(),
        payment_status: &i.payment_status,
        currency: &i.currency,
        amount_due: f(i.amount_due),
        amount_paid: f(i.amount_paid),
        amount_remaining: f(i.amount_remaining),
        subtotal: f(i.subtotal),
        total: f(i.total),
        total_discount: f(i.total_discount),
        total_tax: f(i.total_tax),
        adjustment_amount: f(i.adjustment_amount),
        refunded_amount: f(i.refunded_amount),
        billing_sequence: i.billing_sequence,
        description: i.description.as_deref(),
        due_date: i.due_date.map(rfc3339_ms),
        paid_at: i.paid_at.map(rfc3339_ms),
        voided_at: i.voided_at.map(rfc3339_ms),
        finalized_at: i.finalized_at.map(rfc3339_ms),
        billing_period: i.billing_period.as_deref(),
        period_start: i.period_start.map(rfc3339_ms),
        period_end: i.period_end.map(rfc3339_ms),
        invoice_pdf_url: i.invoice_pdf_url.as_deref(),
        billing_reason: &i.billing_reason,
        metadata: i.metadata.as_ref(),
        idempotency_key: i.idempotency_key.as_deref(),
        version: i.version,
        line_items: lines.map(|ls| ls.iter().map(line_view).collect()),
        base: crate::http::base_view!(i),
    }
}

impl View for Invoice {
    const KIND: &'static str = "Invoice";
    fn view(&self) -> impl Serialize {
        view(self, None)
    }
}

/// Creates a DRAFT one-off invoice with the next invoice number. A repeated idempotency key
/// answers the invoice it made (200) instead.
pub(crate) fn create(ctx: &Ctx<'_>) -> Outcome {
    let input = invoices::parse_create(&ctx.json()?)?;
    let now = ctx.now();
    let by = &ctx.principal.key_name;
    let (status, invoice, lines) = ctx.app.store.write(|tx| {
        if let Some(key) = &input.idempotency_key
            && let Some(existing) = Invoice::by(tx, &ctx.scope, "idempotency_key", key)?
        {
            if !invoices::same_request(&existing, &input) {
                return Err(ApiError::already_exists(format!(
                    "idempotency_key was already used for invoice {} ({} {} for customer {})",
                    existing.invoice_number,
                    money::format(existing.amount_due),
                    existing.currency,
                    existing.customer_id
                ))
                .with_detail("field", "idempotency_key")
                .with_detail("id", existing.id.as_str()));
            }
            let lines = storage::line_items(tx, &ctx.scope, &existing.id)?;
            return Ok((200, existing, lines));
        }
        check_customer_exists(tx, ctx, &input.customer_id)?;
        let invoice = Invoice {
            invoice_number: storage::next_number(tx, &ctx.scope)?,
            description: input.description.clone(),
            due_date: input.due_date,
            metadata: input.metadata.clone(),
            idempotency_key: input.idempotency_key.clone(),
            ..Invoice::draft(
                new_id(INVOICE),
                &ctx.scope,
                &input.customer_id,
                &input.currency,
                input.amount_due,
                by,
                now,
            )
        };
        let ids = invoices::line_item_ids(input.line_items.len());
        let lines: Vec<LineItem> = input
            .line_items
            .iter()
            .zip(ids)
            .map(|(item, id)| LineItem {
                id,
                tenant_id: invoice.tenant_id.clone(),
                environment_id: invoice.environment_id.clone(),
                invoice_id: invoice.id.clone(),
                display_name: item.display_name.clone(),
                amount: item.amount,
                quantity: item.quantity,
                meter_id: None,
                period_start: None,
                period_end: None,
                metadata: item.metadata.clone(),
                created_at: now,
            })
            .collect();
        storage::insert(tx, &invoice, &lines)?;
        Ok::<_, ApiError>((201, invoice, lines))
    })?;
    Reply::json(status, view(&invoice, Some(&lines)))
}

pub(crate) fn list(ctx: &Ctx<'_>) -> Outcome {
    let q = &ctx.query;
    let statuses: Vec<_> = InvoiceStatus::ALL.iter().map(|s| s.as_str()).collect();
    let filter = InvoiceFilter {
        customer_id: q
            .text("customer_id", crate::ledger::customers::MAX_TEXT)?
            .map(str::to_owned),
        invoice_status: q.choice("invoice_status", InvoiceStatus::parse, &statuses.join(", "))?,
        payment_status: q.choice(
            "payment_status",
            |s| PAYMENT_STATUSES.contains(&s).then(|| s.to_owned()),
            &PAYMENT_STATUSES.join(", "),
        )?,
    };
    ctx.list(|tx, s, page| crate::store::record::list(tx, s, &filter, page))
}

pub(crate) fn get(ctx: &Ctx<'_>, id: &str) -> Outcome {
    let (invoice, lines) = ctx.app.store.read(|tx| {
        let invoice = ctx.find::<Invoice>(tx, id)?;
        let lines = storage::line_items(tx, &ctx.scope, id)?;
        Ok::<_, ApiError>((invoice, lines))
    })?;
    Reply::json(200, view(&invoice, Some(&lines)))
}

/// Applies a status transition in one transaction; an illegal one is a 400 invalid_operation
/// that says the invoice's current status.
fn transition(
    ctx: &Ctx<'_>,
    id: &str,
    change: impl FnOnce(&mut Invoice, i64, &str) -> Result<(), Illegal>,
) -> Outcome {
    let now = ctx.now();
    let (invoice, lines) = ctx.app.store.write(|tx| {
        let mut invoice = ctx.find::<Invoice>(tx, id)?;
        change(&mut invoice, now, &ctx.principal.key_name)?;
        // Every write goes through the one writer connection, so the version read above is
        // still current; the check guards against a future writer elsewhere.
        if !storage::update_status(tx, &invoice)? {
            return Err(ApiError::version_conflict(format!(
                "Invoice {id} changed while this request ran; retry it"
            )));
        }
        let lines = storage::line_items(tx, &ctx.scope, id)?;
        Ok::<_, ApiError>((invoice, lines))
    })?;
    Reply::json(200, view(&invoice, Some(&lines)))
}

pub(crate) fn finalize(ctx: &Ctx<'_>, id: &str) -> Outcome {
    transition(ctx, id, Invoice::finalize)
}

pub(crate) fn void(ctx: &Ctx<'_>, id: &str) -> Outcome {
    transition(ctx, id, Invoice::void)
}

pub(crate) fn payment(ctx: &Ctx<'_>, id: &str) -> Outcome {
    let amount = invoices::parse_payment(&ctx.json()?)?;
    transition(ctx, id, |invoice, now, by| invoice.pay(amount, now, by))
}
