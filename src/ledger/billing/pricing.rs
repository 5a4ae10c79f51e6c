//! What a subscription period costs, pure: the priced meters, the customer's usage of them,
//! and the DRAFT invoice they make.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde_json::Value;

use super::{RECURRING_LINE, SYSTEM_USER};
use crate::clock::rfc3339_ms;
use crate::ids::{INVOICE, new_id};
use crate::ledger::customers::Customer;
use crate::ledger::events::storage::StoredEvent;
use crate::ledger::invoices::{
    Invoice, LineItem, REASON_SUBSCRIPTION_CYCLE, TYPE_SUBSCRIPTION, line_item_ids,
};
use crate::ledger::meters::{Accumulator, Meter, MeterIndex};
use crate::ledger::money::{self, exact_mul};
use crate::ledger::periods::Period;
use crate::ledger::subscriptions::Subscription;
use crate::store::Scope;

/// Why a period cannot be billed: an amount that cannot be represented exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(super) struct Unbillable(String);

/// The meters that charge a subscription in `currency`, in config order.
pub(super) fn priced_meters(meters: &[Meter], currency: &str) -> Vec<Meter> {
    meters
        .iter()
        .filter(|m| m.unit_price.is_some() && m.currency == currency)
        .cloned()
        .collect()
}

/// One usage line: a priced meter and the customer's usage of it in the period.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct UsageCharge {
    pub meter: Meter,
    pub quantity: Decimal,
}

/// Whether an event is the customer's: its `customer_id` is the customer's id, or its
/// `external_customer_id` is the customer's external id.
pub(super) fn is_customers(event: &StoredEvent, customer: &Customer) -> bool {
    event.customer_id.as_deref() == Some(customer.id.as_str())
        || event.external_customer_id == customer.external_id
}

/// Adds the customer's events to the running totals of the meters in `index`, keyed by meter
/// id.
pub(super) fn add_usage(
    index: &MeterIndex<'_>,
    customer: &Customer,
    events: &[StoredEvent],
    totals: &mut HashMap<String, Accumulator>,
) {
    for e in events {
        let meters = index.for_event(&e.event_name);
        if meters.is_empty() || !is_customers(e, customer) {
            continue;
        }
        let properties: Option<Value> = e
            .properties
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok());
        for m in meters {
            let c = m.contribution(properties.as_ref());
            totals
                .entry(m.id.clone())
                .or_default()
                .add(&c, e.timestamp, &e.id);
        }
    }
}

/// The usage lines of the meters (in their order) that counted at least one event; an error
/// names a meter whose usage is too large for a decimal.
pub(super) fn usage_charges(
    meters: &[Meter],
    totals: &HashMap<String, Accumulator>,
) -> Result<Vec<UsageCharge>, Unbillable> {
    meters
        .iter()
        .filter_map(|m| {
            let acc = totals.get(&m.id).filter(|a| a.events > 0)?;
            Some(match acc.total(m.aggregation) {
                Some(quantity) => Ok(UsageCharge {
                    meter: m.clone(),
                    quantity,
                }),
                None => Err(Unbillable(format!(
                    "the usage of meter {} in the period is too large for a decimal (28 digits)",
                    m.id
                ))),
            })
        })
        .collect()
}

