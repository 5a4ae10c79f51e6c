//! A streaming Parquet writer for exports: typed rows in, a Parquet file out to any
//! `Write + Send`, with memory bounded whatever the number of rows.
//!
//! Rows are staged column by column (cell bytes and definition levels, nothing per cell on
//! the heap), and every [`BATCH`] rows handed to one column writer per column of the `parquet`
//! crate (pages, dictionary, compression, statistics), whose pages wait in memory (see
//! [`chunk`]) until the row group reaches [`ParquetOptions::max_row_group_rows`] rows or
//! [`ParquetOptions::max_row_group_bytes`] of staged cells and encoded pages; then the column
//! chunks are appended to the file. [`ParquetWriter::buffered_bytes`] never exceeds the byte
//! bound (a single row larger than it is a row group of its own). Beside it, each column
//! writer holds its page being filled and, for a dictionary-encoded column, its dictionary and
//! pages (at most [`DICTIONARY_BYTES`] of dictionary; past that the column falls back).
//!
//! Encodings: dictionary first for every column but times and row identities (`id` and the
//! like); without one, or when a dictionary grows too large, text is DELTA_LENGTH_BYTE_ARRAY
//! (lengths apart from the bytes: ids compress better), JSON PLAIN (it compressed better so),
//! whole numbers DELTA_BINARY_PACKED, which also encodes times (ascending in most exports, a
//! byte or two each). All are in Parquet's format specification and read by pyarrow, DuckDB,
//! Spark, Trino and Athena; data pages stay version 1.
//!
//! Types: text and JSON as UTF-8 strings (BYTE_ARRAY, STRING); exact decimals as DECIMAL with
//! the column's precision and scale (INT32 up to 9 digits, INT64 up to 18, big-endian
//! FIXED_LEN_BYTE_ARRAY up to 38; never floating point); times as TIMESTAMP(MILLIS, UTC); whole
//! numbers as INT64. A nullable column is OPTIONAL and a NULL is a NULL; a value that does not
//! fit its column (a decimal with more digits than its precision or scale allows, a NULL in a
//! required column, a value of another type) is an error naming the column, and the row is
//! not written.

use std::io::Write;
use std::sync::Arc;

use ::parquet::basic::{Compression as ParquetCodec, Encoding, ZstdLevel};
use ::parquet::column::writer::{ColumnWriter, ColumnWriterImpl};
use ::parquet::data_type::{
    ByteArray, ByteArrayType, DataType, FixedLenByteArray, FixedLenByteArrayType, Int32Type,
    Int64Type,
};
use ::parquet::file::properties::{EnabledStatistics, WriterProperties};
use ::parquet::file::writer::SerializedFileWriter;
use ::parquet::schema::types::ColumnPath;
use bytes::Bytes;

use super::RowSink;
use crate::failure::ExportError;
use crate::scheduled_tasks::job_config::{Compression, JobConfig};

use super::Cell;
/// The parquet writer takes the cells every source hands over, in the columns every format
/// shares (see [`crate::formats`]): no conversion between them.
pub use super::{Cell as Value, Column, ColumnType};

/// Compression inside the file (each page is compressed on its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParquetCompression {
    /// zstd at a level 1-22.
    Zstd(i32),
    Snappy,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetOptions {
    pub compression: ParquetCompression,
    pub max_row_group_rows: usize,
    /// The most bytes of cells (and definition levels) buffered before a row group is written.
    pub max_row_group_bytes: usize,
}

impl Default for ParquetOptions {
    /// zstd level 3; row groups of up to 1,000,000 rows and 16 MiB of staged cells and
    /// encoded pages.
    fn default() -> ParquetOptions {
        ParquetOptions {
            compression: ParquetCompression::Zstd(3),
            max_row_group_rows: 1_000_000,
            max_row_group_bytes: 16 * 1024 * 1024,
        }
    }
}

impl ParquetOptions {
    /// An export's file: the task's codec and level inside, and row groups of at most
    /// [`EXPORT_ROW_GROUP_BYTES`] buffered, so that an export's memory stays flat.
    pub(crate) fn of(job: &JobConfig) -> ParquetOptions {
        let compression = match job.compression {
            Compression::Snappy => ParquetCompression::Snappy,
            Compression::None => ParquetCompression::None,
            // gzip is refused for Parquet when a task is made; zstd is the default.
            Compression::Zstd | Compression::Gzip => {
                ParquetCompression::Zstd(i32::from(job.compression_level))
            }
        };
        ParquetOptions {
            compression,
            max_row_group_bytes: EXPORT_ROW_GROUP_BYTES,
            ..ParquetOptions::default()
        }
    }
}

