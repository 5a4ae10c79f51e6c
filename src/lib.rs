//! exportd: scheduled exports of billing data to S3-compatible storage, speaking the Flexprice
//! Scheduled Tasks API. `run` is the whole program; `main` only turns its result into an exit code.
//!
//! # The rule of the tree
//!
//! **A folder per concept, holding its record, its storage (the SQL of its tables) and its
//! HTTP handlers; what several concepts share sits below them, and nothing below reaches up.**
//! Records, storage, sources, formats and sinks never see `App`, the scheduler or a
//! run's execution; only handlers, the thread loops and the command line do.
//!
//! - `scheduled_tasks/`: what is exported, how often, where to; the scheduler loop.
//! - `runs/`: one export attempt each; the export workers and a run's execution.
//! - `connections/`: where a task may write (credentials, or the managed destination).
//! - `ledger/`: the embedded billing data, a folder per entity; the billing jobs.
//! - `sources/`: where exports read rows (the ledger first). `formats/`: each entity's
//!   columns, typed cells, the file writers and compression. `sinks/`: where objects go.
//! - `webhooks/`, `auth/`: notifications; API keys.
//! - `http/`: the HTTP server, the route table, the error shape. `cli/`, `config/`: the
//!   commands and start-up; the configuration.
//! - `store/`, `sync`, `clock`, `ids`, `input`, `secrets`, `failure`, ...: the leaves.
//!
//! An export: scheduler → `runs::execute` → a source (rows) → a format (bytes) → a sink (an
//! object) → the run's outcome.
//!
//! # Glossary
//!
//! Flexprice's words, as exportd uses them:
//! - **scheduled task**: a recurring export of one entity (`/v1/tasks/scheduled`);
//! - **task** (on the wire, `/v1/tasks`): a *run*, one attempt at one window of a scheduled
//!   task; its `workflow_id` is the run's id;
//! - **entity** (`entity_type`): what is exported: events, invoice, credit_topups,
//!   credit_usage, usage_analytics;
//! - **connection**: the credentials a task writes with, or the operator's managed destination
//!   (`is_flexprice_managed`);
//! - **system job**: a billing job (billing-period update, draft finalization), Temporal
//!   workflows in Flexprice.
//!
//! And exportd's own:
//! - **window**: the half-open time range a run exports; **watermark**: the end of the last
//!   window the scheduler exported for a task;
//! - **ledger**: the billing data exportd keeps itself; **source**: where an export reads
//!   rows; **sink**: where its object goes; **format**: how rows become bytes.

#![cfg_attr(test, allow(clippy::unwrap_used))]
// exportd is an application: its library exists for the binary and the tests, and its docs are
// read with `cargo doc --document-private-items`, where links to private items resolve.
#![allow(rustdoc::private_intra_doc_links)]

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
/// The Flexprice source's PostgreSQL side, which its tests drive against a real PostgreSQL.
#[doc(hidden)]
pub use sources::flexprice;
