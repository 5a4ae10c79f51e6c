//! The usage side of a self-hosted Flexprice: its ClickHouse, read over the HTTP interface,
//! read-only.
//!
//! - [`client`]: HTTP requests and the server's version; [`tsv`]: the rows of a response as
//!   they arrive, and the proof that the response is whole; [`error`]: failures in words.
//! - [`sql`]: literals (escaped, for every version), window bounds and the sealed query shape.

pub mod client;
pub mod error;
pub mod sql;
pub mod tsv;

pub use client::{Client, Settings, Version};
