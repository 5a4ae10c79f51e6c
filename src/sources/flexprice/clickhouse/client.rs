//! ClickHouse's HTTP interface over attohttpc (the HTTP client already in the tree; blocking,
//! no async runtime): the SQL is POSTed, the response body is read row by row as it arrives
//! ([`super::tsv::RowReader`]), so memory stays bounded whatever the result's size.
//!
//! The password goes in a Basic `Authorization` header (never in the URL, which proxies and
//! ClickHouse's own logs record); the database and the limits go as URL parameters, which a
//! `readonly = 2` profile accepts (`readonly = 1` refuses any setting). https uses the system's
//! CA store (native-tls: OpenSSL's default paths and `SSL_CERT_FILE`).

use std::fmt;
use std::io::Read;
use std::time::Duration;

use url::Url;

use super::error;
use super::tsv::{RowReader, server_error};
use crate::failure::ExportError;

/// How to reach ClickHouse, from the `[source]` config.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// `http(s)://host:port`, optionally with a path (a reverse proxy's prefix).
    pub url: String,
    pub database: String,
    pub user: String,
    pub password: Option<String>,
    /// Seconds; sent as `max_execution_time` when set.
    pub max_execution_time: Option<u64>,
    /// Bytes; sent as `max_memory_usage` when set.
    pub max_memory_usage: Option<u64>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("url", &self.url)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("max_execution_time", &self.max_execution_time)
            .field("max_memory_usage", &self.max_memory_usage)
            .finish()
    }
}

/// The most bytes one result row may have (a `properties` document, mostly).
pub const MAX_ROW_BYTES: usize = 16 << 20;
/// How long exportd waits for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a read may wait without `max_execution_time` (ClickHouse sends nothing while it
/// sorts a large window).
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// The most bytes of an error answer read.
const MAX_ERROR_BYTES: u64 = 64 * 1024;

/// A ClickHouse server as configured; each query is one HTTP request.
#[derive(Debug, Clone)]
pub struct Client {
    base: Url,
    /// `host:port`, for messages.
    endpoint: String,
    settings: Settings,
}

/// The server's version, from `SELECT version()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub text: String,
    pub major: u32,
    pub minor: u32,
}

impl Version {
    pub fn parse(text: &str) -> Option<Version> {
        let mut parts = text.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(Version {
            text: text.trim().to_owned(),
            major,
            minor,
        })
    }

    /// Whether the server is at least `major.minor`.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Client {
    /// A client for `settings`; `Err` says what is wrong with the URL.
    pub fn new(settings: Settings) -> Result<Client, String> {
        let base =
            Url::parse(&settings.url).map_err(|e| format!("clickhouse_url is not a URL: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err("clickhouse_url must start with http:// or https://".to_owned());
        }
        if base.password().is_some() || !base.username().is_empty() {
            return Err(
                "clickhouse_url must not hold a user or password: use clickhouse_user and clickhouse_password_env"
                    .to_owned(),
            );
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err("clickhouse_url must not have a query string or fragment".to_owned());
        }
        let host = base
            .host_str()
            .ok_or_else(|| "clickhouse_url has no host".to_owned())?;
        let endpoint = match base.port_or_known_default() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        Ok(Client {
            base,
            endpoint,
            settings,
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// `host:port`, as messages name the server.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sends a [`super::sql::sealed`] query whose rows have `columns` fields; the rows as
    /// they arrive. An error status is an error here; an error in mid-stream is one of the
    /// reader's (mapped by [`Client::stream_error`]).
    pub fn query(
        &self,
        sql: &str,
        columns: usize,
    ) -> Result<RowReader<attohttpc::ResponseReader>, ExportError> {
        self.query_with(sql, columns, &[])
    }

    /// [`Client::query`] with more settings.
    pub fn query_with(
        &self,
        sql: &str,
        columns: usize,
        settings: &[(&str, &str)],
    ) -> Result<RowReader<attohttpc::ResponseReader>, ExportError> {
        let s = &self.settings;
        let mut request = attohttpc::post(self.base.as_str())
            .param("database", &s.database)
            // A profile may say `break` (a silently shorter result); exportd wants an error.
            .param("result_overflow_mode", "throw")
            .param("read_overflow_mode", "throw")
            .param("timeout_overflow_mode", "throw")
            .param("extremes", "0")
            .basic_auth(&s.user, s.password.as_deref())
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(
                s.max_execution_time
                    .map_or(DEFAULT_READ_TIMEOUT, |t| Duration::from_secs(t + 60)),
            )
            .follow_redirects(false);
        if let Some(t) = s.max_execution_time {
            request = request.param("max_execution_time", t.to_string());
        }
        if let Some(m) = s.max_memory_usage {
            request = request.param("max_memory_usage", m.to_string());
        }
        for (name, value) in settings {
            request = request.param(name, value);
        }
        let response = request
            .text(sql)
            .send()
            .map_err(|e| error::from_transport(&self.endpoint, e))?;
        let (status, _, body) = response.split();
        if status.as_u16() != 200 {
            let mut text = Vec::new();
            let _ = body.take(MAX_ERROR_BYTES).read_to_end(&mut text);
            let text = String::from_utf8_lossy(&text);
            return Err(match server_error(&text) {
                Some(message) => error::from_server(&self.endpoint, &s.database, &s.user, &message),
                None => error::from_status(&self.endpoint, status.as_u16(), &text),
            });
        }
        Ok(RowReader::new(body, columns, MAX_ROW_BYTES))
    }

    /// A broken stream of this server as a run failure.
    pub fn stream_error(&self, e: super::tsv::StreamError) -> ExportError {
        error::from_stream(&self.endpoint, e)
    }

    /// The server's version (`SELECT version()`).
    pub fn version(&self) -> Result<Version, ExportError> {
        let sql = super::sql::sealed(
            "SELECT 0 AS exportd_end, version() AS version",
            "SELECT 1, ''",
            "",
        );
        let mut rows = self.query(&sql, 2)?;
        let mut version = None;
        while let Some(row) = rows.next_row().map_err(|e| self.stream_error(e))? {
            version = Version::parse(row.text(1));
        }
        version.ok_or_else(|| {
            ExportError::terminal(
                format!("ClickHouse at {} did not say its version", self.endpoint),
                "SELECT version() gave no version",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> Settings {
        Settings {
            url: url.to_owned(),
            database: "default".to_owned(),
            user: "default".to_owned(),
            password: Some("s3cret".to_owned()),
            max_execution_time: None,
            max_memory_usage: None,
        }
    }

    #[test]
    fn urls_are_checked() {
        let c = Client::new(settings("http://clickhouse:8123")).unwrap();
        assert_eq!(c.endpoint(), "clickhouse:8123");
        let c = Client::new(settings("https://ch.example.com/prefix/")).unwrap();
        assert_eq!(c.endpoint(), "ch.example.com:443");
        for bad in [
            "clickhouse:8123",
            "ftp://h",
            "http://u:p@h:8123",
            "http://u@h:8123",
            "http://h:8123/?database=x",
        ] {
            assert!(Client::new(settings(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let c = Client::new(settings("http://h:1")).unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn versions() {
        let v = Version::parse("18.16.1").unwrap();
        assert_eq!((v.major, v.minor), (18, 16));
        assert!(v.at_least(18, 16) && !v.at_least(19, 11));
        assert!(Version::parse("26.3.1.896").unwrap().at_least(19, 11));
        assert!(Version::parse("x").is_none());
    }
}
