//! The `events` table: ingest (a duplicate `event_id` is stored once) and the ordered,
//! keyset-paged reads exports stream from.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, Transaction};

use crate::ledger::events::NewEvent;
use crate::store::{Result, Scope};

/// Inserts events with the given `ingested_at`; returns how many were new (a repeated
/// `event_id` in the same environment is accepted and ignored).
pub(crate) fn insert(
    tx: &Transaction<'_>,
    scope: &Scope,
    events: &[NewEvent],
    ingested_at: i64,
) -> Result<usize> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO events (tenant_id, environment_id, id, event_name, external_customer_id,
             customer_id, source, timestamp, ingested_at, properties)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    let mut added = 0;
    for e in events {
        added += stmt.execute(rusqlite::params![
            scope.tenant_id,
            scope.environment_id,
            e.id,
            e.event_name,
            e.external_customer_id,
            e.customer_id,
            e.source,
            e.timestamp,
            ingested_at,
            e.properties,
        ])?;
    }
    Ok(added)
}

/// The largest `ingested_at` stored, so the ingest clock never goes back across restarts.
/// Events are ordered by (tenant, environment, ingested_at, id), so a `MAX` over the whole table
/// read every event (startup grew with the ledger: about a second per 10M events); instead
/// each tenant and environment is found and asked for its `MAX` with one index seek each.
pub(crate) fn max_ingested_at(tx: &Transaction<'_>) -> Result<i64> {
    let text = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> Result<Option<String>> {
        Ok(tx.prepare_cached(sql)?.query_row(params, |r| r.get(0))?)
    };
    let mut latest = 0;
    let mut tenant = text("SELECT MIN(tenant_id) FROM events", &[])?;
    while let Some(t) = tenant {
        let mut env = text(
            "SELECT MIN(environment_id) FROM events WHERE tenant_id = ?1",
            &[&t],
        )?;
        while let Some(e) = env {
            let max: Option<i64> = tx
                .prepare_cached(
                    "SELECT MAX(ingested_at) FROM events WHERE tenant_id = ?1 AND environment_id = ?2",
                )?
                .query_row([&t, &e], |r| r.get(0))?;
            latest = latest.max(max.unwrap_or(0));
            env = text(
                "SELECT MIN(environment_id) FROM events WHERE tenant_id = ?1 AND environment_id > ?2",
                &[&t, &e],
            )?;
        }
        tenant = text(
            "SELECT MIN(tenant_id) FROM events WHERE tenant_id > ?1",
            &[&t],
        )?;
    }
    Ok(latest)
}

/// An event as exports read it (`customer_id`: the event's own, else the customer whose
/// external id it names, when that customer exists).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredEvent {
    pub id: String,
    pub event_name: String,
    pub external_customer_id: String,
    pub customer_id: Option<String>,
    pub source: Option<String>,
    pub timestamp: i64,
    pub ingested_at: i64,
    pub properties: Option<String>,
}

/// The same event borrowed from the database row, valid while the row is: reading one costs
/// no allocation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct EventRow<'r> {
    pub id: &'r str,
    pub event_name: &'r str,
    pub external_customer_id: &'r str,
    pub customer_id: Option<&'r str>,
    pub source: Option<&'r str>,
    pub timestamp: i64,
    pub ingested_at: i64,
    pub properties: Option<&'r str>,
}

impl EventRow<'_> {
    pub(crate) fn to_stored(self) -> StoredEvent {
        StoredEvent {
            id: self.id.to_owned(),
            event_name: self.event_name.to_owned(),
            external_customer_id: self.external_customer_id.to_owned(),
            customer_id: self.customer_id.map(str::to_owned),
            source: self.source.map(str::to_owned),
            timestamp: self.timestamp,
            ingested_at: self.ingested_at,
            properties: self.properties.map(str::to_owned),
        }
    }

    /// The row's position in `time` order.
    pub(crate) fn time(&self, time: EventTime) -> i64 {
        match time {
            EventTime::IngestedAt => self.ingested_at,
            EventTime::Timestamp => self.timestamp,
        }
    }
}

/// Which timestamp places an event in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventTime {
    IngestedAt,
    Timestamp,
}

impl EventTime {
    fn column(self) -> &'static str {
        match self {
            EventTime::IngestedAt => "ingested_at",
            EventTime::Timestamp => "timestamp",
        }
    }
}

