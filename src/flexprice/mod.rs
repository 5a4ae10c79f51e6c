//! Flexprice as a source: a self-hosted Flexprice's own databases, read read-only.

pub mod clickhouse;
