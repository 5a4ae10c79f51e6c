//! Rows on their way to bytes. Every export has the same shape: the columns of its entity
//! ([`entities`], one table for every source), rows of typed [`Cell`]s that a source hands
//! over, and a format writer that turns them into a file's bytes ([`csv`] today; the
//! [`parquet`] writer takes the same cells). The [`pipeline`] compresses those bytes
//! ([`compress`]) and cuts them into parts for a sink.

pub(crate) mod compress;
pub(crate) mod csv;
pub(crate) mod entities;
pub(crate) mod numeric;
pub mod parquet;
pub(crate) mod pipeline;
pub(crate) mod time;

use rust_decimal::Decimal;

use crate::failure::ExportError;
pub use numeric::Numeric;

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    /// A JSON document, stored as a UTF-8 string.
    Json,
    /// An exact decimal: `precision` digits in all (1-38), `scale` of them after the point.
    Decimal {
        precision: u8,
        scale: u8,
    },
    /// Milliseconds since 1970-01-01 UTC.
    TimestampMillisUtc,
    Int64,
}

/// One column of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: ColumnType,
    pub nullable: bool,
}

impl Column {
    pub fn new(name: impl Into<String>, kind: ColumnType, nullable: bool) -> Column {
        Column {
            name: name.into(),
            kind,
            nullable,
        }
    }
}

/// One cell of a row. Text borrows from the source (a database row, a buffer it reuses), so a
/// row is handed over without allocating per cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    /// For [`ColumnType::Text`] and [`ColumnType::Json`].
    Text(&'a str),
    Decimal(Decimal),
    /// A decimal as PostgreSQL sends it, of any precision and scale.
    Numeric(Numeric<'a>),
    /// For [`ColumnType::TimestampMillisUtc`]: milliseconds since 1970-01-01 UTC.
    TimeMs(i64),
    Int(i64),
}

impl<'a> Cell<'a> {
    /// Text, or NULL.
    pub fn text(value: Option<&'a str>) -> Cell<'a> {
        value.map_or(Cell::Null, Cell::Text)
    }

    /// A decimal, or NULL.
    pub fn decimal(value: Option<Decimal>) -> Cell<'a> {
        value.map_or(Cell::Null, Cell::Decimal)
    }
}

/// Where a source writes the rows of an export, one row of cells at a time, in the columns of
/// [`entities::columns`]: a format writer ([`csv::CsvRows`]).
pub trait RowSink {
    fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), ExportError>;
}

/// A closure over each row is a sink too (a source's tests collect rows with one).
impl<F: FnMut(&[Cell<'_>]) -> Result<(), ExportError>> RowSink for F {
    fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), ExportError> {
        self(cells)
    }
}
