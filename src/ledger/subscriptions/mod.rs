//! Subscriptions (Flexprice's `/v1/subscriptions`): the record and the parsing of its
//! requests. Billing periods are advanced by the billing-period job, not here.

pub(crate) mod handlers;
pub(crate) mod storage;

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::Value;

use super::invoices::timestamp;
use super::money::{self, Bound};
use crate::input::{InputError, Obj};
use crate::store::Audit;

const MAX_TEXT: usize = 255;
pub(crate) const STATUS_ACTIVE: &str = "active";

crate::names::named! {
    pub(crate) enum BillingPeriod {
        Monthly = "MONTHLY",
        Annual = "ANNUAL",
        Weekly = "WEEKLY",
        Daily = "DAILY",
        Quarterly = "QUARTERLY",
        HalfYearly = "HALF_YEARLY",
    }
}

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Subscription {
    pub id: String,
    pub tenant_id: String,
    pub environment_id: String,
    pub customer_id: String,
    pub currency: String,
    pub billing_period: BillingPeriod,
    pub billing_period_count: i64,
    pub start_date: i64,
    pub billing_anchor: i64,
    pub recurring_amount: Decimal,
    pub cancel_at: Option<i64>,
    pub current_period_start: Option<i64>,
    pub current_period_end: Option<i64>,
    pub subscription_status: String,
    pub metadata: Option<BTreeMap<String, String>>,
    pub status: String,
    pub audit: Audit,
}

/// A validated `POST /v1/subscriptions`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CreateSubscription {
    pub customer_id: String,
    pub currency: String,
    pub billing_period: BillingPeriod,
    pub billing_period_count: i64,
    pub start_date: i64,
    pub billing_anchor: i64,
    pub recurring_amount: Decimal,
    pub cancel_at: Option<i64>,
    pub metadata: Option<BTreeMap<String, String>>,
}

pub(crate) fn parse_create(body: &Value) -> Result<CreateSubscription, InputError> {
    let mut obj = Obj::root(body)?;
    let customer_id = obj.required_str("customer_id", MAX_TEXT)?.to_owned();
    let currency = money::required_currency(&mut obj, "currency")?;
    let period = obj.required_str("billing_period", 64)?;
    let billing_period = BillingPeriod::parse(period).ok_or_else(|| {
        let names: Vec<_> = BillingPeriod::ALL.iter().map(|p| p.as_str()).collect();
        InputError::new(
            "billing_period",
            format!("billing_period must be one of: {}", names.join(", ")),
        )
    })?;
    let billing_period_count = obj.int("billing_period_count", 1, 100)?.unwrap_or(1);
    let start_date = timestamp(&mut obj, "start_date")?
        .ok_or_else(|| InputError::new("start_date", "start_date is required"))?;
    let billing_anchor = timestamp(&mut obj, "billing_anchor")?.unwrap_or(start_date);
    let recurring_amount =
        money::required_amount(&mut obj, "recurring_amount", Bound::NonNegative)?;
    let cancel_at = timestamp(&mut obj, "cancel_at")?;
    if cancel_at.is_some_and(|c| c <= start_date) {
        return Err(InputError::new(
            "cancel_at",
            "cancel_at must be after start_date",
        ));
    }
    let metadata = obj.string_map("metadata")?;
    obj.finish()?;
    Ok(CreateSubscription {
        customer_id,
        currency,
        billing_period,
        billing_period_count,
        start_date,
        billing_anchor,
        recurring_amount,
        cancel_at,
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_rfc3339_ms;
    use serde_json::json;

    fn body(extra: Value) -> Value {
        let mut v = json!({"customer_id": "cust_1", "currency": "usd", "billing_period": "MONTHLY",
                           "start_date": "2025-01-31T00:00:00Z", "recurring_amount": "49.99"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    #[test]
    fn fills_defaults() {
        let s = parse_create(&body(json!({}))).unwrap();
        assert_eq!(s.currency, "USD");
        assert_eq!(s.billing_period, BillingPeriod::Monthly);
        assert_eq!(s.billing_period_count, 1);
        assert_eq!(s.billing_anchor, s.start_date);
        assert_eq!(
            s.start_date,
            parse_rfc3339_ms("2025-01-31T00:00:00Z").unwrap()
        );
        assert_eq!(
            s.recurring_amount,
            Decimal::from_str_exact("49.99").unwrap()
        );
        let s = parse_create(&body(
            json!({"billing_period": "HALF_YEARLY", "billing_period_count": 2,
            "billing_anchor": "2025-02-01T00:00:00Z", "cancel_at": "2026-01-01T00:00:00Z"}),
        ))
        .unwrap();
        assert_eq!(
            (s.billing_period.as_str(), s.billing_period_count),
            ("HALF_YEARLY", 2)
        );
        assert!(s.cancel_at.is_some());
    }

    #[test]
    fn names_the_bad_field() {
        let err = |extra: Value| parse_create(&body(extra)).unwrap_err();
        assert_eq!(
            err(json!({"billing_period": "monthly"})).field,
            "billing_period"
        );
        assert_eq!(
            err(json!({"billing_period": "YEARLY"})).message,
            "billing_period must be one of: MONTHLY, ANNUAL, WEEKLY, DAILY, QUARTERLY, HALF_YEARLY"
        );
        assert_eq!(
            err(json!({"billing_period_count": 0})).message,
            "billing_period_count must be a whole number from 1 to 100"
        );
        assert_eq!(
            err(json!({"billing_period_count": 101})).field,
            "billing_period_count"
        );
        assert_eq!(
            err(json!({"start_date": null})).message,
            "start_date is required"
        );
        assert_eq!(err(json!({"start_date": "2025-01-31"})).field, "start_date");
        assert_eq!(err(json!({"billing_anchor": 5})).field, "billing_anchor");
        assert_eq!(
            err(json!({"recurring_amount": "-1"})).field,
            "recurring_amount"
        );
        assert_eq!(
            err(json!({"recurring_amount": null})).message,
            "recurring_amount is required"
        );
        assert_eq!(
            err(json!({"cancel_at": "2025-01-31T00:00:00Z"})).message,
            "cancel_at must be after start_date"
        );
        assert_eq!(err(json!({"currency": "usdollar"})).field, "currency");
        assert_eq!(
            err(json!({"plan_id": "x"})).message,
            "plan_id is not a known field"
        );
    }
}
