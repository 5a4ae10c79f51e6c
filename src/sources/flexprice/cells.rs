//! Values as PostgreSQL sends them: timestamps and numerics read from the binary form without
//! the general (slow) paths. How a cell is
//! written in a file is the formats' business.

use std::error::Error;

use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use rust_decimal::Decimal;

use crate::formats::Numeric;

/// Microseconds from 1970-01-01 to PostgreSQL's epoch, 2000-01-01 (UTC).
const PG_EPOCH_US: i128 = 946_684_800_000_000;

/// A `timestamptz` (or `timestamp`, read as UTC) in milliseconds since 1970-01-01 UTC, read and
/// written in PostgreSQL's binary form (microseconds since 2000): no clock types in between.
/// Sub-millisecond digits are floored, so a microsecond before a boundary stays before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgTime(pub i64);

impl PgTime {
    fn from_pg_micros(us: i64) -> PgTime {
        // 64-bit arithmetic when it cannot overflow (always, but for +infinity).
        if let Some(unix_us) = us.checked_add(PG_EPOCH_US as i64) {
            return PgTime(unix_us.div_euclid(1000));
        }
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

/// A text value (`text`, `varchar`, `char`, `name`) borrowed from the row. postgres-types'
/// `&str` asks the type's name three times per value (for extension types); this does not
/// for the built-in types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgText<'a>(pub &'a str);

impl<'a> FromSql<'a> for PgText<'a> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<PgText<'a>, Box<dyn Error + Sync + Send>> {
        match *ty {
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                Ok(PgText(std::str::from_utf8(raw)?))
            }
            _ => <&str>::from_sql(ty, raw).map(PgText),
        }
    }

    fn accepts(ty: &Type) -> bool {
        <&str as FromSql>::accepts(ty)
    }
}

/// A `numeric`, exact whatever its precision and scale, borrowed from the row as it came.
/// NaN and the infinities are refused with rust_decimal's error, as they always were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgNumeric<'a>(pub Numeric<'a>);

impl<'a> FromSql<'a> for PgNumeric<'a> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<PgNumeric<'a>, Box<dyn Error + Sync + Send>> {
        match numeric(raw) {
            Some(n) => Ok(PgNumeric(n)),
            None => Err(Decimal::from_sql(ty, raw)
                .err()
                .unwrap_or_else(|| "a numeric of unexpected form".into())),
        }
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

/// `numeric`'s binary form: ndigits, weight, sign, dscale (16 bits each), then ndigits
/// base-10000 digits, the first worth 10000^weight. `None` for NaN, infinities or malformed
/// input.
fn numeric(raw: &[u8]) -> Option<Numeric<'_>> {
    let (header, digits) = raw.split_first_chunk::<8>()?;
    let word = |i: usize| u16::from_be_bytes([header[2 * i], header[2 * i + 1]]);
    let negative = match word(2) {
        0x0000 => false,
        0x4000 => true,
        _ => return None,
    };
    if digits.len() != 2 * usize::from(word(0)) {
        return None;
    }
    Numeric::new(negative, word(1) as i16, word(3), digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `numeric`'s binary form of `d`, as PostgreSQL sends it (rust_decimal's encoder).
    fn pg_binary(d: Decimal) -> bytes::BytesMut {
        let mut raw = bytes::BytesMut::new();
        d.to_sql(&Type::NUMERIC, &mut raw).unwrap();
        raw
    }

