//! Which rows of `meter_usage` an export reads: those of the key's tenant and environment
//! whose window field is in `[start, end)`, after `FINAL` kept the newest version of each.
//!
//! By `timestamp`, the condition goes straight into the `FINAL` query: every version of a
//! row has the same `timestamp` (it is in the sorting key), so filtering before or after the
//! merge is the same, and the daily partitions outside the window are skipped.
//!
//! By `ingested_at`, the filter must apply after the merge (an older version may be in the
//! window while the newest is not), and `ingested_at` says nothing of where a row is stored.
//! So a first, cheap query (no `FINAL`) finds the days (`toYYYYMMDD(timestamp)`, the
//! partition key) of the rows ingested in the window, late ones included; the `FINAL` query
//! then reads only those partitions: every version of a candidate row is there, since its
//! versions share its `timestamp`. Without that, each window would merge the tenant's whole
//! history. The same query lists the window's meters, which usage_analytics looks up in
//! PostgreSQL before its own query.

use super::sql::{self, sealed};
use super::{Client, Request, ServerInfo, TimeField};
use crate::failure::ExportError;

/// The rows an export reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The `WHERE` condition of the rows in a `FINAL` query.
    pub condition: String,
    /// The meter ids among the candidate rows (a superset of those of the rows read), when
    /// asked for.
    pub meters: Vec<String>,
}

/// The rows of `req`; `None` when no row can match (nothing in the window). `with_meters`
/// lists the meters too (usage_analytics looks them up before its query).
pub fn select(
    client: &Client,
    server: &ServerInfo,
    req: &Request<'_>,
    with_meters: bool,
) -> Result<Option<Selection>, ExportError> {
    let schema = &server.schema;
    let scope = format!(
        "tenant_id = {} AND environment_id = {}",
        sql::string_literal(req.tenant_id),
        sql::string_literal(req.environment_id),
    );
    let (column, kind) = match req.field {
        TimeField::Timestamp => ("timestamp", schema.timestamp),
        TimeField::IngestedAt => ("ingested_at", schema.ingested_at),
    };
    let window = format!(
        "{scope} AND {}",
        sql::window_condition(column, kind, req.window)
    );
    if req.field == TimeField::Timestamp && !with_meters {
        return Ok(Some(Selection {
            condition: window,
            meters: Vec::new(),
        }));
    }
    let mut rows = client.query_with(&survey_query(&window), 3, server.read_settings())?;
    let (mut days, mut meters) = (Vec::new(), Vec::new());
    while let Some(row) = rows.next_row().map_err(|e| client.stream_error(e))? {
        let day: u32 = row.text(1).parse().map_err(|_| {
            ExportError::retryable(
                "ClickHouse sent a day exportd cannot read",
                format!("toYYYYMMDD gave {:?}", row.text(1)),
            )
        })?;
        days.push(day);
        meters.push(row.text(2).to_owned());
    }
    if days.is_empty() {
        return Ok(None);
    }
    days.sort_unstable();
    days.dedup();
    meters.sort_unstable();
    meters.dedup();
    let condition = match req.field {
        // The partition condition goes first: it is what lets ClickHouse skip partitions.
        TimeField::IngestedAt => format!(
            "{scope} AND toYYYYMMDD(timestamp) IN ({}) AND {}",
            days.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            sql::window_condition(column, kind, req.window)
        ),
        TimeField::Timestamp => window,
    };
    Ok(Some(Selection {
        condition,
        meters: if with_meters { meters } else { Vec::new() },
    }))
}

/// The days (partitions) and meters of the rows in the window, without `FINAL`: a superset of
/// those of the rows whose newest version is in the window.
fn survey_query(window: &str) -> String {
    sealed(
        &format!(
            "SELECT 0 AS exportd_end, toYYYYMMDD(timestamp) AS day, meter_id\nFROM meter_usage\nWHERE {window}\nGROUP BY day, meter_id"
        ),
        "SELECT 1, 0, ''",
        "day, meter_id",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_survey_reads_without_final() {
        let q = survey_query("tenant_id = 't' AND ingested_at >= toDateTime(1)");
        assert!(
            q.contains("FROM meter_usage\nWHERE tenant_id = 't' AND ingested_at >= toDateTime(1)\nGROUP BY day, meter_id"),
            "{q}"
        );
        assert!(!q.contains("FINAL"));
        assert!(
            q.ends_with("ORDER BY exportd_end, day, meter_id\nFORMAT TabSeparated"),
            "{q}"
        );
    }
}
