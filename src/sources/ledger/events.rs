//! The `events` export: one row per event and matching meter with the meter's columns
//! (`meter_id`, `feature_id`, `qty_total`, `provisional_usage_charges` = quantity × unit
//! price); an event that matches no meter keeps one row with those columns NULL (SPEC 6.4).
//! Columns Flexprice fills from its subscription model (`subscription_id`, `sub_line_item_id`,
//! `price_id`, `period_id`) stay NULL.

use rust_decimal::Decimal;

use super::{LedgerSource, each_event};
use crate::failure::ExportError;
use crate::formats::{Cell, RowSink};
use crate::ledger::events::storage::EventRow;
use crate::ledger::meters::MeterIndex;
use crate::sources::ExportRequest;
use crate::store::Scope;

/// Writes every event of the window in `(time, id)` order; returns how many rows. Each row
/// goes from the database row to the format writer without allocating.
pub(super) fn export(
    src: &LedgerSource,
    req: &ExportRequest<'_>,
    out: &mut dyn RowSink,
) -> Result<u64, ExportError> {
    let meters = MeterIndex::new(&src.meters);
    let mut writer = RowWriter {
        out,
        scope: req.scope,
        meters: &meters,
        unique_hash: String::new(),
        rows: 0,
    };
    each_event(src, req, |e| writer.write(e))?;
    Ok(writer.rows)
}

/// Turns events into rows, reusing its buffer from row to row.
struct RowWriter<'w, 'm> {
    out: &'w mut dyn RowSink,
    scope: &'w Scope,
    meters: &'w MeterIndex<'m>,
    unique_hash: String,
    rows: u64,
}

impl RowWriter<'_, '_> {
    fn write(&mut self, e: &EventRow<'_>) -> Result<(), ExportError> {
        self.unique_hash.clear();
        self.unique_hash.push_str(e.event_name);
        self.unique_hash.push(':');
        self.unique_hash.push_str(e.id);
        let (out, scope, unique_hash) = (&mut *self.out, self.scope, &self.unique_hash);
        let rows = &mut self.rows;
        let mut row =
            |meter: Option<(&str, &str)>, qty: Option<Decimal>, charge: Option<Decimal>| {
                *rows += 1;
                out.row(&[
                    Cell::Text(e.id),
                    Cell::Text(&scope.tenant_id),
                    Cell::Text(&scope.environment_id),
                    Cell::Text(e.external_customer_id),
                    Cell::text(e.customer_id),
                    Cell::Null,
                    Cell::Null,
                    Cell::Null,
                    Cell::text(meter.map(|m| m.0)),
                    Cell::text(meter.map(|m| m.1)),
                    Cell::Text(e.event_name),
                    Cell::text(e.source),
                    Cell::TimeMs(e.timestamp),
                    Cell::TimeMs(e.ingested_at),
                    Cell::Null,
                    Cell::decimal(qty),
                    Cell::decimal(charge),
                    Cell::text(e.properties),
                    Cell::Text(unique_hash),
                ])
            };
        let matching = self.meters.for_event(e.event_name);
        if matching.is_empty() {
            return row(None, None, None);
        }
        let properties = e.properties.and_then(|p| serde_json::from_str(p).ok());
        matching.iter().try_for_each(|m| {
            let quantity = m.quantity(&m.contribution(properties.as_ref()));
            let charge = quantity.and_then(|q| m.cost(q));
            row(Some((&m.id, &m.feature_id)), quantity, charge)
        })
    }
}
