//! Integration tests: each starts the real `exportd` binary on a free port with a temporary
//! data directory and talks HTTP to it.

#![allow(clippy::unwrap_used)]

mod harness;

mod billing;
mod cli;
mod connections;
mod entities;
mod events;
mod exports;
mod flexprice;
mod formats;
mod hardening;
mod hostile;
mod isolation;
mod ledger;
mod lifecycle;
mod operations;
mod outputs;
mod parquet;
mod parquet_exports;
pub mod runs;
mod scheduled_tasks;
mod scheduler;
mod sdk;
mod secrets;
mod suite_logs;
pub mod webhooks;
