//! ClickHouse's text for a value, read into the typed cell an export writes: decimals exactly
//! (`toString` of a Decimal: 18.16 pads it to the scale, 26.x trims it), unix seconds into
//! milliseconds, and `properties` re-encoded as JSON with sorted keys.

use std::fmt::Write;

use rust_decimal::Decimal;
use serde_json::Value;

/// A decimal from ClickHouse's text, exact; `Err` for text that is not one, or has more
/// significant digits than a `Decimal` holds (28).
pub fn decimal(text: &str) -> Result<Decimal, String> {
    // Trailing zeros first: a Decimal(38, 15) sum padded to its scale may be longer than 28
    // digits while its value fits.
    let trimmed = match text.split_once('.') {
        Some((int, frac)) if !int.is_empty() && int != "-" => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                int
            } else {
                &text[..int.len() + 1 + frac.len()]
            }
        }
        _ => text,
    };
    Decimal::from_str_exact(trimmed)
        .map(|d| d.normalize())
        .map_err(|e| format!("{text:?} is not an exact decimal here: {e}"))
}

/// Milliseconds from `toUnixTimestamp`'s text.
pub fn unix_seconds_ms(text: &str) -> Result<i64, String> {
    text.parse::<i64>()
        .ok()
        .and_then(|s| s.checked_mul(1000))
        .ok_or_else(|| format!("{text:?} is not a unix time"))
}

/// `meter_usage.properties` as exported, into `out` (cleared first), as Flexprice shows it:
/// a JSON object with its keys sorted at every level; `null` for an empty (or NULL) text and
/// for JSON `null`; `{}` for text that is not JSON or JSON that is not an object.
pub fn properties(raw: Option<&str>, out: &mut String) {
    out.clear();
    let raw = raw.unwrap_or("");
    if raw.is_empty() {
        out.push_str("null");
        return;
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(v @ Value::Object(_)) => write_sorted(&v, out),
        Ok(Value::Null) => out.push_str("null"),
        _ => out.push_str("{}"),
    }
}

/// JSON text with object keys sorted (whatever order serde_json's map keeps).
fn write_sorted(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_sorted(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sorted(item, out);
            }
            out.push(']');
        }
        Value::String(s) => write_string(s, out),
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    let _ = write!(out, "{}", Value::String(s.to_owned()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_exact_whatever_the_padding() {
        for (text, want) in [
            ("9.250000000000000", "9.25"),
            ("9.25", "9.25"),
            ("0.000000000000000", "0"),
            ("-0.00000000", "0"),
            ("-1.500000000000000", "-1.5"),
            ("1234567890.123456789012345", "1234567890.123456789012345"),
            ("0.000000000000001", "0.000000000000001"),
            ("42", "42"),
            ("100", "100"),
            (
                "12345678901234567890.123000000000000",
                "12345678901234567890.123",
            ),
        ] {
            let d = decimal(text).unwrap();
            assert_eq!(crate::ledger::money::format(d), want, "{text}");
        }
        for bad in ["", "x", "1e5", "1.2.3", "123456789012345678901234567890.5"] {
            assert!(decimal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unix_seconds() {
        assert_eq!(unix_seconds_ms("1760608800"), Ok(1_760_608_800_000));
        assert!(unix_seconds_ms("").is_err());
        assert!(unix_seconds_ms("1.5").is_err());
    }

    #[test]
    fn properties_as_flexprice_shows_them() {
        let mut out = String::new();
        for (raw, want) in [
            (None, "null"),
            (Some(""), "null"),
            (Some("null"), "null"),
            (Some("not json{"), "{}"),
            (Some("[1,2]"), "{}"),
            (Some("\"s\""), "{}"),
            (Some("{}"), "{}"),
            (
                Some(r#"{"z":{"b":1,"a":[true,null]},"n":1.50,"amp":"<&>","bytes":"1.5"}"#),
                r#"{"amp":"<&>","bytes":"1.5","n":1.5,"z":{"a":[true,null],"b":1}}"#,
            ),
            (Some(r#"{"user":"ü\"x"}"#), r#"{"user":"ü\"x"}"#),
            (Some(r#"{"a\u0000":"\n\t"}"#), r#"{"a\u0000":"\n\t"}"#),
            (Some(" { \"b\" : 1 , \"a\" : 2 } "), r#"{"a":2,"b":1}"#),
        ] {
            properties(raw, &mut out);
            assert_eq!(out, want, "{raw:?}");
        }
    }
}
