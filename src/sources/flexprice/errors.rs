//! What a PostgreSQL failure means for a run: a summary that says what to fix (never SQL text,
//! never the URL's password), the full detail for the log, and whether a retry may work
//! without anyone changing anything (an outage) or the configuration must change first.

use std::error::Error as _;
use std::io;

use crate::failure::ExportError;

/// The part of a `postgres::Error` that decides what to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The server answered with an error: its SQLSTATE and primary message.
    Db {
        code: String,
        message: String,
    },
    /// The socket failed (connecting or later).
    Io(io::ErrorKind, String),
    /// TLS could not be set up: the reason (an untrusted certificate, no TLS on the server).
    Tls(String),
    /// The server closed the connection.
    Closed,
    /// The login needs something the URL lacks (a password).
    Login(String),
    /// A column's value could not be read as the type exportd expects.
    Decode(String),
    Other(String),
}

/// Reads the cause out of an error of the `postgres` crate.
pub fn cause(e: &postgres::Error) -> Cause {
    if let Some(db) = e.as_db_error() {
        return Cause::Db {
            code: db.code().code().to_owned(),
            message: db.message().to_owned(),
        };
    }
    if e.is_closed() {
        return Cause::Closed;
    }
    let text = e.to_string();
    let source = e.source().map(|s| s.to_string()).unwrap_or_default();
    let tls = text.starts_with("error performing TLS handshake");
    if let Some(io) = e.source().and_then(|s| s.downcast_ref::<io::Error>())
        && !tls
    {
        return io_cause(io, text.starts_with("error connecting to server"));
    }
    if tls {
        Cause::Tls(source)
    } else if text.starts_with("invalid configuration") && source.contains("password missing") {
        Cause::Login(source)
    } else if text.starts_with("error deserializing column") {
        Cause::Decode(format!("{text}: {source}"))
    } else if text.starts_with("error connecting to server")
        || text.starts_with("error communicating with the server")
        || text.starts_with("timeout waiting for server")
    {
        Cause::Io(io::ErrorKind::Other, source)
    } else {
        Cause::Other(text)
    }
}

/// A socket error once connected that says the server went away (a fast shutdown can beat its
/// own 57P01 message to the socket) is the connection lost, not a server out of reach.
fn io_cause(io: &io::Error, connecting: bool) -> Cause {
    use io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    match io.kind() {
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof if !connecting => {
            Cause::Closed
        }
        kind => Cause::Io(kind, io.to_string()),
    }
}

/// The run error for a failure talking to the PostgreSQL at `target` (`host:port`).
pub fn classify(e: &postgres::Error, target: &str) -> ExportError {
    let mut detail = format!("postgres {target}: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        detail.push_str(&format!(": {s}"));
        source = s.source();
    }
    let mut error = summarize(&cause(e), target);
    error.detail = detail;
    error
}

/// The summary and kind of a [`Cause`] (the detail is the caller's).
pub fn summarize(cause: &Cause, target: &str) -> ExportError {
    let db = format!("Flexprice's PostgreSQL at {target}");
    let retry = |summary: String| ExportError::retryable(summary, String::new());
    let fix = |summary: String| ExportError::terminal(summary, String::new());
    match cause {
        Cause::Io(io::ErrorKind::ConnectionRefused, _) => retry(format!(
            "{db} refused the connection: check that it is running and that [source] postgres_url names its host and port"
        )),
        Cause::Io(kind, text) => retry(format!(
            "exportd could not reach {db} ({}): check the network and the host of [source] postgres_url",
            if text.is_empty() {
                kind.to_string()
            } else {
                text.clone()
            }
        )),
        Cause::Closed => retry(format!(
            "the connection to {db} was lost during the run (the server stopped or restarted); the window is retried"
        )),
        Cause::Tls(reason) if reason.contains("does not support TLS") => fix(format!(
            "{db} does not offer TLS and sslmode=require asks for it: enable ssl on the server or change sslmode in [source] postgres_url"
        )),
        Cause::Tls(reason) => fix(format!(
            "TLS with {db} failed{}: trust the server's CA (the system store, SSL_CERT_FILE or sslrootcert= in postgres_url) and check that the URL's host is the certificate's name, or set sslmode",
            if reason.contains("mismatch") {
                " (its certificate is not for the host name in postgres_url)"
            } else if reason.contains("expired") {
                " (its certificate has expired)"
            } else if reason.contains("certificate verify failed") {
                " (its certificate is not trusted)"
            } else {
                ""
            }
        )),
        Cause::Login(_) => fix(format!(
            "{db} asks for a password and [source] postgres_url has none: put the URL with its password in the variable named by postgres_url_env"
        )),
        Cause::Decode(_) => fix(format!(
            "{db} returned a value exportd cannot read (a column of another type than Flexprice's schema has); the server log has details"
        )),
        Cause::Other(_) => retry(format!("reading {db} failed; the server log has details")),
        Cause::Db { code, message } => db_error(&db, code, message),
    }
}

