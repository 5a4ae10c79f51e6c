//! The connection to Flexprice's PostgreSQL: a URL checked once, TLS through native-tls,
//! sessions that cannot write, one REPEATABLE READ snapshot per run, and rows streamed through
//! a portal in bounded fetches.
//!
//! The `postgres` crate is tokio-postgres behind a blocking facade: each [`Session`] owns a
//! private current-thread tokio runtime that runs only while a call blocks on it. exportd's
//! own code stays synchronous.
//!
//! `sslmode`, as the crate implements it (tokio-postgres 0.7 accepts only these three):
//! - `disable`: plain TCP.
//! - `prefer` (the default, as in libpq): TLS when the server offers it, plain TCP when it
//!   does not. When the server offers TLS, its certificate is verified as below and a failure
//!   is an error (libpq would carry on unverified).
//! - `require`: TLS or no connection, and the certificate chain **and host name are always
//!   verified** against the system CA store. That is what libpq calls `verify-full`; libpq's
//!   own `require` encrypts without verifying, which exportd never does.
//!
//! exportd also accepts libpq's `verify-full` and `verify-ca` as `require` (so `verify-ca`
//! checks the host name too), and `sslrootcert=<PEM file>` to trust a private CA on top of
//! the system store. The system store is OpenSSL's: `SSL_CERT_FILE` (a PEM bundle) and
//! `SSL_CERT_DIR` replace the distribution's bundle when set; they are read once, at the first
//! TLS connection of the process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use postgres::config::SslMode;
use postgres::types::{FromSql, ToSql, Type};
use postgres::{Client, IsolationLevel, Row, Transaction};
use postgres_native_tls::MakeTlsConnector;

use super::Cell;
use super::cells::{PgNumeric, PgText, PgTime};
use super::errors::classify;
use crate::failure::ExportError;

/// The most rows asked of the server per fetch, and the bytes a fetch aims at: each fetch is
/// its own protocol message (so `statement_timeout` bounds each fetch, not the whole export)
/// and arrives whole, so the rows held are those of about three fetches (one being read, one
/// queued, one arriving). 1,000 invoices (~600 KiB) measured fastest: 500 paid more round
/// trips, 2,000 more memory and cache misses.
pub const FETCH_ROWS: i32 = 1_000;
const FETCH_BYTES: usize = 1 << 20;
/// The first fetch, before any row's size is known.
const FIRST_FETCH_ROWS: i32 = 64;

/// How many rows to ask for next, after a fetch of `rows` rows that took `bytes`: as many as
/// fit [`FETCH_BYTES`] at that size, between 1 and [`FETCH_ROWS`].
fn next_fetch(rows: usize, bytes: usize) -> i32 {
    let fit = FETCH_BYTES.saturating_mul(rows) / bytes.max(1);
    fit.clamp(1, FETCH_ROWS as usize) as i32
}

/// The default `[source] statement_timeout`: the longest one query (or one fetch of a
/// stream) may run on the server.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(300);

