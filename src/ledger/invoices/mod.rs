//! Invoices (Flexprice's `/v1/invoices`): the records, the parsing of one-off invoice
//! requests, and the status transitions (finalize, void, payment) as pure functions.

pub(crate) mod handlers;
pub(crate) mod storage;

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::Value;

use super::money::{self, Bound};
use crate::clock::parse_rfc3339_ms;
use crate::input::{InputError, Obj};
use crate::store::{Audit, Scope};

const MAX_TEXT: usize = 255;
const MAX_DESCRIPTION: usize = 4096;
/// Most line items one request may carry.
pub(crate) const MAX_LINE_ITEMS: usize = 500;

/// One-off invoices made through the API.
pub(crate) const TYPE_ONE_OFF: &str = "ONE_OFF";
pub(crate) const REASON_MANUAL: &str = "MANUAL";
/// Invoices the billing-period job makes, one per subscription period.
pub(crate) const TYPE_SUBSCRIPTION: &str = "SUBSCRIPTION";
pub(crate) const REASON_SUBSCRIPTION_CYCLE: &str = "SUBSCRIPTION_CYCLE";

/// Flexprice's payment statuses, and VOIDED for a voided invoice.
pub(crate) const PAYMENT_PENDING: &str = "PENDING";
pub(crate) const PAYMENT_SUCCEEDED: &str = "SUCCEEDED";
pub(crate) const PAYMENT_VOIDED: &str = "VOIDED";
pub(crate) const PAYMENT_STATUSES: [&str; 9] = [
    "INITIATED",
    "PENDING",
    "PROCESSING",
    "SUCCEEDED",
    "OVERPAID",
    "FAILED",
    "REFUNDED",
    "PARTIALLY_REFUNDED",
    "VOIDED",
];

crate::names::named! {
    pub(crate) enum InvoiceStatus {
        Draft = "DRAFT",
        Finalized = "FINALIZED",
        Voided = "VOIDED",
        Skipped = "SKIPPED",
    }
}

/// An invoice as stored: every column of the `invoices` table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Invoice {
    pub id: String,
    pub tenant_id: String,
    pub environment_id: String,
    pub customer_id: String,
    pub subscription_id: Option<String>,
    pub invoice_number: String,
    pub invoice_type: String,
    pub invoice_status: InvoiceStatus,
    pub payment_status: String,
    pub currency: String,
    pub amount_due: Decimal,
    pub amount_paid: Decimal,
    pub amount_remaining: Decimal,
    pub subtotal: Decimal,
    pub total: Decimal,
    pub total_discount: Decimal,
    pub total_tax: Decimal,
    pub adjustment_amount: Decimal,
    pub refunded_amount: Decimal,
    pub billing_sequence: Option<i64>,
    pub description: Option<String>,
    pub due_date: Option<i64>,
    pub paid_at: Option<i64>,
    pub voided_at: Option<i64>,
    pub finalized_at: Option<i64>,
    pub billing_period: Option<String>,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
    pub invoice_pdf_url: Option<String>,
    pub billing_reason: String,
    pub metadata: Option<BTreeMap<String, String>>,
    pub idempotency_key: Option<String>,
    pub version: i64,
    pub status: String,
    pub audit: Audit,
}

/// A line item as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LineItem {
    pub id: String,
    pub tenant_id: String,
    pub environment_id: String,
    pub invoice_id: String,
    pub display_name: String,
    pub amount: Decimal,
    pub quantity: Decimal,
    pub meter_id: Option<String>,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub created_at: i64,
}

/// A validated line item of a new invoice.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewLineItem {
    pub display_name: String,
    /// The unit amount; the line costs `amount × quantity`.
    pub amount: Decimal,
    pub quantity: Decimal,
    pub metadata: Option<BTreeMap<String, String>>,
}

/// A validated `POST /v1/invoices`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CreateInvoice {
    pub customer_id: String,
    pub currency: String,
    pub amount_due: Decimal,
    pub line_items: Vec<NewLineItem>,
    pub due_date: Option<i64>,
    pub description: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub idempotency_key: Option<String>,
}

/// An RFC 3339 time between 1970 and 9999.
pub(crate) fn timestamp<'a>(obj: &mut Obj<'a>, key: &'a str) -> Result<Option<i64>, InputError> {
    let field = obj.field(key);
    match obj.str(key, 64)?.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(text) => parse_rfc3339_ms(text)
            .filter(|ms| (0..=253_402_300_799_999).contains(ms))
            .map(Some)
            .ok_or_else(|| {
                InputError::new(
                    &field,
                    format!(
                        "{field} must be an RFC 3339 timestamp between 1970 and 9999, such as 2025-10-16T10:00:00Z"
                    ),
                )
            }),
    }
}

