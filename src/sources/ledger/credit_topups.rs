//! The `credit_topups` export: Flexprice's 10 columns, one row per completed credit (top-up)
//! wallet transaction created in the window, in (created_at, id) order. Optional values that
//! are NULL are empty cells; no row is ever dropped (Flexprice silently lost rows there).

use super::{LedgerSource, window_rows};
use crate::failure::ExportError;
use crate::formats::{RowSink, entities};
use crate::scheduled_tasks::EntityType;
use crate::sources::ExportRequest;

/// The columns of the export, in order, then the row's time.
const SQL: &str =
    "SELECT t.id, c.external_id, c.name, t.wallet_id, t.amount, t.balance_before, t.balance_after,
        t.reference_id, t.transaction_reason, t.created_at, t.created_at
     FROM wallet_transactions t
     JOIN wallets w ON w.id = t.wallet_id
     JOIN customers c ON c.id = w.customer_id
     WHERE t.tenant_id = ?1 AND t.environment_id = ?2 AND t.type = 'credit'
       AND t.transaction_status = 'completed' AND t.status = 'published'
       AND t.created_at >= ?3 AND t.created_at < ?4 AND (t.created_at, t.id) > (?5, ?6)
     ORDER BY t.created_at, t.id LIMIT ?7";

pub(super) fn export(
    src: &LedgerSource,
    req: &ExportRequest<'_>,
    out: &mut dyn RowSink,
) -> Result<u64, ExportError> {
    let kinds: Vec<_> = entities::kinds(EntityType::CreditTopups).collect();
    window_rows(src, req, SQL, &kinds, out)
}
