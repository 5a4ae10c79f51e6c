//! Values as PostgreSQL sends them and as export cells: timestamps in binary form, jsonb
//! re-encoded with sorted keys, metadata columns, and the CSV text of a row (the same
//! formatting as the ledger's exports: RFC 3339 seconds, plain trimmed decimals, empty NULLs).

use std::error::Error;

use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use rust_decimal::Decimal;
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

/// A `numeric` as an exact [`Decimal`] with PostgreSQL's display scale, decoded from the
/// binary form directly (a tenth of the work of rust_decimal's general decoder, which stays
/// the fallback for values beyond 28 places or 96 bits, where it reports the error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgDecimal(pub Decimal);

impl<'a> FromSql<'a> for PgDecimal {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<PgDecimal, Box<dyn Error + Sync + Send>> {
        match fast_numeric(raw) {
            Some(d) => Ok(PgDecimal(d)),
            None => Decimal::from_sql(ty, raw).map(PgDecimal),
        }
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

/// `numeric`'s binary form: ndigits, weight, sign, dscale (16 bits each), then ndigits
/// base-10000 digits, the first worth 10000^weight. `None` for NaN, infinities, malformed
/// input, or a value a `Decimal` cannot hold at that scale.
fn fast_numeric(raw: &[u8]) -> Option<Decimal> {
    let word = |i: usize| {
        raw.get(2 * i..2 * i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let (ndigits, weight, sign, dscale) = (word(0)?, word(1)? as i16, word(2)?, word(3)?);
    let negative = match sign {
        0x0000 => false,
        0x4000 => true,
        _ => return None,
    };
    if raw.len() != 8 + 2 * usize::from(ndigits) || dscale > 28 {
        return None;
    }
    let mut m: i128 = 0;
    for i in 0..usize::from(ndigits) {
        m = m
            .checked_mul(10_000)?
            .checked_add(i128::from(word(4 + i)?))?;
    }
    // value = m × 10000^(weight − ndigits + 1); the mantissa at scale dscale is
    // m × 10^(4 × (weight − ndigits + 1) + dscale).
    let shift = 4 * (i32::from(weight) - i32::from(ndigits) + 1) + i32::from(dscale);
    if shift >= 0 {
        m = m.checked_mul(10i128.checked_pow(shift as u32)?)?;
    } else {
        let divisor = 10u64.checked_pow(shift.unsigned_abs())?;
        // 64-bit division when it fits (nearly always): 128-bit division is slow.
        let (quotient, rest) = match u64::try_from(m) {
            Ok(small) => (i128::from(small / divisor), small % divisor),
            Err(_) => (m / i128::from(divisor), (m % i128::from(divisor)) as u64),
        };
        if rest != 0 {
            return None;
        }
        m = quotient;
    }
    Decimal::try_from_i128_with_scale(if negative { -m } else { m }, u32::from(dscale)).ok()
}

/// A decimal in plain notation with trailing zeros trimmed (`12.5`, `-0.001`, `0`; never an
/// exponent, never `-0`), written into `buf` without allocating.
pub fn plain_decimal(d: Decimal, buf: &mut [u8; 48]) -> &str {
    let m = d.mantissa();
    // 64-bit arithmetic when the mantissa fits (nearly always): 128-bit division is slow.
    let at = match u64::try_from(m.unsigned_abs()) {
        Ok(m) => write_digits(m, d.scale(), buf, |m| (m / 10, (m % 10) as u8)),
        Err(_) => write_digits(m.unsigned_abs(), d.scale(), buf, |m| {
            (m / 10, (m % 10) as u8)
        }),
    };
    let Some(mut at) = at else {
        return "0";
    };
    if m < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    // Only ASCII digits, '.' and '-' were written.
    std::str::from_utf8(&buf[at..]).unwrap_or_default()
}

/// Writes `m / 10^scale` at the end of `buf` without trailing zeros; returns where it starts,
/// or `None` for zero.
fn write_digits<T: Copy + PartialEq + Default>(
    mut m: T,
    mut scale: u32,
    buf: &mut [u8; 48],
    div10: impl Fn(T) -> (T, u8),
) -> Option<usize> {
    let zero = T::default();
    while scale > 0 && m != zero && div10(m).1 == 0 {
        m = div10(m).0;
        scale -= 1;
    }
    if m == zero {
        return None;
    }
    let mut at = buf.len();
    let mut digits = 0;
    while m != zero || digits <= scale {
        if digits == scale && scale > 0 {
            at -= 1;
            buf[at] = b'.';
        }
        let (rest, digit) = div10(m);
        at -= 1;
        buf[at] = b'0' + digit;
        m = rest;
        digits += 1;
    }
    Some(at)
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
    let mut number = [0u8; 48];
    for cell in cells {
        match cell {
            Cell::Null => out.write_field(b"")?,
            Cell::Text(s) => out.write_field(s)?,
            Cell::Decimal(d) => out.write_field(plain_decimal(*d, &mut number))?,
            Cell::TimeMs(ms) => out.write_field(rfc3339_seconds(*ms, &mut time))?,
            Cell::Int(n) => out.write_field(format_int(*n, &mut number))?,
        }
    }
    out.write_record(None::<&[u8]>)
}

/// A whole number, written into `buf` without allocating.
fn format_int(n: i64, buf: &mut [u8; 48]) -> &str {
    plain_decimal(Decimal::from(n), buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerics_decode_as_rust_decimal_does() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut cases: Vec<Decimal> = [
            "0",
            "0.000000000",
            "1",
            "-1",
            "10000",
            "0.0001",
            "3950.123456",
            "-0.000000001",
            "99999999999.999999999",
            "1234567890.123456789012345",
            "0.000000000000001",
            "79228162514264337593543950335",
            "-7922816251426433759354395033.5",
            "1e-28",
        ]
        .iter()
        .map(|t| Decimal::from_scientific(t).or_else(|_| t.parse()).unwrap())
        .collect();
        for _ in 0..5000 {
            let scale = (next() % 16) as u32;
            let m = i128::from(next() as i64) * i128::from((next() % 1000) as i64);
            cases.push(Decimal::try_from_i128_with_scale(m, scale).unwrap());
        }
        for d in cases {
            let mut raw = bytes::BytesMut::new();
            d.to_sql(&Type::NUMERIC, &mut raw).unwrap();
            let fast = PgDecimal::from_sql(&Type::NUMERIC, &raw).unwrap().0;
            let slow = Decimal::from_sql(&Type::NUMERIC, &raw).unwrap();
            assert_eq!((fast, fast.scale()), (slow, slow.scale()), "{d}");
            assert!(fast_numeric(&raw).is_some(), "{d}: the fast path");
        }
        // NaN falls back, and rust_decimal reports it.
        let nan = [0u8, 0, 0, 0, 0xC0, 0, 0, 0];
        assert!(PgDecimal::from_sql(&Type::NUMERIC, &nan).is_err());
        assert!(fast_numeric(&[0, 1, 0, 0]).is_none());
    }

    #[test]
    fn decimals_print_plain_and_trimmed_without_allocating() {
        let mut buf = [0u8; 48];
        for text in [
            "0",
            "-0.000",
            "12.50000000",
            "-0.001",
            "100",
            "1234567890.123456789012345",
            "79228162514264337593543950335",
            "-79228162514264337593543950335",
            "0.0000000000000000000000000001",
            "-5",
            "10.01",
        ] {
            let d: Decimal = text.parse().unwrap();
            assert_eq!(
                plain_decimal(d, &mut buf),
                crate::ledger::money::format(d),
                "{text}"
            );
        }
        for n in [0, 7, -7, i64::MAX, i64::MIN] {
            assert_eq!(format_int(n, &mut buf), n.to_string());
        }
    }

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
