//! The `events` table: ingest (a duplicate `event_id` is stored once) and the ordered,
//! keyset-paged reads exports stream from.

use rusqlite::Transaction;

use super::{Result, Scope};
use crate::ledger::events::NewEvent;

/// Inserts events with the given `ingested_at`; returns how many were new (a repeated
/// `event_id` in the same environment is accepted and ignored).
pub fn insert(
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
pub fn max_ingested_at(tx: &Transaction<'_>) -> Result<i64> {
    Ok(tx.query_row(
        "SELECT COALESCE(MAX(ingested_at), 0) FROM events",
        [],
        |r| r.get(0),
    )?)
}

/// An event as exports read it (`customer_id`: the event's own, else the customer whose
/// external id it names, when that customer exists).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: String,
    pub event_name: String,
    pub external_customer_id: String,
    pub customer_id: Option<String>,
    pub source: Option<String>,
    pub timestamp: i64,
    pub ingested_at: i64,
    pub properties: Option<String>,
}

/// Which timestamp places an event in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventTime {
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
pub type Cursor = (i64, String);

/// Up to `limit` events with `start <= time < end`, after `cursor`, in `(time, id)` order.
pub fn page(
    tx: &Transaction<'_>,
    scope: &Scope,
    time: EventTime,
    (start, end): (i64, i64),
    cursor: Option<&Cursor>,
    limit: usize,
    out: &mut Vec<StoredEvent>,
) -> Result<()> {
    let t = time.column();
    // The cursor clause is written so SQLite can seek the (tenant, env, time, id) index.
    let sql = format!(
        "SELECT e.id, e.event_name, e.external_customer_id, COALESCE(e.customer_id, c.id), e.source,
                e.timestamp, e.ingested_at, e.properties
         FROM events e
         LEFT JOIN customers c ON c.tenant_id = e.tenant_id AND c.environment_id = e.environment_id
                              AND c.external_id = e.external_customer_id
         WHERE e.tenant_id = ?1 AND e.environment_id = ?2 AND e.{t} >= ?3 AND e.{t} < ?4
           AND (e.{t}, e.id) > (?5, ?6)
         ORDER BY e.{t}, e.id
         LIMIT ?7"
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let (after_time, after_id) = match cursor {
        Some((time, id)) => (*time, id.as_str()),
        None => (i64::MIN, ""),
    };
    let mut rows = stmt.query(rusqlite::params![
        scope.tenant_id,
        scope.environment_id,
        start,
        end,
        after_time,
        after_id,
        limit as i64
    ])?;
    while let Some(r) = rows.next()? {
        out.push(StoredEvent {
            id: r.get(0)?,
            event_name: r.get(1)?,
            external_customer_id: r.get(2)?,
            customer_id: r.get(3)?,
            source: r.get(4)?,
            timestamp: r.get(5)?,
            ingested_at: r.get(6)?,
            properties: r.get(7)?,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;
    use crate::store::testing::temp_store;

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

    fn scope(env: &str) -> Scope {
        Scope {
            tenant_id: "t".into(),
            environment_id: env.into(),
        }
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
}