/// The DRAFT invoice of one subscription period: a recurring line (the recurring amount, once)
/// and a line per usage charge (unit price × quantity). Every amount is exact; an error says
/// which one cannot be represented.
pub(super) fn subscription_invoice(
    sub: &Subscription,
    period: &Period,
    usage: &[UsageCharge],
    invoice_number: String,
    now: i64,
) -> Result<(Invoice, Vec<LineItem>), Unbillable> {
    let id = new_id(INVOICE);
    let mut ids = line_item_ids(usage.len() + 1).into_iter();
    let mut line = |display_name: &str, amount, quantity, meter_id: Option<&str>| LineItem {
        id: ids
            .next()
            .unwrap_or_else(|| new_id(crate::ids::INVOICE_LINE_ITEM)),
        tenant_id: sub.tenant_id.clone(),
        environment_id: sub.environment_id.clone(),
        invoice_id: id.clone(),
        display_name: display_name.to_owned(),
        amount,
        quantity,
        meter_id: meter_id.map(str::to_owned),
        period_start: Some(period.start),
        period_end: Some(period.end),
        metadata: None,
        created_at: now,
    };
    let mut lines = vec![line(
        RECURRING_LINE,
        sub.recurring_amount,
        Decimal::ONE,
        None,
    )];
    let mut total = sub.recurring_amount;
    for charge in usage {
        let m = &charge.meter;
        let price = m.unit_price.unwrap_or_default();
        let cost = exact_mul(price, charge.quantity).ok_or_else(|| {
            Unbillable(format!(
                "meter {}: unit_price {} × quantity {} cannot be represented exactly",
                m.id,
                money::format(price),
                money::format(charge.quantity)
            ))
        })?;
        total = total.checked_add(cost).ok_or_else(|| {
            Unbillable(format!(
                "the invoice total overflows at meter {} (period from {})",
                m.id,
                rfc3339_ms(period.start)
            ))
        })?;
        lines.push(line(&m.feature_name, price, charge.quantity, Some(&m.id)));
    }
    let total = total.normalize();
    let scope = Scope {
        tenant_id: sub.tenant_id.clone(),
        environment_id: sub.environment_id.clone(),
    };
    let invoice = Invoice {
        subscription_id: Some(sub.id.clone()),
        invoice_number,
        invoice_type: TYPE_SUBSCRIPTION.to_owned(),
        billing_sequence: Some(period.sequence),
        billing_period: Some(sub.billing_period.as_str().to_owned()),
        period_start: Some(period.start),
        period_end: Some(period.end),
        billing_reason: REASON_SUBSCRIPTION_CYCLE.to_owned(),
        ..Invoice::draft(
            id,
            &scope,
            &sub.customer_id,
            &sub.currency,
            total,
            SYSTEM_USER,
            now,
        )
    };
    Ok((invoice, lines))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_rfc3339_ms;
    use crate::ledger::meters::Aggregation;
    use crate::ledger::money::dec as d;
    use crate::ledger::periods::Schedule;
    use crate::ledger::subscriptions::{BillingPeriod, STATUS_ACTIVE};
    use crate::store::Audit;

    fn ms(s: &str) -> i64 {
        parse_rfc3339_ms(s).unwrap()
    }

    fn meter(id: &str, event: &str, aggregation: Aggregation, field: &str, price: &str) -> Meter {
        Meter {
            id: id.into(),
            event_name: event.into(),
            aggregation,
            field: field.into(),
            feature_id: format!("feat_{id}"),
            feature_name: format!("Feature {id}"),
            feature_group_name: String::new(),
            unit_price: Some(d(price)),
            currency: "EUR".into(),
        }
    }

    fn customer() -> Customer {
        Customer::sample("cust_1", "e", "acme", 0)
    }

    fn event(
        id: &str,
        name: &str,
        external: &str,
        customer_id: Option<&str>,
        props: &str,
    ) -> StoredEvent {
        StoredEvent {
            id: id.into(),
            event_name: name.into(),
            external_customer_id: external.into(),
            customer_id: customer_id.map(str::to_owned),
            source: None,
            timestamp: 10,
            ingested_at: 10,
            properties: Some(props.into()),
        }
    }

    fn subscription(recurring: &str) -> Subscription {
        Subscription {
            id: "subs_1".into(),
            tenant_id: "t".into(),
            environment_id: "e".into(),
            customer_id: "cust_1".into(),
            currency: "EUR".into(),
            billing_period: BillingPeriod::Monthly,
            billing_period_count: 1,
            start_date: ms("2025-01-31T00:00:00Z"),
            billing_anchor: ms("2025-01-31T00:00:00Z"),
            recurring_amount: d(recurring),
            cancel_at: None,
            current_period_start: None,
            current_period_end: None,
            subscription_status: STATUS_ACTIVE.into(),
            metadata: None,
            status: "published".into(),
            audit: Audit::new("k", 0),
        }
    }

    #[test]
    fn usage_counts_only_the_customers_events_per_meter() {
        let meters = vec![
            meter("calls", "api_call", Aggregation::Count, "", "0.002"),
            meter("gb", "storage", Aggregation::Max, "gb", "0.25"),
            meter("unused", "login", Aggregation::Count, "", "1"),
        ];
        let index = MeterIndex::new(&meters);
        let events = [
            event("e1", "api_call", "acme", None, "{}"),
            // Its own customer_id names our customer, whatever its external id says.
            event("e2", "api_call", "someone-else", Some("cust_1"), "{}"),
            event("e3", "api_call", "other", Some("cust_2"), "{}"),
            event("e4", "storage", "acme", Some("cust_9"), r#"{"gb":"3.5"}"#),
            event("e5", "storage", "acme", None, r#"{"gb":2}"#),
            event("e6", "signup", "acme", None, "{}"),
        ];
        let mut totals = HashMap::new();
        add_usage(&index, &customer(), &events, &mut totals);
        let charges = usage_charges(&meters, &totals).unwrap();
        assert_eq!(
            charges
                .iter()
                .map(|c| (c.meter.id.as_str(), c.quantity))
                .collect::<Vec<_>>(),
            [("calls", d("2")), ("gb", d("3.5"))]
        );
        assert_eq!(
            priced_meters(&meters, "USD"),
            Vec::<Meter>::new(),
            "meters priced in another currency do not charge"
        );
    }

    #[test]
    fn invoices_add_the_recurring_amount_and_usage_exactly() {
        let sub = subscription("49.99");
        let period = Schedule::of(&sub).unwrap().first().unwrap();
        let usage = [
            UsageCharge {
                meter: meter("calls", "api_call", Aggregation::Count, "", "0.002"),
                quantity: d("1234"),
            },
            UsageCharge {
                meter: meter("gb", "storage", Aggregation::Max, "gb", "0.25"),
                quantity: d("3.5"),
            },
        ];
        let (inv, lines) =
            subscription_invoice(&sub, &period, &usage, "INV-000007".into(), 99).unwrap();
        // 49.99 + 2.468 + 0.875
        assert_eq!(inv.total, d("53.333"));
        assert_eq!(
            (inv.amount_due, inv.amount_remaining, inv.subtotal),
            (inv.total, inv.total, inv.total)
        );
        assert_eq!(
            (
                inv.invoice_type.as_str(),
                inv.billing_reason.as_str(),
                inv.invoice_status,
                inv.billing_sequence,
                inv.billing_period.as_deref(),
                inv.currency.as_str(),
                inv.subscription_id.as_deref(),
                inv.invoice_number.as_str()
            ),
            (
                "SUBSCRIPTION",
                "SUBSCRIPTION_CYCLE",
                crate::ledger::invoices::InvoiceStatus::Draft,
                Some(1),
                Some("MONTHLY"),
                "EUR",
                Some("subs_1"),
                "INV-000007"
            )
        );
        assert_eq!(
            (inv.period_start, inv.period_end),
            (
                Some(ms("2025-01-31T00:00:00Z")),
                Some(ms("2025-02-28T00:00:00Z"))
            )
        );
        assert_eq!(
            lines
                .iter()
                .map(|l| (
                    l.display_name.as_str(),
                    l.amount,
                    l.quantity,
                    l.meter_id.as_deref()
                ))
                .collect::<Vec<_>>(),
            [
                ("Recurring charge", d("49.99"), d("1"), None),
                ("Feature calls", d("0.002"), d("1234"), Some("calls")),
                ("Feature gb", d("0.25"), d("3.5"), Some("gb")),
            ]
        );
        assert!(lines.iter().all(|l| l.invoice_id == inv.id));
        assert!(lines.windows(2).all(|w| w[0].id < w[1].id));

        // A product with more digits than a Decimal holds is refused, never rounded.
        let huge = [UsageCharge {
            meter: meter(
                "calls",
                "api_call",
                Aggregation::Count,
                "",
                "0.000000000001",
            ),
            quantity: d("0.1234567890123456789"),
        }];
        let err = subscription_invoice(&sub, &period, &huge, "INV-1".into(), 0).unwrap_err();
        assert!(
            err.to_string().contains("cannot be represented exactly"),
            "{err}"
        );
    }
}
