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
//! history.

use super::sql::{self, sealed};
use super::{Client, Request, ServerInfo, TimeField};
use crate::export::ExportError;

/// The `WHERE` condition of a request's rows in a `FINAL` query; `None` when no row can
/// match (nothing was ingested in the window).
pub fn condition(
    client: &Client,
    server: &ServerInfo,
    req: &Request<'_>,
) -> Result<Option<String>, ExportError> {
    let schema = &server.schema;
    let scope = format!(
        "tenant_id = {} AND environment_id = {}",
        sql::string_literal(req.tenant_id),
        sql::string_literal(req.environment_id),
    );
    match req.field {
        TimeField::Timestamp => Ok(Some(format!(
            "{scope} AND {}",
            sql::window_condition("timestamp", schema.timestamp, req.window)
        ))),
        TimeField::IngestedAt => {
            let ingested = sql::window_condition("ingested_at", schema.ingested_at, req.window);
            let days = days_query(&scope, &ingested);
            let mut rows = client.query(&days, 2)?;
            let mut list = Vec::new();
            while let Some(row) = rows.next_row().map_err(|e| client.stream_error(e))? {
                let day: u32 = row.text(1).parse().map_err(|_| {
                    ExportError::retryable(
                        "ClickHouse sent a day exportd cannot read",
                        format!("toYYYYMMDD gave {:?}", row.text(1)),
                    )
                })?;
                list.push(day.to_string());
            }
            if list.is_empty() {
                return Ok(None);
            }
            Ok(Some(format!(
                "{scope} AND toYYYYMMDD(timestamp) IN ({}) AND {ingested}",
                list.join(", ")
            )))
        }
    }
}

/// The days (partitions) holding rows ingested in the window, without `FINAL`: a superset
/// of the days of the rows whose newest version is in the window.
fn days_query(scope: &str, ingested: &str) -> String {
    sealed(
        &format!(
            "SELECT 0 AS exportd_end, toYYYYMMDD(timestamp) AS day\nFROM meter_usage\nWHERE {scope} AND {ingested}\nGROUP BY day"
        ),
        "SELECT 1, 0",
        "day",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_days_query_reads_without_final() {
        let q = days_query("tenant_id = 't'", "ingested_at >= toDateTime(1)");
        assert!(q.contains("FROM meter_usage\nWHERE tenant_id = 't' AND ingested_at >= toDateTime(1)\nGROUP BY day"), "{q}");
        assert!(!q.contains("FINAL"));
        assert!(
            q.ends_with("ORDER BY exportd_end, day\nFORMAT TabSeparated"),
            "{q}"
        );
    }
}
