//! Exports: turning one run (a task and a window) into one object, streamed from the store
//! through CSV and compression (gzip or zstd) into a destination. Each entity has a module
//! with its columns and how its rows are read; [`columns`] and [`write_rows`] pick the module.

pub mod credit_topups;
pub mod credit_usage;
pub mod events;
pub mod invoices;
pub mod usage_analytics;

use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::Transaction;

use crate::app::App;
pub use crate::failure::{ExportError, Failure};
use crate::formats::pipeline::Pipeline;
use crate::ledger::events::storage::EventTime;
use crate::ledger::meters::MeterIndex;
use crate::scheduled_tasks::job_config::{MetadataEntity, WindowField};
use crate::scheduled_tasks::{EntityType, ScheduledTask};
use crate::store::{Scope, Store, StoreError};

/// What a run reads: its task's entity in one window, in the task's scope.
pub struct Source<'a> {
    pub app: &'a App,
    pub scope: Scope,
    pub task: &'a ScheduledTask,
    pub window: (i64, i64),
}

/// The header: the entity's fixed columns, then the task's metadata columns in the order given.
pub fn columns(task: &ScheduledTask) -> Vec<String> {
    let fixed: &[&str] = match task.entity_type {
        EntityType::Events => &events::COLUMNS,
        EntityType::Invoice => &invoices::COLUMNS,
        EntityType::CreditTopups => &credit_topups::COLUMNS,
        EntityType::CreditUsage => &credit_usage::COLUMNS,
        EntityType::UsageAnalytics => &usage_analytics::COLUMNS,
    };
    fixed
        .iter()
        .map(|c| (*c).to_owned())
        .chain(
            task.job_config
                .export_metadata_fields
                .iter()
                .map(|f| f.column_name.clone()),
        )
        .collect()
}

/// Writes every row of the window; returns how many.
pub fn write_rows(
    src: &Source<'_>,
    out: &mut Pipeline<'_>,
    cancel: &AtomicBool,
) -> Result<u64, ExportError> {
    let job = &src.task.job_config;
    let event_time = match job.window_field {
        Some(WindowField::Timestamp) => EventTime::Timestamp,
        _ => EventTime::IngestedAt,
    };
    match src.task.entity_type {
        EntityType::Events => {
            let meters = MeterIndex::new(&src.app.config.meters);
            events::write_rows(
                &src.app.store,
                &src.scope,
                event_time,
                src.window,
                &meters,
                out,
                cancel,
            )
        }
        EntityType::Invoice => invoices::write_rows(src, out, cancel),
        EntityType::CreditTopups => credit_topups::write_rows(src, out, cancel),
        EntityType::CreditUsage => credit_usage::write_rows(src, out, cancel),
        EntityType::UsageAnalytics => usage_analytics::write_rows(src, event_time, out, cancel),
    }
}

/// Rows read per database round trip; each page is its own short read transaction.
pub const PAGE: usize = 5000;

/// Position after the last row read: `(time, id)`.
pub type Cursor = (i64, String);

/// Walks rows in cursor order a page at a time: `fetch` reads the page after the cursor and
/// says whether it was full (more may follow), `key` gives a row's position, `each` writes it.
/// Returns how many rows were seen.
pub fn keyset_pages<R>(
    store: &Store,
    cancel: &AtomicBool,
    mut fetch: impl FnMut(&Transaction<'_>, Option<&Cursor>, &mut Vec<R>) -> Result<bool, StoreError>,
    key: impl Fn(&R) -> Cursor,
    mut each: impl FnMut(&R) -> Result<(), ExportError>,
) -> Result<u64, ExportError> {
    let mut page: Vec<R> = Vec::with_capacity(PAGE);
    let mut cursor: Option<Cursor> = None;
    let mut rows = 0u64;
    loop {
        page.clear();
        let full = store.read(|tx| fetch(tx, cursor.as_ref(), &mut page))?;
        for row in &page {
            each(row)?;
            rows += 1;
        }
        if cancel.load(Ordering::Relaxed) {
            return Err(ExportError::interrupted("shutdown"));
        }
        match page.last() {
            Some(last) if full => cursor = Some(key(last)),
            _ => return Ok(rows),
        }
    }
}

/// The values of the task's metadata columns for one row: each field's value from the
/// customer's or the wallet's metadata (JSON objects of strings), or an empty cell.
pub fn metadata_cells(
    task: &ScheduledTask,
    customer: Option<&str>,
    wallet: Option<&str>,
) -> Vec<String> {
    let parse = |json: Option<&str>| -> serde_json::Map<String, serde_json::Value> {
        json.and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default()
    };
    let (customer, wallet) = (parse(customer), parse(wallet));
    task.job_config
        .export_metadata_fields
        .iter()
        .map(|f| {
            let source = match f.entity_type {
                MetadataEntity::Customer => &customer,
                MetadataEntity::Wallet => &wallet,
            };
            match source.get(&f.field_key) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            }
        })
        .collect()
}
