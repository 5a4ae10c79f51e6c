//! The usage side of a self-hosted Flexprice: its ClickHouse, read over the HTTP interface,
//! read-only. Two exports come from here: `events` (the rows of `meter_usage`) and
//! `usage_analytics` (`meter_usage` aggregated per customer × meter × source), both over one
//! window of one tenant and environment, streamed row by row.
//!
//! - [`client`]: HTTP requests and the server's version; [`tsv`]: the rows of a response as
//!   they arrive, and the proof that the response is whole; [`error`]: failures in words.
//! - [`sql`]: literals (escaped, for every version), window bounds and the sealed query shape;
//!   [`schema`]: which `meter_usage` variant the database holds; [`window`]: which rows of
//!   `meter_usage` a window reads.
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
pub(crate) mod source;
pub mod sql;
pub mod tsv;
pub mod usage_analytics;
pub mod window;

pub use catalog::{Customer, Customers, Feature, Meter, UsageCatalog, UsagePrice};
pub use client::{Client, Settings, Version};
pub use schema::{Schema, Variant};

use crate::failure::ExportError;
use crate::formats::csv::{failed, write_rows, writer};
use crate::formats::{RowSink, entities};
use crate::scheduled_tasks::EntityType;
use crate::scheduled_tasks::job_config::MetadataField;
use std::sync::atomic::AtomicBool;

/// The exports read from ClickHouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Events,
    UsageAnalytics,
}

impl Entity {
    /// The entity read from ClickHouse, if it is one.
    pub(crate) fn of(entity: EntityType) -> Option<Entity> {
        match entity {
            EntityType::Events => Some(Entity::Events),
            EntityType::UsageAnalytics => Some(Entity::UsageAnalytics),
            _ => None,
        }
    }

    fn entity_type(self) -> EntityType {
        match self {
            Entity::Events => EntityType::Events,
            Entity::UsageAnalytics => EntityType::UsageAnalytics,
        }
    }
}

/// The CSV file exportd writes of an export's rows (the header of
/// [`entities::columns`], then each row `export` gives) with the formats' own writer: what
/// this reader's tests compare with their expected files.
pub fn csv(
    entity: Entity,
    metadata: &[MetadataField],
    export: impl FnOnce(&mut dyn RowSink) -> Result<u64, ExportError>,
) -> Result<Vec<u8>, ExportError> {
    let mut csv = writer(Vec::new());
    let columns = entities::columns(entity.entity_type(), metadata);
    csv.write_record(columns.iter().map(|c| c.name.as_str()))
        .map_err(failed)?;
    let mut out = csv
        .into_inner()
        .map_err(|e| ExportError::retryable("writing the CSV failed", e.to_string()))?;
    write_rows(&mut out, |rows| export(rows))?;
    Ok(out)
}

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

/// One export of `entity`: inspects the server (its version and schema may change between
/// runs), then streams the window's rows to `out`. Any failure, also after rows were
/// written, is an error: the caller must not keep what `out` received.
pub fn export(
    client: &Client,
    entity: Entity,
    req: &Request<'_>,
    metadata: &[MetadataField],
    catalog: &mut dyn UsageCatalog,
    out: &mut dyn RowSink,
    cancel: &AtomicBool,
) -> Result<u64, ExportError> {
    let server = inspect(client)?;
    match entity {
        Entity::Events => events::export(client, &server, req, catalog, out, cancel),
        Entity::UsageAnalytics => {
            usage_analytics::export(client, &server, req, metadata, catalog, out, cancel)
        }
    }
}

/// What `check-config` reports of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub version: Version,
    pub schema: Schema,
}

impl ServerInfo {
    /// Settings for exportd's data queries that only newer servers know (18.16 has none of
    /// them, nor the features they turn off), so that a profile (or a version's default)
    /// cannot change what a query returns: `FINAL` reads never skip granules by a
    /// data-skipping index (Flexprice's `idx_ingested_at` would drop a row's newer version
    /// outside the window and return the older one) nor filter before the versions are
    /// merged; TabSeparated keeps `\n` line ends and `\N` for NULL.
    pub fn read_settings(&self) -> &'static [(&'static str, &'static str)] {
        if self.version.at_least(23, 1) {
            &[
                ("use_skip_indexes_if_final", "0"),
                ("optimize_move_to_prewhere_if_final", "0"),
                ("output_format_tsv_crlf_end_of_line", "0"),
                ("format_tsv_null_representation", "\\N"),
            ]
        } else {
            &[]
        }
    }
}

/// Connects, and reads the server's version and schema.
pub fn inspect(client: &Client) -> Result<ServerInfo, ExportError> {
    Ok(ServerInfo {
        version: client.version()?,
        schema: schema::detect(client)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_settings_only_for_servers_that_know_them() {
        let server = |v: &str| ServerInfo {
            version: Version::parse(v).unwrap(),
            schema: Schema {
                variant: Variant::Dev,
                timestamp: sql::TimeColumn::Seconds,
                ingested_at: sql::TimeColumn::Seconds,
                has_events_table: false,
            },
        };
        assert!(server("18.16.1").read_settings().is_empty());
        assert!(server("22.8.1").read_settings().is_empty());
        for v in ["24.8.4.13", "26.3.1"] {
            assert!(
                server(v)
                    .read_settings()
                    .contains(&("use_skip_indexes_if_final", "0")),
                "{v}"
            );
        }
    }
}
