//! `credit_topups` from Flexprice's `wallet_transactions`: the 10 columns of Flexprice's export,
//! one row per published, completed `credit` transaction of the scope whose `created_at`
//! (default) or `updated_at` is in the half-open window, in (window field, id) order.
//!
//! There are no foreign keys in Flexprice's schema, so the wallet and its customer are joined
//! LEFT: an orphan transaction keeps its row with empty `external_id` and `name` (the wallet
//! and customer are looked up whatever their status, within the scope). A NULL `reference_id`
//! is an empty cell (Flexprice drops that row, and every later page with it). By `updated_at`,
//! a transaction created pending in one window and completed in a later one is exported in
//! the window where it completed.

use postgres::types::ToSql;

use super::postgres::Snapshot;
use super::{Request, RowSink};
use crate::failure::ExportError;
use crate::scheduled_tasks::job_config::WindowField;

/// The window column: `created_at` unless the task asks for `updated_at`.
pub fn window_column(field: Option<WindowField>) -> &'static str {
    match field {
        Some(WindowField::UpdatedAt) => "updated_at",
        _ => "created_at",
    }
}

/// The query of a window (`$1` tenant, `$2` environment, `$3`/`$4` the window).
pub fn sql(field: Option<WindowField>) -> String {
    let t = window_column(field);
    format!(
        "SELECT t.id, c.external_id, c.name, t.wallet_id, t.amount, t.credit_balance_before,
                t.credit_balance_after, t.reference_id, t.transaction_reason, t.created_at
         FROM wallet_transactions t
         LEFT JOIN wallets w
           ON w.id = t.wallet_id AND w.tenant_id = t.tenant_id AND w.environment_id = t.environment_id
         LEFT JOIN customers c
           ON c.id = w.customer_id AND c.tenant_id = w.tenant_id AND c.environment_id = w.environment_id
         WHERE t.tenant_id = $1 AND t.environment_id = $2 AND t.status = 'published'
           AND t.type = 'credit' AND t.transaction_status = 'completed'
           AND t.{t} >= $3 AND t.{t} < $4
         ORDER BY t.{t}, t.id COLLATE \"C\""
    )
}

/// Streams the window's top-ups into `out`; returns how many.
pub fn export(
    snap: &mut Snapshot<'_>,
    req: &Request<'_>,
    out: &mut dyn RowSink,
) -> Result<u64, ExportError> {
    let (start, end) = req.pg_window();
    let params: [&(dyn ToSql + Sync); 4] = [&req.tenant_id, &req.environment_id, &start, &end];
    snap.stream(&sql(req.window_field), &params, req.cancel, |row| {
        out.row(&[
            row.text(0)?,
            row.text(1)?,
            row.text(2)?,
            row.text(3)?,
            row.decimal(4)?,
            row.decimal(5)?,
            row.decimal(6)?,
            row.text(7)?,
            row.text(8)?,
            row.time(9)?,
        ])
    })
}
