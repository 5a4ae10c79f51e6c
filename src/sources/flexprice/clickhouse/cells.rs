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
    // Most properties are written once by Flexprice's Go encoder: compact, keys sorted.
    if already_canonical(raw) {
        out.push_str(raw);
        return;
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(v @ Value::Object(_)) => write_sorted(&v, out),
        Ok(Value::Null) => out.push_str("null"),
        _ => out.push_str("{}"),
    }
}

/// Whether `raw` is a JSON object exactly as [`properties`] would re-encode it, checked
/// without building it: no whitespace, keys strictly ascending (no duplicates) at every
/// level, strings without escapes, numbers that are integers serde_json keeps as integers.
/// Anything else (floats, escapes, deep nesting...) takes the slow path, which decides.
fn already_canonical(raw: &str) -> bool {
    let b = raw.as_bytes();
    b.first() == Some(&b'{') && matches!(canonical_value(b, 0, 0), Some(end) if end == b.len())
}

/// The end of the canonical value at `at`, or `None`.
fn canonical_value(b: &[u8], at: usize, depth: usize) -> Option<usize> {
    // serde_json refuses nesting deeper than 128; stay well inside it.
    if depth > 64 {
        return None;
    }
    match *b.get(at)? {
        b'{' => {
            let mut at = at + 1;
            if b.get(at) == Some(&b'}') {
                return Some(at + 1);
            }
            let mut last: Option<&[u8]> = None;
            loop {
                let key_end = canonical_string(b, at)?;
                let key = &b[at + 1..key_end - 1];
                if last.is_some_and(|l| l >= key) {
                    return None;
                }
                last = Some(key);
                if b.get(key_end) != Some(&b':') {
                    return None;
                }
                at = canonical_value(b, key_end + 1, depth + 1)?;
                match b.get(at)? {
                    b',' => at += 1,
                    b'}' => return Some(at + 1),
                    _ => return None,
                }
            }
        }
        b'[' => {
            let mut at = at + 1;
            if b.get(at) == Some(&b']') {
                return Some(at + 1);
            }
            loop {
                at = canonical_value(b, at, depth + 1)?;
                match b.get(at)? {
                    b',' => at += 1,
                    b']' => return Some(at + 1),
                    _ => return None,
                }
            }
        }
        b'"' => canonical_string(b, at),
        b't' => b[at..].starts_with(b"true").then_some(at + 4),
        b'f' => b[at..].starts_with(b"false").then_some(at + 5),
        b'n' => b[at..].starts_with(b"null").then_some(at + 4),
        b'-' | b'0'..=b'9' => {
            let digits_from = at + usize::from(b[at] == b'-');
            let len = b[digits_from..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            let end = digits_from + len;
            let digits = &b[digits_from..end];
            // An integer without a leading zero (or `0`), not `-0`, short enough to be an
            // i64 (or u64): serde_json prints it back the same. A fraction or an exponent
            // becomes an f64, whose text may differ.
            let plain = len > 0
                && len <= 18
                && (digits[0] != b'0' || len == 1)
                && !(digits == b"0" && digits_from > at)
                && !matches!(b.get(end), Some(b'.' | b'e' | b'E'));
            plain.then_some(end)
        }
        _ => None,
    }
}

/// The end of a string at `at` that needs no escape (so its text is its value).
fn canonical_string(b: &[u8], at: usize) -> Option<usize> {
    if b.get(at) != Some(&b'"') {
        return None;
    }
    let len = b[at + 1..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    let end = at + 1 + len;
    (b[end] == b'"').then_some(end + 1)
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

    /// The fast path gives what the slow path gives, for every text it accepts.
    #[test]
    fn the_fast_path_agrees_with_the_slow_one() {
        let slow = |raw: &str| {
            let mut out = String::new();
            match serde_json::from_str::<Value>(raw) {
                Ok(v @ Value::Object(_)) => write_sorted(&v, &mut out),
                Ok(Value::Null) => out.push_str("null"),
                _ => out.push_str("{}"),
            }
            out
        };
        let accepted = [
            r#"{}"#,
            r#"{"a":1,"b":"x","c":[1,-2,true,false,null,{}],"d":{"e":[]}}"#,
            r#"{"bytes":123,"n":"456"}"#,
            r#"{"m":-5,"n":0}"#,
            r#"{"big":999999999999999999}"#,
            r#"{"ü":"€ <&> 😀"}"#,
            r#"{"":1,"a":2}"#,
        ];
        for raw in accepted {
            assert!(already_canonical(raw), "{raw}");
            assert_eq!(slow(raw), raw, "{raw}");
        }
        let refused = [
            r#"{"b":1,"a":2}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"a": 1}"#,
            r#" {"a":1}"#,
            r#"{"a":1} "#,
            r#"{"a":1.5}"#,
            r#"{"a":1e3}"#,
            r#"{"a":-0}"#,
            r#"{"a":01}"#,
            r#"{"a":1234567890123456789012}"#,
            r#"{"a":"x\"y"}"#,
            r#"{"a":"\u003c"}"#,
            r#"{"a\n":1}"#,
            r#"{"a":tru}"#,
            r#"{"a":1,}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":1"#,
            r#"[1]"#,
            r#"null"#,
            r#"{"a":1}{}"#,
            "{\"a\":\"\t\"}",
        ];
        for raw in refused {
            assert!(!already_canonical(raw), "{raw}");
        }
        // Nesting: deep objects leave the fast path before serde_json's limit.
        let deep = format!(
            "{}{}",
            r#"{"a":"#.repeat(100),
            "1".to_owned() + &"}".repeat(100)
        );
        assert!(!already_canonical(&deep));
        let mut out = String::new();
        properties(Some(&deep), &mut out);
        assert_eq!(out, slow(&deep));
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
