//! A bounded buffer of decoded rows: the rows whose customers are looked up together in
//! PostgreSQL before they are written (one lookup per batch, not per row).

use std::io::Read;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

use super::client::Client;
use super::tsv::{Row, RowReader};
use crate::failure::ExportError;

/// Reads every row of `rows` into batches of at most `max_rows` rows (or about `max_bytes`
/// bytes of text) and hands each non-empty batch to `each`, in order; checks `cancel`
/// between batches. Returns once the stream proved whole, or with its error.
pub(super) fn for_each_batch<R: Read>(
    client: &Client,
    mut rows: RowReader<R>,
    (max_rows, max_bytes): (usize, usize),
    cancel: &AtomicBool,
    mut each: impl FnMut(&Batch) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    let mut batch = Batch::new(rows.columns());
    loop {
        let row = rows.next_row().map_err(|e| client.stream_error(e))?;
        let end = row.is_none();
        if let Some(row) = row {
            batch.push(&row);
        }
        if end || batch.len() >= max_rows || batch.bytes() >= max_bytes {
            if cancel.load(Ordering::Relaxed) {
                return Err(ExportError::interrupted("shutdown"));
            }
            if !batch.is_empty() {
                each(&batch)?;
            }
            batch.clear();
        }
        if end {
            return Ok(());
        }
    }
}

/// Rows of one width, their fields copied into one string.
#[derive(Debug, Default)]
pub(super) struct Batch {
    text: String,
    fields: Vec<Option<Range<usize>>>,
    width: usize,
}

/// One buffered row.
#[derive(Debug, Clone, Copy)]
pub(super) struct BatchRow<'a> {
    text: &'a str,
    fields: &'a [Option<Range<usize>>],
}

impl<'a> BatchRow<'a> {
    /// Field `i`, `None` for NULL.
    pub(super) fn get(&self, i: usize) -> Option<&'a str> {
        self.fields[i].clone().map(|r| &self.text[r])
    }

    /// Field `i`, NULL as the empty string.
    pub(super) fn text(&self, i: usize) -> &'a str {
        self.get(i).unwrap_or("")
    }
}

impl Batch {
    pub(super) fn new(width: usize) -> Batch {
        Batch {
            width,
            ..Batch::default()
        }
    }

    pub(super) fn push(&mut self, row: &Row<'_>) {
        debug_assert_eq!(row.len(), self.width);
        for i in 0..row.len() {
            let field = row.get(i).map(|s| {
                let from = self.text.len();
                self.text.push_str(s);
                from..self.text.len()
            });
            self.fields.push(field);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.fields.len().checked_div(self.width).unwrap_or(0)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Bytes of text held.
    pub(super) fn bytes(&self) -> usize {
        self.text.len()
    }

    pub(super) fn rows(&self) -> impl Iterator<Item = BatchRow<'_>> {
        self.fields
            .chunks(self.width.max(1))
            .map(|fields| BatchRow {
                text: &self.text,
                fields,
            })
    }

    /// Empties the batch, keeping its allocations.
    pub(super) fn clear(&mut self) {
        self.text.clear();
        self.fields.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::super::tsv::RowReader;
    use super::*;

    #[test]
    fn rows_come_back_as_pushed() {
        let body = b"0\ta\t\\N\n0\t\tx\\ty\n1\t\t\n";
        let mut reader = RowReader::new(&body[..], 3, 1 << 20);
        let mut batch = Batch::new(3);
        while let Some(row) = reader.next_row().unwrap() {
            batch.push(&row);
        }
        assert_eq!(batch.len(), 2);
        let rows: Vec<Vec<Option<&str>>> = batch
            .rows()
            .map(|r| (0..3).map(|i| r.get(i)).collect())
            .collect();
        assert_eq!(
            rows,
            vec![
                vec![Some("0"), Some("a"), None],
                vec![Some("0"), Some(""), Some("x\ty")]
            ]
        );
        batch.clear();
        assert!(batch.is_empty() && batch.bytes() == 0);
        assert_eq!(batch.rows().count(), 0);
    }
}
