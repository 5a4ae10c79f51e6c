//! The `subscriptions` table.

use rusqlite::Transaction;

use crate::ledger::money::Money;
use crate::ledger::subscriptions::{STATUS_ACTIVE, Subscription};
use crate::store::Audit;
use crate::store::record::Json;
use crate::store::record::{self, Stored};
use crate::store::{Result, Scope};

crate::store::record::stored!(Subscription in "subscriptions" {
    id, tenant_id, environment_id, customer_id, currency, billing_period, billing_period_count,
    start_date, billing_anchor, recurring_amount: Money, cancel_at, current_period_start,
    current_period_end, subscription_status, metadata: Json, status, ..audit: Audit,
});

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
        "SELECT {} FROM subscriptions
         WHERE tenant_id = ?1 AND environment_id = ?2 AND status = 'published'
           AND subscription_status = ?3
           AND (current_period_end IS NULL OR current_period_end <= ?4) AND id > ?5
         ORDER BY id LIMIT ?6",
        Subscription::columns()
    ))?;
    record::all(stmt.query(rusqlite::params![
        scope.tenant_id,
        scope.environment_id,
        STATUS_ACTIVE,
        now,
        after_id,
        limit as i64
    ])?)
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