fn parse_line_item(mut obj: Obj<'_>) -> Result<NewLineItem, InputError> {
    let display_name = obj.required_str("display_name", MAX_TEXT)?.to_owned();
    let amount = money::required_amount(&mut obj, "amount", Bound::NonNegative)?;
    let quantity = money::amount(&mut obj, "quantity", Bound::NonNegative)?.unwrap_or(Decimal::ONE);
    let metadata = obj.string_map("metadata")?;
    obj.finish()?;
    Ok(NewLineItem {
        display_name,
        amount,
        quantity,
        metadata,
    })
}

/// What a line costs: `amount × quantity`, exact, with at most 12 decimal places.
pub(crate) fn line_total(field: &str, item: &NewLineItem) -> Result<Decimal, InputError> {
    let total = money::exact_mul(item.amount, item.quantity).ok_or_else(|| {
        InputError::new(
            field,
            format!(
                "{field}: amount × quantity must be at most {}",
                money::MAX_AMOUNT
            ),
        )
    })?;
    if total.scale() > money::MAX_SCALE {
        return Err(InputError::new(
            field,
            format!(
                "{field}: amount × quantity must have at most {} decimal places",
                money::MAX_SCALE
            ),
        ));
    }
    if total > Decimal::from(money::MAX_AMOUNT) {
        return Err(InputError::new(
            field,
            format!(
                "{field}: amount × quantity must be at most {}",
                money::MAX_AMOUNT
            ),
        ));
    }
    Ok(total)
}

/// `amount_due` must be what the line items add up to.
pub(crate) fn check_total(amount_due: Decimal, items: &[NewLineItem]) -> Result<(), InputError> {
    let mut sum = Decimal::ZERO;
    for (i, item) in items.iter().enumerate() {
        // Each line is at most MAX_AMOUNT and the sum is checked against it as it grows, so
        // it never nears Decimal's range.
        sum += line_total(&format!("line_items[{i}]"), item)?;
        if sum > Decimal::from(money::MAX_AMOUNT) {
            return Err(InputError::new(
                "line_items",
                format!("line_items must add up to at most {}", money::MAX_AMOUNT),
            ));
        }
    }
    if sum != amount_due {
        return Err(InputError::new(
            "amount_due",
            format!(
                "amount_due ({}) must equal the sum of the line items' amount × quantity ({})",
                money::format(amount_due),
                money::format(sum)
            ),
        ));
    }
    Ok(())
}

pub(crate) fn parse_create(body: &Value) -> Result<CreateInvoice, InputError> {
    let mut obj = Obj::root(body)?;
    let customer_id = obj.required_str("customer_id", MAX_TEXT)?.to_owned();
    let currency = money::required_currency(&mut obj, "currency")?;
    let amount_due = money::required_amount(&mut obj, "amount_due", Bound::NonNegative)?;
    let line_items = obj
        .obj_array("line_items", MAX_LINE_ITEMS)?
        .into_iter()
        .map(parse_line_item)
        .collect::<Result<Vec<_>, _>>()?;
    let due_date = timestamp(&mut obj, "due_date")?;
    let description = obj
        .str("description", MAX_DESCRIPTION)?
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let metadata = obj.string_map("metadata")?;
    let idempotency_key = obj
        .str("idempotency_key", MAX_TEXT)?
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    obj.finish()?;
    // An empty list is no list: only given line items must add up.
    if !line_items.is_empty() {
        check_total(amount_due, &line_items)?;
    }
    Ok(CreateInvoice {
        customer_id,
        currency,
        amount_due,
        line_items,
        due_date,
        description,
        metadata,
        idempotency_key,
    })
}

/// `n` new line item ids that sort in the order they are made (line items are listed by
/// `(created_at, id)`, and all of an invoice's share one `created_at`).
pub(crate) fn line_item_ids(n: usize) -> Vec<String> {
    // Counting up from a fresh ULID: a carry out of the random part moves into the time part,
    // which keeps the order.
    let start = ulid::Ulid::new().0;
    (0..n as u128)
        .map(|i| {
            let id = ulid::Ulid(start.wrapping_add(i));
            format!("{}_{id}", crate::ids::INVOICE_LINE_ITEM)
        })
        .collect()
}

/// Whether a stored invoice is what a retried request with the same idempotency key asks for.
pub(crate) fn same_request(invoice: &Invoice, input: &CreateInvoice) -> bool {
    invoice.customer_id == input.customer_id
        && invoice.currency == input.currency
        && invoice.amount_due == input.amount_due
}

/// The invoice number of the `n`th invoice of an environment.
pub(crate) fn invoice_number(n: i64) -> String {
    format!("INV-{n:06}")
}

/// Why a transition is not allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Illegal {
    pub message: String,
    /// The request field at fault, when there is one (an overpayment's `amount`).
    pub field: Option<&'static str>,
}

fn illegal(message: String) -> Illegal {
    Illegal {
        message,
        field: None,
    }
}

