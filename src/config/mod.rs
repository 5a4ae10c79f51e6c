//! Configuration: a TOML file (optional: every key has an embedded default), then `EXPORTD_*`
//! environment overrides, validated once into [`Config`]. A bad value fails with the key's
//! name and what was expected.
//!
//! Overrides are named `EXPORTD_<SECTION>_<KEY>` (`EXPORTD_SERVER_LISTEN`,
//! `EXPORTD_MANAGED_DESTINATION_PATH`); the type of the key's default decides how the text is
//! read (lists are comma-separated). `[[auth.keys]]` cannot be set this way, but a key itself
//! can come from the environment through `key_env`.

mod env;
pub(crate) mod file;
#[cfg(test)]
mod tests;
pub(crate) mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::auth::Principal;
use crate::connections::S3Credentials;
use crate::ledger::meters::Meter;
use crate::scheduled_tasks::job_config::ManagedTarget;
use crate::secrets::KeySource;
use crate::sinks::endpoint::Allowlist;
use crate::webhooks::{DeliverySettings, Webhook};

/// Environment variable that names the config file when `--config` is not given.
pub(crate) const CONFIG_PATH_ENV: &str = "EXPORTD_CONFIG";

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config: {key}: {message}")]
    Invalid { key: String, message: String },
}

pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// Everything exportd runs on, checked.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub listen: SocketAddr,
    /// Requests processed at once (connections are counted apart).
    pub threads: usize,
    pub max_body_bytes: u64,
    /// The HTTP front's limits beyond the body's (see [`Config::http_limits`]).
    pub max_connections: usize,
    pub max_header_bytes: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    /// Base URL clients reach exportd at, for download links it serves itself; when empty,
    /// the request's Host header is used.
    pub public_url: Option<String>,
    pub data_dir: PathBuf,
    pub database_path: PathBuf,
    /// The WAL is checkpointed, and truncated back, at about this size.
    pub max_wal_bytes: u64,
    /// SHA-256 of each accepted key and whom it stands for.
    pub api_keys: Vec<([u8; 32], Principal)>,
    pub secret_key: KeySource,
    pub allow_test_intervals: bool,
    /// A window is exported this long after it ends (for late data).
    pub delay: Duration,
    /// Export workers: how many runs execute at once.
    pub workers: usize,
    /// First retry wait of a failed window, doubling up to `retry_cap`.
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// Failed attempts of one window in a row after which the task is paused.
    pub max_consecutive_failures: u32,
    /// A file holding the current time (tests only); `None` is the real clock.
    pub test_clock: Option<PathBuf>,
    /// How long running exports may go on after SIGTERM before they are interrupted.
    pub shutdown_timeout: Duration,
    pub allowed_endpoints: Allowlist,
    /// Size of each multipart upload part (and of the single-PUT threshold).
    pub part_size: usize,
    /// Limit on each S3 request, connecting included.
    pub request_timeout: Duration,
    /// Retries of idempotent S3 requests (reads, part uploads) within one run.
    pub s3_retries: u8,
    pub managed: Managed,
    pub log_level: log::LevelFilter,
    /// Meters, in the order the config lists them.
    pub meters: Vec<Meter>,
    /// A DRAFT invoice is finalized by the draft-finalization job once its period ended this
    /// long ago.
    pub finalization_delay: Duration,
    /// `[[webhooks]]`, in the order the config lists them.
    pub webhooks: Vec<Webhook>,
    pub webhook_delivery: DeliverySettings,
    /// Where exports read billing data (`[source]`).
    pub source: crate::sources::SourceSettings,
}

/// The operator's managed destination for `is_flexprice_managed` connections.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Managed {
    /// Managed connections are refused.
    Disabled,
    /// Files under a local directory (development, air-gapped single hosts).
    Directory {
        root: PathBuf,
        bucket: String,
        region: String,
    },
    /// An S3 bucket with the operator's own credentials.
    S3 {
        bucket: String,
        region: String,
        endpoint_url: Option<String>,
        use_path_style: bool,
        credentials: S3Credentials,
    },
}

impl Config {
    /// What the HTTP front enforces.
    pub(crate) fn http_limits(&self) -> crate::http::front::Limits {
        crate::http::front::Limits {
            max_connections: self.max_connections,
            max_header_bytes: self.max_header_bytes,
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            idle_timeout: self.idle_timeout,
            max_body_bytes: self.max_body_bytes,
        }
    }
}

impl Managed {
    /// Where a tenant's environment writes, or `None` when managed connections are disabled.
    pub(crate) fn target(&self, tenant_id: &str, environment_id: &str) -> Option<ManagedTarget> {
        let (bucket, region) = match self {
            Managed::Disabled => return None,
            Managed::Directory { bucket, region, .. } | Managed::S3 { bucket, region, .. } => {
                (bucket, region)
            }
        };
        Some(ManagedTarget {
            bucket: bucket.clone(),
            region: region.clone(),
            key_prefix: format!("{tenant_id}/{environment_id}"),
        })
    }
}

/// A loaded config and the non-fatal remarks made while loading it (unknown `EXPORTD_*`
/// variables), to be logged once logging is set up.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
}

/// Loads the config file (if any), applies the environment and validates the result.
pub(crate) fn load(
    path: Option<&Path>,
    env: &BTreeMap<String, String>,
) -> Result<Loaded, ConfigError> {
    let mut table = match path {
        None => toml::Table::new(),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            text.parse::<toml::Table>()
                .map_err(|e| ConfigError::Syntax {
                    path: path.to_owned(),
                    message: e.to_string().trim_end().to_owned(),
                })?
        }
    };
    let warnings = env::apply_env(&mut table, env)?;
    let file: file::FileConfig = serde_path_to_error::deserialize(table).map_err(|e| {
        let key = e.path().to_string();
        // toml appends a line naming the table; the key path already says it.
        let message = e.into_inner().to_string();
        let first_line = message.lines().next().unwrap_or_default().to_owned();
        invalid(
            if key == "." {
                "(top level)".to_owned()
            } else {
                key
            },
            first_line,
        )
    })?;
    let mut warnings = warnings;
    let config = validate::validate(file, env, &mut warnings)?;
    Ok(Loaded { config, warnings })
}

impl fmt::Display for Config {
    /// A short summary for `check-config` and the start-up log (never a secret).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let managed = match &self.managed {
            Managed::Disabled => "disabled".to_owned(),
            Managed::Directory { root, .. } => format!("directory {}", root.display()),
            Managed::S3 { bucket, .. } => format!("s3 bucket {bucket}"),
        };
        write!(
            f,
            "listen {}, {} threads, {} connections, data dir {}, database {}, {} API key(s), {} allowed endpoint(s), managed destination: {}, {} webhook(s), source: {}",
            self.listen,
            self.threads,
            self.max_connections,
            self.data_dir.display(),
            self.database_path.display(),
            self.api_keys.len(),
            self.allowed_endpoints.0.len(),
            managed,
            self.webhooks.len(),
            self.source
        )
    }
}
