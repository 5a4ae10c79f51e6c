//! The `invoice` export: Flexprice's 38 columns, one row per invoice changed in the window.
//! Rows are chosen by `updated_at` (default), so finalizing, paying or voiding an invoice puts
//! it again in the file of the window where that happened, with its new status;
//! `window_field: "created_at"` gives Flexprice's selection.

use super::{LedgerSource, window_rows};
use crate::failure::ExportError;
use crate::formats::{RowSink, entities};
use crate::scheduled_tasks::EntityType;
use crate::scheduled_tasks::job_config::WindowField;
use crate::sources::ExportRequest;

pub(super) fn export(
    src: &LedgerSource,
    req: &ExportRequest<'_>,
    out: &mut dyn RowSink,
) -> Result<u64, ExportError> {
    let t = match req.window_field {
        Some(WindowField::CreatedAt) => "created_at",
        _ => "updated_at",
    };
    // The table's columns have the export's names.
    let columns = entities::columns(EntityType::Invoice, &[]);
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let sql = format!(
        "SELECT {}, {t} FROM invoices
         WHERE tenant_id = ?1 AND environment_id = ?2 AND status = 'published' AND {t} >= ?3 AND {t} < ?4
           AND ({t}, id) > (?5, ?6)
         ORDER BY {t}, id LIMIT ?7",
        names.join(", ")
    );
    let kinds: Vec<_> = columns.iter().map(|c| c.kind).collect();
    window_rows(src, req, &sql, &kinds, out)
}
