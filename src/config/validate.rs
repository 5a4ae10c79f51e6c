//! The checks that turn the file's values into a [`Config`]: each bad value is an error naming
//! its key and what was expected. Meters and webhooks are checked next to their own types
//! (`ledger::meters`, `webhooks`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file::{FileConfig, KeyFile, ManagedFile};
use super::{Config, ConfigError, Managed, invalid};
use crate::auth::Principal;
use crate::connections::S3Credentials;
use crate::secrets::{KeySource, parse_hex32};
use crate::sinks::endpoint::{Allowlist, Origin};
use crate::sinks::s3::check_bucket_name;

pub(super) fn validate(
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
    let meters = crate::ledger::meters::from_config(&file.meters)?;
    let webhooks = crate::webhooks::from_config(&file.webhooks, &allowed_endpoints, env, warnings)?;
    let webhook_delivery = crate::webhooks::DeliverySettings::from_config(&file.webhook_delivery)?;
    let source = crate::sources::SourceSettings::from_config(&file.source, env)?;

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
        source,
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
pub(crate) fn duration(key: &str, text: &str, min: u64, max: u64) -> Result<Duration, ConfigError> {
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