/// Position after the last row read: `(time, id)`.
pub(crate) type Cursor = (i64, String);

/// One event of the scope by its id, as exports read it.
pub(crate) fn get(tx: &Transaction<'_>, scope: &Scope, id: &str) -> Result<Option<StoredEvent>> {
    let mut stmt = tx.prepare_cached(
        "SELECT e.id, e.event_name, e.external_customer_id, COALESCE(e.customer_id, c.id), e.source,
                e.timestamp, e.ingested_at, e.properties
         FROM events e
         LEFT JOIN customers c ON c.tenant_id = e.tenant_id AND c.environment_id = e.environment_id
                              AND c.external_id = e.external_customer_id
         WHERE e.tenant_id = ?1 AND e.environment_id = ?2 AND e.id = ?3",
    )?;
    let mut rows = stmt.query(rusqlite::params![scope.tenant_id, scope.environment_id, id])?;
    match rows.next()? {
        Some(r) => Ok(Some(read_row(r)?.to_stored())),
        None => Ok(None),
    }
}

/// Up to `limit` events with `start <= time < end`, after `cursor`, in `(time, id)` order.
pub(crate) fn page(
    tx: &Transaction<'_>,
    scope: &Scope,
    time: EventTime,
    window: (i64, i64),
    cursor: Option<&Cursor>,
    limit: usize,
    out: &mut Vec<StoredEvent>,
) -> Result<()> {
    let mut customers = CustomerIds::default();
    for_each(
        tx,
        scope,
        time,
        window,
        cursor,
        limit,
        &mut customers,
        |e| {
            out.push(e.to_stored());
            Ok::<_, crate::store::StoreError>(())
        },
    )?;
    Ok(())
}

/// Customer ids by external id, for events that name their customer by it alone: one lookup
/// per customer rather than a join per event (the join's index seek per row was over a third
/// of a ledger export's reading). Kept for a whole export, across its pages' transactions: a
/// customer created mid-export may appear only in a later export, as with any row written
/// after a page was read.
#[derive(Debug, Default)]
pub(crate) struct CustomerIds {
    /// Where each external id's answer is in `ids`: one hash per event (foldhash, as the
    /// SipHash of two lookups per event was a tenth of the reading).
    slots: HashMap<String, usize, foldhash::fast::RandomState>,
    ids: Vec<Option<String>>,
}

/// Customers remembered at most; past that the cache starts over (memory stays bounded).
const CUSTOMERS_CACHED: usize = 100_000;

impl CustomerIds {
    /// The id of the scope's customer with `external_id`, when there is one.
    fn resolve(
        &mut self,
        tx: &Transaction<'_>,
        scope: &Scope,
        external_id: &str,
    ) -> Result<Option<&str>> {
        let slot = match self.slots.get(external_id) {
            Some(&slot) => slot,
            None => {
                let id: Option<String> = tx
                    .prepare_cached(
                        "SELECT id FROM customers
                         WHERE tenant_id = ?1 AND environment_id = ?2 AND external_id = ?3",
                    )?
                    .query_row(
                        rusqlite::params![scope.tenant_id, scope.environment_id, external_id],
                        |r| r.get(0),
                    )
                    .optional()?;
                if self.ids.len() >= CUSTOMERS_CACHED {
                    self.slots.clear();
                    self.ids.clear();
                }
                self.ids.push(id);
                self.slots
                    .insert(external_id.to_owned(), self.ids.len() - 1);
                self.ids.len() - 1
            }
        };
        Ok(self.ids.get(slot).and_then(|id| id.as_deref()))
    }
}

