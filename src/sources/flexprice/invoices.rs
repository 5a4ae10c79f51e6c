//! `invoice` from Flexprice's `invoices`: the 38 columns of Flexprice's export, one row per
//! published invoice of the scope whose `updated_at` (default) or `created_at` is in the
//! half-open window, in (window field, id) order. By `updated_at`, finalizing, paying or voiding
//! an invoice puts it again in the file of the window where that happened, with its new state.
//!
//! Without an index on the window field, each window scans the environment's invoices; the
//! README gives the index an operator should add.

use postgres::types::ToSql;

use super::jsonb::SortedJson;
use super::postgres::Snapshot;
use super::{Cell, Request, RowSink};
use crate::failure::ExportError;
use crate::formats::{ColumnType, entities};
use crate::scheduled_tasks::EntityType;
use crate::scheduled_tasks::job_config::WindowField;

/// How many columns an invoice has (a row's cells are an array on the stack).
const WIDTH: usize = 38;

/// The window column: `updated_at` unless the task asks for `created_at`.
pub fn window_column(field: Option<WindowField>) -> &'static str {
    match field {
        Some(WindowField::CreatedAt) => "created_at",
        _ => "updated_at",
    }
}

/// The query of a window (`$1` tenant, `$2` environment, `$3`/`$4` the window): the entity's
/// columns, which have the table's names (jsonb selected as text).
pub fn sql(field: Option<WindowField>) -> String {
    let t = window_column(field);
    let columns: Vec<String> = entities::columns(EntityType::Invoice, &[])
        .into_iter()
        .map(|c| match c.kind {
            ColumnType::Json => format!("{}::text", c.name),
            _ => c.name,
        })
        .collect();
    format!(
        "SELECT {} FROM invoices
         WHERE tenant_id = $1 AND environment_id = $2 AND status = 'published'
           AND {t} >= $3 AND {t} < $4
         ORDER BY {t}, id COLLATE \"C\"",
        columns.join(", ")
    )
}

/// Streams the window's invoices into `out`; returns how many.
pub fn export(
    snap: &mut Snapshot<'_>,
    req: &Request<'_>,
    out: &mut dyn RowSink,
) -> Result<u64, ExportError> {
    let kinds: Vec<ColumnType> = entities::kinds(EntityType::Invoice).collect();
    let mut json = SortedJson::default();
    let (start, end) = req.pg_window();
    let params: [&(dyn ToSql + Sync); 4] = [&req.tenant_id, &req.environment_id, &start, &end];
    snap.stream(&sql(req.window_field), &params, req.cancel, |row| {
        let mut cells = [Cell::Null; WIDTH];
        let mut json = Some(&mut json);
        for (i, kind) in kinds.iter().enumerate().take(WIDTH) {
            cells[i] = match kind {
                ColumnType::Text => row.text(i)?,
                ColumnType::Decimal { .. } => row.decimal(i)?,
                ColumnType::TimestampMillisUtc => row.time(i)?,
                ColumnType::Int64 => row.int(i)?,
                ColumnType::Json => match (row.str(i)?, json.take()) {
                    (Some(text), Some(sorted)) => Cell::Text(sorted.of(text)),
                    _ => Cell::Null,
                },
            };
        }
        out.row(&cells)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_array_holds_every_invoice_column() {
        assert_eq!(entities::kinds(EntityType::Invoice).count(), WIDTH);
        assert!(sql(None).contains("metadata::text"));
    }
}
