//! Where exports read their rows: a [`Source`] gives the rows of an entity in a window, in the
//! columns of [`crate::formats::entities`], to a [`RowSink`] (a format writer). The pipeline,
//! the sinks, the scheduler and the formats do not know which source it is.
//!
//! The embedded SQLite ledger ([`ledger`]) is the first source. Another (Flexprice's own
//! PostgreSQL and ClickHouse) implements the same trait and is picked in [`open`].

pub mod flexprice;
pub(crate) mod ledger;
pub(crate) mod settings;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::config::Config;
use crate::failure::ExportError;
pub(crate) use crate::formats::RowSink;
use crate::scheduled_tasks::EntityType;
use crate::scheduled_tasks::job_config::{MetadataEntity, MetadataField, WindowField};
use crate::store::{Scope, Store};
pub(crate) use settings::{SourceFile, SourceSettings};

/// What an export asks of its source.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExportRequest<'a> {
    pub entity: EntityType,
    /// Every row is of this tenant and environment.
    pub scope: &'a Scope,
    /// `[start, end)` in UTC milliseconds.
    pub window: (i64, i64),
    /// Which time places a row in the window (`None` for `credit_usage`, a snapshot at the
    /// window's end).
    pub window_field: Option<WindowField>,
    /// The task's metadata columns, which follow the entity's own (customer or wallet
    /// metadata; see [`metadata_values`]).
    pub metadata: &'a [MetadataField],
    /// Set at shutdown: stop at the next page with [`ExportError::interrupted`].
    pub cancel: &'a AtomicBool,
}

/// A source of billing data.
pub(crate) trait Source: Send + Sync {
    /// What it reads, for logs and messages: "the embedded ledger".
    fn name(&self) -> &'static str;

    /// Whether it can export `entity`: a scheduled task of an entity it cannot is refused at
    /// creation with this message (a 400 naming `entity_type`).
    fn offers(&self, entity: EntityType) -> Result<(), Unavailable>;

    /// Whether the embedded ledger's write routes are open: they are when the ledger is the
    /// data exports read, and answer a clear 4xx otherwise.
    fn ledger_writes(&self) -> bool;

    /// Writes every row of the request to `out`, in the columns of
    /// [`crate::formats::entities::columns`] (the entity's, then the metadata columns), and
    /// returns how many. Memory stays bounded whatever the window holds.
    fn export(&self, req: &ExportRequest<'_>, out: &mut dyn RowSink) -> Result<u64, ExportError>;

    /// Whether the source can be read now (it answers, its schema is one exportd reads);
    /// `serve` checks it at start.
    fn check(&self) -> Result<(), SourceError>;
}

/// Why a source does not offer an entity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Unavailable(pub String);

/// Why a source cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SourceError {
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    /// The database cannot be read as it is configured: what to fix.
    #[error("{0}")]
    Unreadable(String),
}

/// The source the config names, reading through `store` when it is the embedded ledger.
pub(crate) fn open(config: &Config, store: Arc<Store>) -> Box<dyn Source> {
    match &config.source {
        SourceSettings::Ledger => Box::new(ledger::LedgerSource::new(store, config.meters.clone())),
        SourceSettings::Flexprice(settings) => {
            Box::new(flexprice::source::FlexpriceSource::new(settings))
        }
    }
}

/// What `exportd check-config` checks of the source before anything is opened, and reports:
/// the embedded ledger needs nothing (serve opens and checks it); Flexprice's databases are
/// connected to and read (tables, and rows for each configured key's tenant and environment),
/// writing nothing.
pub(crate) fn check_config(config: &Config) -> Result<String, SourceError> {
    match &config.source {
        SourceSettings::Ledger => Ok("source: the embedded ledger".to_owned()),
        SourceSettings::Flexprice(settings) => {
            let mut scopes: Vec<(String, String)> = config
                .api_keys
                .iter()
                .map(|(_, p)| (p.tenant_id.clone(), p.environment_id.clone()))
                .collect();
            scopes.sort();
            scopes.dedup();
            flexprice::source::check_config(settings, &scopes)
        }
    }
}

/// The values of the task's metadata columns for one row: each field's value in the
/// customer's or the wallet's metadata (JSON objects of strings, as stored), or NULL.
pub(crate) fn metadata_values(
    fields: &[MetadataField],
    customer: Option<&str>,
    wallet: Option<&str>,
) -> Vec<Option<String>> {
    let parse = |json: Option<&str>| -> serde_json::Map<String, serde_json::Value> {
        json.and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default()
    };
    let (customer, wallet) = (parse(customer), parse(wallet));
    fields
        .iter()
        .map(|f| {
            let source = match f.entity_type {
                MetadataEntity::Customer => &customer,
                MetadataEntity::Wallet => &wallet,
            };
            match source.get(&f.field_key) {
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(serde_json::Value::Null) | None => None,
                Some(other) => Some(other.to_string()),
            }
        })
        .collect()
}
