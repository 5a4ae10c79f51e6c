//! Configuration: a TOML file (optional: every key has an embedded default), then `EXPORTD_*`
//! environment overrides, validated once into [`Config`]. A bad value fails with the key's
//! name and what was expected.
//!
//! Overrides are named `EXPORTD_<SECTION>_<KEY>` (`EXPORTD_SERVER_LISTEN`,
//! `EXPORTD_MANAGED_DESTINATION_PATH`); the type of the key's default decides how the text is
//! read (lists are comma-separated). `[[auth.keys]]` cannot be set this way, but a key itself
//! can come from the environment through `key_env`.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth::Principal;
use crate::connections::S3Credentials;
use crate::ledger::meters::{Aggregation, Meter};
use crate::ledger::money::parse_any as parse_decimal;
use crate::scheduled_tasks::job_config::{ManagedTarget, check_bucket_name};
use crate::secrets::{KeySource, parse_hex32};
use crate::sinks::endpoint::{Allowlist, Origin};
use crate::webhooks::{DeliverySettings, EventType, Secret, Webhook};

/// Environment variable that names the config file when `--config` is not given.
pub const CONFIG_PATH_ENV: &str = "EXPORTD_CONFIG";
const ENV_PREFIX: &str = "EXPORTD_";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config: {key}: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

