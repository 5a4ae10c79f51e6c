//! Exports: turning one run (a task and a window) into one object, streamed from the store
//! through CSV and gzip into a destination.

mod error;
pub mod events;
pub mod format;
pub mod key;
pub mod pipeline;
pub mod pool;
pub mod run;

pub use error::ExportError;