/// The longest a connection attempt may take when the URL does not say (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Where to read from: a checked `postgres_url` and the session settings.
#[derive(Clone)]
pub struct Postgres {
    config: postgres::Config,
    /// PEM of `sslrootcert`, trusted beside the system store.
    root_cert: Option<Vec<u8>>,
    statement_timeout: Duration,
    /// The URL without its password, for logs and messages.
    shown: String,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("url", &self.shown)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

impl Postgres {
    /// Checks `url` (`postgres://user:password@host:port/database?sslmode=...`). The error
    /// names what is wrong and never repeats the URL (it may hold a password).
    pub fn new(url: &str, statement_timeout: Duration) -> Result<Postgres, String> {
        let url = url.trim();
        let Some((_, rest)) = url
            .split_once("://")
            .filter(|(scheme, _)| matches!(*scheme, "postgres" | "postgresql"))
        else {
            return Err(
                "expected a URL that starts with postgres:// (postgres://user@host:5432/database?sslmode=require)"
                    .to_owned(),
            );
        };
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (url, None),
        };
        let mut kept = Vec::new();
        let mut root_cert_path = None;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslrootcert" => {
                    let path = percent_encoding::percent_decode_str(value)
                        .decode_utf8()
                        .map_err(|_| "sslrootcert is not a UTF-8 path".to_owned())?;
                    root_cert_path = Some(path.into_owned());
                }
                "sslmode" if matches!(value, "verify-full" | "verify-ca") => {
                    kept.push("sslmode=require".to_owned());
                }
                "sslmode" if !matches!(value, "disable" | "prefer" | "require") => {
                    return Err(format!(
                        "sslmode={value} is not supported: use disable, prefer, require, verify-ca or verify-full"
                    ));
                }
                _ => kept.push(pair.to_owned()),
            }
        }
        let rebuilt = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let mut config: postgres::Config = rebuilt.parse().map_err(|e: postgres::Error| {
            // The crate's message names the option, never its value.
            format!("not a PostgreSQL URL: {}", config_reason(&e))
        })?;
        if config.get_hosts().is_empty() {
            return Err("the URL names no host".to_owned());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // A server that vanishes without closing the connection is noticed within about a
        // minute instead of two hours (unless the URL sets keepalives_idle).
        if !query.unwrap_or("").contains("keepalives_idle") {
            config.keepalives_idle(Duration::from_secs(30));
            config.keepalives_interval(Duration::from_secs(10));
            config.keepalives_retries(3);
        }
        if config.get_application_name().is_none() {
            config.application_name("exportd");
        }
        let root_cert = match root_cert_path {
            Some(path) => {
                let pem = std::fs::read(&path)
                    .map_err(|e| format!("sslrootcert {path} cannot be read: {e}"))?;
                native_tls::Certificate::from_pem(&pem)
                    .map_err(|e| format!("sslrootcert {path} is not a PEM certificate: {e}"))?;
                Some(pem)
            }
            None => None,
        };
        if statement_timeout.is_zero() {
            return Err("statement_timeout must be more than 0".to_owned());
        }
        Ok(Postgres {
            config,
            root_cert,
            statement_timeout,
            shown: without_password(rest, url),
        })
    }

    /// Whether the URL carries a password (in its user part or as `password=`).
    pub fn has_password(&self) -> bool {
        self.config.get_password().is_some()
    }

    /// The URL without its password (`postgres://exportd@db:5432/flexprice?sslmode=require`).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// `host:port` of the first host, for messages.
    pub fn target(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => String::new(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!("{host}:{port}")
    }

    pub fn ssl_mode(&self) -> SslMode {
        self.config.get_ssl_mode()
    }

    pub fn statement_timeout(&self) -> Duration {
        self.statement_timeout
    }

    /// Opens a session that cannot write: `default_transaction_read_only` on, the statement
    /// timeout set, times in UTC.
    pub fn connect(&self) -> Result<Session, ExportError> {
        // Without TLS, the system's CA store is not even read (tens of milliseconds).
        let tls = match self.ssl_mode() {
            SslMode::Disable => None,
            _ => Some(self.tls()?),
        };
        let connected = match &tls {
            None => self.config.connect(postgres::NoTls),
            Some(tls) => self.config.connect(tls.clone()),
        };
        let mut client = connected.map_err(|e| classify(&e, &self.target()))?;
        let timeout_ms = self.statement_timeout.as_millis().min(i32::MAX as u128);
        client
            .batch_execute(&format!(
                "SET default_transaction_read_only = on; SET statement_timeout = {timeout_ms}; SET TIME ZONE 'UTC'"
            ))
            .map_err(|e| classify(&e, &self.target()))?;
        Ok(Session {
            client,
            target: self.target(),
            tls,
        })
    }

    fn tls(&self) -> Result<MakeTlsConnector, ExportError> {
        let mut builder = native_tls::TlsConnector::builder();
        if let Some(pem) = &self.root_cert {
            // Checked when the config was read.
            if let Ok(cert) = native_tls::Certificate::from_pem(pem) {
                builder.add_root_certificate(cert);
            }
        }
        let connector = builder.build().map_err(|e| {
            ExportError::terminal(
                "exportd could not set up TLS for PostgreSQL (the system CA store or sslrootcert); the server log has details",
                format!("native-tls: {e}"),
            )
        })?;
        Ok(MakeTlsConnector::new(connector))
    }
}

