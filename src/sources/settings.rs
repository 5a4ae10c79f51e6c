//! The `[source]` section: which billing data exports read, and how to reach it. Each key has
//! its `EXPORTD_SOURCE_*` twin (`EXPORTD_SOURCE_KIND`, `EXPORTD_SOURCE_POSTGRES_URL`, ...).
//!
//! ```toml
//! [source]
//! kind = "flexprice"            # "ledger" (the default): the embedded ledger
//! postgres_url = "postgres://exportd@db:5432/flexprice?sslmode=require"
//! postgres_url_env = "FLEXPRICE_PG_URL"   # or: the URL, password included, from this variable
//! statement_timeout = "5m"      # the longest one query (or one fetch of a stream) may run
//! clickhouse_url = "http://clickhouse:8123"   # events and usage_analytics (none: refused)
//! clickhouse_database = "flexprice"           # default "default"
//! clickhouse_user = "exportd"                 # default "default"
//! clickhouse_password_env = "EXPORTD_CLICKHOUSE_PASSWORD"
//! clickhouse_max_execution_time = 600         # seconds, ClickHouse's setting (0: the profile's)
//! clickhouse_max_memory_usage = 0             # bytes, ClickHouse's setting (0: the profile's)
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::flexprice::clickhouse::source::{self as clickhouse, ClickHouse};
use super::flexprice::postgres::{DEFAULT_STATEMENT_TIMEOUT, Postgres};
use crate::config::validate::duration;
use crate::config::{ConfigError, invalid};

/// The section as the file (and the environment) give it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SourceFile {
    pub(crate) kind: String,
    pub(crate) postgres_url: String,
    pub(crate) postgres_url_env: String,
    pub(crate) statement_timeout: String,
    pub(crate) clickhouse_url: String,
    pub(crate) clickhouse_database: String,
    pub(crate) clickhouse_user: String,
    pub(crate) clickhouse_password_env: String,
    pub(crate) clickhouse_max_execution_time: i64,
    pub(crate) clickhouse_max_memory_usage: i64,
}

impl Default for SourceFile {
    fn default() -> Self {
        SourceFile {
            kind: "ledger".into(),
            postgres_url: String::new(),
            postgres_url_env: String::new(),
            statement_timeout: format!("{}s", DEFAULT_STATEMENT_TIMEOUT.as_secs()),
            clickhouse_url: String::new(),
            clickhouse_database: "default".into(),
            clickhouse_user: "default".into(),
            clickhouse_password_env: String::new(),
            clickhouse_max_execution_time: 0,
            clickhouse_max_memory_usage: 0,
        }
    }
}

/// The source, checked.
#[derive(Debug, Clone)]
pub(crate) enum SourceSettings {
    /// The embedded ledger, filled through exportd's own API.
    Ledger,
    /// A self-hosted Flexprice's databases, read-only.
    Flexprice(Box<FlexpriceSettings>),
}

#[derive(Debug, Clone)]
pub(crate) struct FlexpriceSettings {
    /// The checked URL and session settings (its `Debug` shows no password).
    pub postgres: Postgres,
    /// Flexprice's ClickHouse, when `clickhouse_url` is set (its `Debug` shows no password).
    pub clickhouse: Option<ClickHouse>,
}

impl std::fmt::Display for SourceSettings {
    /// For the start-up log and `check-config` (the URL without its password).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceSettings::Ledger => f.write_str("the embedded ledger"),
            SourceSettings::Flexprice(s) => {
                write!(
                    f,
                    "flexprice (postgres {}, statement_timeout {}s",
                    s.postgres.shown(),
                    s.postgres.statement_timeout().as_secs()
                )?;
                match &s.clickhouse {
                    Some(ch) => write!(f, "; {ch})"),
                    None => f.write_str(")"),
                }
            }
        }
    }
}

impl SourceSettings {
    /// Checks the section; `env` is where `postgres_url_env` is looked up.
    pub(crate) fn from_config(
        file: &SourceFile,
        env: &BTreeMap<String, String>,
    ) -> Result<SourceSettings, ConfigError> {
        match file.kind.trim() {
            "ledger" => Ok(SourceSettings::Ledger),
            "flexprice" => {
                let statement_timeout = duration(
                    "source.statement_timeout",
                    &file.statement_timeout,
                    1,
                    86_400,
                )?;
                let (url, written_in_file) = postgres_url(file, env)?;
                let postgres = Postgres::new(&url, statement_timeout)
                    .map_err(|why| invalid("source.postgres_url", why))?;
                if written_in_file && postgres.has_password() {
                    return Err(invalid(
                        "source.postgres_url",
                        format!(
                            "a password in the config file is refused (files get copied, logged and committed): remove it from the URL and put the whole URL in an environment variable named by postgres_url_env, or in {POSTGRES_URL_TWIN}"
                        ),
                    ));
                }
                let keys = clickhouse::Keys {
                    url: &file.clickhouse_url,
                    database: &file.clickhouse_database,
                    user: &file.clickhouse_user,
                    password_env: &file.clickhouse_password_env,
                    max_execution_time: file.clickhouse_max_execution_time,
                    max_memory_usage: file.clickhouse_max_memory_usage,
                };
                let clickhouse = clickhouse::settings(&keys, |name| env.get(name).cloned())
                    .map_err(|(key, why)| invalid(key, why))?;
                Ok(SourceSettings::Flexprice(Box::new(FlexpriceSettings {
                    postgres,
                    clickhouse,
                })))
            }
            other => Err(invalid(
                "source.kind",
                format!("expected \"ledger\" or \"flexprice\", got {other:?}"),
            )),
        }
    }
}