/// The most bytes (encoded pages and staged cells) an export buffers for a row group (see
/// [`ParquetOptions::of`]): about 120,000 events. Row groups of 22,000 events made files 25%
/// larger (a dictionary per column and row group); 7 MiB keeps the daemon under 64 MiB (8 MiB
/// reached 63.6 MiB once the pages were encoded on a thread of their own; 7 MiB: files 0.4%
/// larger).
pub(crate) const EXPORT_ROW_GROUP_BYTES: usize = 7 * 1024 * 1024;

/// Values encoded into a data page before it is compressed and handed over (1 MiB, the
/// crate's default, held 2 MiB more at once across the columns for 0.5% smaller files).
const PAGE_BYTES: usize = 256 * 1024;

/// The largest dictionary page of a column chunk before the column falls back to its plain
/// or delta encoding (the crate's default).
pub(crate) const DICTIONARY_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ParquetError {
    /// A cell that does not fit its column; nothing of the row was written.
    #[error("column {column}: {problem}")]
    Cell { column: String, problem: String },
    #[error("a row has {got} values, the file has {expected} columns")]
    Width { got: usize, expected: usize },
    #[error("the Parquet schema is not valid: {0}")]
    Schema(String),
    #[error("the Parquet options are not valid: {0}")]
    Options(String),
    /// From the `parquet` crate, including the writer's I/O errors.
    #[error("writing Parquet failed: {0}")]
    Write(#[from] ::parquet::errors::ParquetError),
}

/// Writes rows of typed cells as a Parquet file to `W`.
///
/// The calling thread checks and stages the cells; every [`BATCH`] rows go to an encoding
/// thread of the writer's own (see [`encoder`]), which holds the row group's column writers
/// and writes the file, while the next batch is staged. One batch is encoded at a time.
pub struct ParquetWriter<W: Write + Send + 'static> {
    columns: Vec<Column>,
    buffers: Vec<Buffer>,
    /// The staging buffers of the batch before, back from the encoder (empty).
    spare: Option<Vec<Buffer>>,
    /// Rows staged in `buffers`, not yet handed to the encoder.
    rows: usize,
    /// Bytes staged (the sum of the cells' [`cell_bytes`]).
    buffered: usize,
    /// The batch the encoder has not given back yet: its staged bytes and allocation.
    in_flight: Option<(usize, usize)>,
    /// Rows handed to the encoder for the open row group.
    group_rows: usize,
    /// Bytes of the open row group's pages, and their allocation, as of the last batch back.
    encoded: usize,
    pages_allocated: usize,
    options: ParquetOptions,
    rows_written: u64,
    row_groups: usize,
    encoder: encoder::Encoder<W>,
}

/// Rows staged before they are handed to the encoder, so that a batch stays small.
const BATCH: usize = 1024;

/// Columns whose values identify their row: a dictionary of them fills with values seen once
/// and is then given up, so they go without one. For the events of the benchmark (`id`,
/// `unique_hash`) the file is 1.4% smaller and the export a little faster.
const IDENTITIES: [&str; 4] = ["id", "unique_hash", "invoice_number", "idempotency_key"];

fn is_identity(column: &Column) -> bool {
    column.kind == ColumnType::Text && IDENTITIES.contains(&column.name.as_str())
}