/// The crate's reason for refusing a URL, which names an option but never its value.
fn config_reason(e: &postgres::Error) -> String {
    use std::error::Error;
    match e.source() {
        Some(source) => source.to_string(),
        None => e.to_string(),
    }
}

/// `url` without the password of its user info (nor a `password=` parameter).
fn without_password(rest: &str, url: &str) -> String {
    let scheme = &url[..url.len() - rest.len()];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{user}@{hosts}")
        }
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|p| {
                    if p.starts_with("password=") {
                        "password=***".to_owned()
                    } else {
                        p.to_owned()
                    }
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}{authority}{tail}")
}

/// One connection to Flexprice's PostgreSQL, read-only.
pub struct Session {
    client: Client,
    target: String,
    /// How the session connected, for the connection that cancels its query.
    tls: Option<MakeTlsConnector>,
}

impl Session {
    /// Starts the run's snapshot: every query of the run sees the same committed state.
    pub fn snapshot(&mut self) -> Result<Snapshot<'_>, ExportError> {
        let tx = self
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(|e| classify(&e, &self.target))?;
        Ok(Snapshot {
            tx,
            target: &self.target,
            tls: self.tls.as_ref(),
        })
    }

    /// The server's version (`server_version`), e.g. `15.18`.
    pub fn server_version(&mut self) -> Result<String, ExportError> {
        let row = self
            .client
            .query_one("SELECT current_setting('server_version')", &[])
            .map_err(|e| classify(&e, &self.target))?;
        row.try_get(0).map_err(|e| classify(&e, &self.target))
    }
}

/// A REPEATABLE READ, READ ONLY transaction: the run's consistent view.
pub struct Snapshot<'c> {
    tx: Transaction<'c>,
    target: &'c str,
    tls: Option<&'c MakeTlsConnector>,
}

