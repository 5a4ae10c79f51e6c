//! Records as rows. A record type names its table and its fields in column order once
//! ([`stored!`]); that gives its SELECT list, how a row becomes the record and the values of
//! its INSERT, and the generic reads and writes below work for every such table.

use rusqlite::types::{FromSql, ToSql, ToSqlOutput, Value};
use rusqlite::{Row, Transaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Result, Scope, StoreError};

/// A record kept as one row of one table.
pub(crate) trait Stored: Sized {
    const TABLE: &'static str;
    /// The columns, comma-separated, in the order of [`Stored::read`] and [`Stored::values`].
    fn columns() -> &'static str;
    fn read(r: &Row<'_>) -> Result<Self>;
    fn values(&self) -> Result<Vec<Value>>;

    /// Inserts the record.
    fn insert(&self, tx: &Transaction<'_>) -> Result<()> {
        insert(tx, self)
    }

    /// The record of the scope with this id, if any.
    fn by_id(tx: &Transaction<'_>, scope: &Scope, id: &str) -> Result<Option<Self>> {
        Self::by(tx, scope, "id", id)
    }

    /// The record of the scope whose `column` (a unique key, a literal of this crate) holds
    /// `value`, if any.
    fn by(tx: &Transaction<'_>, scope: &Scope, column: &str, value: &str) -> Result<Option<Self>> {
        let mut f = Filter::scoped(scope);
        f.eq(column, value.to_owned());
        one(tx, &f)
    }

    /// Writes every column of the record back to its row (the record was read, and changed,
    /// in this transaction): the row with the record's `id`, `tenant_id` and
    /// `environment_id`.
    fn update(&self, tx: &Transaction<'_>) -> Result<()> {
        update(tx, self)
    }
}

/// How a field is kept in its column.
pub(crate) trait Column<T> {
    fn read(r: &Row<'_>, i: usize, name: &str) -> Result<T>;
    fn write(value: &T) -> Result<Value>;
}

/// As it is: rusqlite's own conversions (and the named enums', see `crate::names`).
pub(crate) struct Plain;

impl<T: FromSql + ToSql> Column<T> for Plain {
    fn read(r: &Row<'_>, i: usize, _name: &str) -> Result<T> {
        Ok(r.get(i)?)
    }

    fn write(value: &T) -> Result<Value> {
        match value.to_sql()? {
            ToSqlOutput::Owned(v) => Ok(v),
            ToSqlOutput::Borrowed(v) => Value::try_from(v)
                .map_err(|e| StoreError::Corrupt(format!("a value that is not UTF-8: {e}"))),
            _ => Err(StoreError::Corrupt("a value of an unexpected kind".into())),
        }
    }
}

/// As JSON text; a value that is JSON `null` (an empty `Option`) is SQL NULL.
pub(crate) struct Json;

impl<T: Serialize + DeserializeOwned> Column<T> for Json {
    fn read(r: &Row<'_>, i: usize, _name: &str) -> Result<T> {
        let text: Option<String> = r.get(i)?;
        Ok(serde_json::from_str(text.as_deref().unwrap_or("null"))?)
    }

    fn write(value: &T) -> Result<Value> {
        let text = serde_json::to_string(value)?;
        Ok(if text == "null" {
            Value::Null
        } else {
            Value::Text(text)
        })
    }
}

/// A field kept in several columns, named and ordered by `NAMES` (such as
/// [`super::Audit`]): `..field: Type` at the end of a [`stored!`] list.
pub(crate) trait Columns: Sized {
    const NAMES: &'static [&'static str];
    /// Reads the block from its columns, the first at index `first`.
    fn read(r: &Row<'_>, first: usize) -> Result<Self>;
    /// Appends the values of its columns, in `NAMES` order.
    fn write(&self, out: &mut Vec<Value>);
}

/// Declares how a record type is stored:
///
/// ```ignore
/// stored!(Wallet in "wallets" { id, metadata: Json, balance: Money, tx_type("type"), ..audit: Audit });
/// ```
///
/// Every field of the struct, in the table's column order; `("column")` when the column has
/// another name, `: C` when the field is kept as the [`Column`] `C` says ([`Json`],
/// `ledger::money::Money`) rather than as it is ([`Plain`]); last, optionally, one field kept
/// in several columns (`..field: Type`, see [`Columns`]).
macro_rules! stored {
    ($ty:ident in $table:literal {
        $($field:ident $(($column:literal))? $(: $how:ty)?),+
        $(, ..$block:ident: $block_ty:ty)? $(,)?
    }) => {
        impl $crate::store::record::Stored for $ty {
            const TABLE: &'static str = $table;

            fn columns() -> &'static str {
                static COLUMNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    #[allow(unused_mut)]
                    let mut names = vec![$($crate::store::record::column_name!($field $(, $column)?)),+];
                    $(names.extend_from_slice(<$block_ty as $crate::store::record::Columns>::NAMES);)?
                    names.join(", ")
                });
                &COLUMNS
            }

