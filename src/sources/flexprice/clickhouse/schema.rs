//! Which of Flexprice's `meter_usage` schemas a database holds (read from `system.columns`):
//! the dev migrations' `qty_total Decimal(25, 15)` or production's `Decimal(18, 8)`, and
//! whether its times are whole seconds (`DateTime`, also everything on ClickHouse 18.16) or
//! milliseconds (`DateTime64(3)`), which decides how window bounds are written.

use std::fmt;

use super::client::Client;
use super::sql::{TimeColumn, sealed};
use crate::failure::ExportError;

/// The columns exportd reads from `meter_usage`.
pub const METER_USAGE_COLUMNS: [&str; 12] = [
    "id",
    "tenant_id",
    "environment_id",
    "external_customer_id",
    "meter_id",
    "event_name",
    "timestamp",
    "ingested_at",
    "qty_total",
    "unique_hash",
    "source",
    "properties",
];

/// Flexprice's `meter_usage` variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Variant {
    /// Dev migrations (docker-compose): `qty_total Decimal(25, 15)`.
    Dev,
    /// Production (ClickHouse 26.3): `qty_total Decimal(18, 8)`.
    Prod,
    /// Another `qty_total` type (exportd reads any decimal text exactly).
    Other(String),
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Variant::Dev => f.write_str("dev migrations (qty_total Decimal(25, 15))"),
            Variant::Prod => f.write_str("production (qty_total Decimal(18, 8))"),
            Variant::Other(t) => write!(f, "unknown (qty_total {t})"),
        }
    }
}

/// What exportd found of `meter_usage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    pub variant: Variant,
    pub timestamp: TimeColumn,
    pub ingested_at: TimeColumn,
    /// Whether Flexprice's `events` table exists too (exportd does not read it).
    pub has_events_table: bool,
}

/// A type without its `Nullable(...)`/`LowCardinality(...)` wrappers.
fn base_type(t: &str) -> &str {
    let mut t = t.trim();
    for wrapper in ["LowCardinality(", "Nullable("] {
        if let Some(inner) = t.strip_prefix(wrapper).and_then(|r| r.strip_suffix(')')) {
            t = inner.trim();
        }
    }
    t
}

fn time_column(t: &str) -> TimeColumn {
    if base_type(t).starts_with("DateTime64") {
        TimeColumn::SubSecond
    } else {
        TimeColumn::Seconds
    }
}

/// The schema from `(table, column, type)` rows; `Err` names what is missing.
pub fn from_columns(columns: &[(String, String, String)]) -> Result<Schema, String> {
    let usage: Vec<(&str, &str)> = columns
        .iter()
        .filter(|(table, _, _)| table == "meter_usage")
        .map(|(_, c, t)| (c.as_str(), t.as_str()))
        .collect();
    if usage.is_empty() {
        return Err("the table meter_usage does not exist".to_owned());
    }
    let type_of = |name: &str| usage.iter().find(|(c, _)| *c == name).map(|(_, t)| *t);
    let missing: Vec<&str> = METER_USAGE_COLUMNS
        .iter()
        .copied()
        .filter(|c| type_of(c).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(format!("meter_usage has no column {}", missing.join(", ")));
    }
    let qty = base_type(type_of("qty_total").unwrap_or_default());
    let variant = match qty.replace(' ', "").as_str() {
        "Decimal(25,15)" => Variant::Dev,
        "Decimal(18,8)" => Variant::Prod,
        _ => Variant::Other(qty.to_owned()),
    };
    Ok(Schema {
        variant,
        timestamp: time_column(type_of("timestamp").unwrap_or_default()),
        ingested_at: time_column(type_of("ingested_at").unwrap_or_default()),
        has_events_table: columns.iter().any(|(table, _, _)| table == "events"),
    })
}

/// Reads the schema of the configured database.
pub fn detect(client: &Client) -> Result<Schema, ExportError> {
    let sql = sealed(
        "SELECT 0 AS exportd_end, table, name, type\nFROM system.columns\nWHERE database = currentDatabase() AND table IN ('meter_usage', 'events')",
        "SELECT 1, '', '', ''",
        "table, name",
    );
    let mut rows = client.query(&sql, 4)?;
    let mut columns = Vec::new();
    while let Some(row) = rows.next_row().map_err(|e| client.stream_error(e))? {
        columns.push((
            row.text(1).to_owned(),
            row.text(2).to_owned(),
            row.text(3).to_owned(),
        ));
    }
    from_columns(&columns).map_err(|problem| {
        ExportError::terminal(
            format!(
                "ClickHouse database {} does not hold Flexprice's meter_usage: {problem}",
                client.settings().database
            ),
            problem,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(qty: &str, ingested: &str) -> Vec<(String, String, String)> {
        METER_USAGE_COLUMNS
            .iter()
            .map(|c| {
                let t = match *c {
                    "qty_total" => qty,
                    "ingested_at" => ingested,
                    "timestamp" => "DateTime",
                    _ => "LowCardinality(String)",
                };
                ("meter_usage".to_owned(), (*c).to_owned(), t.to_owned())
            })
            .collect()
    }

    #[test]
    fn both_variants_and_their_time_columns() {
        let dev = from_columns(&columns("Decimal(25, 15)", "DateTime")).unwrap();
        assert_eq!(dev.variant, Variant::Dev);
        assert_eq!(dev.ingested_at, TimeColumn::Seconds);
        assert!(!dev.has_events_table);
        let mut cols = columns("Decimal(18, 8)", "DateTime64(3)");
        cols.push(("events".into(), "id".into(), "String".into()));
        let prod = from_columns(&cols).unwrap();
        assert_eq!(prod.variant, Variant::Prod);
        assert_eq!(prod.ingested_at, TimeColumn::SubSecond);
        assert_eq!(prod.timestamp, TimeColumn::Seconds);
        assert!(prod.has_events_table);
        let other = from_columns(&columns(
            "Nullable(Decimal(38, 10))",
            "DateTime64(3, 'UTC')",
        ))
        .unwrap();
        assert_eq!(other.variant, Variant::Other("Decimal(38, 10)".into()));
        assert_eq!(other.ingested_at, TimeColumn::SubSecond);
    }

    #[test]
    fn missing_tables_and_columns_are_named() {
        assert_eq!(
            from_columns(&[]).unwrap_err(),
            "the table meter_usage does not exist"
        );
        let mut cols = columns("Decimal(18, 8)", "DateTime");
        cols.retain(|(_, c, _)| c != "unique_hash" && c != "source");
        assert_eq!(
            from_columns(&cols).unwrap_err(),
            "meter_usage has no column unique_hash, source"
        );
    }
}
