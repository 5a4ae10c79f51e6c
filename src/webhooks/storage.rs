//! The `webhook_deliveries` table: the outbox of webhook events (see `crate::webhooks`).

use rusqlite::{OptionalExtension, Transaction};

use crate::store::Result;

/// An event to send to one webhook.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Delivery {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub url: String,
    pub body: String,
    /// Attempts made so far.
    pub attempts: i64,
    pub created_at: i64,
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Attempt {
    Delivered,
    /// Try again at this time (ms, real clock).
    Retry {
        at: i64,
        error: String,
    },
    /// No more attempts.
    GaveUp {
        error: String,
    },
}

pub(crate) fn insert(tx: &Transaction<'_>, d: &Delivery, now: i64) -> Result<()> {
    tx.execute(
        "INSERT INTO webhook_deliveries (id, event_id, event_type, url, body, state, attempts,
             next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, ?7, ?7)",
        rusqlite::params![
            d.id,
            d.event_id,
            d.event_type,
            d.url,
            d.body,
            d.attempts,
            now
        ],
    )?;
    Ok(())
}

/// Pending deliveries whose time has come, earliest first.
pub(crate) fn due(tx: &Transaction<'_>, now: i64, limit: usize) -> Result<Vec<Delivery>> {
    let mut stmt = tx.prepare(
        "SELECT id, event_id, event_type, url, body, attempts, created_at FROM webhook_deliveries
         WHERE state = 'pending' AND next_attempt_at <= ?1
         ORDER BY next_attempt_at, id LIMIT ?2",
    )?;
    let rows = stmt.query_map(rusqlite::params![now, limit as i64], |r| {
        Ok(Delivery {
            id: r.get(0)?,
            event_id: r.get(1)?,
            event_type: r.get(2)?,
            url: r.get(3)?,
            body: r.get(4)?,
            attempts: r.get(5)?,
            created_at: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// When the next pending delivery is due, if any is pending.
pub(crate) fn next_due(tx: &Transaction<'_>) -> Result<Option<i64>> {
    Ok(tx
        .query_row(
            "SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE state = 'pending'",
            [],
            |r| r.get::<_, Option<i64>>(0),
        )
        .optional()?
        .flatten())
}

/// Records an attempt of a delivery.
pub(crate) fn record(tx: &Transaction<'_>, id: &str, attempt: &Attempt, now: i64) -> Result<()> {
    let (state, next, error) = match attempt {
        Attempt::Delivered => ("delivered", now, None),
        Attempt::Retry { at, error } => ("pending", *at, Some(error.as_str())),
        Attempt::GaveUp { error } => ("failed", now, Some(error.as_str())),
    };
    tx.execute(
        "UPDATE webhook_deliveries SET state = ?1, attempts = attempts + 1, next_attempt_at = ?2,
             last_error = ?3, updated_at = ?4
         WHERE id = ?5",
        rusqlite::params![state, next, error, now, id],
    )?;
    Ok(())
}

/// Deletes delivered and failed rows last touched before `before`; returns how many.
pub(crate) fn prune(tx: &Transaction<'_>, before: i64) -> Result<usize> {
    Ok(tx.execute(
        "DELETE FROM webhook_deliveries WHERE state <> 'pending' AND updated_at < ?1",
        [before],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    fn delivery(id: &str) -> Delivery {
        Delivery {
            id: id.into(),
            event_id: "evt_1".into(),
            event_type: "run.completed".into(),
            url: "https://hooks.example.com/x".into(),
            body: "{}".into(),
            attempts: 0,
            created_at: 100,
        }
    }

    #[test]
    fn due_rows_come_back_until_delivered_or_given_up() {
        let (_dir, store) = temp_store();
        store
            .write(|tx| {
                insert(tx, &delivery("whd_a"), 100)?;
                insert(tx, &delivery("whd_b"), 100)
            })
            .expect("insert");
        let due_at = |now| {
            store
                .read(|tx| due(tx, now, 10))
                .expect("due")
                .into_iter()
                .map(|d| d.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(due_at(100), ["whd_a", "whd_b"]);
        store
            .write(|tx| {
                let retry = Attempt::Retry {
                    at: 200,
                    error: "HTTP 500".into(),
                };
                record(tx, "whd_a", &retry, 110)?;
                record(tx, "whd_b", &Attempt::Delivered, 110)
            })
            .expect("record");
        assert!(due_at(150).is_empty());
        assert_eq!(store.read(next_due).expect("next"), Some(200));
        let again = store.read(|tx| due(tx, 200, 10)).expect("due");
        assert_eq!((again[0].id.as_str(), again[0].attempts), ("whd_a", 1));
        store
            .write(|tx| {
                let gave_up = Attempt::GaveUp {
                    error: "too old".into(),
                };
                record(tx, "whd_a", &gave_up, 300)
            })
            .expect("record");
        assert_eq!(store.read(next_due).expect("next"), None);
        let pruned = store.write(|tx| prune(tx, 250)).expect("prune");
        assert_eq!(pruned, 1, "only the row done before 250");
    }
}