            fn read(r: &rusqlite::Row<'_>) -> $crate::store::Result<Self> {
                let mut next = 0..;
                Ok($ty {
                    $($field: <$crate::store::record::kind!($($how)?) as $crate::store::record::Column<_>>::read(
                        r,
                        next.next().unwrap_or_default(),
                        $crate::store::record::column_name!($field $(, $column)?),
                    )?,)+
                    $($block: <$block_ty as $crate::store::record::Columns>::read(
                        r,
                        next.next().unwrap_or_default(),
                    )?,)?
                })
            }

            fn values(&self) -> $crate::store::Result<Vec<rusqlite::types::Value>> {
                #[allow(unused_mut)]
                let mut values = vec![
                    $(<$crate::store::record::kind!($($how)?) as $crate::store::record::Column<_>>::write(&self.$field)?,)+
                ];
                $(<$block_ty as $crate::store::record::Columns>::write(&self.$block, &mut values);)?
                Ok(values)
            }
        }
    };
}

/// The column of a field: its own name, or the one given.
macro_rules! column_name {
    ($field:ident) => {
        stringify!($field)
    };
    ($field:ident, $column:literal) => {
        $column
    };
}

/// The [`Column`] of a `stored!` field: [`Plain`] unless one is named.
macro_rules! kind {
    () => {
        $crate::store::record::Plain
    };
    ($how:ty) => {
        $how
    };
}

pub(crate) use {column_name, kind, stored};

/// Inserts a record.
pub(crate) fn insert<T: Stored>(tx: &Transaction<'_>, record: &T) -> Result<()> {
    let values = record.values()?;
    let marks: Vec<String> = (1..=values.len()).map(|n| format!("?{n}")).collect();
    tx.prepare_cached(&format!(
        "INSERT INTO {} ({}) VALUES ({})",
        T::TABLE,
        T::columns(),
        marks.join(", ")
    ))?
    .execute(rusqlite::params_from_iter(values))?;
    Ok(())
}

/// The record that matches `filter`, if any.
pub(crate) fn one<T: Stored>(tx: &Transaction<'_>, filter: &Filter) -> Result<Option<T>> {
    let mut stmt = tx.prepare(&format!(
        "SELECT {} FROM {} WHERE {}",
        T::columns(),
        T::TABLE,
        filter.sql()
    ))?;
    let mut rows = stmt.query(filter.params())?;
    rows.next()?.map(T::read).transpose()
}

/// One page of the records that match `filter`, in `order`, with the true total. `order` is
/// always a literal of this crate.
pub(crate) fn page<T: Stored>(
    tx: &Transaction<'_>,
    filter: &Filter,
    order: &str,
    (limit, offset): (i64, i64),
) -> Result<Page<T>> {
    let total: i64 = tx.query_row(
        &format!("SELECT COUNT(*) FROM {} WHERE {}", T::TABLE, filter.sql()),
        filter.params(),
        |r| r.get(0),
    )?;
    let sql = format!(
        "SELECT {} FROM {} WHERE {} ORDER BY {order} LIMIT {limit} OFFSET {offset}",
        T::columns(),
        T::TABLE,
        filter.sql()
    );
    let mut stmt = tx.prepare(&sql)?;
    let items = all(stmt.query(filter.params())?)?;
    Ok(Page { items, total })
}

