//! The `usage_analytics` export read from ClickHouse: one row per customer × meter × source
//! with usage in the window, aggregated by ClickHouse over `meter_usage FINAL` as the meter's
//! `aggregation.type` says (COUNT, SUM, MAX, COUNT_UNIQUE of `unique_hash`, LATEST by
//! (timestamp, id)); other types (AVG, SUM_WITH_MULTIPLIER, WEIGHTED_SUM...) keep the row with
//! an empty usage. Names come from PostgreSQL (customer, meter, feature, group), and
//! `total_cost` = usage × the unit price for a flat per-unit usage price; it is empty where
//! Flexprice's pricing engine would be needed (tiers, packages, commitments). Rows come in
//! (external customer id, meter id, source) order, a customer's rows together, so the lookups
//! are made per batch of rows and nothing is cached beyond it.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

use rust_decimal::Decimal;

use super::batch::{Batch, BatchRow, for_each_batch};
use super::catalog::{Customer, LOOKUP_BATCH, Meter, UsageCatalog, UsagePrice};
use super::{Request, ServerInfo, cells, client::Client, sql, window};
use crate::failure::ExportError;
use crate::formats::{Cell, RowSink};
use crate::ledger::money::exact_mul;
use crate::scheduled_tasks::job_config::MetadataField;
use crate::sources::metadata_values;

// The query's columns.
const EXTERNAL: usize = 1;
const METER: usize = 2;
const SOURCE: usize = 3;
const COUNT: usize = 4;
const SUM: usize = 5;
const MAX: usize = 6;
const UNIQUE: usize = 7;
const LATEST: usize = 8;
const WIDTH: usize = 9;

/// Rows held while their customers and prices are looked up.
const BATCH_ROWS: usize = 2048;

/// The aggregations exportd computes, by `aggregation.type`.
fn aggregated_column(aggregation: &str) -> Option<usize> {
    match aggregation {
        "COUNT" => Some(COUNT),
        "SUM" => Some(SUM),
        "MAX" => Some(MAX),
        "COUNT_UNIQUE" => Some(UNIQUE),
        "LATEST" => Some(LATEST),
        _ => None,
    }
}

/// The SQL of one window. COUNT_UNIQUE and LATEST are computed only for the meters that use
/// them (a set of hashes per group costs memory on the server); the others are cheap.
pub fn query(condition: &str, meters: &HashMap<String, Meter>) -> String {
    let ids_of = |aggregation: &str| {
        let mut ids: Vec<&str> = meters
            .values()
            .filter(|m| m.aggregation == aggregation)
            .map(|m| m.id.as_str())
            .collect();
        ids.sort_unstable();
        sql::string_list(ids)
    };
    let select = format!(
        "SELECT 0 AS exportd_end, external_customer_id, meter_id, source, count() AS event_count, toString(sum(qty_total)) AS usage_sum, toString(max(qty_total)) AS usage_max, uniqExactIf(unique_hash, meter_id IN {}) AS usage_unique, toString(argMaxIf(qty_total, (timestamp, id), meter_id IN {})) AS usage_latest\nFROM meter_usage FINAL\nWHERE {}\nGROUP BY external_customer_id, meter_id, source",
        ids_of("COUNT_UNIQUE"),
        ids_of("LATEST"),
        condition,
    );
    sql::sealed(
        &select,
        "SELECT 1, '', '', '', 0, '', '', 0, ''",
        "external_customer_id, meter_id, source",
    )
}

/// Streams the window's usage rows to `out` (the 15 columns of
/// [`crate::formats::entities::columns`], then one cell per `metadata` field); returns how
/// many.
pub fn export(
    client: &Client,
    server: &ServerInfo,
    req: &Request<'_>,
    metadata: &[MetadataField],
    catalog: &mut dyn UsageCatalog,
    out: &mut dyn RowSink,
    cancel: &AtomicBool,
) -> Result<u64, ExportError> {
    let Some(selection) = window::select(client, server, req, true)? else {
        return Ok(0);
    };
    let ids: Vec<&str> = selection.meters.iter().map(String::as_str).collect();
    let meters = catalog.meters(&ids)?;
    let sql = query(&selection.condition, &meters);
    let rows = client.query_with(&sql, WIDTH, server.read_settings())?;
    let mut writer = Writer {
        req,
        metadata,
        meters: &meters,
        customers: HashMap::new(),
        prices: HashMap::new(),
        written: 0,
    };
    // Aggregated rows are few and small: the row count bounds a batch.
    for_each_batch(client, rows, (BATCH_ROWS, usize::MAX), cancel, |batch| {
        writer.look_up(batch, catalog)?;
        batch.rows().try_for_each(|row| writer.write(row, out))
    })?;
    Ok(writer.written)
}

struct Writer<'a> {
    req: &'a Request<'a>,
    metadata: &'a [MetadataField],
    meters: &'a HashMap<String, Meter>,
    /// The batch's customers by external id, and their prices by (customer id, meter id).
    customers: HashMap<String, Customer>,
    prices: HashMap<(String, String), UsagePrice>,
    written: u64,
}

