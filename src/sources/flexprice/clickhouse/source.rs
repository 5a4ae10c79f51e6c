//! The ClickHouse part of the Flexprice source: its `clickhouse_*` keys of `[source]`, checked
//! into [`Settings`] at start, and what the source asks of ClickHouse (an export, a check).

use std::sync::atomic::AtomicBool;

use super::{Client, Entity, Request, Settings, TimeField, UsageCatalog, inspect};
use crate::failure::ExportError;
use crate::formats::RowSink;
use crate::scheduled_tasks::job_config::WindowField;
use crate::sources::ExportRequest;

/// The `clickhouse_*` keys of `[source]` as the file gives them (empty: not set).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Keys<'a> {
    pub url: &'a str,
    pub database: &'a str,
    pub user: &'a str,
    /// The name of the environment variable that holds the password.
    pub password_env: &'a str,
    /// Seconds; 0 leaves the server's profile in charge.
    pub max_execution_time: i64,
    /// Bytes; 0 leaves the server's profile in charge.
    pub max_memory_usage: i64,
}

/// ClickHouse as `keys` configure it, `None` when they do not (no `clickhouse_url`);
/// `Err((key, message))` names the key that is wrong. `env` reads the password's variable.
pub(crate) fn settings(
    keys: &Keys<'_>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<ClickHouse>, (&'static str, String)> {
    if keys.url.trim().is_empty() {
        return Ok(None);
    }
    let or_default = |v: &str| {
        if v.trim().is_empty() {
            "default".to_owned()
        } else {
            v.trim().to_owned()
        }
    };
    let password = match keys.password_env.trim() {
        "" => None,
        name => Some(env(name).ok_or_else(|| {
            (
                "source.clickhouse_password_env",
                format!("the environment variable {name} is not set"),
            )
        })?),
    };
    let limit = |key: &'static str, v: i64| match u64::try_from(v) {
        Ok(0) => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(_) => Err((key, format!("expected 0 or more, got {v}"))),
    };
    let settings = Settings {
        url: keys.url.trim().to_owned(),
        database: or_default(keys.database),
        user: or_default(keys.user),
        password,
        max_execution_time: limit(
            "source.clickhouse_max_execution_time",
            keys.max_execution_time,
        )?,
        max_memory_usage: limit("source.clickhouse_max_memory_usage", keys.max_memory_usage)?,
    };
    // The URL's checks, at start rather than at the first run.
    let client = Client::new(settings).map_err(|e| ("source.clickhouse_url", e))?;
    Ok(Some(ClickHouse { client }))
}

/// Flexprice's ClickHouse as the source reads it.
#[derive(Debug, Clone)]
pub(crate) struct ClickHouse {
    client: Client,
}

impl std::fmt::Display for ClickHouse {
    /// For the start-up log and `check-config` (no password).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.client.settings();
        write!(
            f,
            "clickhouse {} (database {}, user {})",
            s.url, s.database, s.user
        )
    }
}

impl ClickHouse {
    /// What `check-config` says of it: the server's version and the `meter_usage` variant.
    pub(crate) fn check(&self) -> Result<String, ExportError> {
        let server = inspect(&self.client)?;
        Ok(format!(
            "ClickHouse {} at {} (database {}): meter_usage of the {} variant",
            server.version,
            self.client.endpoint(),
            self.client.settings().database,
            server.schema.variant
        ))
    }

    /// Streams the rows of `req` (events or usage_analytics) to `out`; `catalog` answers
    /// from Flexprice's PostgreSQL in the run's snapshot.
    pub(crate) fn export(
        &self,
        entity: Entity,
        req: &ExportRequest<'_>,
        catalog: &mut dyn UsageCatalog,
        out: &mut dyn RowSink,
    ) -> Result<u64, ExportError> {
        let request = Request {
            tenant_id: &req.scope.tenant_id,
            environment_id: &req.scope.environment_id,
            window: req.window,
            field: match req.window_field {
                Some(WindowField::Timestamp) => TimeField::Timestamp,
                _ => TimeField::IngestedAt,
            },
        };
        let cancel: &AtomicBool = req.cancel;
        super::export(
            &self.client,
            entity,
            &request,
            req.metadata,
            catalog,
            out,
            cancel,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_settings_with_defaults_and_named_errors() {
        let none = |_: &str| None;
        assert!(matches!(settings(&Keys::default(), none), Ok(None)));
        let keys = Keys {
            url: "http://clickhouse:8123",
            password_env: "CH_PW",
            max_execution_time: 600,
            ..Keys::default()
        };
        let ch = settings(&keys, |name| (name == "CH_PW").then(|| "pw".to_owned()))
            .unwrap()
            .unwrap();
        let s = ch.client.settings();
        assert_eq!(
            (s.database.as_str(), s.user.as_str()),
            ("default", "default")
        );
        assert_eq!(s.password.as_deref(), Some("pw"));
        assert_eq!(
            (s.max_execution_time, s.max_memory_usage),
            (Some(600), None)
        );
        let (key, message) = settings(&keys, none).unwrap_err();
        assert_eq!(key, "source.clickhouse_password_env");
        assert!(message.contains("CH_PW"), "{message}");
        let bad = Keys {
            url: "ftp://x",
            ..Keys::default()
        };
        assert_eq!(settings(&bad, none).unwrap_err().0, "source.clickhouse_url");
        let negative = Keys {
            max_memory_usage: -1,
            ..keys
        };
        assert_eq!(
            settings(&negative, |_| Some(String::new())).unwrap_err().0,
            "source.clickhouse_max_memory_usage"
        );
    }
}
