//! A self-hosted Flexprice as a source: its own databases, read read-only.

pub(crate) mod clickhouse;
