//! Values as PostgreSQL sends them and as export cells: timestamps in binary form, jsonb
//! re-encoded with sorted keys, metadata columns, and the CSV text of a row (the same
//! formatting as the ledger's exports: RFC 3339 seconds, plain trimmed decimals, empty NULLs).

use std::error::Error;

use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use serde_json::{Map, Value};

use super::Cell;
use crate::export::format::rfc3339_seconds;
use crate::tasks::job_config::{MetadataEntity, MetadataField};

/// Microseconds from 1970-01-01 to PostgreSQL's epoch, 2000-01-01 (UTC).
const PG_EPOCH_US: i128 = 946_684_800_000_000;

/// A `timestamptz` (or `timestamp`, read as UTC) in milliseconds since 1970-01-01 UTC, read and
/// written in PostgreSQL's binary form (microseconds since 2000): no clock types in between.
/// Sub-millisecond digits are floored, so a microsecond before a boundary stays before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgTime(pub i64);

impl PgTime {
    fn from_pg_micros(us: i64) -> PgTime {
        // ±infinity are i64::MAX/MIN: they saturate (and print as year 9999 or 0000).
        let ms = (i128::from(us) + PG_EPOCH_US).div_euclid(1000);
        PgTime(ms.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }

    fn pg_micros(self) -> i64 {
        let us = i128::from(self.0) * 1000 - PG_EPOCH_US;
        us.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }
}

impl<'a> FromSql<'a> for PgTime {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<PgTime, Box<dyn Error + Sync + Send>> {
        let bytes: [u8; 8] = raw.try_into().map_err(|_| "a timestamp of 8 bytes")?;
        Ok(PgTime::from_pg_micros(i64::from_be_bytes(bytes)))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMPTZ || *ty == Type::TIMESTAMP
    }
}

impl ToSql for PgTime {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        out.extend_from_slice(&self.pg_micros().to_be_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMPTZ || *ty == Type::TIMESTAMP
    }

    to_sql_checked!();
}

/// A JSON document with its object keys sorted at every level (serde_json's map is ordered),
/// no HTML escaping, numbers as serde_json prints them. jsonb's own text orders keys by length
/// first, so it is re-encoded; text that is not JSON (never from jsonb) is kept as it is.
pub fn canonical_json(text: &str, out: &mut String) {
    out.clear();
    match serde_json::from_str::<Value>(text) {
        Ok(v) => out.push_str(&v.to_string()),
        Err(_) => out.push_str(text),
    }
}

/// A jsonb object of metadata (customers', wallets'); anything else is an empty map.
pub fn metadata_map(text: Option<&str>) -> Map<String, Value> {
    match text.map(serde_json::from_str::<Value>) {
        Some(Ok(Value::Object(m))) => m,
        _ => Map::new(),
    }
}

/// The text of one metadata column: a string as it is, a missing key or null empty, another
/// JSON value as JSON (as the ledger's exports do).
pub fn metadata_value(
    field: &MetadataField,
    customer: &Map<String, Value>,
    wallet: &Map<String, Value>,
) -> String {
    let source = match field.entity_type {
        MetadataEntity::Customer => customer,
        MetadataEntity::Wallet => wallet,
    };
    match source.get(&field.field_key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Writes one row of cells as a CSV record: times as RFC 3339 UTC seconds, decimals plain and
/// trimmed (`0`, never `-0`), NULL as an empty cell.
pub fn write_csv<W: std::io::Write>(
    out: &mut csv::Writer<W>,
    cells: &[Cell<'_>],
) -> Result<(), csv::Error> {
    let mut time = [0u8; 20];
    for cell in cells {
        match cell {
            Cell::Null => out.write_field(b"")?,
            Cell::Text(s) => out.write_field(s)?,
            Cell::Decimal(d) => out.write_field(crate::ledger::money::format(*d))?,
            Cell::TimeMs(ms) => out.write_field(rfc3339_seconds(*ms, &mut time))?,
            Cell::Int(n) => out.write_field(n.to_string())?,
        }
    }
    out.write_record(None::<&[u8]>)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_postgres_micros() {
        for ms in [
            0,
            1,
            -1,
            1_760_608_800_000,
            -946_684_800_000,
            253_402_300_799_999,
        ] {
            assert_eq!(PgTime::from_pg_micros(PgTime(ms).pg_micros()), PgTime(ms));
        }
        // 2025-10-16T10:59:59.999999Z stays in the 10:00 window.
        let us = (1_760_612_399_999_999i128 - PG_EPOCH_US) as i64;
        assert_eq!(PgTime::from_pg_micros(us), PgTime(1_760_612_399_999));
        // One microsecond before 1970 is in the millisecond before it.
        assert_eq!(PgTime::from_pg_micros(-PG_EPOCH_US as i64 - 1), PgTime(-1));
        assert_eq!(
            PgTime::from_pg_micros(i64::MAX).0,
            9_223_372_036_854_775 + 946_684_800_000
        );
        assert!(PgTime::from_pg_micros(i64::MIN).0 < 0);
    }

    #[test]
    fn json_is_reencoded_with_sorted_keys() {
        let mut out = String::new();
        canonical_json(
            r#"{"zz": 1, "a": {"c": [1.50, "<&>"], "b": null}, "é": "ü"}"#,
            &mut out,
        );
        assert_eq!(out, r#"{"a":{"b":null,"c":[1.5,"<&>"]},"zz":1,"é":"ü"}"#);
        canonical_json("not json", &mut out);
        assert_eq!(out, "not json");
    }

    #[test]
    fn metadata_columns_read_strings_and_show_the_rest_as_json() {
        let field = |entity_type, key: &str| MetadataField {
            entity_type,
            field_key: key.to_owned(),
            column_name: key.to_owned(),
        };
        let customer = metadata_map(Some(r#"{"tier":"gold","n":3,"none":null}"#));
        let wallet = metadata_map(Some(r#"{"tier":"wallet"}"#));
        let cell = |f: MetadataField| metadata_value(&f, &customer, &wallet);
        assert_eq!(cell(field(MetadataEntity::Customer, "tier")), "gold");
        assert_eq!(cell(field(MetadataEntity::Wallet, "tier")), "wallet");
        assert_eq!(cell(field(MetadataEntity::Customer, "n")), "3");
        assert_eq!(cell(field(MetadataEntity::Customer, "none")), "");
        assert_eq!(cell(field(MetadataEntity::Customer, "missing")), "");
        assert!(metadata_map(Some("[1]")).is_empty());
        assert!(metadata_map(None).is_empty());
    }

    #[test]
    fn csv_cells_are_formatted_as_the_exports_do() {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        let d = |s: &str| s.parse::<rust_decimal::Decimal>().unwrap();
        write_csv(
            &mut w,
            &[
                Cell::Text("a,\"b\""),
                Cell::Null,
                Cell::Decimal(d("12.50000000")),
                Cell::Decimal(d("-0.000")),
                Cell::TimeMs(1_760_608_800_999),
                Cell::Int(-7),
                Cell::Text(""),
            ],
        )
        .unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(text, "\"a,\"\"b\"\"\",,12.5,0,2025-10-16T10:00:00Z,-7,\n");
    }
}