impl Invoice {
    /// A new published DRAFT invoice of a customer: `amount` due, nothing paid, no tax,
    /// discount or period; a one-off invoice made by hand until the caller says otherwise.
    pub(crate) fn draft(
        id: String,
        scope: &Scope,
        customer_id: &str,
        currency: &str,
        amount: Decimal,
        by: &str,
        now: i64,
    ) -> Invoice {
        Invoice {
            id,
            tenant_id: scope.tenant_id.clone(),
            environment_id: scope.environment_id.clone(),
            customer_id: customer_id.to_owned(),
            subscription_id: None,
            invoice_number: String::new(),
            invoice_type: TYPE_ONE_OFF.to_owned(),
            invoice_status: InvoiceStatus::Draft,
            payment_status: PAYMENT_PENDING.to_owned(),
            currency: currency.to_owned(),
            amount_due: amount,
            amount_paid: Decimal::ZERO,
            amount_remaining: amount,
            subtotal: amount,
            total: amount,
            total_discount: Decimal::ZERO,
            total_tax: Decimal::ZERO,
            adjustment_amount: Decimal::ZERO,
            refunded_amount: Decimal::ZERO,
            billing_sequence: None,
            description: None,
            due_date: None,
            paid_at: None,
            voided_at: None,
            finalized_at: None,
            billing_period: None,
            period_start: None,
            period_end: None,
            invoice_pdf_url: None,
            billing_reason: REASON_MANUAL.to_owned(),
            metadata: None,
            idempotency_key: None,
            version: 1,
            status: "published".to_owned(),
            audit: Audit::new(by, now),
        }
    }

    fn touch(&mut self, now: i64, by: &str) {
        self.version += 1;
        self.audit.touch(by, now);
    }

    /// DRAFT → FINALIZED. An invoice with nothing to pay is paid the moment it is final.
    pub(crate) fn finalize(&mut self, now: i64, by: &str) -> Result<(), Illegal> {
        if self.invoice_status != InvoiceStatus::Draft {
            return Err(illegal(format!(
                "Invoice {} is {}: only a DRAFT invoice can be finalized",
                self.id,
                self.invoice_status.as_str()
            )));
        }
        self.invoice_status = InvoiceStatus::Finalized;
        self.finalized_at = Some(now);
        if self.amount_remaining.is_zero() && self.payment_status == PAYMENT_PENDING {
            self.payment_status = PAYMENT_SUCCEEDED.to_owned();
            self.paid_at = Some(now);
        }
        self.touch(now, by);
        Ok(())
    }

    /// DRAFT, or FINALIZED with nothing paid → VOIDED.
    pub(crate) fn void(&mut self, now: i64, by: &str) -> Result<(), Illegal> {
        match self.invoice_status {
            InvoiceStatus::Draft | InvoiceStatus::Finalized => {}
            other => {
                return Err(illegal(format!(
                    "Invoice {} is {}: only a DRAFT or FINALIZED invoice can be voided",
                    self.id,
                    other.as_str()
                )));
            }
        }
        if !self.amount_paid.is_zero() || self.payment_status == PAYMENT_SUCCEEDED {
            return Err(illegal(format!(
                "Invoice {} is {} with payment_status {} and amount_paid {}: an invoice with payments cannot be voided",
                self.id,
                self.invoice_status.as_str(),
                self.payment_status,
                money::format(self.amount_paid)
            )));
        }
        self.invoice_status = InvoiceStatus::Voided;
        self.payment_status = PAYMENT_VOIDED.to_owned();
        self.voided_at = Some(now);
        self.touch(now, by);
        Ok(())
    }

    /// Records a payment on a FINALIZED invoice: at most what remains; paid in full, the
    /// payment status becomes SUCCEEDED.
    pub(crate) fn pay(&mut self, amount: Decimal, now: i64, by: &str) -> Result<(), Illegal> {
        if self.invoice_status != InvoiceStatus::Finalized {
            return Err(illegal(format!(
                "Invoice {} is {}: only a FINALIZED invoice can take payments",
                self.id,
                self.invoice_status.as_str()
            )));
        }
        if self.payment_status == PAYMENT_SUCCEEDED || self.amount_remaining.is_zero() {
            return Err(illegal(format!(
                "Invoice {} is FINALIZED and already paid in full (payment_status {})",
                self.id, self.payment_status
            )));
        }
        if amount > self.amount_remaining {
            return Err(Illegal {
                message: format!(
                    "Invoice {} is FINALIZED with amount_remaining {}: a payment of {} would overpay it",
                    self.id,
                    money::format(self.amount_remaining),
                    money::format(amount)
                ),
                field: Some("amount"),
            });
        }
        self.amount_paid = (self.amount_paid + amount).normalize();
        self.amount_remaining = (self.amount_remaining - amount).normalize();
        if self.amount_remaining.is_zero() {
            self.payment_status = PAYMENT_SUCCEEDED.to_owned();
            self.paid_at = Some(now);
        }
        self.touch(now, by);
        Ok(())
    }
}

/// `POST /v1/invoices/{id}/payment {"amount"}`.
pub(crate) fn parse_payment(body: &Value) -> Result<Decimal, InputError> {
    let mut obj = Obj::root(body)?;
    let amount = money::required_amount(&mut obj, "amount", Bound::Positive)?;
    obj.finish()?;
    Ok(amount)
}

#[cfg(test)]
mod tests;
