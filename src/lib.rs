//! exportd: scheduled exports of billing data to S3-compatible storage, speaking the Flexprice
//! Scheduled Tasks API. `run` is the whole program; `main` only turns its result into an exit code.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod app;
mod auth;
mod cli;
mod clock;
mod config;
mod connections;
mod failure;
mod formats;
mod http;
mod ids;
mod input;
mod ledger;
mod logging;
mod metrics;
mod names;
mod runs;
mod scheduled_tasks;
mod secrets;
mod sinks;
mod sources;
mod store;
mod sync;
mod systemd;
mod webhooks;

/// Runs exportd with the given command line (program name first) and returns the exit code:
/// 0 ok, 1 runtime failure, 2 bad usage or configuration.
pub fn run<I>(args: I) -> i32
where
    I: IntoIterator<Item = std::ffi::OsString>,
{
    cli::run(args)
}

/// The Parquet writer, which its tests drive with readers of other projects.
pub use formats::parquet;
/// The route table, for the tests that must cover every route.
pub use http::routes::{Route, routes};
/// exportd's SigV4 signer, which the tests use to list what rust-s3 cannot.
pub use sinks::sigv4;
