//! The `usage_analytics` export: Flexprice's 15 columns plus customer metadata columns, one row
//! per customer × meter × event source with events in the window. `aggregation_field` holds
//! the meter's aggregation (as in Flexprice), `total_usage` its result over the window, and
//! `total_cost` = total_usage × the meter's unit price (empty without a price). The window's
//! events are read once, in order; memory grows with the number of rows (and, for
//! COUNT_UNIQUE meters, with the distinct values), never with the number of events. Rows come
//! in customer external id, meter (config order) and source order.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicBool;

use super::{ExportError, PAGE, Source, keyset_pages, metadata_cells};
use crate::formats::pipeline::Pipeline;
use crate::formats::time::time_cell;
use crate::ledger::events::storage::{self, EventTime, StoredEvent};
use crate::ledger::meters::{Accumulator, MeterIndex};
use crate::ledger::money::format as format_decimal;

pub const COLUMNS: [&str; 15] = [
    "customer_name",
    "customer_id",
    "customer_external_id",
    "start_time",
    "end_time",
    "feature_name",
    "feature_id",
    "feature_group_name",
    "event_name",
    "event_count",
    "aggregation_field",
    "total_usage",
    "total_cost",
    "currency",
    "source",
];

/// A row's identity: customer external id, meter position in the config, source.
type GroupKey = (String, usize, String);

/// What the customers table says of an external id.
struct Customer {
    id: String,
    name: String,
    metadata: Option<String>,
}

pub fn write_rows(
    src: &Source<'_>,
    time: EventTime,
    out: &mut Pipeline<'_>,
    cancel: &AtomicBool,
) -> Result<u64, ExportError> {
    let meters = &src.app.config.meters;
    let index = MeterIndex::new(meters);
    let position: HashMap<&str, usize> = meters
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.as_str(), i))
        .collect();
    let mut groups: BTreeMap<GroupKey, (Accumulator, Option<String>)> = BTreeMap::new();
    keyset_pages(
        &src.app.store,
        cancel,
        |tx, cursor, page: &mut Vec<StoredEvent>| {
            storage::page(tx, &src.scope, time, src.window, cursor, PAGE, page)?;
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
            let matching = index.for_event(&e.event_name);
            if matching.is_empty() {
                return Ok(());
            }
            let properties = e
                .properties
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok());
            for m in matching {
                let key = (
                    e.external_customer_id.clone(),
                    position[m.id.as_str()],
                    e.source.clone().unwrap_or_default(),
                );
                let (acc, customer_id) = groups.entry(key).or_default();
                acc.add(&m.contribution(properties.as_ref()), e.timestamp, &e.id);
                if customer_id.is_none() {
                    customer_id.clone_from(&e.customer_id);
                }
            }
            Ok(())
        },
    )?;
    let customers = lookup_customers(src, groups.keys().map(|k| k.0.as_str()))?;
    let (start, end) = (time_cell(Some(src.window.0)), time_cell(Some(src.window.1)));
    let mut rows = 0u64;
    for ((external_id, meter, source), (acc, event_customer_id)) in &groups {
        let m = &meters[*meter];
        let customer = customers.get(external_id.as_str());
        let total = acc.total(m.aggregation).ok_or_else(|| {
            ExportError::terminal(
                format!(
                    "the usage of meter {} by customer {external_id} in this window is too large for a decimal (28 digits); check the events' {} values",
                    m.id, m.field
                ),
                format!("overflow in meter {} for {external_id}", m.id),
            )
        })?;
        let mut row = vec![
            customer.map(|c| c.name.clone()).unwrap_or_default(),
            customer
                .map(|c| c.id.clone())
                .or_else(|| event_customer_id.clone())
                .unwrap_or_default(),
            external_id.clone(),
            start.clone(),
            end.clone(),
            m.feature_name.clone(),
            m.feature_id.clone(),
            m.feature_group_name.clone(),
            m.event_name.clone(),
            acc.events.to_string(),
            m.aggregation.as_str().to_owned(),
            format_decimal(total),
            m.cost(total).map(format_decimal).unwrap_or_default(),
            m.currency.clone(),
            source.clone(),
        ];
        row.extend(metadata_cells(
            src.task,
            customer.and_then(|c| c.metadata.as_deref()),
            None,
        ));
        out.records
            .write_record(&row)
            .map_err(|e| out.write_error(e))?;
        rows += 1;
    }
    Ok(rows)
}

/// The customers of the given external ids, in chunks that keep the query small.
fn lookup_customers<'k>(
    src: &Source<'_>,
    external_ids: impl Iterator<Item = &'k str>,
) -> Result<HashMap<String, Customer>, ExportError> {
    let mut ids: Vec<&str> = external_ids.collect();
    ids.dedup();
    let mut found = HashMap::new();
    for chunk in ids.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = format!(
            "SELECT external_id, id, name, metadata FROM customers
             WHERE tenant_id = ? AND environment_id = ? AND external_id IN ({marks})"
        );
        let params: Vec<&str> = [
            src.scope.tenant_id.as_str(),
            src.scope.environment_id.as_str(),
        ]
        .into_iter()
        .chain(chunk.iter().copied())
        .collect();
        src.app.store.read(|tx| {
            let mut stmt = tx.prepare(&sql)?;
            let mut rows = stmt.query(rusqlite::params_from_iter(&params))?;
            while let Some(r) = rows.next()? {
                let customer = Customer {
                    id: r.get(1)?,
                    name: r.get(2)?,
                    metadata: r.get(3)?,
                };
                found.insert(r.get::<_, String>(0)?, customer);
            }
            Ok::<_, crate::store::StoreError>(())
        })?;
    }
    Ok(found)
}