impl<W: Write + Send + 'static> ParquetWriter<W> {
    /// Starts a file with these columns (the magic bytes are written at once).
    pub fn new(
        out: W,
        columns: &[Column],
        options: &ParquetOptions,
    ) -> Result<ParquetWriter<W>, ParquetError> {
        let schema = Arc::new(schema(columns)?);
        let compression = match options.compression {
            ParquetCompression::Zstd(level) => ParquetCodec::ZSTD(
                ZstdLevel::try_new(level).map_err(|e| ParquetError::Options(e.to_string()))?,
            ),
            ParquetCompression::Snappy => ParquetCodec::SNAPPY,
            ParquetCompression::None => ParquetCodec::UNCOMPRESSED,
        };
        let properties = WriterProperties::builder()
            .set_compression(compression)
            .set_created_by(format!("exportd {}", env!("CARGO_PKG_VERSION")))
            // Long text (JSON) would otherwise make statistics as long as the text.
            .set_statistics_truncate_length(Some(64))
            // Page indexes are kept in memory for the whole file until its footer, so memory
            // would grow with the rows; row group statistics are what engines prune with.
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_offset_index_disabled(true)
            .set_dictionary_page_size_limit(DICTIONARY_BYTES)
            .set_data_page_size_limit(PAGE_BYTES);
        let properties = columns
            .iter()
            .fold(properties, |p, c| {
                let path = ColumnPath::from(c.name.as_str());
                match c.kind {
                    ColumnType::TimestampMillisUtc => p
                        .set_column_dictionary_enabled(path.clone(), false)
                        .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED),
                    ColumnType::Int64 => p.set_column_encoding(path, Encoding::DELTA_BINARY_PACKED),
                    ColumnType::Text => {
                        let p = if is_identity(c) {
                            p.set_column_dictionary_enabled(path.clone(), false)
                        } else {
                            p
                        };
                        p.set_column_encoding(path, Encoding::DELTA_LENGTH_BYTE_ARRAY)
                    }
                    // A JSON cell's min and max prune nothing, and comparing documents that
                    // share their first keys was a tenth of the export's time.
                    ColumnType::Json => {
                        p.set_column_statistics_enabled(path, EnabledStatistics::None)
                    }
                    ColumnType::Decimal { .. } => p,
                }
            })
            .build();
        let file = SerializedFileWriter::new(out, schema, Arc::new(properties))?;
        Ok(ParquetWriter {
            encoder: encoder::Encoder::start(file, columns.to_vec())?,
            columns: columns.to_vec(),
            buffers: new_buffers(columns),
            spare: None,
            rows: 0,
            buffered: 0,
            in_flight: None,
            group_rows: 0,
            encoded: 0,
            pages_allocated: 0,
            options: ParquetOptions {
                max_row_group_rows: options.max_row_group_rows.max(1),
                ..options.clone()
            },
            rows_written: 0,
            row_groups: 0,
        })
    }

    /// Adds one row, one value per column in order. A row whose cells do not fit the columns
    /// is refused whole; the writer can go on.
    pub fn write_row(&mut self, row: &[Value<'_>]) -> Result<(), ParquetError> {
        if row.len() != self.columns.len() {
            return Err(ParquetError::Width {
                got: row.len(),
                expected: self.columns.len(),
            });
        }
        let size: usize = self
            .columns
            .iter()
            .zip(row)
            .map(|(c, v)| cell_bytes(c, v))
            .sum();
        if self.rows + self.group_rows > 0
            && self.buffered_bytes() + size > self.options.max_row_group_bytes
        {
            self.hand_over(true)?;
        }
        for (i, (column, value)) in self.columns.iter().zip(row).enumerate() {
            if let Err(problem) = self.buffers[i].push(column, value) {
                // Take back the cells of this row already buffered.
                for buffer in &mut self.buffers[..i] {
                    buffer.pop(self.rows);
                }
                return Err(ParquetError::Cell {
                    column: column.name.clone(),
                    problem,
                });
            }
        }
        self.rows += 1;
        self.buffered += size;
        if self.rows + self.group_rows >= self.options.max_row_group_rows {
            self.hand_over(true)?;
        } else if self.rows == BATCH {
            self.hand_over(false)?;
        }
        Ok(())
    }

    /// Bytes of staged cells and levels (the batch being encoded included) and of encoded
    /// pages held for the row group: never more than `max_row_group_bytes`, unless a single
    /// row is larger.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered + self.in_flight.map_or(0, |(bytes, _)| bytes) + self.encoded
    }

    /// Bytes the staging buffers and the pages have allocated: at most about twice
    /// [`Self::buffered_bytes`]'s bound, as staging vectors grow by doubling.
    pub fn allocated_bytes(&self) -> usize {
        let staged = |buffers: &[Buffer]| buffers.iter().map(Buffer::allocated).sum::<usize>();
        staged(&self.buffers)
            + self.spare.as_deref().map_or(0, staged)
            + self.in_flight.map_or(0, |(_, allocated)| allocated)
            + self.pages_allocated
    }

    /// Rows accepted so far (buffered or written).
    pub fn rows(&self) -> u64 {
        self.rows_written + (self.group_rows + self.rows) as u64
    }

    /// Row groups ended so far.
    pub fn row_groups(&self) -> usize {
        self.row_groups
    }

    /// Writes the last row group and the footer, and returns the writer. A file without rows
    /// has no row group, which every reader accepts.
    pub fn finish(mut self) -> Result<W, ParquetError> {
        if self.rows + self.group_rows > 0 {
            self.hand_over(true)?;
        }
        self.take_back()?;
        self.encoder.finish()
    }

    /// Hands the staged rows to the encoder, once it has given back the batch before; with
    /// `end_group`, the row group ends after them.
    fn hand_over(&mut self, end_group: bool) -> Result<(), ParquetError> {
        self.take_back()?;
        // The batch back may have grown the pages by more than its staged bytes (a column
        // that gave up its dictionary writes out the pages it held): then the group ends here.
        let end_group =
            end_group || self.encoded + self.buffered > self.options.max_row_group_bytes;
        let next = self
            .spare
            .take()
            .unwrap_or_else(|| new_buffers(&self.columns));
        let buffers = std::mem::replace(&mut self.buffers, next);
        let allocated = buffers.iter().map(Buffer::allocated).sum();
        self.encoder.send(encoder::Job::Batch {
            buffers,
            rows: self.rows,
            end_group,
        })?;
        self.group_rows += self.rows;
        self.in_flight = Some((self.buffered, allocated));
        self.rows = 0;
        self.buffered = 0;
        if end_group {
            // The group is being written: its bytes are no longer the next group's.
            self.rows_written += self.group_rows as u64;
            self.row_groups += 1;
            self.group_rows = 0;
            self.in_flight = Some((0, allocated));
            self.encoded = 0;
            self.pages_allocated = 0;
        }
        Ok(())
    }

    /// Waits for the batch being encoded, if any, and takes its buffers back.
    fn take_back(&mut self) -> Result<(), ParquetError> {
        if self.in_flight.take().is_some() {
            let back = self.encoder.receive()?;
            self.spare = Some(back.buffers);
            self.encoded = back.encoded;
            self.pages_allocated = back.allocated;
        }
        Ok(())
    }
}

