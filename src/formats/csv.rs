//! CSV, the format of every export: `\n` line ends, fields quoted only when needed, a header
//! of the column names, and each cell as text: NULL empty, text and JSON as they are, times in
//! RFC 3339 at second precision (`2025-10-16T10:00:00Z`), decimals in plain notation with
//! trailing zeros trimmed (`1.5`, `0`, never an exponent), whole numbers in decimal.
//!
//! The header goes through the `csv` crate's writer; rows are formatted here, straight into a
//! buffer, in exactly the bytes that writer makes of them (the tests hold the two side by
//! side): times, decimals and numbers are made of bytes that never need quotes, so only text
//! is looked at.

use std::fmt::Write as _;
use std::io::Write;

use rust_decimal::Decimal;

use super::time::Rfc3339Seconds;
use super::{Cell, RowSink};
use crate::failure::ExportError;

/// How much formatted CSV is handed on at once: the size of the writer's own buffer, which
/// decides how the CSV is cut into writes to the compressor.
const CHUNK: usize = 64 * 1024;

/// A CSV writer in the dialect of every export.
pub(crate) fn writer<W: Write>(inner: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .buffer_capacity(CHUNK)
        .from_writer(inner)
}

/// What a failed CSV write becomes.
pub(crate) fn failed(e: csv::Error) -> ExportError {
    ExportError::retryable("writing the CSV failed", e.to_string())
}

/// Runs `produce` with a [`RowSink`] whose rows become CSV records written to `out` in writes
/// of [`CHUNK`] bytes; the last records are written when `produce` is done.
pub(crate) fn write_rows<W: Write, T>(
    out: &mut W,
    produce: impl FnOnce(&mut CsvRows<'_, W>) -> Result<T, ExportError>,
) -> Result<T, ExportError> {
    let mut rows = CsvRows {
        out,
        buf: Vec::with_capacity(2 * CHUNK),
        times: Rfc3339Seconds::new(),
        text: String::new(),
    };
    let produced = produce(&mut rows)?;
    rows.hand_on(rows.buf.len())?;
    Ok(produced)
}

/// Writes rows of cells as CSV records. Its buffers are reused from row to row, so a row costs
/// no allocation.
pub(crate) struct CsvRows<'w, W: Write> {
    out: &'w mut W,
    /// Formatted records not yet handed on.
    buf: Vec<u8>,
    times: Rfc3339Seconds,
    text: String,
}

impl<W: Write> CsvRows<'_, W> {
    /// Writes the first `n` buffered bytes out.
    fn hand_on(&mut self, n: usize) -> Result<(), ExportError> {
        if n == 0 {
            return Ok(());
        }
        self.out
            .write_all(&self.buf[..n])
            .map_err(|e| failed(e.into()))?;
        self.buf.drain(..n);
        Ok(())
    }

    fn field(&mut self, cell: &Cell<'_>) {
        match *cell {
            Cell::Null => {}
            Cell::Text(text) => write_text(&mut self.buf, text.as_bytes()),
            Cell::TimeMs(ms) => self.buf.extend_from_slice(self.times.format(ms)),
            Cell::Decimal(d) => {
                self.text.clear();
                write_decimal(&mut self.text, d);
                self.buf.extend_from_slice(self.text.as_bytes());
            }
            Cell::Numeric(n) => n.write_plain(&mut self.buf),
            Cell::Int(n) => write_int(&mut self.buf, n),
        }
    }
}

impl<W: Write> RowSink for CsvRows<'_, W> {
    fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), ExportError> {
        let start = self.buf.len();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            self.field(cell);
        }
        // A record with no bytes at all (one empty field) is written as an empty quoted
        // field, so that it is not read as no record.
        if self.buf.len() == start {
            self.buf.extend_from_slice(b"\"\"");
        }
        self.buf.push(b'\n');
        if self.buf.len() >= CHUNK {
            self.hand_on(self.buf.len() - self.buf.len() % CHUNK)?;
        }
        Ok(())
    }
}

/// Whether a field must be quoted: it holds the delimiter, a quote or a line end (`\r` too,
/// which readers take for one). Eight bytes at a time, as most fields need no quotes.
fn needs_quotes(field: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Whether a byte of `word` is `b`: a byte of `word ^ b…b` is zero.
    let has = |word: u64, b: u8| {
        let x = word ^ (ONES * u64::from(b));
        x.wrapping_sub(ONES) & !x & HIGH != 0
    };
    let special =
        |word: u64| has(word, b',') | has(word, b'"') | has(word, b'\n') | has(word, b'\r');
    let (words, rest) = field.as_chunks::<8>();
    // The last bytes padded with zeros, which are not special.
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    words.iter().any(|w| special(u64::from_ne_bytes(*w))) || special(u64::from_ne_bytes(last))
}

/// A text field, quoted (its quotes doubled) when it must be.
fn write_text(out: &mut Vec<u8>, field: &[u8]) {
    if !needs_quotes(field) {
        out.extend_from_slice(field);
        return;
    }
    out.reserve(field.len() + 8);
    out.push(b'"');
    // Runs between quotes are copied whole: JSON cells are quoted, and byte by byte their
    // copy was the largest cost of formatting a ledger event.
    let mut rest = field;
    while let Some(at) = memchr::memchr(b'"', rest) {
        out.extend_from_slice(&rest[..=at]);
        out.push(b'"');
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// A whole number in decimal.
fn write_int(out: &mut Vec<u8>, n: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[at..]);
}

/// A decimal as exported files (and JSON answers) show it: plain notation, trailing zeros
/// trimmed, never an exponent, never `-0`.
pub(crate) fn write_decimal(out: &mut String, d: Decimal) {
    let n = d.normalize();
    if n.is_zero() {
        out.push('0');
    } else {
        let _ = write!(out, "{n}");
    }
}

#[cfg(test)]
mod tests;
