//! The `events` export: Flexprice's 19 columns in (time, id) order, one row per event and
//! matching meter with the meter's columns (`meter_id`, `feature_id`, `qty_total`,
//! `provisional_usage_charges` = quantity × unit price); an event that matches no meter keeps
//! one row with those columns empty (SPEC 6.4). Columns Flexprice fills from its subscription
//! model (`subscription_id`, `sub_line_item_id`, `price_id`, `period_id`) stay empty.

use std::sync::atomic::{AtomicBool, Ordering};

use super::{Cursor, ExportError, PAGE};
use crate::formats::pipeline::{ChunkWriter, Pipeline};
use crate::formats::time::rfc3339_seconds;
use crate::ledger::events::storage::{self, EventRow, EventTime};
use crate::ledger::meters::MeterIndex;
use crate::ledger::money::format as format_decimal;
use crate::store::{Scope, Store};

pub const COLUMNS: [&str; 19] = [
    "id",
    "tenant_id",
    "environment_id",
    "external_customer_id",
    "customer_id",
    "subscription_id",
    "sub_line_item_id",
    "price_id",
    "meter_id",
    "feature_id",
    "event_name",
    "source",
    "timestamp",
    "ingested_at",
    "period_id",
    "qty_total",
    "provisional_usage_charges",
    "properties",
    "unique_hash",
];

/// Writes every event of the window; returns how many rows were written. The rows are read
/// and formatted on a second thread while this one compresses and uploads them
/// ([`Pipeline::parallel`]); each row goes from the database row to CSV without allocating.
pub fn write_rows(
    store: &Store,
    scope: &Scope,
    time: EventTime,
    window: (i64, i64),
    meters: &MeterIndex<'_>,
    out: &mut Pipeline<'_>,
    cancel: &AtomicBool,
) -> Result<u64, ExportError> {
    out.parallel(|csv| {
        let mut writer = RowWriter {
            csv,
            scope,
            meters,
            ts: [0; 20],
            ing: [0; 20],
            unique_hash: String::new(),
            rows: 0,
        };
        let mut cursor: Option<Cursor> = None;
        let mut last: Cursor = (0, String::new());
        loop {
            let seen = store.read(|tx| {
                storage::for_each(tx, scope, time, window, cursor.as_ref(), PAGE, |e| {
                    writer.write(e)?;
                    last.0 = e.time(time);
                    last.1.clear();
                    last.1.push_str(e.id);
                    Ok::<_, ExportError>(())
                })
            })?;
            if cancel.load(Ordering::Relaxed) {
                return Err(ExportError::interrupted("shutdown"));
            }
            if seen < PAGE {
                return Ok(writer.rows);
            }
            match &mut cursor {
                Some(c) => c.clone_from(&last),
                None => cursor = Some(last.clone()),
            }
        }
    })
}

/// Turns events into rows, reusing its buffers from row to row.
struct RowWriter<'w, 'm> {
    csv: &'w mut ChunkWriter,
    scope: &'w Scope,
    meters: &'w MeterIndex<'m>,
    ts: [u8; 20],
    ing: [u8; 20],
    unique_hash: String,
    rows: u64,
}

impl RowWriter<'_, '_> {
    fn write(&mut self, e: &EventRow<'_>) -> Result<(), ExportError> {
        self.unique_hash.clear();
        self.unique_hash.push_str(e.event_name);
        self.unique_hash.push(':');
        self.unique_hash.push_str(e.id);
        let timestamp = rfc3339_seconds(e.timestamp, &mut self.ts);
        let ingested_at = rfc3339_seconds(e.ingested_at, &mut self.ing);
        let (csv, scope, unique_hash) = (&mut *self.csv, self.scope, &self.unique_hash);
        let rows = &mut self.rows;
        let mut row = |meter_id: &str, feature_id: &str, qty: &str, charge: &str| {
            *rows += 1;
            csv.write_record([
                e.id,
                &scope.tenant_id,
                &scope.environment_id,
                e.external_customer_id,
                e.customer_id.unwrap_or(""),
                "",
                "",
                "",
                meter_id,
                feature_id,
                e.event_name,
                e.source.unwrap_or(""),
                timestamp,
                ingested_at,
                "",
                qty,
                charge,
                e.properties.unwrap_or(""),
                unique_hash,
            ])
        };
        let matching = self.meters.for_event(e.event_name);
        let result = if matching.is_empty() {
            row("", "", "", "")
        } else {
            let properties = e.properties.and_then(|p| serde_json::from_str(p).ok());
            matching.iter().try_for_each(|m| {
                let quantity = m.quantity(&m.contribution(properties.as_ref()));
                let charge = quantity.and_then(|q| m.cost(q));
                row(
                    &m.id,
                    &m.feature_id,
                    &quantity.map(format_decimal).unwrap_or_default(),
                    &charge.map(format_decimal).unwrap_or_default(),
                )
            })
        };
        // Only a stopped pipeline fails a write here; its own failure is what the run reports.
        result.map_err(|e| ExportError::retryable("writing the CSV failed", e.to_string()))
    }
}