    fn text_of(raw: &[u8]) -> String {
        let n = PgNumeric::from_sql(&Type::NUMERIC, raw).unwrap().0;
        let mut out = Vec::new();
        n.write_plain(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn numerics_print_as_rust_decimal_did() {
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
            "-79228162514264337593543950335",
            "-7922816251426433759354395033.5",
            "1e-28",
            "100000000",
            "100000000.00000001",
            "0.1000",
            "-12000.5000",
        ]
        .iter()
        .map(|t| Decimal::from_scientific(t).or_else(|_| t.parse()).unwrap())
        .collect();
        for _ in 0..20_000 {
            let scale = (next() % 29) as u32;
            let m =
                i128::from(next() as i64 >> (next() % 64)) * i128::from((next() % 100_000) as i64);
            cases.push(Decimal::try_from_i128_with_scale(m, scale).unwrap());
        }
        for d in cases {
            let raw = pg_binary(d);
            let mut expected = String::new();
            crate::formats::csv::write_decimal(&mut expected, d);
            assert_eq!(text_of(&raw), expected, "{d}");
            let slow = Decimal::from_sql(&Type::NUMERIC, &raw).unwrap();
            let fast = PgNumeric::from_sql(&Type::NUMERIC, &raw)
                .unwrap()
                .0
                .to_decimal()
                .unwrap();
            assert_eq!((fast, fast.scale()), (slow, slow.scale()), "{d}");
        }
    }

    #[test]
    fn numerics_beyond_a_decimal_stay_exact_and_nan_is_refused() {
        // ndigits, weight, sign, dscale, then the digits.
        let raw =
            |words: &[u16]| -> Vec<u8> { words.iter().flat_map(|w| w.to_be_bytes()).collect() };
        // 1e-32 (rust_decimal rounds it to 0 at 28 places).
        let tiny = raw(&[1, (-8i16) as u16, 0, 32, 1]);
        assert_eq!(text_of(&tiny), format!("0.{}1", "0".repeat(31)));
        assert_eq!(
            PgNumeric::from_sql(&Type::NUMERIC, &tiny)
                .unwrap()
                .0
                .to_decimal(),
            None
        );
        // -123456789012345678901234567890123456789.5 (39 digits: too big for rust_decimal).
        let big = raw(&[
            11, 9, 0x4000, 1, 1, 2345, 6789, 123, 4567, 8901, 2345, 6789, 123, 4567, 5000,
        ]);
        assert_eq!(text_of(&big), "-1234567890123456789012345678901234567.5");
        assert!(Decimal::from_sql(&Type::NUMERIC, &big).is_err());
        // 1e400, and 1.5 with a display scale of 1000.
        assert_eq!(
            text_of(&raw(&[1, 100, 0, 0, 1])),
            format!("1{}", "0".repeat(400))
        );
        assert_eq!(text_of(&raw(&[2, 0, 0, 1000, 1, 5000])), "1.5");
        // NaN and the infinities: rust_decimal's error, as before.
        for sign in [0xC000, 0xD000, 0xF000] {
            let special = raw(&[0, 0, sign, 0]);
            let ours = PgNumeric::from_sql(&Type::NUMERIC, &special).unwrap_err();
            let theirs = Decimal::from_sql(&Type::NUMERIC, &special).unwrap_err();
            assert_eq!(ours.to_string(), theirs.to_string());
        }
        // Malformed: a digit of 10000, a missing digit, a short header.
        assert!(PgNumeric::from_sql(&Type::NUMERIC, &raw(&[1, 0, 0, 0, 10_000])).is_err());
        assert!(PgNumeric::from_sql(&Type::NUMERIC, &raw(&[2, 0, 0, 0, 1])).is_err());
        assert!(PgNumeric::from_sql(&Type::NUMERIC, &[0, 1, 0, 0]).is_err());
    }

    #[test]
    fn text_is_read_as_postgres_types_reads_it() {
        for ty in [
            Type::TEXT,
            Type::VARCHAR,
            Type::BPCHAR,
            Type::NAME,
            Type::UNKNOWN,
        ] {
            assert!(PgText::accepts(&ty));
            assert_eq!(
                PgText::from_sql(&ty, "é, \"x\"".as_bytes()).unwrap().0,
                "é, \"x\""
            );
        }
        assert!(PgText::from_sql(&Type::TEXT, &[0xff, 0xfe]).is_err());
        assert!(!PgText::accepts(&Type::INT4) && !PgText::accepts(&Type::BYTEA));
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
        // The 64-bit path floors as the 128-bit one does, to the last value before overflow.
        let mut us = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..10_000 {
            us ^= us << 13;
            us ^= us >> 7;
            us ^= us << 17;
            let v = us as i64;
            let wide = (i128::from(v) + PG_EPOCH_US).div_euclid(1000);
            let wide = wide.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
            assert_eq!(PgTime::from_pg_micros(v).0, wide, "{v}");
        }
        for v in [
            i64::MAX - PG_EPOCH_US as i64,
            i64::MAX - PG_EPOCH_US as i64 + 1,
        ] {
            let wide = ((i128::from(v) + PG_EPOCH_US).div_euclid(1000)) as i64;
            assert_eq!(PgTime::from_pg_micros(v).0, wide, "{v}");
        }
    }
}
