//! `invoice` from Flexprice's `invoices`: the 38 columns of Flexprice's export, one row per
//! published invoice of the scope whose `updated_at` (default) or `created_at` is in the
//! half-open window, in (window field, id) order. By `updated_at`, finalizing, paying or voiding
//! an invoice puts it again in the file of the window where that happened, with its new state.
//!
//! Without an index on the window field, each window scans the environment's invoices; the
//! README gives the index an operator should add.

use postgres::types::ToSql;

use super::cells::canonical_json;
use super::postgres::Snapshot;
use super::{Cancel, Cell, Request, RowSink};
use crate::export::ExportError;
pub use crate::export::invoices::COLUMNS;
use crate::tasks::job_config::WindowField;

/// How each of [`COLUMNS`] is read (the table's columns have the same names).
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Decimal,
    Time,
    /// `integer` or `bigint`.
    Int,
    /// `jsonb`, selected as text and re-encoded with sorted keys.
    Json,
}

const KINDS: [Kind; 38] = {
    use Kind::*;
    [
        Text, Text, Text, Text, Text, Text, Text, Text, Text, Text, Decimal, Decimal, Decimal,
        Decimal, Decimal, Decimal, Decimal, Decimal, Decimal, Int, Text, Time, Time, Time, Time,
        Text, Time, Time, Text, Text, Json, Text, Int, Text, Text, Text, Time, Time,
    ]
};

/// The window column: `updated_at` unless the task asks for `created_at`.
pub fn window_column(field: Option<WindowField>) -> &'static str {
    match field {
        Some(WindowField::CreatedAt) => "created_at",
        _ => "updated_at",
    }
}

/// The query of a window (`$1` tenant, `$2` environment, `$3`/`$4` the window).
pub fn sql(field: Option<WindowField>) -> String {
    let t = window_column(field);
    let columns: Vec<String> = COLUMNS
        .iter()
        .zip(KINDS)
        .map(|(name, kind)| match kind {
            Kind::Json => format!("{name}::text"),
            _ => (*name).to_owned(),
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
    cancel: &Cancel,
    out: &mut RowSink<'_>,
) -> Result<u64, ExportError> {
    let (start, end) = req.pg_window();
    let params: [&(dyn ToSql + Sync); 4] = [&req.tenant_id, &req.environment_id, &start, &end];
    let mut json = String::new();
    snap.stream(&sql(req.window_field), &params, cancel, |row| {
        let mut cells = [Cell::Null; 38];
        let mut json = Some(&mut json);
        for (i, kind) in KINDS.iter().enumerate() {
            cells[i] = match kind {
                Kind::Text => row.text(i)?,
                Kind::Decimal => row.decimal(i)?,
                Kind::Time => row.time(i)?,
                Kind::Int => row.int(i)?,
                Kind::Json => match (row.get::<Option<&str>>(i)?, json.take()) {
                    (Some(text), Some(buf)) => {
                        canonical_json(text, buf);
                        Cell::Text(buf.as_str())
                    }
                    _ => Cell::Null,
                },
            };
        }
        out(&cells)
    })
}
