//! Money: exact decimals read from JSON strings or numbers and written as plain strings, and
//! the ISO 4217 currency codes. Nothing here goes through floating point: a JSON number is
//! read from its text.

use rust_decimal::Decimal;
use serde_json::{Number, Value};

use crate::input::{InputError, Obj, check_text};
use crate::store::{self, record};

/// Most decimal places an amount or quantity may have.
pub(crate) const MAX_SCALE: u32 = 12;
/// Largest amount (or quantity) one field may hold: 10^15. With 12 decimal places that is 28
/// digits, which a `Decimal` holds exactly.
pub(crate) const MAX_AMOUNT: i64 = 1_000_000_000_000_000;
/// Largest balance a wallet may reach: 10^16 (still exact at 12 decimal places).
pub(crate) const MAX_BALANCE: i64 = 10_000_000_000_000_000;
/// A JSON number with more significant digits than this may already have been rounded on its
/// way through serde_json's `f64`; such amounts must be sent as strings.
const MAX_NUMBER_DIGITS: usize = 15;
/// Longest amount string read (a longer one is refused for its length).
const MAX_TEXT: usize = 1000;

/// Which amounts a field accepts, besides the common limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    /// Greater than zero (top-ups, debits, payments).
    Positive,
    /// Zero or more (amount_due, recurring_amount, line item amounts).
    NonNegative,
}

/// The decimal as shown in JSON and exported files: plain notation, trailing zeros trimmed
/// (`"3"`, `"1.5"`, `"0"`), never an exponent, never `-0`.
pub(crate) fn format(d: Decimal) -> String {
    let n = d.normalize();
    if n.is_zero() {
        "0".to_owned()
    } else {
        n.to_string()
    }
}

/// A decimal from any text a JSON number or an event property may hold, plain or scientific
/// (`1e3`), never through binary floating point; `None` when it is not a number.
pub(crate) fn parse_any(text: &str) -> Option<Decimal> {
    let text = text.trim();
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).ok()
    } else {
        text.parse::<Decimal>().ok()
    }
}

/// A stored decimal column (always written by [`format()`]).
pub(crate) fn parse_stored(text: &str) -> Option<Decimal> {
    Decimal::from_str_exact(text).ok().map(|d| d.normalize())
}

fn not_a_number(field: &str) -> InputError {
    InputError::new(
        field,
        format!("{field} must be a decimal number, as a string such as \"12.50\" or a JSON number"),
    )
}

fn too_many_decimals(field: &str) -> InputError {
    InputError::new(
        field,
        format!("{field} must have at most {MAX_SCALE} decimal places"),
    )
}

fn too_large(field: &str) -> InputError {
    InputError::new(field, format!("{field} must be at most {MAX_AMOUNT}"))
}

fn sign_error(field: &str, bound: Bound) -> InputError {
    let rule = match bound {
        Bound::Positive => "must be greater than 0",
        Bound::NonNegative => "must not be negative",
    };
    InputError::new(field, format!("{field} {rule}"))
}

/// Applies the limits every amount shares, and `bound`; returns the normalized value.
pub(crate) fn check(field: &str, d: Decimal, bound: Bound) -> Result<Decimal, InputError> {
    let d = d.normalize();
    if d.scale() > MAX_SCALE {
        return Err(too_many_decimals(field));
    }
    let refused = match bound {
        Bound::Positive => d <= Decimal::ZERO,
        Bound::NonNegative => d < Decimal::ZERO,
    };
    if refused {
        return Err(sign_error(field, bound));
    }
    if d > Decimal::from(MAX_AMOUNT) {
        return Err(too_large(field));
    }
    Ok(d)
}

/// Parses an amount written in plain notation: an optional `-`, digits, and optionally a `.`
/// followed by digits. No exponent, spaces, `+`, separators or bare points.
pub(crate) fn parse_text(field: &str, text: &str, bound: Bound) -> Result<Decimal, InputError> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = match body.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (body, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return Err(not_a_number(field));
    }
    let int = int.trim_start_matches('0');
    let frac = frac.unwrap_or("").trim_end_matches('0');
    if frac.len() > MAX_SCALE as usize {
        return Err(too_many_decimals(field));
    }
    // 10^15 has 16 digits: a longer number is out of range (and a negative one is refused
    // for its sign, as a short one would be).
    if int.len() > 16 {
        return Err(if negative {
            sign_error(field, bound)
        } else {
            too_large(field)
        });
    }
    let sign = if negative { "-" } else { "" };
    let int = if int.is_empty() { "0" } else { int };
    let frac = if frac.is_empty() { "0" } else { frac };
    let d =
        Decimal::from_str_exact(&format!("{sign}{int}.{frac}")).map_err(|_| not_a_number(field))?;
    check(field, d, bound)
}