fn new_buffers(columns: &[Column]) -> Vec<Buffer> {
    columns.iter().map(|_| Buffer::default()).collect()
}

/// A source writes an export's rows straight into the file.
impl<W: Write + Send + 'static> RowSink for ParquetWriter<W> {
    fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), ExportError> {
        self.write_row(cells).map_err(ParquetError::into_export)
    }
}

impl ParquetError {
    /// What the run records: data that does not fit its column will not fit on a retry.
    pub(crate) fn into_export(self) -> ExportError {
        match self {
            ParquetError::Write(e) => {
                ExportError::retryable("writing the Parquet file failed", e.to_string())
            }
            e => ExportError::terminal(
                format!("a row does not fit the Parquet file's columns: {e}"),
                e.to_string(),
            ),
        }
    }
}

/// The buffered cells of one column. Only the vectors of the column's type are used.
#[derive(Default)]
struct Buffer {
    /// Definition levels of a nullable column: 1 for a value, 0 for NULL.
    levels: Vec<i16>,
    /// Whole numbers, times and decimals of up to 18 digits (unscaled).
    ints: Vec<i64>,
    /// Decimals of 19 to 38 digits (unscaled).
    wide: Vec<i128>,
    /// Text: the bytes of every value, one after another...
    text: Vec<u8>,
    /// ...and where each ends.
    ends: Vec<usize>,
}

/// How many bytes a cell takes in its [`Buffer`].
fn cell_bytes(column: &Column, value: &Value<'_>) -> usize {
    let level = if column.nullable { 2 } else { 0 };
    let data = match (value, column.kind) {
        (Value::Null, _) => 0,
        (Value::Text(t), _) => t.len() + size_of::<usize>(),
        (_, ColumnType::Decimal { precision, .. }) if precision > 18 => 16,
        _ => 8,
    };
    level + data
}

impl Buffer {
    fn allocated(&self) -> usize {
        self.levels.capacity() * 2
            + self.ints.capacity() * 8
            + self.wide.capacity() * 16
            + self.text.capacity()
            + self.ends.capacity() * size_of::<usize>()
    }

    /// Buffers one cell, or says why it does not fit the column.
    fn push(&mut self, column: &Column, value: &Value<'_>) -> Result<(), String> {
        if let Value::Null = value {
            if !column.nullable {
                return Err("NULL in a column that is not nullable".into());
            }
            self.levels.push(0);
            return Ok(());
        }
        // PostgreSQL's numerics of any size: those a Decimal holds are stored as one.
        let converted;
        let value = match value {
            Value::Numeric(n) => {
                let d = n
                    .to_decimal()
                    .ok_or_else(|| format!("{n} does not fit a {:?} column", column.kind))?;
                converted = Value::Decimal(d);
                &converted
            }
            other => other,
        };
        match (column.kind, value) {
            (ColumnType::Text | ColumnType::Json, Value::Text(t)) => {
                self.text.extend_from_slice(t.as_bytes());
                self.ends.push(self.text.len());
            }
            (ColumnType::Int64, Value::Int(n))
            | (ColumnType::TimestampMillisUtc, Value::TimeMs(n)) => self.ints.push(*n),
            (ColumnType::Decimal { precision, scale }, Value::Decimal(d)) => {
                let unscaled = unscaled(*d, precision, scale)?;
                if precision > 18 {
                    self.wide.push(unscaled);
                } else {
                    // Fits: |unscaled| < 10^18.
                    self.ints.push(unscaled as i64);
                }
            }
            (kind, value) => {
                return Err(format!(
                    "a {} value in a {kind:?} column",
                    value_kind(value)
                ));
            }
        }
        if column.nullable {
            self.levels.push(1);
        }
        Ok(())
    }

