//! Who made a record and when, and who changed it last: four columns that most records keep,
//! kept together in one field ([`Audit`]) so that making and changing a record stamps them in
//! one place.

use rusqlite::Row;
use rusqlite::types::Value;

use super::Result;
use super::record::Columns;

/// A record's `created_at`, `updated_at` (ms) and `created_by`, `updated_by` (key names).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Audit {
    pub created_at: i64,
    pub updated_at: i64,
    pub created_by: String,
    pub updated_by: String,
}

impl Audit {
    /// A record made at `now` by `by`.
    pub(crate) fn new(by: &str, now: i64) -> Audit {
        Audit {
            created_at: now,
            updated_at: now,
            created_by: by.to_owned(),
            updated_by: by.to_owned(),
        }
    }

    /// The record was changed at `now` by `by`.
    pub(crate) fn touch(&mut self, by: &str, now: i64) {
        self.updated_at = now;
        self.updated_by = by.to_owned();
    }
}

impl Columns for Audit {
    const NAMES: &'static [&'static str] =
        &["created_at", "updated_at", "created_by", "updated_by"];

    fn read(r: &Row<'_>, first: usize) -> Result<Audit> {
        Ok(Audit {
            created_at: r.get(first)?,
            updated_at: r.get(first + 1)?,
            created_by: r.get(first + 2)?,
            updated_by: r.get(first + 3)?,
        })
    }

    fn write(&self, out: &mut Vec<Value>) {
        out.extend([
            Value::Integer(self.created_at),
            Value::Integer(self.updated_at),
            Value::Text(self.created_by.clone()),
            Value::Text(self.updated_by.clone()),
        ]);
    }
}