impl Snapshot<'_> {
    /// Streams the rows of `sql` into `each` through one portal; returns how many. On `cancel`
    /// it stops with `interrupted`: between fetches, or by cancelling the query on the server
    /// when a fetch is running (a first fetch that sorts, or waits on a lock, may take up to
    /// the statement timeout).
    ///
    /// A thread of its own binds and fetches while `each` reads the previous fetch: the server
    /// keeps producing, and the client's runtime is entered once per fetch instead of once per
    /// row (that entry was a tenth of the export's CPU).
    pub fn stream(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        cancel: &AtomicBool,
        mut each: impl FnMut(&Fields<'_>) -> Result<(), ExportError>,
    ) -> Result<u64, ExportError> {
        let target = self.target;
        let mut server = Canceller {
            token: self.tx.cancel_token(),
            tls: self.tls,
            target,
            sent: false,
        };
        let tx = &mut self.tx;
        let (fetched, batches) = std::sync::mpsc::sync_channel(1);
        // Whether the server is running a query of this stream: only then is one cancelled.
        let running = &AtomicBool::new(true);
        std::thread::scope(|scope| {
            let fetcher = std::thread::Builder::new()
                .name("export-pg-fetch".into())
                .spawn_scoped(scope, move || {
                    let portal = tx.bind(sql, params);
                    running.store(false, Ordering::SeqCst);
                    let portal = match portal {
                        Ok(portal) => portal,
                        Err(e) => {
                            let _ = fetched.send(Err(classify(&e, target)));
                            return;
                        }
                    };
                    let mut ask = FIRST_FETCH_ROWS;
                    loop {
                        running.store(true, Ordering::SeqCst);
                        let rows = tx
                            .query_portal(&portal, ask)
                            .map_err(|e| classify(&e, target));
                        running.store(false, Ordering::SeqCst);
                        let (last, next) = match &rows {
                            Ok(rows) => (
                                rows.len() < ask as usize,
                                next_fetch(rows.len(), rows.iter().map(Row::raw_size_bytes).sum()),
                            ),
                            Err(_) => (true, ask),
                        };
                        // A send fails when the reader stopped: nothing more to fetch.
                        if fetched.send(rows).is_err() || last {
                            return;
                        }
                        if cancel.load(Ordering::Relaxed) {
                            return;
                        }
                        ask = next;
                    }
                })
                .map_err(ExportError::no_thread)?;
            let mut total = 0u64;
            let read = loop {
                let rows = match batches.recv_timeout(CANCEL_POLL) {
                    Ok(rows) => rows,
                    Err(RecvTimeoutError::Timeout) => {
                        if cancel.load(Ordering::Relaxed) && running.load(Ordering::SeqCst) {
                            server.cancel();
                        }
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break Ok(()),
                };
                let read = rows.and_then(|rows| {
                    rows.iter().try_for_each(|row| {
                        each(&Fields { row, target })?;
                        total += 1;
                        Ok(())
                    })
                });
                if read.is_err() {
                    break read;
                }
            };
            // The reader failed (the upload, a value): a fetch still running is not waited for.
            drop(batches);
            if read.is_err() && running.load(Ordering::SeqCst) {
                server.cancel();
            }
            let joined = fetcher.join();
            if cancel.load(Ordering::Relaxed) {
                return Err(ExportError::interrupted("shutdown"));
            }
            read?;
            match joined {
                Ok(()) => Ok(total),
                Err(_) => Err(ExportError::panicked("reading from PostgreSQL")),
            }
        })
    }

    /// Reads every row of a small query (catalog lookups, counts) into `each`.
    pub fn rows(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        mut each: impl FnMut(&Fields<'_>) -> Result<(), ExportError>,
    ) -> Result<(), ExportError> {
        let target = self.target;
        let rows = self
            .tx
            .query(sql, params)
            .map_err(|e| classify(&e, target))?;
        rows.iter()
            .try_for_each(|row| each(&Fields { row, target }))
    }
}

/// How often a reader waiting for a fetch looks at the run's cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(100);

/// Cancels the query a session is running, once, over a connection of its own (PostgreSQL's
/// cancel request), so that a shutdown or a failed run does not wait for a long fetch.
struct Canceller<'c> {
    token: postgres::CancelToken,
    tls: Option<&'c MakeTlsConnector>,
    target: &'c str,
    sent: bool,
}

impl Canceller<'_> {
    fn cancel(&mut self) {
        if std::mem::replace(&mut self.sent, true) {
            return;
        }
        let sent = match self.tls {
            None => self.token.cancel_query(postgres::NoTls),
            Some(tls) => self.token.cancel_query(tls.clone()),
        };
        if let Err(e) = sent {
            log::warn!(
                "cancelling a query on PostgreSQL at {} failed: {e}",
                self.target
            );
        }
    }
}

/// One row as it arrives, read column by column into Rust values or cells; a value of another
/// type than expected is an error that says so.
pub struct Fields<'r> {
    row: &'r Row,
    target: &'r str,
}