/// Rewrites a number in scientific notation (`1.5e-7`, as serde_json prints some floats) in
/// plain notation (`0.00000015`). `None` when it is not of that form.
pub(crate) fn scientific_to_plain(text: &str) -> Option<String> {
    let (mantissa, exponent) = text.split_once(['e', 'E'])?;
    let exponent: i32 = exponent
        .strip_prefix('+')
        .unwrap_or(exponent)
        .parse()
        .ok()?;
    // A float's exponent is at most a few hundred; refuse absurd ones rather than allocate.
    if exponent.abs() > 400 {
        return None;
    }
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    let point = int.len() as i32 + exponent;
    let plain = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{a}.{b}")
    };
    Some(format!("{sign}{plain}"))
}

/// Parses a JSON number from its text. Whole numbers are exact; a number with a fraction has
/// been through an `f64`, so one with more than 15 significant digits is refused (it may
/// have been rounded) with a hint to send a string.
pub(crate) fn parse_number(field: &str, n: &Number, bound: Bound) -> Result<Decimal, InputError> {
    let text = n.to_string();
    if n.is_i64() || n.is_u64() {
        return parse_text(field, &text, bound);
    }
    let plain = if text.contains(['e', 'E']) {
        scientific_to_plain(&text).ok_or_else(|| not_a_number(field))?
    } else {
        text
    };
    let digits: String = plain.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    if significant > MAX_NUMBER_DIGITS {
        return Err(InputError::new(
            field,
            format!(
                "{field} has more than {MAX_NUMBER_DIGITS} significant digits, more than a JSON number carries exactly: send it as a string"
            ),
        ));
    }
    parse_text(field, &plain, bound)
}

/// An optional amount: a JSON string in plain notation or a JSON number (read from its text).
pub(crate) fn amount<'a>(
    obj: &mut Obj<'a>,
    key: &'a str,
    bound: Bound,
) -> Result<Option<Decimal>, InputError> {
    let field = obj.field(key);
    match obj.raw(key) {
        None => Ok(None),
        Some(Value::String(text)) => {
            check_text(&field, text, MAX_TEXT)?;
            parse_text(&field, text, bound).map(Some)
        }
        Some(Value::Number(n)) => parse_number(&field, n, bound).map(Some),
        Some(_) => Err(not_a_number(&field)),
    }
}

/// A required amount: `<field> is required` when absent.
pub(crate) fn required_amount<'a>(
    obj: &mut Obj<'a>,
    key: &'a str,
    bound: Bound,
) -> Result<Decimal, InputError> {
    amount(obj, key, bound)?.ok_or_else(|| {
        let field = obj.field(key);
        InputError::new(&field, format!("{field} is required"))
    })
}

/// `a × b` exactly, or `None` when the exact product does not fit a `Decimal` (more than 28
/// decimal places or 96 bits).
pub(crate) fn exact_mul(a: Decimal, b: Decimal) -> Option<Decimal> {
    let (a, b) = (a.normalize(), b.normalize());
    let mantissa = a.mantissa().checked_mul(b.mantissa())?;
    Decimal::try_from_i128_with_scale(mantissa, a.scale() + b.scale())
        .ok()
        .map(|d| d.normalize())
}

/// The ISO 4217 List One codes (currencies and funds) current on 2026-01-01, as published by
/// SIX, the ISO 4217 maintenance agency: with XAD, XCG and ZWG, without the withdrawn ANG, BGN,
/// CUC, HRK, SLL and ZWL. Sorted, for binary search.
pub(crate) const CURRENCIES: [&str; 178] = [
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BHD",
    "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
    "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DJF",
    "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP",
    "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR",
    "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT",
    "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP",
    "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR",
    "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB",
    "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN",
    "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH",
    "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAD",
    "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR", "XOF", "XPD", "XPF",
    "XPT", "XSU", "XTS", "XUA", "XXX", "YER", "ZAR", "ZMW", "ZWG",
];

/// A currency code, case-insensitive in, upper case out.
pub(crate) fn parse_currency(field: &str, text: &str) -> Result<String, InputError> {
    let code = text.to_ascii_uppercase();
    if CURRENCIES.binary_search(&code.as_str()).is_ok() {
        return Ok(code);
    }
    let shown = if text.chars().count() <= 8 {
        format!(", got {text:?}")
    } else {
        String::new()
    };
    Err(InputError::new(
        field,
        format!("{field} must be an ISO 4217 currency code such as USD or EUR{shown}"),
    ))
}

