//! ClickHouse failures as run failures: a sentence that says what to fix (never SQL text or a
//! password: ClickHouse's own message goes to the log only), and whether a retry may work.

use super::tsv::{StreamError, error_code};
use crate::failure::ExportError;

/// A failure ClickHouse answered with (an HTTP error status and its message).
pub fn from_server(endpoint: &str, database: &str, user: &str, message: &str) -> ExportError {
    let code = error_code(message);
    let detail = format!("ClickHouse at {endpoint}: {message}");
    let terminal = |what: String| ExportError::terminal(what, detail.clone());
    let retryable = |what: String| ExportError::retryable(what, detail.clone());
    match code {
        Some(192..=194 | 516) => terminal(format!(
            "ClickHouse refused user {user}: check clickhouse_user and the password in clickhouse_password_env"
        )),
        Some(81) => terminal(format!(
            "ClickHouse has no database {database}: check clickhouse_database"
        )),
        Some(60) => terminal(format!(
            "a Flexprice table is missing in ClickHouse database {database} (meter_usage): check clickhouse_database"
        )),
        Some(16 | 47) => terminal(
            "ClickHouse's meter_usage lacks a column exportd reads: is this Flexprice's schema?"
                .to_owned(),
        ),
        Some(164) => terminal(format!(
            "ClickHouse user {user} may not change settings (readonly = 1): give it a profile with readonly = 2"
        )),
        Some(497) => terminal(format!(
            "ClickHouse user {user} may not read Flexprice's tables: grant it SELECT on {database}"
        )),
        Some(62 | 43 | 44 | 46 | 386) => terminal(format!(
            "ClickHouse could not run exportd's query (code {}): this server version may not be supported",
            code.unwrap_or_default()
        )),
        Some(159) => retryable(
            "the ClickHouse query ran out of time (max_execution_time): raise clickhouse_max_execution_time or export shorter windows"
                .to_owned(),
        ),
        Some(241) => retryable(
            "the ClickHouse query ran out of memory (max_memory_usage): raise clickhouse_max_memory_usage or export shorter windows"
                .to_owned(),
        ),
        Some(code @ (158 | 396)) => retryable(format!(
            "the ClickHouse query passed a limit of user {user}'s profile (code {code}): raise it or export shorter windows"
        )),
        Some(code) => retryable(format!(
            "ClickHouse failed the query (code {code}); the server log has details"
        )),
        None => retryable(
            "ClickHouse failed the query without an error code; the server log has details"
                .to_owned(),
        ),
    }
}

/// An answer that is neither ClickHouse's data nor its error (a proxy's page, say).
pub fn from_status(endpoint: &str, status: u16, body: &str) -> ExportError {
    let mut end = body.len().min(500);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    ExportError::retryable(
        format!(
            "ClickHouse at {endpoint} answered HTTP {status}: is clickhouse_url ClickHouse's HTTP interface?"
        ),
        format!("HTTP {status} from {endpoint}: {}", &body[..end]),
    )
}

/// A request that got no answer.
pub fn from_transport(endpoint: &str, e: attohttpc::Error) -> ExportError {
    let detail = format!("ClickHouse at {endpoint}: {e}");
    match e.kind() {
        attohttpc::ErrorKind::Io(io) => {
            use std::io::ErrorKind as K;
            let what = match io.kind() {
                K::ConnectionRefused => format!(
                    "ClickHouse at {endpoint} refused the connection: is it running, and is clickhouse_url right?"
                ),
                K::TimedOut | K::WouldBlock => {
                    format!("ClickHouse at {endpoint} did not answer in time")
                }
                _ => format!("could not reach ClickHouse at {endpoint}: {io}"),
            };
            ExportError::retryable(what, detail)
        }
        attohttpc::ErrorKind::Tls(tls) => ExportError::terminal(
            format!("the TLS connection to ClickHouse at {endpoint} failed: {tls}"),
            detail,
        ),
        attohttpc::ErrorKind::InvalidBaseUrl
        | attohttpc::ErrorKind::InvalidUrlHost
        | attohttpc::ErrorKind::InvalidUrlPort => {
            ExportError::terminal("clickhouse_url is not a usable URL".to_owned(), detail)
        }
        _ => ExportError::retryable(
            format!("ClickHouse at {endpoint} sent an answer exportd cannot read"),
            detail,
        ),
    }
}

