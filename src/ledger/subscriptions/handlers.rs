//! `/v1/subscriptions`: create, list and get subscriptions. Their billing periods are left
//! to the billing-period job (null until it runs).

use std::collections::BTreeMap;

use serde::Serialize;

use super::storage::{self, SubscriptionFilter};
use crate::clock::rfc3339_ms;
use crate::http::{ApiError, Ctx, Outcome, Reply, not_found};
use crate::ids::{SUBSCRIPTION, new_id};
use crate::ledger::customers::handlers::customer_not_found;
use crate::ledger::money;
use crate::ledger::subscriptions::{self, STATUS_ACTIVE, Subscription};

#[derive(Serialize)]
struct SubscriptionView<'a> {
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
    tenant_id: &'a str,
    environment_id: &'a str,
    status: &'a str,
    created_at: String,
    updated_at: String,
    created_by: &'a str,
    updated_by: &'a str,
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
        tenant_id: &s.tenant_id,
        environment_id: &s.environment_id,
        status: &s.status,
        created_at: rfc3339_ms(s.created_at),
        updated_at: rfc3339_ms(s.updated_at),
        created_by: &s.created_by,
        updated_by: &s.updated_by,
    }
}

fn subscription_not_found(id: &str) -> ApiError {
    not_found("Subscription", id)
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
        created_at: now,
        updated_at: now,
        created_by: by.clone(),
        updated_by: by.clone(),
    };
    ctx.app.store.write(|tx| {
        crate::ledger::customers::storage::get(tx, &ctx.scope, &subscription.customer_id)?
            .ok_or_else(|| {
                customer_not_found(&subscription.customer_id)
                    .with_detail("customer_id", subscription.customer_id.as_str())
            })?;
        storage::insert(tx, &subscription)?;
        Ok::<_, ApiError>(())
    })?;
    Reply::json(201, view(&subscription))
}

pub(crate) fn list(ctx: &Ctx<'_>) -> Outcome {
    let q = &ctx.query;
    let (limit, offset) = q.page()?;
    let filter = SubscriptionFilter {
        customer_id: q
            .text("customer_id", crate::ledger::customers::MAX_TEXT)?
            .map(str::to_owned),
        limit,
        offset,
    };
    let page = ctx
        .app
        .store
        .read(|tx| storage::list(tx, &ctx.scope, &filter))?;
    let items: Vec<_> = page.items.iter().map(view).collect();
    crate::http::list_reply(items, page.total, (limit, offset))
}

pub(crate) fn get(ctx: &Ctx<'_>, id: &str) -> Outcome {
    let subscription = ctx
        .app
        .store
        .read(|tx| storage::get(tx, &ctx.scope, id))?
        .ok_or_else(|| subscription_not_found(id))?;
    Reply::json(200, view(&subscription))
}
