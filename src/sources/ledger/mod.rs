//! The embedded SQLite ledger as a source: each entity's rows read from exportd's own tables,
//! a page at a time in `(time, id)` order, each page in a short read transaction of its own.

mod credit_topups;
mod credit_usage;
mod events;
mod invoices;
mod usage_analytics;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::Transaction;

use super::{ExportRequest, RowSink, Source, SourceError, Unavailable};
use crate::failure::ExportError;
use crate::formats::{Cell, ColumnType};
use crate::ledger::events::storage::{self, CustomerIds, EventRow, EventTime};
use crate::ledger::meters::Meter;
use crate::scheduled_tasks::EntityType;
use crate::scheduled_tasks::job_config::WindowField;
use crate::store::Store;

/// The embedded ledger: exportd's own tables, filled through its API.
pub(crate) struct LedgerSource {
    store: Arc<Store>,
    /// The meters of the config, which price events and make usage analytics.
    meters: Vec<Meter>,
}

impl LedgerSource {
    pub(crate) fn new(store: Arc<Store>, meters: Vec<Meter>) -> LedgerSource {
        LedgerSource { store, meters }
    }
}

impl Source for LedgerSource {
    fn name(&self) -> &'static str {
        "the embedded ledger"
    }

    fn offers(&self, _entity: EntityType) -> Result<(), Unavailable> {
        Ok(())
    }

    fn ledger_writes(&self) -> bool {
        true
    }

    fn export(&self, req: &ExportRequest<'_>, out: &mut dyn RowSink) -> Result<u64, ExportError> {
        match req.entity {
            EntityType::Events => events::export(self, req, out),
            EntityType::Invoice => invoices::export(self, req, out),
            EntityType::CreditTopups => credit_topups::export(self, req, out),
            EntityType::CreditUsage => credit_usage::export(self, req, out),
            EntityType::UsageAnalytics => usage_analytics::export(self, req, out),
        }
    }

    fn check(&self) -> Result<(), SourceError> {
        self.store.schema_version()?;
        Ok(())
    }
}

/// Rows read per database round trip.
const PAGE: usize = 5000;

/// Position after the last row read: `(time, id)`.
type Cursor = (i64, String);

/// Walks the window a page at a time, each page in its own read transaction: `page` reads and
/// writes the rows after `cursor` (`None` before the first page), sets `last` to the position
/// of the last one, and says how many it read. A page shorter than [`PAGE`] is the last.
fn keyset(
    store: &Store,
    cancel: &AtomicBool,
    mut page: impl FnMut(&Transaction<'_>, Option<&Cursor>, &mut Cursor) -> Result<usize, ExportError>,
) -> Result<(), ExportError> {
    let mut cursor: Option<Cursor> = None;
    let mut last: Cursor = (0, String::new());
    loop {
        let seen = store.read(|tx| page(tx, cursor.as_ref(), &mut last))?;
        if cancel.load(Ordering::Relaxed) {
            return Err(ExportError::interrupted("shutdown"));
        }
        if seen < PAGE {
            return Ok(());
        }
        match &mut cursor {
            Some(c) => c.clone_from(&last),
            None => cursor = Some(last.clone()),
        }
    }
}

/// Writes the rows a query finds in the window, a page at a time in `(time, id)` order. The
/// query takes the scope (`?1`, `?2`), the window (`?3`, `?4`), the position after which to
/// read (`?5`, `?6`) and the page size (`?7`); its columns are the row's id, the rest of the
/// export's columns (`kinds`), then the row's time.
fn window_rows(
    src: &LedgerSource,
    req: &ExportRequest<'_>,
    sql: &str,
    kinds: &[ColumnType],
    out: &mut dyn RowSink,
) -> Result<u64, ExportError> {
    let mut rows = 0u64;
    keyset(&src.store, req.cancel, |tx, cursor, last| {
        let (after_t, after_id) = cursor.map_or((i64::MIN, ""), |(t, id)| (*t, id.as_str()));
        let mut stmt = tx.prepare_cached(sql)?;
        let mut found = stmt.query(rusqlite::params![
            req.scope.tenant_id,
            req.scope.environment_id,
            req.window.0,
            req.window.1,
            after_t,
            after_id,
            PAGE as i64
        ])?;
        let mut seen = 0;
        while let Some(r) = found.next()? {
            let cells = kinds
                .iter()
                .enumerate()
                .map(|(i, kind)| cell(r, i, *kind))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            out.row(&cells)?;
            *last = (r.get(kinds.len())?, r.get(0)?);
            seen += 1;
        }
        rows += seen as u64;
        Ok(seen)
    })?;
    Ok(rows)
}

/// Moves `cursor` to a row's position, reusing its buffer.
fn set_cursor(cursor: &mut Cursor, time: i64, id: &str) {
    cursor.0 = time;
    cursor.1.clear();
    cursor.1.push_str(id);
}

/// Column `i` of a row as a cell of `kind`, borrowed from the row. Decimals are stored as
/// text: one that is not a decimal (never written by exportd) is passed on as text.
fn cell<'r>(row: &'r rusqlite::Row<'_>, i: usize, kind: ColumnType) -> rusqlite::Result<Cell<'r>> {
    let value = row.get_ref(i)?;
    let text = || {
        value
            .as_str_or_null()
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, value.data_type(), e.into()))
    };
    Ok(match kind {
        ColumnType::Text | ColumnType::Json => Cell::text(text()?),
        ColumnType::Decimal { .. } => match text()? {
            None => Cell::Null,
            Some(t) => crate::ledger::money::parse_any(t).map_or(Cell::Text(t), Cell::Decimal),
        },
        ColumnType::TimestampMillisUtc => row
            .get::<_, Option<i64>>(i)?
            .map_or(Cell::Null, Cell::TimeMs),
        ColumnType::Int64 => row.get::<_, Option<i64>>(i)?.map_or(Cell::Null, Cell::Int),
    })
}