/// A stream that broke, ended early or carried an error: nothing of it may be stored.
pub fn from_stream(endpoint: &str, e: StreamError) -> ExportError {
    match e {
        StreamError::Io(io) => ExportError::retryable(
            format!("the connection to ClickHouse at {endpoint} broke off while rows arrived"),
            format!("reading from ClickHouse at {endpoint}: {io}"),
        ),
        StreamError::Truncated { rows } => ExportError::retryable(
            format!(
                "ClickHouse's answer ended early, after {rows} rows and without its end row; nothing was stored"
            ),
            format!("the body from {endpoint} ended after {rows} rows, without the end row"),
        ),
        StreamError::Server { rows, text } => {
            let code = error_code(&text).map_or_else(String::new, |c| format!(" (code {c})"));
            ExportError::retryable(
                format!(
                    "ClickHouse failed in mid-stream after {rows} rows{code}; nothing was stored"
                ),
                format!("ClickHouse at {endpoint} after {rows} rows: {text}"),
            )
        }
        StreamError::Malformed { rows, problem } => ExportError::retryable(
            format!(
                "ClickHouse sent a row exportd cannot read, after {rows} rows; nothing was stored"
            ),
            format!("from {endpoint} after {rows} rows: {problem}"),
        ),
        StreamError::TooLong { limit } => ExportError::terminal(
            format!(
                "a meter_usage row is longer than {} MiB, exportd's limit for one row",
                limit >> 20
            ),
            format!("a row from {endpoint} passed {limit} bytes"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::Failure;

    #[test]
    fn server_errors_say_what_to_fix_without_the_message() {
        let server = |message: &str| from_server("h", "fx", "u", message);
        let e = from_server(
            "h:8123",
            "fx",
            "exportd",
            "Code: 193, e.displayText() = DB::Exception: Wrong password for user exportd",
        );
        e.assert_says(Failure::Terminal, "clickhouse_password_env");
        let e =
            server("Code: 60. DB::Exception: Table fx.meter_usage doesn't exist. (UNKNOWN_TABLE)");
        e.assert_says(Failure::Terminal, "meter_usage");
        let e =
            server("Code: 62, e.displayText() = DB::Exception: Syntax error: SELECT secret_tenant");
        assert!(!e.summary.contains("secret_tenant"), "{}", e.summary);
        assert!(e.detail.contains("secret_tenant"));
        for (code, kind) in [
            (159, Failure::Retryable),
            (241, Failure::Retryable),
            (396, Failure::Retryable),
            (999, Failure::Retryable),
            (164, Failure::Terminal),
            (81, Failure::Terminal),
        ] {
            let e = server(&format!("Code: {code}. x"));
            assert_eq!(e.kind, kind, "{code}");
        }
    }

    #[test]
    fn broken_streams_are_retryable_and_say_nothing_was_stored() {
        for e in [
            StreamError::Truncated { rows: 5 },
            StreamError::Server {
                rows: 5,
                text: "Code: 396, e.displayText() = x".into(),
            },
            StreamError::Malformed {
                rows: 5,
                problem: "p".into(),
            },
            StreamError::Io("reset".into()),
        ] {
            let e = from_stream("h:1", e);
            assert_eq!(e.kind, Failure::Retryable, "{e}");
        }
        let e = from_stream(
            "h",
            StreamError::Server {
                rows: 7,
                text: "Code: 396, e.displayText() = tenant-x".into(),
            },
        );
        assert!(
            e.summary.contains("code 396") && e.summary.contains("7 rows"),
            "{}",
            e.summary
        );
        assert!(!e.summary.contains("tenant-x"));
    }
}