// ---- The file's shape, with the embedded defaults --------------------------------------------

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct FileConfig {
    server: ServerFile,
    storage: StorageFile,
    auth: AuthFile,
    secrets: SecretsFile,
    scheduler: SchedulerFile,
    s3: S3File,
    managed_destination: ManagedFile,
    log: LogFile,
    meters: Vec<MeterFile>,
    billing: BillingFile,
    webhooks: Vec<WebhookFile>,
    webhook_delivery: WebhookDeliveryFile,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct WebhookFile {
    url: String,
    secret: String,
    secret_env: String,
    events: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct WebhookDeliveryFile {
    timeout: String,
    retry_base: String,
    retry_cap: String,
    max_age: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct MeterFile {
    id: String,
    event_name: String,
    aggregation: String,
    field: String,
    feature_id: String,
    feature_name: String,
    feature_group_name: String,
    /// A decimal in quotes: a TOML float would already be binary floating point.
    unit_price: Option<toml::Value>,
    currency: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ServerFile {
    listen: String,
    threads: i64,
    max_body_bytes: i64,
    public_url: String,
    max_connections: i64,
    max_header_bytes: i64,
    header_timeout: String,
    body_timeout: String,
    idle_timeout: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct StorageFile {
    data_dir: String,
    database: String,
    max_wal_bytes: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct AuthFile {
    keys: Vec<KeyFile>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct KeyFile {
    name: String,
    tenant_id: String,
    environment_id: String,
    key_sha256: String,
    key_env: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct SecretsFile {
    encryption_key: String,
    key_file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct SchedulerFile {
    delay: String,
    workers: i64,
    retry_base: String,
    retry_cap: String,
    max_consecutive_failures: i64,
    shutdown_timeout: String,
    allow_test_intervals: bool,
    test_clock: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct S3File {
    allowed_endpoints: Vec<String>,
    part_size: i64,
    request_timeout: String,
    retries: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ManagedFile {
    kind: String,
    path: String,
    bucket: String,
    region: String,
    endpoint_url: String,
    use_path_style: bool,
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct LogFile {
    level: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct BillingFile {
    finalization_delay: String,
}

// Each section has its own defaults, so a file that sets one key of a section keeps the
// embedded defaults of the others.

impl Default for ServerFile {
    fn default() -> Self {
        ServerFile {
            listen: "127.0.0.1:8080".into(),
            threads: 8,
            max_body_bytes: 10 * 1024 * 1024,
            public_url: String::new(),
            max_connections: 256,
            max_header_bytes: 16 * 1024,
            header_timeout: "10s".into(),
            body_timeout: "30s".into(),
            idle_timeout: "30s".into(),
        }
    }
}

impl Default for StorageFile {
    fn default() -> Self {
        StorageFile {
            data_dir: "data".into(),
            database: "exportd.db".into(),
            max_wal_bytes: crate::store::DEFAULT_WAL_LIMIT as i64,
        }
    }
}

impl Default for SchedulerFile {
    fn default() -> Self {
        SchedulerFile {
            delay: "15m".into(),
            workers: 2,
            retry_base: "30s".into(),
            retry_cap: "30m".into(),
            max_consecutive_failures: 20,
            shutdown_timeout: "30s".into(),
            allow_test_intervals: false,
            test_clock: String::new(),
        }
    }
}

impl Default for S3File {
    fn default() -> Self {
        S3File {
            allowed_endpoints: Vec::new(),
            part_size: 8 * 1024 * 1024,
            request_timeout: "60s".into(),
            retries: 1,
        }
    }
}

impl Default for SecretsFile {
    fn default() -> Self {
        SecretsFile {
            encryption_key: String::new(),
            key_file: "secret.key".into(),
        }
    }
}

impl Default for ManagedFile {
    fn default() -> Self {
        ManagedFile {
            kind: "directory".into(),
            path: "exports".into(),
            bucket: "exportd-managed".into(),
            region: "us-east-1".into(),
            endpoint_url: String::new(),
            use_path_style: true,
            access_key_id: String::new(),
            secret_access_key: String::new(),
            session_token: String::new(),
        }
    }
}

impl Default for LogFile {
    fn default() -> Self {
        LogFile {
            level: "info".into(),
        }
    }
}

impl Default for WebhookFile {
    fn default() -> Self {
        WebhookFile {
            url: String::new(),
            secret: String::new(),
            secret_env: String::new(),
            events: EventType::ALL
                .iter()
                .map(|e| e.as_str().to_owned())
                .collect(),
        }
    }
}

impl Default for WebhookDeliveryFile {
    fn default() -> Self {
        WebhookDeliveryFile {
            timeout: "10s".into(),
            retry_base: "1s".into(),
            retry_cap: "10m".into(),
            max_age: "24h".into(),
        }
    }
}

impl Default for BillingFile {
    fn default() -> Self {
        BillingFile {
            finalization_delay: "1h".into(),
        }
    }
}

// ---- The validated configuration -------------------------------------------------------------

/// Everything exportd runs on, checked.
#[derive(Debug, Clone)]
pub struct Config {
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
}

/// The operator's managed destination for `is_flexprice_managed` connections.
#[derive(Debug, Clone, PartialEq)]
pub enum Managed {
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
    pub fn http_limits(&self) -> crate::http::front::Limits {
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
    pub fn target(&self, tenant_id: &str, environment_id: &str) -> Option<ManagedTarget> {
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
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
}

/// Loads the config file (if any), applies the environment and validates the result.
pub fn load(path: Option<&Path>, env: &BTreeMap<String, String>) -> Result<Loaded, ConfigError> {
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
    let warnings = apply_env(&mut table, env)?;
    let file: FileConfig = serde_path_to_error::deserialize(table).map_err(|e| {
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
    let config = validate(file, env, &mut warnings)?;
    Ok(Loaded { config, warnings })
}

/// Writes `EXPORTD_<SECTION>_<KEY>` values into the table, typed like the key's default.
fn apply_env(
    table: &mut toml::Table,
    env: &BTreeMap<String, String>,
) -> Result<Vec<String>, ConfigError> {
    let defaults = toml::Table::try_from(FileConfig::default())
        .map_err(|e| invalid("(defaults)", e.to_string()))?;
    // Longest section names first, so MANAGED_DESTINATION is not mistaken for another section.
    let mut sections: Vec<&String> = defaults.keys().collect();
    sections.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut warnings = Vec::new();
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if name == CONFIG_PATH_ENV {
            continue;
        }
        let target = sections.iter().find_map(|section| {
            let upper = format!("{}_", section.to_ascii_uppercase());
            let key = rest.strip_prefix(&upper)?.to_ascii_lowercase();
            let default = defaults.get(section.as_str())?.as_table()?.get(&key)?;
            Some((section.as_str(), key, default))
        });
        let Some((section, key, default)) = target else {
            warnings.push(format!(
                "environment variable {name} is not a known setting; ignored"
            ));
            continue;
        };
        let value = match default {
            toml::Value::String(_) => toml::Value::String(raw.clone()),
            toml::Value::Integer(_) => raw
                .trim()
                .parse::<i64>()
                .map(toml::Value::Integer)
                .map_err(|_| invalid(name, format!("expected a whole number, got {raw:?}")))?,
            toml::Value::Boolean(_) => match raw.trim() {
                "true" | "1" => toml::Value::Boolean(true),
                "false" | "0" => toml::Value::Boolean(false),
                _ => {
                    return Err(invalid(
                        name,
                        format!("expected true or false, got {raw:?}"),
                    ));
                }
            },
            toml::Value::Array(a) if a.iter().all(toml::Value::is_str) => toml::Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_owned()))
                    .collect(),
            ),
            _ => {
                warnings.push(format!(
                    "environment variable {name} names {section}.{key}, which can only be set in the config file; ignored"
                ));
                continue;
            }
        };
        let entry = table
            .entry(section.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match entry.as_table_mut() {
            Some(t) => {
                t.insert(key, value);
            }
            None => return Err(invalid(section, "expected a table")),
        }
    }
    Ok(warnings)
}

fn validate(
    file: FileConfig,
    env: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<Config, ConfigError> {
    let listen: SocketAddr = file.server.listen.trim().parse().map_err(|_| {
        invalid(
            "server.listen",
            format!(
                "expected an IP address and port such as 127.0.0.1:8080, got {:?}",
                file.server.listen
            ),
        )
    })?;
    let threads = bounded("server.threads", file.server.threads, 1, 256)? as usize;
    let max_body_bytes = bounded(
        "server.max_body_bytes",
        file.server.max_body_bytes,
        1024,
        1 << 30,
    )? as u64;
    let max_connections = bounded(
        "server.max_connections",
        file.server.max_connections,
        1,
        100_000,
    )? as usize;
    let max_header_bytes = bounded(
        "server.max_header_bytes",
        file.server.max_header_bytes,
        1024,
        1 << 20,
    )? as usize;
    let header_timeout = duration(
        "server.header_timeout",
        &file.server.header_timeout,
        1,
        3600,
    )?;
    let body_timeout = duration("server.body_timeout", &file.server.body_timeout, 1, 3600)?;
    let idle_timeout = duration("server.idle_timeout", &file.server.idle_timeout, 1, 3600)?;
    let public_url = match file.server.public_url.trim().trim_end_matches('/') {
        "" => None,
        url => {
            let parsed = url::Url::parse(url)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"));
            if parsed.is_none() {
                return Err(invalid(
                    "server.public_url",
                    format!(
                        "expected an http(s) URL such as https://exports.example.com, got {url:?}"
                    ),
                ));
            }
            Some(url.to_owned())
        }
    };
    let workers = bounded("scheduler.workers", file.scheduler.workers, 1, 64)? as usize;
    let delay = duration("scheduler.delay", &file.scheduler.delay, 0, 7 * 86_400)?;
    let retry_base = duration(
        "scheduler.retry_base",
        &file.scheduler.retry_base,
        1,
        86_400,
    )?;
    let retry_cap = duration(
        "scheduler.retry_cap",
        &file.scheduler.retry_cap,
        1,
        7 * 86_400,
    )?;
    if retry_cap < retry_base {
        return Err(invalid(
            "scheduler.retry_cap",
            "expected a duration at least as long as scheduler.retry_base",
        ));
    }
    let max_consecutive_failures = bounded(
        "scheduler.max_consecutive_failures",
        file.scheduler.max_consecutive_failures,
        1,
        10_000,
    )? as u32;
    let shutdown_timeout = duration(
        "scheduler.shutdown_timeout",
        &file.scheduler.shutdown_timeout,
        0,
        3600,
    )?;
    // S3 parts other than the last must be at least 5 MiB; 5 GiB is S3's largest part.
    let part_size = bounded("s3.part_size", file.s3.part_size, 5 << 20, 5 << 30)? as usize;
    let request_timeout = duration("s3.request_timeout", &file.s3.request_timeout, 1, 3600)?;
    let finalization_delay = duration(
        "billing.finalization_delay",
        &file.billing.finalization_delay,
        0,
        90 * 86_400,
    )?;
    let s3_retries = bounded("s3.retries", file.s3.retries, 0, 10)? as u8;

    if file.storage.data_dir.trim().is_empty() {
        return Err(invalid(
            "storage.data_dir",
            "expected a directory path, got an empty string",
        ));
    }
    let data_dir = PathBuf::from(file.storage.data_dir.trim());
    let in_data_dir = |key: &str, value: &str| -> Result<PathBuf, ConfigError> {
        if value.trim().is_empty() {
            return Err(invalid(key, "expected a path, got an empty string"));
        }
        Ok(data_dir.join(value.trim()))
    };
    let database_path = in_data_dir("storage.database", &file.storage.database)?;
    let max_wal_bytes = bounded(
        "storage.max_wal_bytes",
        file.storage.max_wal_bytes,
        1 << 20,
        1 << 30,
    )? as u64;
    let test_clock = match file.scheduler.test_clock.trim() {
        "" => None,
        path => Some(data_dir.join(path)),
    };

    let api_keys = validate_keys(&file.auth.keys, env)?;

    let secret_key = if file.secrets.encryption_key.trim().is_empty() {
        KeySource::File(in_data_dir("secrets.key_file", &file.secrets.key_file)?)
    } else {
        KeySource::Inline(parse_hex32(&file.secrets.encryption_key).ok_or_else(|| {
            invalid(
                "secrets.encryption_key",
                "expected 64 hex characters (a 32-byte key; `openssl rand -hex 32` makes one)",
            )
        })?)
    };

    let allowed_endpoints = Allowlist(
        file.s3
            .allowed_endpoints
            .iter()
            .enumerate()
            .map(|(i, text)| {
                Origin::parse(text).map_err(|why| {
                    invalid(
                        format!("s3.allowed_endpoints[{i}]"),
                        format!("expected an http(s) origin such as http://127.0.0.1:9000, got {text:?}: {why}"),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    );

    let managed = validate_managed(&file.managed_destination, &data_dir)?;
    let meters = validate_meters(&file.meters)?;
    let webhooks = validate_webhooks(&file.webhooks, &allowed_endpoints, env, warnings)?;
    let webhook_delivery = validate_webhook_delivery(&file.webhook_delivery)?;

    let log_level = match file.log.level.trim().to_ascii_lowercase().as_str() {
        "off" => log::LevelFilter::Off,
        "error" => log::LevelFilter::Error,
        "warn" => log::LevelFilter::Warn,
        "info" => log::LevelFilter::Info,
        "debug" => log::LevelFilter::Debug,
        "trace" => log::LevelFilter::Trace,
        _ => {
            return Err(invalid(
                "log.level",
                format!(
                    "expected one of off, error, warn, info, debug, trace, got {:?}",
                    file.log.level
                ),
            ));
        }
    };

    Ok(Config {
        listen,
        threads,
        max_body_bytes,
        max_connections,
        max_header_bytes,
        header_timeout,
        body_timeout,
        idle_timeout,
        public_url,
        data_dir,
        database_path,
        max_wal_bytes,
        api_keys,
        secret_key,
        allow_test_intervals: file.scheduler.allow_test_intervals,
        delay,
        workers,
        retry_base,
        retry_cap,
        max_consecutive_failures,
        test_clock,
        shutdown_timeout,
        allowed_endpoints,
        part_size,
        request_timeout,
        s3_retries,
        managed,
        log_level,
        meters,
        finalization_delay,
        webhooks,
        webhook_delivery,
    })
}

fn bounded(key: &str, value: i64, min: i64, max: i64) -> Result<i64, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            key,
            format!("expected a whole number from {min} to {max}, got {value}"),
        ))
    }
}

/// A duration such as `30s`, `15m` or `1h 30m`, within `min..=max` seconds.
fn duration(key: &str, text: &str, min: u64, max: u64) -> Result<Duration, ConfigError> {
    let expected = || {
        format!(
            "expected a duration from {min}s to {max}s such as \"30s\" or \"15m\", got {text:?}"
        )
    };
    let parsed: jiff::SignedDuration = text.trim().parse().map_err(|_| invalid(key, expected()))?;
    let d = Duration::try_from(parsed).map_err(|_| invalid(key, expected()))?;
    if d < Duration::from_secs(min) || d > Duration::from_secs(max) {
        return Err(invalid(key, expected()));
    }
    Ok(d)
}

/// Tenant and environment ids become path segments of managed object keys, so they are kept to
/// a safe alphabet.
fn check_scope_id(key: &str, value: &str) -> Result<(), ConfigError> {
    let ok = !value.is_empty()
        && value.len() <= 50
        && value != "."
        && value != ".."
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("expected 1 to 50 letters, digits, '_', '-' or '.', got {value:?}"),
        ))
    }
}

fn validate_keys(
    keys: &[KeyFile],
    env: &BTreeMap<String, String>,
) -> Result<Vec<([u8; 32], Principal)>, ConfigError> {
    let mut out: Vec<([u8; 32], Principal)> = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let at = |field: &str| format!("auth.keys[{i}].{field}");
        check_scope_id(&at("tenant_id"), &k.tenant_id)?;
        check_scope_id(&at("environment_id"), &k.environment_id)?;
        let hash = match (k.key_sha256.trim(), k.key_env.trim()) {
            (hex, "") if !hex.is_empty() => parse_hex32(hex).ok_or_else(|| {
                invalid(
                    at("key_sha256"),
                    "expected the 64 hex characters that `exportd keygen` prints",
                )
            })?,
            ("", var) if !var.is_empty() => {
                let key = env.get(var).map(|v| v.trim()).unwrap_or("");
                if key.len() < 16 {
                    return Err(invalid(
                        at("key_env"),
                        format!(
                            "expected environment variable {var} to hold an API key of at least 16 characters"
                        ),
                    ));
                }
                crate::auth::hash_key(key)
            }
            _ => {
                return Err(invalid(
                    format!("auth.keys[{i}]"),
                    "expected exactly one of key_sha256 or key_env",
                ));
            }
        };
        if let Some(j) = out.iter().position(|(h, _)| *h == hash) {
            return Err(invalid(
                format!("auth.keys[{i}]"),
                format!("the same key is already configured as auth.keys[{j}]"),
            ));
        }
        let name = if k.name.trim().is_empty() {
            format!("key-{i}")
        } else {
            k.name.trim().to_owned()
        };
        out.push((
            hash,
            Principal {
                tenant_id: k.tenant_id.clone(),
                environment_id: k.environment_id.clone(),
                key_name: name,
            },
        ));
    }
    Ok(out)
}

fn validate_meters(meters: &[MeterFile]) -> Result<Vec<Meter>, ConfigError> {
    let mut out: Vec<Meter> = Vec::with_capacity(meters.len());
    for (i, m) in meters.iter().enumerate() {
        let at = |field: &str| format!("meters[{i}].{field}");
        let required = |field: &str, value: &str| -> Result<String, ConfigError> {
            let v = value.trim();
            if v.is_empty() {
                return Err(invalid(at(field), "expected a value"));
            }
            Ok(v.to_owned())
        };
        let id = required("id", &m.id)?;
        if out.iter().any(|o| o.id == id) {
            return Err(invalid(at("id"), format!("meter id {id:?} is used twice")));
        }
        let event_name = required("event_name", &m.event_name)?;
        let aggregation = Aggregation::parse(m.aggregation.trim()).ok_or_else(|| {
            invalid(
                at("aggregation"),
                format!(
                    "expected one of {}, got {:?}",
                    Aggregation::names(),
                    m.aggregation
                ),
            )
        })?;
        let field = m.field.trim().to_owned();
        if aggregation.needs_field() && field.is_empty() {
            return Err(invalid(
                at("field"),
                format!(
                    "expected the event property that {} reads",
                    aggregation.as_str()
                ),
            ));
        }
        let feature_id = if m.feature_id.trim().is_empty() {
            id.clone()
        } else {
            m.feature_id.trim().to_owned()
        };
        let feature_name = if m.feature_name.trim().is_empty() {
            feature_id.clone()
        } else {
            m.feature_name.trim().to_owned()
        };
        let unit_price = match &m.unit_price {
            None => None,
            Some(toml::Value::String(text)) => Some(
                parse_decimal(text)
                    .filter(|d| !d.is_sign_negative())
                    .ok_or_else(|| {
                        invalid(
                            at("unit_price"),
                            format!("expected a decimal of 0 or more in quotes, got {text:?}"),
                        )
                    })?,
            ),
            Some(other) => {
                return Err(invalid(
                    at("unit_price"),
                    format!(
                        "expected a decimal in quotes such as \"0.025\" (floats lose cents), got {other}"
                    ),
                ));
            }
        };
        // A currency is needed with a price, and must be a real ISO 4217 code when given.
        let currency = match (m.currency.trim(), unit_price) {
            ("", None) => String::new(),
            (text, _) => crate::ledger::money::parse_currency("currency", text).map_err(|_| {
                invalid(
                    at("currency"),
                    format!(
                        "expected the ISO 4217 code of unit_price, got {:?}",
                        m.currency
                    ),
                )
            })?,
        };
        out.push(Meter {
            id,
            event_name,
            aggregation,
            field,
            feature_id,
            feature_name,
            feature_group_name: m.feature_group_name.trim().to_owned(),
            unit_price,
            currency,
        });
    }
    Ok(out)
}

fn validate_webhooks(
    hooks: &[WebhookFile],
    allow: &Allowlist,
    env: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Webhook>, ConfigError> {
    let mut out: Vec<Webhook> = Vec::with_capacity(hooks.len());
    for (i, h) in hooks.iter().enumerate() {
        let at = |field: &str| format!("webhooks[{i}].{field}");
        // A host that does not resolve now (network not up yet) is only a warning: the rule is
        // applied again, with a fresh lookup, before every delivery.
        let unresolved = std::cell::Cell::new(false);
        let resolve = |host: &str, port: u16| {
            crate::sinks::endpoint::system_resolver(host, port)
                .inspect_err(|_| unresolved.set(true))
        };
        let url = match crate::webhooks::check_url(&h.url, allow, &resolve) {
            Ok(url) => url,
            Err(why) if unresolved.get() => {
                warnings.push(format!(
                    "config: {}: {why}; it is checked again at each delivery",
                    at("url")
                ));
                url::Url::parse(h.url.trim()).map_err(|_| invalid(at("url"), why))?
            }
            Err(why) => {
                return Err(invalid(
                    at("url"),
                    format!(
                        "expected an http(s) URL that follows the endpoint_url rule, got {:?}: it {why}",
                        h.url
                    ),
                ));
            }
        };
        if let Some(j) = out.iter().position(|w| w.url == url) {
            return Err(invalid(
                at("url"),
                format!("the same URL is already configured as webhooks[{j}]"),
            ));
        }
        let secret = match (h.secret.as_str(), h.secret_env.trim()) {
            (text, "") if !text.is_empty() => text.to_owned(),
            ("", var) if !var.is_empty() => env.get(var).cloned().unwrap_or_default(),
            _ => {
                return Err(invalid(
                    format!("webhooks[{i}]"),
                    "expected exactly one of secret or secret_env",
                ));
            }
        };
        if secret.len() < 16 {
            let key = if h.secret_env.trim().is_empty() {
                at("secret")
            } else {
                at("secret_env")
            };
            let what = if h.secret_env.trim().is_empty() {
                "a secret".to_owned()
            } else {
                format!(
                    "environment variable {} to hold a secret",
                    h.secret_env.trim()
                )
            };
            return Err(invalid(
                key,
                format!("expected {what} of at least 16 characters"),
            ));
        }
        if h.events.is_empty() {
            return Err(invalid(
                at("events"),
                "expected at least one of run.completed, run.failed, task.auto_paused",
            ));
        }
        let mut events = Vec::with_capacity(h.events.len());
        for (k, text) in h.events.iter().enumerate() {
            let event = EventType::parse(text.trim()).ok_or_else(|| {
                invalid(
                    format!("webhooks[{i}].events[{k}]"),
                    format!(
                        "expected one of run.completed, run.failed, task.auto_paused, got {text:?}"
                    ),
                )
            })?;
            if !events.contains(&event) {
                events.push(event);
            }
        }
        out.push(Webhook {
            url,
            secret: Secret::new(secret),
            events,
        });
    }
    Ok(out)
}

fn validate_webhook_delivery(d: &WebhookDeliveryFile) -> Result<DeliverySettings, ConfigError> {
    let timeout = duration("webhook_delivery.timeout", &d.timeout, 1, 300)?;
    let retry_base = duration("webhook_delivery.retry_base", &d.retry_base, 1, 3600)?;
    let retry_cap = duration("webhook_delivery.retry_cap", &d.retry_cap, 1, 86_400)?;
    if retry_cap < retry_base {
        return Err(invalid(
            "webhook_delivery.retry_cap",
            "expected a duration at least as long as webhook_delivery.retry_base",
        ));
    }
    let max_age = duration("webhook_delivery.max_age", &d.max_age, 1, 30 * 86_400)?;
    Ok(DeliverySettings {
        timeout,
        retry_base,
        retry_cap,
        max_age,
    })
}

fn validate_managed(m: &ManagedFile, data_dir: &Path) -> Result<Managed, ConfigError> {
    let key = |field: &str| format!("managed_destination.{field}");
    let bucket = || -> Result<String, ConfigError> {
        check_bucket_name(m.bucket.trim()).map_err(|why| invalid(key("bucket"), why))?;
        Ok(m.bucket.trim().to_owned())
    };
    let region = || -> Result<String, ConfigError> {
        let r = m.region.trim();
        if r.is_empty() || r.chars().any(char::is_whitespace) {
            return Err(invalid(
                key("region"),
                format!(
                    "expected a region name such as us-east-1, got {:?}",
                    m.region
                ),
            ));
        }
        Ok(r.to_owned())
    };
    match m.kind.trim() {
        "none" => Ok(Managed::Disabled),
        "directory" => {
            if m.path.trim().is_empty() {
                return Err(invalid(
                    key("path"),
                    "expected a directory path, got an empty string",
                ));
            }
            Ok(Managed::Directory {
                root: data_dir.join(m.path.trim()),
                bucket: bucket()?,
                region: region()?,
            })
        }
        "s3" => {
            let endpoint_url = match m.endpoint_url.trim() {
                "" => None,
                text => {
                    let origin = Origin::parse(text).map_err(|why| {
                        invalid(
                            key("endpoint_url"),
                            format!("expected an http(s) URL, got {text:?}: {why}"),
                        )
                    })?;
                    Some(origin.display())
                }
            };
            for field in ["access_key_id", "secret_access_key"] {
                let value = if field == "access_key_id" {
                    &m.access_key_id
                } else {
                    &m.secret_access_key
                };
                if value.trim().is_empty() {
                    return Err(invalid(key(field), "expected a value when kind = \"s3\""));
                }
            }
            Ok(Managed::S3 {
                bucket: bucket()?,
                region: region()?,
                endpoint_url,
                use_path_style: m.use_path_style,
                credentials: S3Credentials {
                    access_key_id: m.access_key_id.trim().to_owned(),
                    secret_access_key: m.secret_access_key.trim().to_owned(),
                    session_token: Some(m.session_token.trim().to_owned())
                        .filter(|t| !t.is_empty()),
                },
            })
        }
        other => Err(invalid(
            key("kind"),
            format!("expected one of directory, s3, none, got {other:?}"),
        )),
    }
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
            "listen {}, {} threads, {} connections, data dir {}, database {}, {} API key(s), {} allowed endpoint(s), managed destination: {}, {} webhook(s)",
            self.listen,
            self.threads,
            self.max_connections,
            self.data_dir.display(),
            self.database_path.display(),
            self.api_keys.len(),
            self.allowed_endpoints.0.len(),
            managed,
            self.webhooks.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn from_text(text: &str, vars: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(text.as_bytes()).expect("write");
        load(Some(file.path()), &env(vars))
    }

    fn error_of(text: &str, vars: &[(&str, &str)]) -> String {
        from_text(text, vars).expect_err("should fail").to_string()
    }

    #[test]
    fn embedded_defaults_need_no_file() {
        let c = load(None, &env(&[])).expect("defaults").config;
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.max_body_bytes, 10 * 1024 * 1024);
        assert_eq!(c.database_path, PathBuf::from("data/exportd.db"));
        assert_eq!(c.secret_key, KeySource::File("data/secret.key".into()));
        assert!(c.api_keys.is_empty());
        assert!(matches!(c.managed, Managed::Directory { .. }));
        assert_eq!(
            (c.workers, c.shutdown_timeout, c.part_size),
            (2, Duration::from_secs(30), 8 << 20)
        );
        assert_eq!(
            (c.request_timeout, c.s3_retries, c.public_url.as_deref()),
            (Duration::from_secs(60), 1, None)
        );
        assert_eq!(c.finalization_delay, Duration::from_secs(3600));
        let limits = c.http_limits();
        assert_eq!(
            (limits.max_connections, limits.max_header_bytes),
            (256, 16 * 1024)
        );
        assert_eq!(
            (
                limits.header_timeout,
                limits.body_timeout,
                limits.idle_timeout
            ),
            (
                Duration::from_secs(10),
                Duration::from_secs(30),
                Duration::from_secs(30)
            )
        );
    }

    #[test]
    fn the_example_config_is_valid() {
        let text = include_str!("../config.example.toml");
        let loaded = from_text(text, &[]).expect("config.example.toml must load");
        assert!(loaded.warnings.is_empty());
    }

    #[test]
    fn environment_overrides_are_typed_by_the_default() {
        let c = from_text(
            "[server]\nlisten = \"127.0.0.1:1\"\n",
            &[
                ("EXPORTD_SERVER_LISTEN", "0.0.0.0:9000"),
                ("EXPORTD_SERVER_THREADS", "3"),
                ("EXPORTD_SCHEDULER_ALLOW_TEST_INTERVALS", "true"),
                (
                    "EXPORTD_S3_ALLOWED_ENDPOINTS",
                    "http://127.0.0.1:8333, http://127.0.0.1:5000",
                ),
                ("EXPORTD_MANAGED_DESTINATION_KIND", "none"),
                ("EXPORTD_BILLING_FINALIZATION_DELAY", "90m"),
                ("EXPORTD_CONFIG", "ignored.toml"),
            ],
        )
        .expect("valid")
        .config;
        assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(c.threads, 3);
        assert!(c.allow_test_intervals);
        assert_eq!(c.allowed_endpoints.0.len(), 2);
        assert_eq!(c.managed, Managed::Disabled);
        assert_eq!(c.finalization_delay, Duration::from_secs(90 * 60));
        let err = error_of("", &[("EXPORTD_SERVER_THREADS", "many")]);
        assert_eq!(
            err,
            "config: EXPORTD_SERVER_THREADS: expected a whole number, got \"many\""
        );
        let loaded =
            from_text("", &[("EXPORTD_SERVER_LISTN", "x")]).expect("unknown vars only warn");
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0].contains("EXPORTD_SERVER_LISTN"));
    }

    #[test]
    fn bad_values_name_the_key_and_what_was_expected() {
        let cases = [
            (
                "[server]\nlisten = \"localhost\"",
                "config: server.listen: expected an IP address and port",
            ),
            (
                "[server]\nthreads = 0",
                "config: server.threads: expected a whole number from 1 to 256, got 0",
            ),
            (
                "[server]\nmax_connections = 0",
                "config: server.max_connections: expected a whole number from 1 to 100000, got 0",
            ),
            (
                "[server]\nheader_timeout = \"0s\"",
                "config: server.header_timeout: expected a duration from 1s to 3600s",
            ),
            (
                "[server]\nthreads = \"4\"",
                "config: server.threads: invalid type: string \"4\", expected i64",
            ),
            (
                "[server]\nlisen = \"x\"",
                "config: server.lisen: unknown field `lisen`, expected one of `listen`",
            ),
            (
                "[serverr]\nlisten = \"x\"",
                "config: serverr: unknown field `serverr`",
            ),
            (
                "[server]\nmax_connections = 0",
                "config: server.max_connections: expected a whole number from 1 to 100000, got 0",
            ),
            (
                "[server]\nheader_timeout = \"0s\"",
                "config: server.header_timeout: expected a duration from 1s to 3600s",
            ),
            (
                "[log]\nlevel = \"loud\"",
                "config: log.level: expected one of off, error",
            ),
            (
                "[[meters]]\nid = \"m\"\nevent_name = \"e\"\naggregation = \"AVG\"",
                "config: meters[0].aggregation: expected one of COUNT, SUM",
            ),
            (
                "[[meters]]\nid = \"m\"\nevent_name = \"e\"\naggregation = \"SUM\"",
                "config: meters[0].field: expected the event property",
            ),
            (
                "[[meters]]\nid = \"m\"\nevent_name = \"e\"\naggregation = \"COUNT\"\nunit_price = 0.1\ncurrency = \"USD\"",
                "config: meters[0].unit_price: expected a decimal in quotes",
            ),
            (
                "[[meters]]\nid = \"m\"\nevent_name = \"e\"\naggregation = \"COUNT\"\nunit_price = \"0.1\"",
                "config: meters[0].currency: expected the ISO 4217 code",
            ),
            (
                "[[meters]]\nid = \"m\"\nevent_name = \"e\"\naggregation = \"COUNT\"\n[[meters]]\nid = \"m\"\nevent_name = \"f\"\naggregation = \"COUNT\"",
                "config: meters[1].id: meter id \"m\" is used twice",
            ),
            (
                "[scheduler]\nshutdown_timeout = \"soon\"",
                "config: scheduler.shutdown_timeout: expected a duration",
            ),
            (
                "[scheduler]\nretry_base = \"10m\"\nretry_cap = \"1m\"",
                "config: scheduler.retry_cap: expected a duration at least as long",
            ),
            (
                "[scheduler]\nmax_consecutive_failures = 0",
                "config: scheduler.max_consecutive_failures: expected a whole number from 1",
            ),
            (
                "[scheduler]\ndelay = \"-5m\"",
                "config: scheduler.delay: expected a duration",
            ),
            (
                "[billing]\nfinalization_delay = \"soon\"",
                "config: billing.finalization_delay: expected a duration from 0s to 7776000s",
            ),
            (
                "[billing]\nfinalization_delay = \"-1h\"",
                "config: billing.finalization_delay: expected a duration",
            ),
            (
                "[billing]\nfinalisation_delay = \"1h\"",
                "config: billing.finalisation_delay: unknown field `finalisation_delay`",
            ),
            (
                "[s3]\nrequest_timeout = \"0s\"",
                "config: s3.request_timeout: expected a duration from 1s",
            ),
            (
                "[s3]\npart_size = 1024",
                "config: s3.part_size: expected a whole number from 5242880",
            ),
            (
                "[server]\npublic_url = \"ftp://x\"",
                "config: server.public_url: expected an http(s) URL",
            ),
            (
                "[secrets]\nencryption_key = \"abc\"",
                "config: secrets.encryption_key: expected 64 hex characters",
            ),
            (
                "[s3]\nallowed_endpoints = [\"minio:9000\"]",
                "config: s3.allowed_endpoints[0]: expected an http(s) origin",
            ),
            (
                "[managed_destination]\nkind = \"gcs\"",
                "config: managed_destination.kind: expected one of directory, s3, none",
            ),
            (
                "[managed_destination]\nkind = \"s3\"\nbucket = \"b-1\"",
                "config: managed_destination.access_key_id: expected a value",
            ),
            (
                "[[auth.keys]]\ntenant_id = \"t\"\nenvironment_id = \"e\"",
                "config: auth.keys[0]: expected exactly one of key_sha256 or key_env",
            ),
            (
                "[[auth.keys]]\ntenant_id = \"a/b\"\nenvironment_id = \"e\"\nkey_sha256 = \"00\"",
                "config: auth.keys[0].tenant_id: expected 1 to 50 letters",
            ),
            (
                "[[auth.keys]]\ntenant_id = \"t\"\nenvironment_id = \"e\"\nkey_sha256 = \"00\"",
                "config: auth.keys[0].key_sha256: expected the 64 hex characters",
            ),
            (
                "[[auth.keys]]\ntenant_id = \"t\"\nenvironment_id = \"e\"\nkey_env = \"NOPE\"",
                "config: auth.keys[0].key_env: expected environment variable NOPE",
            ),
            (
                "[[webhooks]]\nurl = \"https://10.0.0.1/hook\"\nsecret = \"0123456789abcdef\"",
                "config: webhooks[0].url: expected an http(s) URL that follows the endpoint_url rule",
            ),
            (
                "[[webhooks]]\nurl = \"https://93.184.216.34/hook\"",
                "config: webhooks[0]: expected exactly one of secret or secret_env",
            ),
            (
                "[[webhooks]]\nurl = \"https://93.184.216.34/hook\"\nsecret = \"short\"",
                "config: webhooks[0].secret: expected a secret of at least 16 characters",
            ),
            (
                "[[webhooks]]\nurl = \"https://93.184.216.34/hook\"\nsecret = \"0123456789abcdef\"\nevents = [\"run.started\"]",
                "config: webhooks[0].events[0]: expected one of run.completed, run.failed, task.auto_paused",
            ),
            (
                "[webhook_delivery]\nretry_base = \"1h\"\nretry_cap = \"1m\"",
                "config: webhook_delivery.retry_cap: expected a duration at least as long",
            ),
            ("[server\n", "is not valid TOML"),
        ];
        for (text, want) in cases {
            let err = error_of(text, &[]);
            assert!(err.contains(want), "{text:?}\n got: {err}\nwant: {want}");
        }
    }

    #[test]
    fn api_keys_from_hashes_and_environment() {
        let hash = crate::secrets::to_hex(&crate::auth::hash_key("a-key-of-enough-length"));
        let text = format!(
            "[[auth.keys]]\nname = \"ci\"\ntenant_id = \"acme\"\nenvironment_id = \"prod\"\nkey_sha256 = \"{hash}\"\n\
             [[auth.keys]]\ntenant_id = \"acme\"\nenvironment_id = \"dev\"\nkey_env = \"DEV_KEY\"\n"
        );
        let c = from_text(&text, &[("DEV_KEY", "another-key-long-enough")])
            .expect("valid")
            .config;
        let ring = crate::auth::KeyRing::new(c.api_keys);
        let p = ring
            .authenticate("a-key-of-enough-length")
            .expect("accepted");
        assert_eq!(
            (
                p.tenant_id.as_str(),
                p.environment_id.as_str(),
                p.key_name.as_str()
            ),
            ("acme", "prod", "ci")
        );
        assert_eq!(
            ring.authenticate("another-key-long-enough")
                .map(|p| p.key_name.as_str()),
            Some("key-1")
        );
        let dup = format!(
            "{text}[[auth.keys]]\ntenant_id = \"x\"\nenvironment_id = \"y\"\nkey_sha256 = \"{hash}\"\n"
        );
        let err = from_text(&dup, &[("DEV_KEY", "another-key-long-enough")])
            .expect_err("duplicate")
            .to_string();
        assert!(err.contains("already configured as auth.keys[0]"), "{err}");
    }

    #[test]
    fn webhooks_take_their_secret_from_the_environment_and_never_show_it() {
        let text = "[s3]\nallowed_endpoints = [\"http://127.0.0.1:8999\"]\n\
                    [[webhooks]]\nurl = \"http://127.0.0.1:8999/hooks/a\"\nsecret_env = \"HOOK_SECRET\"\n\
                    [[webhooks]]\nurl = \"https://93.184.216.34/b\"\nsecret = \"inline-secret-0123456789\"\nevents = [\"task.auto_paused\"]\n";
        let secret = "env-secret-0123456789";
        let c = from_text(
            text,
            &[
                ("HOOK_SECRET", secret),
                ("EXPORTD_WEBHOOK_DELIVERY_RETRY_BASE", "5s"),
            ],
        )
        .expect("valid")
        .config;
        assert_eq!(c.webhooks.len(), 2);
        assert_eq!(
            c.webhooks[0].events,
            EventType::ALL,
            "all events by default"
        );
        assert_eq!(c.webhooks[1].events, [EventType::TaskAutoPaused]);
        assert_eq!(c.webhooks[0].url.path(), "/hooks/a");
        assert_eq!(c.webhook_delivery.retry_base, Duration::from_secs(5));
        assert_eq!(c.webhook_delivery.retry_cap, Duration::from_secs(600));
        let shown = format!("{c:?} {c}");
        assert!(!shown.contains(secret) && !shown.contains("inline-secret"));
        let err = from_text(text, &[])
            .expect_err("unset variable")
            .to_string();
        assert!(
            err.contains("webhooks[0].secret_env: expected environment variable HOOK_SECRET"),
            "{err}"
        );
        let dup = format!(
            "{text}[[webhooks]]\nurl = \"https://93.184.216.34/b\"\nsecret = \"inline-secret-0123456789\"\n"
        );
        let err = from_text(&dup, &[("HOOK_SECRET", secret)])
            .expect_err("duplicate")
            .to_string();
        assert!(
            err.contains("webhooks[2].url: the same URL is already configured as webhooks[1]"),
            "{err}"
        );
    }

    #[test]
    fn missing_config_file_is_an_error_that_names_it() {
        let err =
            load(Some(Path::new("/nonexistent/exportd.toml")), &env(&[])).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/exportd.toml"));
    }
}
