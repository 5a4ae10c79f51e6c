//! Values as PostgreSQL sends them: timestamps and numerics decoded from the binary form
//! without the general (slow) paths, and jsonb re-encoded with sorted keys. How a cell is
//! written in a file is the formats' business.

use std::error::Error;

use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use rust_decimal::Decimal;
use serde_json::Value;

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
}
