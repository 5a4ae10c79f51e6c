//! Exact decimals in PostgreSQL's `numeric` form: base-10000 digits, the first worth
//! 10000^weight, and a sign. Written as text straight from the digits, whatever the precision
//! or scale (no fixed-size decimal type in between, nothing rounded), and converted to a
//! [`Decimal`] only where a format needs one (Parquet).

use std::fmt;

use rust_decimal::Decimal;

/// A finite decimal: the value of `digits` (big-endian `u16` pairs, each below 10000) with the
/// first worth 10000^`weight`, negated when `negative`; `scale` is the display scale the
/// sender gave (decimal places, trailing zeros included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numeric<'a> {
    negative: bool,
    weight: i16,
    scale: u16,
    digits: &'a [u8],
}

impl<'a> Numeric<'a> {
    /// `None` when `digits` are not whole `u16` pairs below 10000.
    pub fn new(negative: bool, weight: i16, scale: u16, digits: &'a [u8]) -> Option<Numeric<'a>> {
        let (pairs, rest) = digits.as_chunks::<2>();
        if !rest.is_empty() || pairs.iter().any(|p| u16::from_be_bytes(*p) >= 10_000) {
            return None;
        }
        Some(Numeric {
            negative,
            weight,
            scale,
            digits,
        })
    }

    /// The digits without leading or trailing zero digits, and the weight of the first.
    fn significant(&self) -> (i32, &'a [[u8; 2]]) {
        let (mut digits, _) = self.digits.as_chunks::<2>();
        let mut weight = i32::from(self.weight);
        while let [[0, 0], rest @ ..] = digits {
            digits = rest;
            weight -= 1;
        }
        while let [rest @ .., [0, 0]] = digits {
            digits = rest;
        }
        (weight, digits)
    }

    /// Plain notation, trailing zeros trimmed: `1.5`, `0`, `-0.00000001`, never an exponent,
    /// never `-0`.
    pub fn write_plain(&self, out: &mut Vec<u8>) {
        let (weight, digits) = self.significant();
        if digits.is_empty() {
            out.push(b'0');
            return;
        }
        if self.negative {
            out.push(b'-');
        }
        let digit = |i: i32| {
            usize::try_from(i)
                .ok()
                .and_then(|i| digits.get(i))
                .map_or(0, |d| u16::from_be_bytes(*d))
        };
        // The whole part: digits 0..=weight (zeros past the last), the first unpadded.
        if weight < 0 {
            out.push(b'0');
        } else {
            let first = four(digit(0));
            let skip = first.iter().take(3).take_while(|&&b| b == b'0').count();
            out.extend_from_slice(&first[skip..]);
            for i in 1..=weight {
                out.extend_from_slice(&four(digit(i)));
            }
        }
        // The fraction: digits weight+1 to the last (zeros before the first), the last
        // without its trailing zeros.
        let last = digits.len() as i32 - 1;
        if last > weight {
            out.push(b'.');
            for i in weight + 1..last {
                out.extend_from_slice(&four(digit(i)));
            }
            let tail = four(digit(last));
            let keep = 4 - tail.iter().rev().take_while(|&&b| b == b'0').count();
            out.extend_from_slice(&tail[..keep]);
        }
    }

    /// The same value as a [`Decimal`] at the display scale (or fewer places, when that is
    /// beyond 28 and the digits allow), or `None` when a `Decimal` cannot hold it exactly.
    pub fn to_decimal(&self) -> Option<Decimal> {
        let (weight, digits) = self.significant();
        let mut m: i128 = 0;
        for d in digits {
            m = m
                .checked_mul(10_000)?
                .checked_add(i128::from(u16::from_be_bytes(*d)))?;
        }
        // value = m × 10000^(weight − len + 1)
        let exponent = 4 * (weight - digits.len() as i32 + 1);
        let mut scale = 0u32;
        if exponent >= 0 {
            if m != 0 {
                m = m.checked_mul(10i128.checked_pow(exponent.unsigned_abs())?)?;
            }
        } else {
            scale = exponent.unsigned_abs();
            while scale > 0 && m % 10 == 0 {
                m /= 10;
                scale -= 1;
            }
        }
        // Up to the display scale, as PostgreSQL shows it, when that fits.
        let wanted = u32::from(self.scale).min(Decimal::MAX_SCALE);
        if wanted > scale
            && let Some(up) = 10i128
                .checked_pow(wanted - scale)
                .and_then(|f| m.checked_mul(f))
            && up < 1 << 96
        {
            m = up;
            scale = wanted;
        }
        let signed = if self.negative { -m } else { m };
        Decimal::try_from_i128_with_scale(signed, scale).ok()
    }
}

/// A base-10000 digit as four ASCII digits.
fn four(d: u16) -> [u8; 4] {
    [
        b'0' + (d / 1000) as u8,
        b'0' + (d / 100 % 10) as u8,
        b'0' + (d / 10 % 10) as u8,
        b'0' + (d % 10) as u8,
    ]
}

/// The plain notation, for messages.
impl fmt::Display for Numeric<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = Vec::new();
        self.write_plain(&mut text);
        f.write_str(&String::from_utf8_lossy(&text))
    }
}

#[cfg(test)]
mod tests;
