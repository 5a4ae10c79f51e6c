//! CSV, the format of every export: `\n` line ends, fields quoted only when needed, a header
//! of the column names, and each cell as text: NULL empty, text and JSON as they are, times in
//! RFC 3339 at second precision (`2025-10-16T10:00:00Z`), decimals in plain notation with
//! trailing zeros trimmed (`1.5`, `0`, never an exponent), whole numbers in decimal.

use std::fmt::Write as _;
use std::io::Write;

use rust_decimal::Decimal;

use super::time::rfc3339_seconds;
use super::{Cell, RowSink};
use crate::failure::ExportError;

/// A CSV writer in the dialect of every export. The buffer's size decides how the CSV is cut
/// into writes to the compressor.
pub(crate) fn writer<W: Write>(inner: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .buffer_capacity(64 * 1024)
        .from_writer(inner)
}

/// What a failed CSV write becomes.
pub(crate) fn failed(e: csv::Error) -> ExportError {
    ExportError::retryable("writing the CSV failed", e.to_string())
}

/// Writes rows of cells as CSV records. Its buffers are reused from row to row, so a row costs
/// no allocation.
pub(crate) struct CsvRows<'w, W: Write> {
    csv: &'w mut csv::Writer<W>,
    time: [u8; 20],
    text: String,
}

impl<'w, W: Write> CsvRows<'w, W> {
    pub(crate) fn new(csv: &'w mut csv::Writer<W>) -> CsvRows<'w, W> {
        CsvRows {
            csv,
            time: [0; 20],
            text: String::new(),
        }
    }

    fn field(&mut self, cell: &Cell<'_>) -> csv::Result<()> {
        match *cell {
            Cell::Null => self.csv.write_field(""),
            Cell::Text(text) => self.csv.write_field(text),
            Cell::TimeMs(ms) => self.csv.write_field(rfc3339_seconds(ms, &mut self.time)),
            Cell::Decimal(d) => {
                self.text.clear();
                write_decimal(&mut self.text, d);
                self.csv.write_field(&self.text)
            }
            Cell::Int(n) => {
                self.text.clear();
                let _ = write!(self.text, "{n}");
                self.csv.write_field(&self.text)
            }
        }
    }
}

impl<W: Write> RowSink for CsvRows<'_, W> {
    fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), ExportError> {
        for cell in cells {
            self.field(cell).map_err(failed)?;
        }
        // No more fields: this ends the record.
        self.csv.write_record(None::<&[u8]>).map_err(failed)
    }
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
mod tests {
    use super::*;

    fn csv_of(rows: &[&[Cell<'_>]]) -> String {
        let mut csv = writer(Vec::new());
        let mut out = CsvRows::new(&mut csv);
        for row in rows {
            out.row(row).unwrap();
        }
        String::from_utf8(csv.into_inner().unwrap()).unwrap()
    }

    #[test]
    fn cells_become_text_as_flexprice_exports_show_it() {
        let d = |s: &str| Cell::Decimal(Decimal::from_str_exact(s).unwrap());
        let text = csv_of(&[
            &[
                Cell::Text("a, \"b\""),
                Cell::Null,
                Cell::TimeMs(1_760_608_800_999),
                d("1.500"),
                d("-0.000"),
                d("0.0000001"),
                Cell::Int(-42),
                Cell::Text("{\"k\":\"v\"}"),
            ],
            &[
                Cell::Null,
                Cell::Text(""),
                Cell::Null,
                Cell::Null,
                Cell::Null,
                Cell::Null,
                Cell::Null,
                Cell::Null,
            ],
        ]);
        assert_eq!(
            text,
            "\"a, \"\"b\"\"\",,2025-10-16T10:00:00Z,1.5,0,0.0000001,-42,\"{\"\"k\"\":\"\"v\"\"}\"\n,,,,,,,\n"
        );
        // The same text as a record written at once.
        let mut csv = writer(Vec::new());
        csv.write_record(["a, \"b\"", ""]).unwrap();
        let at_once = String::from_utf8(csv.into_inner().unwrap()).unwrap();
        assert!(text.starts_with(at_once.trim_end_matches('\n')));
    }
}