impl<'r> Fields<'r> {
    pub fn get<T: FromSql<'r>>(&self, index: usize) -> Result<T, ExportError> {
        self.row
            .try_get(index)
            .map_err(|e| classify(&e, self.target))
    }

    /// A text column (`varchar`, `text`), or NULL.
    pub fn str(&self, index: usize) -> Result<Option<&'r str>, ExportError> {
        Ok(self.get::<Option<PgText>>(index)?.map(|t| t.0))
    }

    /// A text column (`varchar`, `text`); NULL is [`Cell::Null`].
    pub fn text(&self, index: usize) -> Result<Cell<'r>, ExportError> {
        Ok(self.str(index)?.map_or(Cell::Null, Cell::Text))
    }

    /// A `numeric` column, exact.
    pub fn decimal(&self, index: usize) -> Result<Cell<'r>, ExportError> {
        Ok(self
            .get::<Option<PgNumeric>>(index)?
            .map_or(Cell::Null, |n| Cell::Numeric(n.0)))
    }

    /// A `timestamptz` column, in milliseconds.
    pub fn time(&self, index: usize) -> Result<Cell<'r>, ExportError> {
        Ok(self
            .get::<Option<PgTime>>(index)?
            .map_or(Cell::Null, |t| Cell::TimeMs(t.0)))
    }

    /// An `integer` or `bigint` column.
    pub fn int(&self, index: usize) -> Result<Cell<'r>, ExportError> {
        let n = if self.row.columns().get(index).map(|c| c.type_()) == Some(&Type::INT4) {
            self.get::<Option<i32>>(index)?.map(i64::from)
        } else {
            self.get::<Option<i64>>(index)?
        };
        Ok(n.map_or(Cell::Null, Cell::Int))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(url: &str) -> Result<Postgres, String> {
        Postgres::new(url, DEFAULT_STATEMENT_TIMEOUT)
    }

    #[test]
    fn fetches_hold_about_a_mebibyte_of_rows() {
        // Invoices of ~600 bytes: the row cap.
        assert_eq!(next_fetch(64, 64 * 600), FETCH_ROWS);
        // Rows of 4 KiB: 256 of them make a mebibyte.
        assert_eq!(next_fetch(64, 64 * 4096), 256);
        // Rows larger than the budget: one at a time, never none.
        assert_eq!(next_fetch(3, 3 * (8 << 20)), 1);
        // An empty fetch (the last one) or empty rows do not divide by zero.
        assert_eq!(next_fetch(0, 0), 1);
        assert_eq!(next_fetch(10, 0), FETCH_ROWS);
    }

    #[test]
    fn urls_are_shown_without_their_password() {
        let p = new("postgres://exportd:s3cret@db:5432/flexprice?sslmode=require").unwrap();
        assert_eq!(
            p.shown(),
            "postgres://exportd@db:5432/flexprice?sslmode=require"
        );
        assert_eq!(p.target(), "db:5432");
        assert_eq!(p.ssl_mode(), SslMode::Require);
        let p = new("postgresql://u:p%40ss@db/f?password=hunter2&sslmode=disable").unwrap();
        assert_eq!(
            p.shown(),
            "postgresql://u@db/f?password=***&sslmode=disable"
        );
        assert!(!p.shown().contains("p%40ss"));
        assert!(!format!("{p:?}").contains("hunter2"));
        assert_eq!(p.ssl_mode(), SslMode::Disable);
        let p = new("postgres://db").unwrap();
        assert_eq!(p.shown(), "postgres://db");
        assert_eq!(p.ssl_mode(), SslMode::Prefer);
    }

    #[test]
    fn sslmodes_of_libpq_map_to_what_the_crate_does() {
        for mode in ["verify-full", "verify-ca", "require"] {
            let p = new(&format!("postgres://u:pw@db/f?sslmode={mode}")).unwrap();
            assert_eq!(p.ssl_mode(), SslMode::Require, "{mode}");
        }
        let e = new("postgres://u:pw@db/f?sslmode=allow").unwrap_err();
        assert!(e.contains("sslmode=allow is not supported"), "{e}");
        let e = new("postgres://u:pw@db/f?sslrootcert=/nonexistent.pem").unwrap_err();
        assert!(
            e.contains("sslrootcert /nonexistent.pem cannot be read"),
            "{e}"
        );
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        for (url, want) in [
            ("mysql://u:topsecret@db/f", "starts with postgres://"),
            ("host=db password=topsecret", "starts with postgres://"),
            ("postgres://u:topsecret@db/f?colour=blue", "colour"),
            (
                "postgres://u:topsecret@db:notaport/f",
                "not a PostgreSQL URL",
            ),
        ] {
            let e = new(url).unwrap_err();
            assert!(e.contains(want), "{url}: {e}");
            assert!(!e.contains("topsecret"), "{url}: {e}");
        }
        assert!(Postgres::new("postgres://db/f", Duration::ZERO).is_err());
    }
}
