//! The `events` export: Flexprice's 19 columns, one row per event, in (time, id) order.
//! Meter columns (`meter_id`, `feature_id`, `qty_total`, ...) stay empty until meters exist;
//! an event that matches no meter keeps its one row either way (SPEC 6.4).

use std::sync::atomic::{AtomicBool, Ordering};

use super::ExportError;
use super::format::rfc3339_seconds;
use super::pipeline::Pipeline;
use crate::store::events::{self, Cursor, EventTime, StoredEvent};
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

/// Rows read per database round trip; each page is its own short read transaction.
const PAGE: usize = 5000;

/// Writes every event of the window; returns how many rows were written.
pub fn write_rows(
    store: &Store,
    scope: &Scope,
    time: EventTime,
    window: (i64, i64),
    out: &mut Pipeline<'_>,
    cancel: &AtomicBool,
) -> Result<u64, ExportError> {
    let mut page: Vec<StoredEvent> = Vec::with_capacity(PAGE);
    let mut cursor: Option<Cursor> = None;
    let mut rows = 0u64;
    let (mut ts, mut ing) = ([0u8; 20], [0u8; 20]);
    let mut unique_hash = String::new();
    loop {
        page.clear();
        store.read(|tx| events::page(tx, scope, time, window, cursor.as_ref(), PAGE, &mut page))?;
        for e in &page {
            unique_hash.clear();
            unique_hash.push_str(&e.event_name);
            unique_hash.push(':');
            unique_hash.push_str(&e.id);
            out.records
                .write_record([
                    e.id.as_str(),
                    &scope.tenant_id,
                    &scope.environment_id,
                    &e.external_customer_id,
                    e.customer_id.as_deref().unwrap_or(""),
                    "",
                    "",
                    "",
                    "",
                    "",
                    &e.event_name,
                    e.source.as_deref().unwrap_or(""),
                    rfc3339_seconds(e.timestamp, &mut ts),
                    rfc3339_seconds(e.ingested_at, &mut ing),
                    "",
                    "",
                    "",
                    e.properties.as_deref().unwrap_or(""),
                    &unique_hash,
                ])
                .map_err(|err| out.write_error(err))?;
            rows += 1;
        }
        if cancel.load(Ordering::Relaxed) {
            return Err(ExportError::interrupted("shutdown"));
        }
        let Some(last) = page.last() else { break };
        let t = match time {
            EventTime::IngestedAt => last.ingested_at,
            EventTime::Timestamp => last.timestamp,
        };
        cursor = Some((t, last.id.clone()));
        if page.len() < PAGE {
            break;
        }
    }
    Ok(rows)
}
