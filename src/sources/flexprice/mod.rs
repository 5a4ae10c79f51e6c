//! A self-hosted Flexprice as a source of export rows: its PostgreSQL, read-only (issue 15).
//!
//! - [`postgres`]: the connection (TLS, read-only session, statement timeout), one
//!   REPEATABLE READ snapshot per run, and rows streamed through a portal in bounded fetches.
//! - [`errors`]: what a PostgreSQL failure means for a run, said without SQL or secrets.
//! - [`invoices`], [`credit_topups`], [`credit_usage`]: the three PostgreSQL entities, each a
//!   query on a total order whose rows become typed [`Cell`]s in the columns of
//!   [`crate::formats::entities`].
//! - [`catalog`]: lookups the ClickHouse entities need (customers by external id, meters,
//!   features, groups, prices).
//! - [`source`]: the [`crate::sources::Source`] itself, picked by `[source] kind = "flexprice"`.
//! - [`check`]: what `check-config` reports about the database, writing nothing.
//! - [`cells`]: PostgreSQL's binary timestamps and numerics; [`jsonb`]: jsonb with sorted keys.
//! - [`clickhouse`]: its ClickHouse, read over HTTP (issue 16): `events` and
//!   `usage_analytics` from `meter_usage`, with customers, meters and prices from [`catalog`].
//!
//! Every query filters on the key's `tenant_id` and `environment_id` (a NULL environment never
//! matches) and on `status = 'published'`, orders text `COLLATE "C"` (byte order, whatever
//! the cluster's default collation), and never uses OFFSET.

pub mod catalog;
pub mod cells;
pub mod check;
pub mod clickhouse;
pub mod credit_topups;
pub mod credit_usage;
pub mod errors;
pub mod invoices;
pub mod jsonb;
pub mod postgres;
pub(crate) mod source;

use std::sync::atomic::AtomicBool;

pub use crate::failure::{ExportError, Failure};
pub use crate::formats::{Cell, Numeric, RowSink};
pub use crate::scheduled_tasks::job_config::{MetadataEntity, MetadataField, WindowField};

/// What one export asks of the source: an entity's rows of one scope in one window.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub tenant_id: &'a str,
    pub environment_id: &'a str,
    /// `[start, end)` in milliseconds since 1970-01-01 UTC.
    pub window: (i64, i64),
    /// `None`: the entity's default.
    pub window_field: Option<WindowField>,
    /// The task's `export_metadata_fields`, in column order.
    pub metadata: &'a [MetadataField],
    /// Set when the daemon shuts down: the read stops between fetches.
    pub cancel: &'a Cancel,
}

impl Request<'_> {
    /// The window as PostgreSQL parameters.
    pub fn pg_window(&self) -> (cells::PgTime, cells::PgTime) {
        (cells::PgTime(self.window.0), cells::PgTime(self.window.1))
    }
}

/// Stops a long read when the daemon shuts down.
pub type Cancel = AtomicBool;
