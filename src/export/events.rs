//! The `events` export: Flexprice's 19 columns in (time, id) order, one row per event and
//! matching meter with the meter's columns (`meter_id`, `feature_id`, `qty_total`,
//! `provisional_usage_charges` = quantity × unit price); an event that matches no meter keeps
//! one row with those columns empty (SPEC 6.4). Columns Flexprice fills from its subscription
//! model (`subscription_id`, `sub_line_item_id`, `price_id`, `period_id`) stay empty.

use std::sync::atomic::AtomicBool;

use super::format::rfc3339_seconds;
use super::pipeline::Pipeline;
use super::{ExportError, PAGE, keyset_pages};
use crate::ledger::meters::MeterIndex;
use crate::ledger::money::format as format_decimal;
use crate::store::events::{self, EventTime, StoredEvent};
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

/// Writes every event of the window; returns how many rows were written.
pub fn write_rows(
    store: &Store,
    scope: &Scope,
    time: EventTime,
    window: (i64, i64),
    meters: &MeterIndex<'_>,
    out: &mut Pipeline<'_>,
    cancel: &AtomicBool,
) -> Result<u64, ExportError> {
    let (mut ts, mut ing) = ([0u8; 20], [0u8; 20]);
    let mut unique_hash = String::new();
    let mut rows = 0u64;
    keyset_pages(
        store,
        cancel,
        |tx, cursor, page: &mut Vec<StoredEvent>| {
            events::page(tx, scope, time, window, cursor, PAGE, page)?;
            Ok(page.len() == PAGE)
        },
        |e| {
            let t = match time {
                EventTime::IngestedAt => e.ingested_at,
                EventTime::Timestamp => e.timestamp,
            };
            (t, e.id.clone())
        },
        |e| {
            unique_hash.clear();
            unique_hash.push_str(&e.event_name);
            unique_hash.push(':');
            unique_hash.push_str(&e.id);
            let timestamp = rfc3339_seconds(e.timestamp, &mut ts);
            let ingested_at = rfc3339_seconds(e.ingested_at, &mut ing);
            let mut row = |meter_id: &str, feature_id: &str, qty: &str, charge: &str| {
                rows += 1;
                out.records.write_record([
                    e.id.as_str(),
                    &scope.tenant_id,
                    &scope.environment_id,
                    &e.external_customer_id,
                    e.customer_id.as_deref().unwrap_or(""),
                    "",
                    "",
                    "",
                    meter_id,
                    feature_id,
                    &e.event_name,
                    e.source.as_deref().unwrap_or(""),
                    timestamp,
                    ingested_at,
                    "",
                    qty,
                    charge,
                    e.properties.as_deref().unwrap_or(""),
                    &unique_hash,
                ])
            };
            let matching = meters.for_event(&e.event_name);
            let result = if matching.is_empty() {
                row("", "", "", "")
            } else {
                let properties = e
                    .properties
                    .as_deref()
                    .and_then(|p| serde_json::from_str(p).ok());
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
            result.map_err(|err| out.write_error(err))
        },
    )?;
    Ok(rows)
}