/// `postgres_url`'s environment twin: a URL set there came from the environment, so it may
/// hold a password.
const POSTGRES_URL_TWIN: &str = "EXPORTD_SOURCE_POSTGRES_URL";

/// The URL from `postgres_url` or from the variable `postgres_url_env` names (one of them),
/// and whether it was written in the config file (rather than set in the environment).
fn postgres_url(
    file: &SourceFile,
    env: &BTreeMap<String, String>,
) -> Result<(String, bool), ConfigError> {
    let (url, var) = (file.postgres_url.trim(), file.postgres_url_env.trim());
    match (url.is_empty(), var.is_empty()) {
        (false, false) => Err(invalid(
            "source.postgres_url_env",
            "set postgres_url or postgres_url_env, not both",
        )),
        (true, true) => Err(invalid(
            "source.postgres_url",
            "kind = \"flexprice\" needs Flexprice's PostgreSQL: set postgres_url, or postgres_url_env to the name of a variable holding the URL with its password",
        )),
        (false, true) => {
            let from_twin = env.get(POSTGRES_URL_TWIN).map(|v| v.trim()) == Some(url);
            Ok((url.to_owned(), !from_twin))
        }
        (true, false) => match env.get(var).map(|v| v.trim()) {
            Some(v) if !v.is_empty() => Ok((v.to_owned(), false)),
            _ => Err(invalid(
                "source.postgres_url_env",
                format!(
                    "the environment variable {var} is not set (it should hold Flexprice's PostgreSQL URL)"
                ),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(file: SourceFile, env: &[(&str, &str)]) -> Result<SourceSettings, String> {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        SourceSettings::from_config(&file, &env).map_err(|e| e.to_string())
    }

    fn flexprice() -> SourceFile {
        SourceFile {
            kind: "flexprice".into(),
            ..SourceFile::default()
        }
    }

    #[test]
    fn the_ledger_is_the_default_and_flexprice_needs_a_url() {
        assert!(matches!(
            settings(SourceFile::default(), &[]),
            Ok(SourceSettings::Ledger)
        ));
        let e = settings(flexprice(), &[]).unwrap_err();
        assert!(e.contains("source.postgres_url"), "{e}");
        let e = settings(
            SourceFile {
                kind: "mysql".into(),
                ..SourceFile::default()
            },
            &[],
        )
        .unwrap_err();
        assert!(e.contains("source.kind") && e.contains("\"mysql\""), "{e}");
    }

    #[test]
    fn the_url_may_come_from_the_environment_and_is_never_echoed() {
        let file = SourceFile {
            postgres_url_env: "PG_URL".into(),
            statement_timeout: "30s".into(),
            ..flexprice()
        };
        let Ok(SourceSettings::Flexprice(s)) = settings(
            file.clone(),
            &[("PG_URL", "postgres://u:hunter2@db:5432/f?sslmode=require")],
        ) else {
            panic!("a flexprice source")
        };
        assert_eq!(s.postgres.shown(), "postgres://u@db:5432/f?sslmode=require");
        assert_eq!(s.postgres.statement_timeout().as_secs(), 30);
        assert!(!format!("{s:?}").contains("hunter2"));
        let e = settings(file.clone(), &[]).unwrap_err();
        assert!(e.contains("PG_URL is not set"), "{e}");
        let e = settings(file, &[("PG_URL", "mysql://u:hunter2@db/f")]).unwrap_err();
        assert!(
            e.contains("source.postgres_url") && !e.contains("hunter2"),
            "{e}"
        );
        let both = SourceFile {
            postgres_url: "postgres://db/f".into(),
            postgres_url_env: "PG_URL".into(),
            ..flexprice()
        };
        assert!(settings(both, &[]).unwrap_err().contains("not both"));
        let written = SourceFile {
            postgres_url: "postgres://u:hunter2@db/f".into(),
            ..flexprice()
        };
        let e = settings(written.clone(), &[]).unwrap_err();
        assert!(
            e.contains("source.postgres_url")
                && e.contains("password in the config file is refused")
                && !e.contains("hunter2"),
            "{e}"
        );
        let in_query = SourceFile {
            postgres_url: "postgres://u@db/f?password=hunter2".into(),
            ..flexprice()
        };
        assert!(settings(in_query, &[]).is_err());
        // The same URL set through the environment twin came from the environment.
        let twin = [(POSTGRES_URL_TWIN, "postgres://u:hunter2@db/f")];
        assert!(settings(written, &twin).is_ok());
        let without = SourceFile {
            postgres_url: "postgres://u@db/f".into(),
            ..flexprice()
        };
        assert!(settings(without, &[]).is_ok());
        let slow = SourceFile {
            postgres_url: "postgres://db/f".into(),
            statement_timeout: "0s".into(),
            ..flexprice()
        };
        assert!(
            settings(slow, &[])
                .unwrap_err()
                .contains("source.statement_timeout")
        );
    }
}