/// A required currency field.
pub(crate) fn required_currency<'a>(obj: &mut Obj<'a>, key: &'a str) -> Result<String, InputError> {
    let text = obj.required_str(key, 64)?;
    parse_currency(&obj.field(key), text)
}

/// How the ledger keeps an exact decimal in a column: as its text ([`format()`]).
pub(crate) struct Money;

impl record::Column<Decimal> for Money {
    fn read(r: &rusqlite::Row<'_>, i: usize, name: &str) -> store::Result<Decimal> {
        let text: String = r.get(i)?;
        parse_stored(&text)
            .ok_or_else(|| store::StoreError::Corrupt(format!("{name} is not a decimal: {text:?}")))
    }

    fn write(value: &Decimal) -> store::Result<rusqlite::types::Value> {
        Ok(rusqlite::types::Value::Text(format(*value)))
    }
}

/// The decimal a test writes as text (exactly that number).
#[cfg(test)]
pub(crate) fn dec(s: &str) -> Decimal {
    Decimal::from_str_exact(s).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_plain_with_trailing_zeros_trimmed() {
        assert_eq!(format(dec("3.000")), "3");
        assert_eq!(format(dec("1.50")), "1.5");
        assert_eq!(format(dec("0.000")), "0");
        assert_eq!(format(dec("-0.0")), "0");
        assert_eq!(format(dec("-0.00")), "0");
        assert_eq!(format(dec("-2.10")), "-2.1");
        assert_eq!(format(dec("1000000000000000")), "1000000000000000");
        assert_eq!(format(dec("0.000000000001")), "0.000000000001");
        assert_eq!(parse_stored("12.5"), Some(dec("12.5")));
        assert_eq!(parse_stored("x"), None);
    }

    #[test]
    fn parses_any_number_exactly() {
        assert_eq!(parse_any("1e3"), Some(dec("1000")));
        assert_eq!(
            parse_any("0.1").map(|x| x + dec("0.2")),
            Some(dec("0.3")),
            "no binary floating point"
        );
        assert_eq!(parse_any("abc"), None);
    }

    #[test]
    fn parses_plain_text_within_limits() {
        let p = |s: &str| parse_text("amount", s, Bound::Positive);
        assert_eq!(p("10").unwrap(), dec("10"));
        assert_eq!(p("0010.500").unwrap(), dec("10.5"));
        assert_eq!(p("0.000000000001").unwrap(), dec("0.000000000001"));
        assert_eq!(p("1.5000000000000000000000").unwrap(), dec("1.5"));
        assert_eq!(p("1000000000000000").unwrap(), dec("1000000000000000"));
        assert_eq!(
            p("999999999999999.999999999999").unwrap(),
            dec("999999999999999.999999999999")
        );
        for bad in [
            "", "-", ".5", "5.", "1e5", "+1", " 1", "1 ", "1_000", "1,5", "abc", "NaN", "0x10",
            "1.2.3", "١٢",
        ] {
            assert_eq!(
                p(bad).unwrap_err().message,
                "amount must be a decimal number, as a string such as \"12.50\" or a JSON number",
                "{bad:?}"
            );
        }
        assert_eq!(
            p("0.0000000000001").unwrap_err().message,
            "amount must have at most 12 decimal places"
        );
        assert_eq!(p("0").unwrap_err().message, "amount must be greater than 0");
        assert_eq!(
            p("-5").unwrap_err().message,
            "amount must be greater than 0"
        );
        assert_eq!(
            p("-99999999999999999999999999").unwrap_err().message,
            "amount must be greater than 0"
        );
        assert_eq!(
            p("1000000000000000.000000000001").unwrap_err().message,
            "amount must be at most 1000000000000000"
        );
        assert_eq!(
            p(&"9".repeat(90)).unwrap_err().message,
            "amount must be at most 1000000000000000"
        );
        assert_eq!(p(&"9".repeat(200)).unwrap_err().field, "amount");
        let n = |s: &str| parse_text("amount_due", s, Bound::NonNegative);
        assert_eq!(n("0").unwrap(), Decimal::ZERO);
        assert_eq!(n("-0.00").unwrap(), Decimal::ZERO);
        assert_eq!(
            n("-0.01").unwrap_err().message,
            "amount_due must not be negative"
        );
    }

    #[test]
    fn rewrites_scientific_notation() {
        assert_eq!(scientific_to_plain("1e-7").as_deref(), Some("0.0000001"));
        assert_eq!(scientific_to_plain("1.5e-7").as_deref(), Some("0.00000015"));
        assert_eq!(scientific_to_plain("1.5e2").as_deref(), Some("150"));
        assert_eq!(scientific_to_plain("1.25e1").as_deref(), Some("12.5"));
        assert_eq!(scientific_to_plain("-2E+3").as_deref(), Some("-2000"));
        assert_eq!(scientific_to_plain("12"), None);
        assert_eq!(scientific_to_plain("1e99999"), None);
        assert_eq!(scientific_to_plain("xe1"), None);
    }

    fn num(v: Value) -> Number {
        match v {
            Value::Number(n) => n,
            other => panic!("not a number: {other}"),
        }
    }

    #[test]
    fn parses_json_numbers_from_their_text() {
        let p = |v: Value| parse_number("amount", &num(v), Bound::Positive);
        assert_eq!(p(json!(10)).unwrap(), dec("10"));
        assert_eq!(p(json!(0.1)).unwrap(), dec("0.1"));
        assert_eq!(p(json!(1.005)).unwrap(), dec("1.005"));
        assert_eq!(p(json!(100.0)).unwrap(), dec("100"));
        assert_eq!(p(json!(1e-7)).unwrap(), dec("0.0000001"));
        assert_eq!(p(json!(1.5e10)).unwrap(), dec("15000000000"));
        assert_eq!(p(json!(123456789.123456)).unwrap(), dec("123456789.123456"));
        assert_eq!(
            p(json!(-1)).unwrap_err().message,
            "amount must be greater than 0"
        );
        assert_eq!(
            p(json!(1e-13)).unwrap_err().message,
            "amount must have at most 12 decimal places"
        );
        assert_eq!(
            p(json!(1e300)).unwrap_err().message,
            "amount must be at most 1000000000000000"
        );
        assert_eq!(
            p(json!(u64::MAX)).unwrap_err().message,
            "amount must be at most 1000000000000000"
        );
        assert!(
            p(json!(0.12345678901234568))
                .unwrap_err()
                .message
                .contains("send it as a string")
        );
    }

    #[test]
    fn reads_amount_fields_of_either_kind_and_names_them() {
        let body = json!({"a": "1.50", "b": 2.5, "c": true, "d": null, "e": [1]});
        let mut obj = Obj::root(&body).unwrap();
        assert_eq!(
            amount(&mut obj, "a", Bound::Positive).unwrap(),
            Some(dec("1.5"))
        );
        assert_eq!(
            amount(&mut obj, "b", Bound::Positive).unwrap(),
            Some(dec("2.5"))
        );
        let err = amount(&mut obj, "c", Bound::Positive).unwrap_err();
        assert_eq!(err.field, "c");
        assert_eq!(amount(&mut obj, "d", Bound::Positive).unwrap(), None);
        assert!(amount(&mut obj, "e", Bound::Positive).is_err());
        assert_eq!(
            required_amount(&mut obj, "z", Bound::Positive)
                .unwrap_err()
                .message,
            "z is required"
        );
        assert!(obj.finish().is_ok(), "every amount field counts as read");
    }

    #[test]
    fn multiplies_exactly_or_not_at_all() {
        assert_eq!(exact_mul(dec("2.5"), dec("4")), Some(dec("10")));
        assert_eq!(
            exact_mul(dec("0.000000000001"), dec("0.000000000001")),
            Some(dec("0.000000000000000000000001"))
        );
        assert_eq!(
            exact_mul(
                dec("999999999999999.999999999999"),
                dec("999999999999999.999999999999")
            ),
            None
        );
    }

    #[test]
    fn currencies_are_sorted_iso_codes_read_case_insensitively() {
        assert!(CURRENCIES.windows(2).all(|w| w[0] < w[1]));
        assert!(
            CURRENCIES
                .iter()
                .all(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
        );
        assert_eq!(parse_currency("currency", "usd").unwrap(), "USD");
        assert_eq!(parse_currency("currency", "Eur").unwrap(), "EUR");
        assert_eq!(parse_currency("currency", "XCG").unwrap(), "XCG");
        for bad in ["US", "USDD", "ABC", "HRK", "", "üsd"] {
            assert_eq!(
                parse_currency("currency", bad).unwrap_err().field,
                "currency"
            );
        }
        assert_eq!(
            parse_currency("currency", "ABC").unwrap_err().message,
            "currency must be an ISO 4217 currency code such as USD or EUR, got \"ABC\""
        );
        assert!(
            !parse_currency("currency", &"x".repeat(50))
                .unwrap_err()
                .message
                .contains("xxx")
        );
    }
}
