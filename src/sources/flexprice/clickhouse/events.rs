//! The `events` export read from ClickHouse: the window's rows of `meter_usage FINAL` (one per
//! event and meter, the last version of each), in Flexprice's 19 columns, in one streaming
//! query ordered by (window time in whole seconds, id, meter_id, then the rest of the key):
//! a total order, no OFFSET, one consistent read. `customer_id` comes from PostgreSQL by
//! external id, looked up for a batch of rows at a time; the other columns Flexprice leaves
//! empty stay empty.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

use super::batch::{BatchRow, for_each_batch};
use super::catalog::{Customers, LOOKUP_BATCH};
use super::sql;
use super::{Request, ServerInfo, TimeField, cells, client::Client, window};
use crate::failure::ExportError;
use crate::formats::{Cell, RowSink};

// The query's columns.
const TS: usize = 1;
const ING: usize = 2;
const ID: usize = 3;
const EXTERNAL: usize = 4;
const METER: usize = 5;
const EVENT_NAME: usize = 6;
const SOURCE: usize = 7;
const QTY: usize = 8;
const PROPERTIES: usize = 9;
const UNIQUE_HASH: usize = 10;
const WIDTH: usize = 11;

/// Rows held before their customers are looked up, and the bytes they may hold.
const BATCH_ROWS: usize = 4096;
const BATCH_BYTES: usize = 4 << 20;
/// External ids remembered (with their customer id, or none); forgotten all at once past this.
const CACHE_ENTRIES: usize = 50_000;

/// The SQL of one window: the rows of `condition` (see [`window::select`]) in the order
/// of `field`.
pub fn query(condition: &str, field: TimeField) -> String {
    let order = match field {
        TimeField::IngestedAt => "ing, id, meter_id, external_customer_id, ts",
        TimeField::Timestamp => "ts, id, meter_id, external_customer_id, ing",
    };
    let select = format!(
        "SELECT 0 AS exportd_end, toUnixTimestamp(timestamp) AS ts, toUnixTimestamp(ingested_at) AS ing, id, external_customer_id, meter_id, event_name, source, toString(qty_total) AS qty, properties, unique_hash\nFROM meter_usage FINAL\nWHERE {condition}"
    );
    sql::sealed(
        &select,
        "SELECT 1, 0, 0, '', '', '', '', '', '', '', ''",
        order,
    )
}

/// Streams the window's events to `out`, in the columns of
/// [`crate::formats::entities::columns`]; returns how many. Any failure, also in mid-stream, is an error: the caller must not keep what
/// was written.
pub fn export(
    client: &Client,
    server: &ServerInfo,
    req: &Request<'_>,
    customers: &mut dyn Customers,
    out: &mut dyn RowSink,
    cancel: &AtomicBool,
) -> Result<u64, ExportError> {
    let Some(selection) = window::select(client, server, req, false)? else {
        return Ok(0);
    };
    let sql = query(&selection.condition, req.field);
    let rows = client.query_with(&sql, WIDTH, server.read_settings())?;
    let mut writer = Writer {
        req,
        customers: CustomerIds::default(),
        properties: String::new(),
        written: 0,
    };
    let limits = (BATCH_ROWS, BATCH_BYTES);
    for_each_batch(client, rows, limits, cancel, |batch| {
        writer
            .customers
            .resolve(batch.rows().map(|r| r.text(EXTERNAL)), customers)?;
        batch.rows().try_for_each(|row| writer.write(row, out))
    })?;
    Ok(writer.written)
}

/// External id → customer id (or none), bounded.
#[derive(Default)]
struct CustomerIds {
    known: HashMap<String, Option<String>>,
}

impl CustomerIds {
    /// Looks up the ids not known yet, [`LOOKUP_BATCH`] at a time.
    fn resolve<'a>(
        &mut self,
        ids: impl Iterator<Item = &'a str>,
        customers: &mut dyn Customers,
    ) -> Result<(), ExportError> {
        let mut wanted: Vec<&str> = ids
            .filter(|id| !id.is_empty() && !self.known.contains_key(*id))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        if self.known.len() + wanted.len() > CACHE_ENTRIES {
            self.known.clear();
        }
        for chunk in wanted.chunks(LOOKUP_BATCH) {
            for id in chunk {
                self.known.insert((*id).to_owned(), None);
            }
            for c in customers.by_external_ids(chunk)? {
                if let Some(slot) = self.known.get_mut(&c.external_id) {
                    *slot = Some(c.id);
                }
            }
        }
        Ok(())
    }

    fn get(&self, external_id: &str) -> Option<&str> {
        self.known.get(external_id).and_then(|c| c.as_deref())
    }
}

struct Writer<'r> {
    req: &'r Request<'r>,
    customers: CustomerIds,
    properties: String,
    written: u64,
}

impl Writer<'_> {
    fn write(&mut self, row: BatchRow<'_>, out: &mut dyn RowSink) -> Result<(), ExportError> {
        let bad = |what: &str, e: String| {
            ExportError::retryable(
                format!("ClickHouse sent a {what} exportd cannot read; nothing was stored"),
                e,
            )
        };
        let timestamp = cells::unix_seconds_ms(row.text(TS)).map_err(|e| bad("timestamp", e))?;
        let ingested_at = cells::unix_seconds_ms(row.text(ING)).map_err(|e| bad("time", e))?;
        let qty = match row.get(QTY) {
            Some(q) => Cell::Decimal(cells::decimal(q).map_err(|e| bad("qty_total", e))?),
            None => Cell::Null,
        };
        cells::properties(row.get(PROPERTIES), &mut self.properties);
        let external = row.text(EXTERNAL);
        let customer = self.customers.get(external);
        let text = |i: usize| Cell::Text(row.text(i));
        out.row(&[
            text(ID),
            Cell::Text(self.req.tenant_id),
            Cell::Text(self.req.environment_id),
            Cell::Text(external),
            Cell::text(customer),
            Cell::Null,
            Cell::Null,
            Cell::Null,
            text(METER),
            Cell::Null,
            text(EVENT_NAME),
            text(SOURCE),
            Cell::TimeMs(timestamp),
            Cell::TimeMs(ingested_at),
            Cell::Null,
            qty,
            Cell::Null,
            Cell::Text(&self.properties),
            text(UNIQUE_HASH),
        ])?;
        self.written += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_reads_final_rows_in_a_total_order() {
        let q = query("tenant_id = 'x'", TimeField::IngestedAt);
        assert!(
            q.contains("FROM meter_usage FINAL\nWHERE tenant_id = 'x'\n"),
            "{q}"
        );
        assert!(
            q.contains("ORDER BY exportd_end, ing, id, meter_id, external_customer_id, ts"),
            "{q}"
        );
        assert!(!q.to_ascii_uppercase().contains("OFFSET"));
        let q = query("c", TimeField::Timestamp);
        assert!(
            q.contains("ORDER BY exportd_end, ts, id, meter_id, external_customer_id, ing"),
            "{q}"
        );
    }
}