/// Calls `each` on up to `limit` events with `start <= time < end`, after `cursor`, in
/// `(time, id)` order, straight from the database rows; returns how many there were.
/// `customers` fills in the customer id of events that carry none.
#[allow(clippy::too_many_arguments)]
pub(crate) fn for_each<E: From<crate::store::StoreError>>(
    tx: &Transaction<'_>,
    scope: &Scope,
    time: EventTime,
    (start, end): (i64, i64),
    cursor: Option<&Cursor>,
    limit: usize,
    customers: &mut CustomerIds,
    mut each: impl FnMut(&EventRow<'_>) -> std::result::Result<(), E>,
) -> std::result::Result<usize, E> {
    let t = time.column();
    // After a cursor, the page starts at the cursor, given as one row value so that SQLite
    // seeks the (tenant, environment, time, id) index to it. With the window's start beside it
    // as a second lower bound, SQLite would seek to the window's start instead and skip the
    // rows of every earlier page again, making a whole export quadratic in its size.
    let lower = match cursor {
        Some(_) => format!("(e.{t}, e.id) > (?3, ?4)"),
        None => format!("e.{t} >= ?3"),
    };
    let sql = format!(
        "SELECT e.id, e.event_name, e.external_customer_id, e.customer_id, e.source,
                e.timestamp, e.ingested_at, e.properties
         FROM events e
         WHERE e.tenant_id = ?1 AND e.environment_id = ?2 AND {lower} AND e.{t} < ?5
         ORDER BY e.{t}, e.id
         LIMIT ?6"
    );
    let mut stmt = tx
        .prepare_cached(&sql)
        .map_err(crate::store::StoreError::from)?;
    // A cursor is never before the window's start: it is the position of a row in the window.
    let (after_time, after_id) = match cursor {
        Some((time, id)) => (*time, id.as_str()),
        None => (start, ""),
    };
    let mut rows = stmt
        .query(rusqlite::params![
            scope.tenant_id,
            scope.environment_id,
            after_time,
            after_id,
            end,
            limit as i64
        ])
        .map_err(crate::store::StoreError::from)?;
    let mut seen = 0;
    while let Some(r) = rows.next().map_err(crate::store::StoreError::from)? {
        let mut row = read_row(r).map_err(crate::store::StoreError::from)?;
        if row.customer_id.is_none() {
            row.customer_id = customers.resolve(tx, scope, row.external_customer_id)?;
        }
        each(&row)?;
        seen += 1;
    }
    Ok(seen)
}

fn read_row<'r>(r: &'r rusqlite::Row<'_>) -> rusqlite::Result<EventRow<'r>> {
    let text = |i: usize| -> rusqlite::Result<&'r str> {
        r.get_ref(i)?.as_str().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
        })
    };
    let optional = |i: usize| -> rusqlite::Result<Option<&'r str>> {
        r.get_ref(i)?.as_str_or_null().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
        })
    };
    Ok(EventRow {
        id: text(0)?,
        event_name: text(1)?,
        external_customer_id: text(2)?,
        customer_id: optional(3)?,
        source: optional(4)?,
        timestamp: r.get(5)?,
        ingested_at: r.get(6)?,
        properties: optional(7)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;
    use crate::store::testing::{scope, temp_store};

    fn event(id: &str, timestamp: i64) -> NewEvent {
        NewEvent {
            id: id.into(),
            event_name: "api_call".into(),
            external_customer_id: "cus_1".into(),
            customer_id: None,
            source: None,
            timestamp,
            properties: None,
        }
    }

    /// The first ten events of `prod` ingested before 100.
    fn all_of_prod(store: &crate::store::Store) -> Vec<StoredEvent> {
        let mut read = Vec::new();
        store
            .read(|tx| {
                let window = (0, 100);
                page(
                    tx,
                    &scope("prod"),
                    EventTime::IngestedAt,
                    window,
                    None,
                    10,
                    &mut read,
                )
            })
            .unwrap();
        read
    }

    #[test]
    fn duplicates_are_stored_once_per_environment() {
        let (_dir, store) = temp_store();
        let added = store
            .write(|tx| {
                let a = insert(
                    tx,
                    &scope("prod"),
                    &[event("e1", 1), event("e2", 2), event("e1", 3)],
                    10,
                )?;
                let b = insert(tx, &scope("dev"), &[event("e1", 1)], 11)?;
                Ok::<_, StoreError>((a, b, max_ingested_at(tx)?))
            })
            .unwrap();
        assert_eq!(added, (2, 1, 11));
    }

    #[test]
    fn the_latest_ingest_time_is_found_across_tenants_and_environments() {
        let (_dir, store) = temp_store();
        let of = |tenant: &str, env: &str| Scope {
            tenant_id: tenant.into(),
            environment_id: env.into(),
        };
        let latest = |store: &crate::store::Store| store.read(max_ingested_at).unwrap();
        assert_eq!(latest(&store), 0, "no events");
        let times = [
            ("a", "dev", 40),
            ("a", "prod", 10),
            ("b", "dev", 70),
            ("b", "prod", 20),
            ("c", "", 30),
        ];
        for (i, (tenant, env, at)) in times.iter().enumerate() {
            store
                .write(|tx| {
                    insert(tx, &of(tenant, env), &[event(&format!("e{i}"), 1)], *at)?;
                    Ok::<_, StoreError>(())
                })
                .unwrap();
            let so_far = times[..=i].iter().map(|t| t.2).max().unwrap();
            assert_eq!(latest(&store), so_far, "after {tenant}/{env}");
        }
    }

    #[test]
    fn an_event_sent_again_later_is_still_stored_once() {
        let (_dir, store) = temp_store();
        let added = store
            .write(|tx| {
                let first = insert(tx, &scope("prod"), &[event("e1", 1)], 10)?;
                let again = insert(tx, &scope("prod"), &[event("e1", 2), event("e2", 2)], 20)?;
                Ok::<_, StoreError>((first, again))
            })
            .unwrap();
        assert_eq!(added, (1, 1));
        let kept = all_of_prod(&store);
        let kept: Vec<(&str, i64, i64)> = kept
            .iter()
            .map(|e| (e.id.as_str(), e.timestamp, e.ingested_at))
            .collect();
        assert_eq!(kept, [("e1", 1, 10), ("e2", 2, 20)]);
    }

    #[test]
    fn pages_walk_a_window_in_time_then_id_order_without_gaps_or_repeats() {
        let (_dir, store) = temp_store();
        let events: Vec<NewEvent> = (0..25)
            .map(|i| event(&format!("e{:02}", 24 - i), 100 + (i % 5)))
            .collect();
        store
            .write(|tx| insert(tx, &scope("prod"), &events, 50))
            .unwrap();
        let mut seen = Vec::new();
        let mut cursor: Option<Cursor> = None;
        loop {
            let mut page_rows = Vec::new();
            store
                .read(|tx| {
                    page(
                        tx,
                        &scope("prod"),
                        EventTime::Timestamp,
                        (101, 104),
                        cursor.as_ref(),
                        4,
                        &mut page_rows,
                    )
                })
                .unwrap();
            let Some(last) = page_rows.last() else { break };
            cursor = Some((last.timestamp, last.id.clone()));
            seen.extend(page_rows.into_iter().map(|e| (e.timestamp, e.id)));
        }
        let mut expected: Vec<(i64, String)> = events
            .iter()
            .filter(|e| (101..104).contains(&e.timestamp))
            .map(|e| (e.timestamp, e.id.clone()))
            .collect();
        expected.sort();
        assert_eq!(seen, expected);
        assert_eq!(seen.len(), 15);
        let mut other = Vec::new();
        store
            .read(|tx| {
                page(
                    tx,
                    &scope("dev"),
                    EventTime::IngestedAt,
                    (0, 100),
                    None,
                    10,
                    &mut other,
                )
            })
            .unwrap();
        assert!(other.is_empty(), "another environment sees nothing");
    }

    #[test]
    fn events_without_a_customer_id_get_their_scope_customers_by_external_id() {
        let (_dir, store) = temp_store();
        let named = |id: &str, customer: &str, own: Option<&str>| NewEvent {
            external_customer_id: customer.into(),
            customer_id: own.map(Into::into),
            ..event(id, 1)
        };
        let events = [
            named("e1", "cus_1", None),
            named("e2", "cus_2", None),
            named("e3", "cus_1", Some("cust_own")),
            named("e4", "cus_1", None),
        ];
        store
            .write(|tx| {
                for (id, env, external) in [("cust_a", "prod", "cus_1"), ("cust_b", "dev", "cus_2")]
                {
                    tx.execute(
                        "INSERT INTO customers (id, tenant_id, environment_id, external_id,
                             created_at, updated_at, created_by, updated_by)
                         VALUES (?1, ?2, ?3, ?4, 0, 0, 'test', 'test')",
                        rusqlite::params![
                            id,
                            scope(env).tenant_id,
                            scope(env).environment_id,
                            external
                        ],
                    )?;
                }
                insert(tx, &scope("prod"), &events, 10)
            })
            .unwrap();
        let read = all_of_prod(&store);
        let customers: Vec<(&str, Option<&str>)> = read
            .iter()
            .map(|e| (e.id.as_str(), e.customer_id.as_deref()))
            .collect();
        // cus_2 exists only in another environment; e3 keeps the id it was sent with.
        assert_eq!(
            customers,
            [
                ("e1", Some("cust_a")),
                ("e2", None),
                ("e3", Some("cust_own")),
                ("e4", Some("cust_a"))
            ]
        );
    }
}
