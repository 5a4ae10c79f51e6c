//! The `subscriptions` table.

use rusqlite::{Row, Transaction};

use crate::ledger::money::format;
use crate::ledger::subscriptions::{BillingPeriod, STATUS_ACTIVE, Subscription};
use crate::store::{Filter, Page, Result, Scope, parse_column, select_one, select_page};
use crate::store::{decimal, metadata, metadata_json};

const COLUMNS: &str = "id, tenant_id, environment_id, customer_id, currency, billing_period, \
     billing_period_count, start_date, billing_anchor, recurring_amount, cancel_at, \
     current_period_start, current_period_end, subscription_status, metadata, status, \
     created_at, updated_at, created_by, updated_by";

/// Filters of `GET /v1/subscriptions`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SubscriptionFilter {
    pub customer_id: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

fn read_row(r: &Row<'_>) -> Result<Subscription> {
    Ok(Subscription {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        environment_id: r.get(2)?,
        customer_id: r.get(3)?,
        currency: r.get(4)?,
        billing_period: parse_column("billing_period", r.get(5)?, BillingPeriod::parse)?,
        billing_period_count: r.get(6)?,
        start_date: r.get(7)?,
        billing_anchor: r.get(8)?,
        recurring_amount: decimal(r, 9, "recurring_amount")?,
        cancel_at: r.get(10)?,
        current_period_start: r.get(11)?,
        current_period_end: r.get(12)?,
        subscription_status: r.get(13)?,
        metadata: metadata(r, 14)?,
        status: r.get(15)?,
        created_at: r.get(16)?,
        updated_at: r.get(17)?,
        created_by: r.get(18)?,
        updated_by: r.get(19)?,
    })
}

pub(crate) fn insert(tx: &Transaction<'_>, s: &Subscription) -> Result<()> {
    tx.execute(
        &format!(
            "INSERT INTO subscriptions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,
                 ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)"
        ),
        rusqlite::params![
            s.id,
            s.tenant_id,
            s.environment_id,
            s.customer_id,
            s.currency,
            s.billing_period.as_str(),
            s.billing_period_count,
            s.start_date,
            s.billing_anchor,
            format(s.recurring_amount),
            s.cancel_at,
            s.current_period_start,
            s.current_period_end,
            s.subscription_status,
            metadata_json(&s.metadata)?,
            s.status,
            s.created_at,
            s.updated_at,
            s.created_by,
            s.updated_by,
        ],
    )?;
    Ok(())
}

pub(crate) fn get(tx: &Transaction<'_>, scope: &Scope, id: &str) -> Result<Option<Subscription>> {
    let mut f = Filter::scoped(scope);
    f.eq("id", id.to_owned());
    select_one(tx, "subscriptions", COLUMNS, &f, read_row)
}

/// Newest first, id as tie-break; `total` counts every match.
pub(crate) fn list(
    tx: &Transaction<'_>,
    scope: &Scope,
    q: &SubscriptionFilter,
) -> Result<Page<Subscription>> {
    let mut f = Filter::scoped(scope);
    if let Some(c) = &q.customer_id {
        f.eq("customer_id", c.clone());
    }
    select_page(
        tx,
        "subscriptions",
        COLUMNS,
        &f,
        "created_at DESC, id DESC",
        (q.limit, q.offset),
        read_row,
    )
}

/// Up to `limit` active subscriptions of the scope whose current period has ended by `now`, or
/// that have none yet, with ids after `after_id`, in id order (the billing-period job).
pub(crate) fn due_for_billing(
    tx: &Transaction<'_>,
    scope: &Scope,
    now: i64,
    after_id: &str,
    limit: usize,
) -> Result<Vec<Subscription>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM subscriptions
         WHERE tenant_id = ?1 AND environment_id = ?2 AND status = 'published'
           AND subscription_status = ?3
           AND (current_period_end IS NULL OR current_period_end <= ?4) AND id > ?5
         ORDER BY id LIMIT ?6"
    ))?;
    crate::store::collect(
        stmt.query(rusqlite::params![
            scope.tenant_id,
            scope.environment_id,
            STATUS_ACTIVE,
            now,
            after_id,
            limit as i64
        ])?,
        read_row,
    )
}

/// Sets an active subscription's current period and status, if its current period still
/// starts at `from` (`None`: it has none yet); returns whether it did.
#[allow(clippy::too_many_arguments)]
pub(crate) fn set_period(
    tx: &Transaction<'_>,
    scope: &Scope,
    id: &str,
    from: Option<i64>,
    (start, end): (i64, i64),
    subscription_status: &str,
    now: i64,
    by: &str,
) -> Result<bool> {
    let changed = tx.execute(
        "UPDATE subscriptions SET current_period_start = ?1, current_period_end = ?2,
             subscription_status = ?3, updated_at = ?4, updated_by = ?5
         WHERE id = ?6 AND tenant_id = ?7 AND environment_id = ?8 AND subscription_status = ?9
           AND current_period_start IS ?10",
        rusqlite::params![
            start,
            end,
            subscription_status,
            now,
            by,
            id,
            scope.tenant_id,
            scope.environment_id,
            STATUS_ACTIVE,
            from
        ],
    )?;
    Ok(changed == 1)
}