fn db_error(db: &str, code: &str, message: &str) -> ExportError {
    let retry = |summary: String| ExportError::retryable(summary, String::new());
    let fix = |summary: String| ExportError::terminal(summary, String::new());
    match code {
        "28P01" | "28000" => fix(format!(
            "{db} refused exportd's login: check the user and password of [source] postgres_url (or of the URL in postgres_url_env) and pg_hba.conf"
        )),
        "3D000" => fix(format!(
            "the database named in [source] postgres_url does not exist on {db}"
        )),
        // Messages of these codes name the table, column or function, never query text.
        "42P01" | "42703" | "3F000" | "42883" => fix(format!(
            "{db} lacks a table or column exportd reads ({message}): check that [source] postgres_url names Flexprice's database and that Flexprice's migrations have run"
        )),
        "42501" => fix(format!(
            "the role of [source] postgres_url may not read a table exportd needs ({message}): GRANT SELECT ON Flexprice's tables TO it"
        )),
        "57014" if message.contains("statement timeout") => retry(format!(
            "a query on {db} ran longer than [source] statement_timeout: raise it, or add the index the README recommends for this window field"
        )),
        "57014" => retry(format!(
            "a query on {db} was cancelled on the server; the window is retried"
        )),
        "57P01" | "57P02" | "57P03" | "57P05" => retry(format!(
            "{db} is shutting down, restarting or closed the session; the window is retried"
        )),
        "40001" | "40P01" | "55P03" => retry(format!(
            "{db} could not keep the run's snapshot consistent (a conflict with a concurrent change or recovery); the window is retried"
        )),
        c if c.starts_with("08") => retry(format!(
            "the connection to {db} failed; the window is retried"
        )),
        c if c.starts_with("53") => retry(format!(
            "{db} is out of resources (connections, memory or disk); the window is retried"
        )),
        c if c.starts_with("42") || c.starts_with("22") => fix(format!(
            "{db} refused a query of exportd (SQLSTATE {c}): is this Flexprice's schema? The server log has details"
        )),
        c => retry(format!(
            "{db} answered with an error (SQLSTATE {c}); the server log has details"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::Failure;

    fn db(code: &str, message: &str) -> ExportError {
        summarize(
            &Cause::Db {
                code: code.into(),
                message: message.into(),
            },
            "db:5432",
        )
    }

    #[test]
    fn outages_are_retried_and_configuration_errors_say_what_to_change() {
        let refused = summarize(
            &Cause::Io(io::ErrorKind::ConnectionRefused, "refused".into()),
            "db:5432",
        );
        refused.assert_says(Failure::Retryable, "db:5432 refused the connection");
        assert_eq!(
            summarize(&Cause::Closed, "db:5432").kind,
            Failure::Retryable
        );
        for code in ["57P01", "57P03", "08006", "53300", "40001"] {
            assert_eq!(db(code, "x").kind, Failure::Retryable, "{code}");
        }
        let auth = db(
            "28P01",
            "password authentication failed for user \"exportd\"",
        );
        auth.assert_says(Failure::Terminal, "refused exportd's login");
        let table = db("42P01", "relation \"invoices\" does not exist");
        table.assert_says(Failure::Terminal, "(relation \"invoices\" does not exist)");
        let timeout = db("57014", "canceling statement due to statement timeout");
        timeout.assert_says(Failure::Retryable, "statement_timeout");
        assert!(
            !db("57014", "canceling statement due to user request")
                .summary
                .contains("statement_timeout")
        );
        let tls = summarize(
            &Cause::Tls("error:0A000086:SSL routines::certificate verify failed".into()),
            "db:5432",
        );
        tls.assert_says(Failure::Terminal, "not trusted");
        let other_name = summarize(
            &Cause::Tls("certificate verify failed (hostname mismatch)".into()),
            "db:5432",
        );
        assert!(other_name.summary.contains("not for the host name"));
        assert!(
            summarize(&Cause::Tls("server does not support TLS".into()), "db:5432")
                .summary
                .contains("does not offer TLS")
        );
    }

    #[test]
    fn a_reset_once_connected_is_the_connection_lost() {
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(io_cause(&reset, false), Cause::Closed);
        assert_eq!(
            io_cause(&reset, true),
            Cause::Io(io::ErrorKind::ConnectionReset, reset.to_string())
        );
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert!(matches!(io_cause(&refused, false), Cause::Io(..)));
        summarize(&Cause::Closed, "db:5432").assert_says(Failure::Retryable, "lost during the run");
    }

    #[test]
    fn summaries_never_carry_the_server_text_of_other_errors() {
        // A syntax error's message quotes the query: only its code is shown.
        let e = db("42601", "syntax error at or near \"SELECT secret\"");
        assert!(!e.summary.contains("secret"), "{}", e.summary);
        assert!(e.summary.contains("42601"));
        let e = summarize(&Cause::Other("weird SELECT 1".into()), "db:5432");
        assert!(!e.summary.contains("SELECT"));
    }
}
