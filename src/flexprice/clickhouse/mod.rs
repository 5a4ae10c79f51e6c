//! The usage side of a self-hosted Flexprice: its ClickHouse, read over the HTTP interface,
//! read-only. Two exports come from here: `events` (the rows of `meter_usage`) and
//! `usage_analytics` (`meter_usage` aggregated per customer × meter × source), both over one
//! window of one tenant and environment, streamed row by row.
//!
//! - [`client`]: HTTP requests and the server's version; [`tsv`]: the rows of a response as
//!   they arrive, and the proof that the response is whole; [`error`]: failures in words.
//! - [`sql`]: literals (escaped, for every version), window bounds and the sealed query shape;
//!   [`schema`]: which `meter_usage` variant the database holds.
//! - [`events`], [`usage_analytics`]: the two exports; [`catalog`]: what they need from
//!   Flexprice's PostgreSQL; [`cells`]: ClickHouse's text into typed cells.
//!
//! Works on ClickHouse 18.16 (Debian's package, the test server) to 26.x (Flexprice's
//! deployments run 24.8, 24.9 and 26.3): the SQL uses nothing newer than 18.16 unless the
//! schema has `DateTime64` columns (20.1+) and a window bound has milliseconds.

mod batch;
pub mod catalog;
pub mod cells;
pub mod client;
pub mod error;
pub mod events;
pub mod schema;
pub mod sql;
pub mod tsv;
pub mod usage_analytics;

pub use catalog::{Customer, Customers, Feature, Meter, UsageCatalog, UsagePrice};
pub use client::{Client, Settings, Version};
pub use schema::{Schema, Variant};

/// Which time places a `meter_usage` row in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeField {
    /// When ClickHouse received it (the default): every row lands in exactly one window,
    /// late rows included.
    IngestedAt,
    /// The event's own time (Flexprice's semantics): a row that arrives after its window
    /// was exported is never exported.
    Timestamp,
}

/// One export's scope and window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub tenant_id: &'a str,
    pub environment_id: &'a str,
    /// `[start, end)` in milliseconds since 1970.
    pub window: (i64, i64),
    pub field: TimeField,
}

impl Request<'_> {
    /// The `WHERE` condition of the request's rows of `meter_usage`: its tenant, its
    /// environment, and the window on its time field.
    pub fn condition(&self, schema: &Schema) -> String {
        let (column, kind) = match self.field {
            TimeField::IngestedAt => ("ingested_at", schema.ingested_at),
            TimeField::Timestamp => ("timestamp", schema.timestamp),
        };
        format!(
            "tenant_id = {} AND environment_id = {} AND {}",
            sql::string_literal(self.tenant_id),
            sql::string_literal(self.environment_id),
            sql::window_condition(column, kind, self.window)
        )
    }
}

/// What `check-config` reports of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub version: Version,
    pub schema: Schema,
}

/// Connects, and reads the server's version and schema.
pub fn inspect(client: &Client) -> Result<ServerInfo, crate::export::ExportError> {
    Ok(ServerInfo {
        version: client.version()?,
        schema: schema::detect(client)?,
    })
}
