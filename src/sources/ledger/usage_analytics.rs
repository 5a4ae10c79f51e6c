//! The `usage_analytics` export: Flexprice's 15 columns plus customer metadata columns, one row
//! per customer × meter × event source with events in the window. `aggregation_field` holds
//! the meter's aggregation (as in Flexprice), `total_usage` its result over the window, and
//! `total_cost` = total_usage × the meter's unit price (empty without a price). The window's
//! events are read once, in order; memory grows with the number of rows (and, for
//! COUNT_UNIQUE meters, with the distinct values), never with the number of events. Rows come
//! in customer external id, meter (config order) and source order.

use std::collections::{BTreeMap, HashMap};

use super::{LedgerSource, each_event};
use crate::failure::ExportError;
use crate::formats::{Cell, RowSink};
use crate::ledger::meters::{Accumulator, MeterIndex};
use crate::sources::{ExportRequest, metadata_values};

/// A row's identity: customer external id, meter position in the config, source.
type GroupKey = (String, usize, String);

/// What the customers table says of an external id.
struct Customer {
    id: String,
    name: String,
    metadata: Option<String>,
}

pub(super) fn export(
    src: &LedgerSource,
    req: &ExportRequest<'_>,
    out: &mut dyn RowSink,
) -> Result<u64, ExportError> {
    let meters = &src.meters;
    let index = MeterIndex::new(meters);
    let position: HashMap<&str, usize> = meters
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.as_str(), i))
        .collect();
    let mut groups: BTreeMap<GroupKey, (Accumulator, Option<String>)> = BTreeMap::new();
    each_event(src, req, |e| {
        let matching = index.for_event(e.event_name);
        if matching.is_empty() {
            return Ok::<_, ExportError>(());
        }
        let properties = e.properties.and_then(|p| serde_json::from_str(p).ok());
        for m in matching {
            let key = (
                e.external_customer_id.to_owned(),
                position[m.id.as_str()],
                e.source.unwrap_or_default().to_owned(),
            );
            let (acc, customer_id) = groups.entry(key).or_default();
            acc.add(&m.contribution(properties.as_ref()), e.timestamp, e.id);
            if customer_id.is_none() {
                *customer_id = e.customer_id.map(str::to_owned);
            }
        }
        Ok(())
    })?;
    let customers = lookup_customers(src, req, groups.keys().map(|k| k.0.as_str()))?;
    let (start, end) = (Cell::TimeMs(req.window.0), Cell::TimeMs(req.window.1));
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
        let values = metadata_values(
            req.metadata,
            customer.and_then(|c| c.metadata.as_deref()),
            None,
        );
        let mut cells = vec![
            Cell::Text(customer.map_or("", |c| c.name.as_str())),
            Cell::text(
                customer
                    .map(|c| c.id.as_str())
                    .or(event_customer_id.as_deref()),
            ),
            Cell::Text(external_id),
            start,
            end,
            Cell::Text(&m.feature_name),
            Cell::Text(&m.feature_id),
            Cell::Text(&m.feature_group_name),
            Cell::Text(&m.event_name),
            Cell::Int(acc.events as i64),
            Cell::Text(m.aggregation.as_str()),
            Cell::Decimal(total),
            Cell::decimal(m.cost(total)),
            Cell::Text(&m.currency),
            Cell::Text(source),
        ];
        cells.extend(values.iter().map(|v| Cell::text(v.as_deref())));
        out.row(&cells)?;
        rows += 1;
    }
    Ok(rows)
}

/// The customers of the given external ids, in chunks that keep the query small.
fn lookup_customers<'k>(
    src: &LedgerSource,
    req: &ExportRequest<'_>,
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
            req.scope.tenant_id.as_str(),
            req.scope.environment_id.as_str(),
        ]
        .into_iter()
        .chain(chunk.iter().copied())
        .collect();
        src.store.read(|tx| {
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
