//! Rows on their way to bytes: the CSV dialect and the cells' text ([`time`]), compression
//! ([`compress`]), the byte path to an upload ([`pipeline`]) and the Parquet writer
//! ([`parquet`]).

pub mod compress;
pub mod parquet;
pub mod pipeline;
pub mod time;