    /// Takes back the last cell, of row number `rows` (the row being refused).
    fn pop(&mut self, rows: usize) {
        let had_value = match self.levels.len() {
            // Nullable: the level says whether a value was buffered.
            n if n > rows => self.levels.pop() == Some(1),
            _ => true,
        };
        if had_value {
            if self.ends.pop().is_some() {
                let end = self.ends.last().copied().unwrap_or(0);
                self.text.truncate(end);
            } else if self.ints.pop().is_none() {
                self.wide.pop();
            }
        }
    }

    /// Writes the `rows` buffered rows (at most a [`BATCH`]) to the column writer, then
    /// empties the buffer.
    fn write_to(
        &mut self,
        column: &Column,
        rows: usize,
        writer: &mut ColumnWriter<'_>,
    ) -> Result<(), ParquetError> {
        let levels = column.nullable.then(|| &self.levels[..rows]);
        let count = levels.map_or(rows, |l| l.iter().filter(|l| **l == 1).count());
        let range = 0..count;
        match column.kind {
            ColumnType::Text | ColumnType::Json => {
                // Where value i starts in `text`.
                let ends = &self.ends;
                let start_of = |i: usize| i.checked_sub(1).map_or(0, |j| ends[j]);
                let cells: Vec<ByteArray> = if is_identity(column) {
                    // No dictionary: values are held until their page is written, so they
                    // may share one buffer (one allocation for the batch, not one a value).
                    let shared = Bytes::copy_from_slice(&self.text);
                    range
                        .map(|i| ByteArray::from(shared.slice(start_of(i)..ends[i])))
                        .collect()
                } else {
                    // A buffer per value: a dictionary keeps the values it has seen for the
                    // whole row group, and a slice of a shared buffer would keep all of it.
                    range
                        .map(|i| {
                            let value = &self.text[start_of(i)..ends[i]];
                            ByteArray::from(Bytes::copy_from_slice(value))
                        })
                        .collect()
                };
                typed::<ByteArrayType>(writer)?.write_batch(&cells, levels, None)?;
            }
            ColumnType::Decimal { precision, .. } if precision > 18 => {
                let width = decimal_width(precision);
                let mut data = Vec::with_capacity(range.len() * width);
                for v in &self.wide[range.clone()] {
                    data.extend_from_slice(&v.to_be_bytes()[16 - width..]);
                }
                let data = Bytes::from(data);
                let cells: Vec<FixedLenByteArray> = (0..range.len())
                    .map(|i| ByteArray::from(data.slice(i * width..(i + 1) * width)).into())
                    .collect();
                typed::<FixedLenByteArrayType>(writer)?.write_batch(&cells, levels, None)?;
            }
            ColumnType::Decimal { precision, .. } if precision <= 9 => {
                // Fits: |unscaled| < 10^9.
                let cells: Vec<i32> = self.ints[range].iter().map(|v| *v as i32).collect();
                typed::<Int32Type>(writer)?.write_batch(&cells, levels, None)?;
            }
            ColumnType::Decimal { .. } | ColumnType::Int64 | ColumnType::TimestampMillisUtc => {
                typed::<Int64Type>(writer)?.write_batch(&self.ints[range], levels, None)?;
            }
        }
        self.levels.clear();
        self.ints.clear();
        self.wide.clear();
        self.text.clear();
        self.ends.clear();
        Ok(())
    }
}

/// The column writer as the writer of its physical type.
fn typed<'w, 'a, T: DataType>(
    writer: &'w mut ColumnWriter<'a>,
) -> Result<&'w mut ColumnWriterImpl<'a, T>, ParquetError> {
    T::get_column_writer_mut(writer)
        .ok_or_else(|| ParquetError::Schema("a column writer of another physical type".into()))
}

fn value_kind(value: &Value<'_>) -> &'static str {
    match value {
        Value::Null => "NULL",
        Value::Text(_) => "text",
        Value::Decimal(_) | Value::Numeric(_) => "decimal",
        Value::TimeMs(_) => "timestamp",
        Value::Int(_) => "whole number",
    }
}

mod chunk;
mod encoder;
mod types;
use types::{decimal_width, schema, unscaled};
#[cfg(test)]
mod tests;