/// The filters of a list route: the records they list, how they narrow the caller's scope,
/// and the order of the pages.
pub(crate) trait ListQuery {
    type Record: Stored;

    fn narrow(&self, f: &mut Filter);

    /// Newest first, id as tie-break.
    fn order(&self) -> String {
        "created_at DESC, id DESC".to_owned()
    }
}

/// One page of the scope's records that `q` selects; `total` counts every match.
pub(crate) fn list<Q: ListQuery>(
    tx: &Transaction<'_>,
    scope: &Scope,
    q: &Q,
    window: (i64, i64),
) -> Result<Page<Q::Record>> {
    let mut f = Filter::scoped(scope);
    q.narrow(&mut f);
    page(tx, &f, &q.order(), window)
}

/// Every record of a query that selects `T::columns()`.
pub(crate) fn all<T: Stored>(mut rows: rusqlite::Rows<'_>) -> Result<Vec<T>> {
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(T::read(r)?);
    }
    Ok(out)
}

fn update<T: Stored>(tx: &Transaction<'_>, record: &T) -> Result<()> {
    let columns: Vec<&str> = T::columns().split(", ").collect();
    let at = |name: &str| {
        columns
            .iter()
            .position(|c| *c == name)
            .map(|i| i + 1)
            .ok_or_else(|| StoreError::Corrupt(format!("{} has no {name} column", T::TABLE)))
    };
    let sets: Vec<String> = (1..=columns.len())
        .map(|i| format!("{} = ?{i}", columns[i - 1]))
        .collect();
    let sql = format!(
        "UPDATE {} SET {} WHERE id = ?{} AND tenant_id = ?{} AND environment_id = ?{}",
        T::TABLE,
        sets.join(", "),
        at("id")?,
        at("tenant_id")?,
        at("environment_id")?
    );
    tx.prepare_cached(&sql)?
        .execute(rusqlite::params_from_iter(record.values()?))?;
    Ok(())
}

/// A `WHERE` clause built from optional filters, with its parameters.
#[derive(Default)]
pub(crate) struct Filter {
    clauses: Vec<String>,
    params: Vec<rusqlite::types::Value>,
}

impl Filter {
    /// Every query starts from the caller's scope.
    pub(crate) fn scoped(scope: &Scope) -> Filter {
        let mut f = Filter::default();
        f.eq("tenant_id", scope.tenant_id.clone());
        f.eq("environment_id", scope.environment_id.clone());
        f
    }

    /// Adds `column <op> ?`; `column` and `op` are always literals from this crate.
    pub(crate) fn cmp(&mut self, column: &str, op: &str, value: impl Into<rusqlite::types::Value>) {
        self.params.push(value.into());
        self.clauses
            .push(format!("{column} {op} ?{}", self.params.len()));
    }

    pub(crate) fn eq(&mut self, column: &str, value: impl Into<rusqlite::types::Value>) {
        self.cmp(column, "=", value);
    }

    /// [`Filter::cmp`] when a list's optional filter is given, nothing when it is not.
    pub(crate) fn cmp_some<V: Into<rusqlite::types::Value>>(
        &mut self,
        column: &str,
        op: &str,
        value: Option<V>,
    ) {
        if let Some(v) = value {
            self.cmp(column, op, v);
        }
    }

    pub(crate) fn eq_some<V: Into<rusqlite::types::Value>>(
        &mut self,
        column: &str,
        value: Option<V>,
    ) {
        self.cmp_some(column, "=", value);
    }

    pub(crate) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "1".to_owned()
        } else {
            self.clauses.join(" AND ")
        }
    }

    pub(crate) fn params(&self) -> rusqlite::ParamsFromIter<&Vec<rusqlite::types::Value>> {
        rusqlite::params_from_iter(&self.params)
    }
}

/// A page of a list and the true count of rows that match the filters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

impl<T> Default for Page<T> {
    fn default() -> Page<T> {
        Page {
            items: Vec::new(),
            total: 0,
        }
    }
}
