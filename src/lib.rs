//! exportd: scheduled exports of billing data to S3-compatible storage, speaking the Flexprice
//! Scheduled Tasks API. `run` is the whole program; `main` only turns its result into an exit code.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connections;
pub mod export;
pub mod flexprice;
pub mod http;
pub mod ids;
pub mod input;
pub mod ledger;
pub mod logging;
pub mod metrics;
pub mod oneshot;
pub mod runs;
pub mod scheduler;
pub mod secrets;
pub mod serve;
pub mod sink;
pub mod store;
pub mod systemd;
pub mod tasks;
pub mod wakeup;
pub mod webhooks;

/// Runs exportd with the given command line (program name first) and returns the exit code:
/// 0 ok, 1 runtime failure, 2 bad usage or configuration.
pub fn run<I>(args: I) -> i32
where
    I: IntoIterator<Item = std::ffi::OsString>,
{
    cli::run(args)
}