impl Writer<'_> {
    fn look_up(
        &mut self,
        batch: &Batch,
        catalog: &mut dyn UsageCatalog,
    ) -> Result<(), ExportError> {
        self.customers.clear();
        self.prices.clear();
        let mut external: Vec<&str> = batch
            .rows()
            .map(|r| r.text(EXTERNAL))
            .filter(|id| !id.is_empty())
            .collect();
        external.dedup(); // sorted by the query
        for chunk in external.chunks(LOOKUP_BATCH) {
            for c in catalog.by_external_ids(chunk)? {
                self.customers.insert(c.external_id.clone(), c);
            }
        }
        let ids: Vec<&str> = self.customers.values().map(|c| c.id.as_str()).collect();
        for chunk in ids.chunks(LOOKUP_BATCH) {
            self.prices.extend(catalog.prices(chunk)?);
        }
        Ok(())
    }

    fn write(&mut self, row: BatchRow<'_>, out: &mut dyn RowSink) -> Result<(), ExportError> {
        let bad = |e: String| {
            ExportError::retryable(
                "ClickHouse sent a usage total exportd cannot read; nothing was stored",
                e,
            )
        };
        let meter = self.meters.get(row.text(METER));
        let aggregation = meter.map_or("", |m| m.aggregation.as_str());
        let usage: Option<Decimal> = match aggregated_column(aggregation) {
            Some(column) => Some(cells::decimal(row.text(column)).map_err(bad)?),
            None => None,
        };
        let event_count: i64 = row
            .text(COUNT)
            .parse()
            .map_err(|_| bad(format!("event count {:?}", row.text(COUNT))))?;
        let external = row.text(EXTERNAL);
        let customer = self.customers.get(external);
        let price =
            customer.and_then(|c| self.prices.get(&(c.id.clone(), row.text(METER).to_owned())));
        let cost = match (usage, price.and_then(|p| p.unit_amount)) {
            (Some(u), Some(unit)) => exact_mul(u, unit),
            _ => None,
        };
        if let (Some(u), Some(p), None) = (usage, price.and_then(|p| p.unit_amount), cost) {
            log::warn!(
                "usage_analytics: {u} × {p} has more digits than exportd computes exactly; total_cost left empty"
            );
        }
        // No wallet behind a usage row: wallet fields are NULL.
        let metadata = metadata_values(
            self.metadata,
            customer.and_then(|c| c.metadata.as_deref()),
            None,
        );
        let feature = meter.and_then(|m| m.feature.as_ref());
        let mut values = vec![
            Cell::text(customer.map(|c| c.name.as_str())),
            Cell::text(customer.map(|c| c.id.as_str())),
            Cell::Text(external),
            Cell::TimeMs(self.req.window.0),
            Cell::TimeMs(self.req.window.1),
            Cell::text(feature.map(|f| f.name.as_str())),
            Cell::text(feature.map(|f| f.id.as_str())),
            Cell::text(feature.and_then(|f| f.group_name.as_deref())),
            Cell::text(meter.map(|m| m.event_name.as_str())),
            Cell::Int(event_count),
            Cell::text(meter.map(|m| m.aggregation.as_str())),
            Cell::decimal(usage),
            Cell::decimal(cost),
            Cell::text(price.map(|p| p.currency.as_str())),
            Cell::Text(row.text(SOURCE)),
        ];
        values.extend(metadata.iter().map(|c| Cell::text(c.as_deref())));
        out.row(&values)?;
        self.written += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_computes_costly_aggregates_only_for_their_meters() {
        let meter = |id: &str, aggregation: &str| {
            (
                id.to_owned(),
                Meter {
                    id: id.to_owned(),
                    event_name: "e".to_owned(),
                    aggregation: aggregation.to_owned(),
                    feature: None,
                },
            )
        };
        let meters: HashMap<String, Meter> = [
            meter("m_users", "COUNT_UNIQUE"),
            meter("m_temp", "LATEST"),
            meter("m_t2", "LATEST"),
            meter("m_sum", "SUM"),
        ]
        .into_iter()
        .collect();
        let q = query("c", &meters);
        assert!(
            q.contains("uniqExactIf(unique_hash, meter_id IN ('m_users'))"),
            "{q}"
        );
        assert!(q.contains("meter_id IN ('m_t2', 'm_temp'))"), "{q}");
        assert!(
            q.contains("FROM meter_usage FINAL\nWHERE c\nGROUP BY"),
            "{q}"
        );
        assert!(
            q.contains("ORDER BY exportd_end, external_customer_id, meter_id, source"),
            "{q}"
        );
        let q = query("c", &HashMap::new());
        assert!(
            q.contains("uniqExactIf(unique_hash, meter_id IN (''))"),
            "{q}"
        );
    }

    #[test]
    fn aggregation_types() {
        assert_eq!(aggregated_column("SUM"), Some(SUM));
        assert_eq!(aggregated_column("COUNT_UNIQUE"), Some(UNIQUE));
        assert_eq!(aggregated_column("AVG"), None);
        assert_eq!(aggregated_column(""), None);
    }
}