/// Which timestamp of an event places it in the request's window (`ingested_at` unless the
/// task says `timestamp`).
/// Calls `each` on every event of the request's window, in `(time, id)` order, a page at a
/// time, with the customer ids of events that carry none looked up once per customer.
fn each_event(
    src: &LedgerSource,
    req: &ExportRequest<'_>,
    mut each: impl FnMut(&EventRow<'_>) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    let time = event_time(req);
    let mut customers = CustomerIds::default();
    keyset(&src.store, req.cancel, |tx, cursor, last| {
        let (scope, window) = (req.scope, req.window);
        storage::for_each(tx, scope, time, window, cursor, PAGE, &mut customers, |e| {
            each(e)?;
            set_cursor(last, e.time(time), e.id);
            Ok::<_, ExportError>(())
        })
    })
}

fn event_time(req: &ExportRequest<'_>) -> EventTime {
    match req.window_field {
        Some(WindowField::Timestamp) => EventTime::Timestamp,
        _ => EventTime::IngestedAt,
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::ledger::customers::Customer;
    use crate::ledger::wallets::{TxType, Wallet, WalletTransaction};
    use crate::store::record::Stored;
    use crate::store::testing::{scope, temp_store};
    use crate::store::{Audit, StoreError};

    fn wallet() -> Wallet {
        Wallet {
            id: "wallet_1".into(),
            tenant_id: "t".into(),
            environment_id: "prod".into(),
            customer_id: "cust_1".into(),
            currency: "USD".into(),
            name: String::new(),
            metadata: None,
            balance: Decimal::ZERO,
            wallet_status: "active".into(),
            status: "published".into(),
            audit: Audit::new("k", 0),
        }
    }

    fn top_up(id: &str, at: i64, amount: i64) -> WalletTransaction {
        WalletTransaction {
            id: id.into(),
            tenant_id: "t".into(),
            environment_id: "prod".into(),
            wallet_id: "wallet_1".into(),
            tx_type: TxType::Credit,
            amount: Decimal::from(amount),
            balance_before: Decimal::ZERO,
            balance_after: Decimal::from(amount),
            reference_id: None,
            transaction_reason: "PURCHASED_CREDIT_DIRECT".into(),
            transaction_status: "completed".into(),
            idempotency_key: None,
            status: "published".into(),
            created_at: at,
            created_by: "k".into(),
        }
    }

    /// The seam as a source's test sees it: a request, and a closure for a sink.
    #[test]
    fn a_window_comes_in_the_entity_columns_in_time_order() {
        let (_dir, store) = temp_store();
        store
            .write(|tx| {
                Customer::sample("cust_1", "prod", "acme", 0).insert(tx)?;
                wallet().insert(tx)?;
                for (id, at, amount) in [("wtx_b", 20, 5), ("wtx_a", 10, 2), ("wtx_c", 99, 1)] {
                    top_up(id, at, amount).insert(tx)?;
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let source = LedgerSource::new(Arc::new(store), Vec::new());
        let cancel = AtomicBool::new(false);
        let request = ExportRequest {
            entity: EntityType::CreditTopups,
            scope: &scope("prod"),
            window: (0, 50),
            window_field: None,
            metadata: &[],
            cancel: &cancel,
        };
        // Cells borrow from the source's row: a sink keeps what it needs of them.
        let mut rows = Vec::new();
        let mut sink = |cells: &[Cell<'_>]| {
            assert_eq!(cells.len(), 10, "the entity's columns");
            rows.push(format!("{:?} {:?} {:?}", cells[0], cells[4], cells[9]));
            Ok(())
        };
        assert_eq!(source.export(&request, &mut sink).unwrap(), 2);
        assert_eq!(
            rows,
            [
                r#"Text("wtx_a") Decimal(2) TimeMs(10)"#,
                r#"Text("wtx_b") Decimal(5) TimeMs(20)"#,
            ]
        );
    }
}
