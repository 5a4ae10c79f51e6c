//! `/v1/subscriptions`: create, list and get subscriptions. Their billing periods are left
//! to the billing-period job (null until it runs).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::clock::rfc3339_ms;
use crate::http::{Ctx, Outcome, Reply, View};
use crate::ids::{SUBSCRIPTION, new_id};
use crate::ledger::customers;
use crate::ledger::money;
use crate::ledger::subscriptions::{self, STATUS_ACTIVE, Subscription};
use crate::store::Audit;

#[derive(Serialize)]
pub(crate) struct SubscriptionView<'a> {
    id: &'a str,
    customer_id: &'a str,
    currency: &'a str,
    billing_period: &'static str,
    billing_period_count: i64,
    start_date: String,
    billing_anchor: String,
    recurring_amount: String,
    cancel_at: Option<String>,
    current_period_start: Option<String>,
    current_period_end: Option<String>,
    subscription_status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a BTreeMap<String, String>>,
    #[serde(flatten)]
    base: crate::http::BaseView<'a>,
}

fn view(s: &Subscription) -> SubscriptionView<'_> {
    SubscriptionView {
        id: &s.id,
        customer_id: &s.customer_id,
        currency: &s.currency,
        billing_period: s.billing_period.as_str(),
        billing_period_count: s.billing_period_count,
        start_date: rfc3339_ms(s.start_date),
        billing_anchor: rfc3339_ms(s.billing_anchor),
        recurring_amount: money::format(s.recurring_amount),
        cancel_at: s.cancel_at.map(rfc3339_ms),
        current_period_start: s.current_period_start.map(rfc3339_ms),
        current_period_end: s.current_period_end.map(rfc3339_ms),
        subscription_status: &s.subscription_status,
        metadata: s.metadata.as_ref(),
        base: crate::http::base_view!(s),
    }
}

impl View for Subscription {
    const KIND: &'static str = "Subscription";
    fn view(&self) -> impl Serialize {
        view(self)
    }
}

pub(crate) fn create(ctx: &Ctx<'_>) -> Outcome {
    let input = subscriptions::parse_create(&ctx.json()?)?;
    let now = ctx.now();
    let by = &ctx.principal.key_name;
    let subscription = Subscription {
        id: new_id(SUBSCRIPTION),
        tenant_id: ctx.scope.tenant_id.clone(),
        environment_id: ctx.scope.environment_id.clone(),
        customer_id: input.customer_id,
        currency: input.currency,
        billing_period: input.billing_period,
        billing_period_count: input.billing_period_count,
        start_date: input.start_date,
        billing_anchor: input.billing_anchor,
        recurring_amount: input.recurring_amount,
        cancel_at: input.cancel_at,
        current_period_start: None,
        current_period_end: None,
        subscription_status: STATUS_ACTIVE.to_owned(),
        metadata: input.metadata,
        status: "published".to_owned(),
        audit: Audit::new(by, now),
    };
    customers::handlers::insert_of_customer(ctx, &subscription.customer_id, &subscription)?;
    Reply::json(201, view(&subscription))
}
