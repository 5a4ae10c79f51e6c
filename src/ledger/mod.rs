//! The embedded billing ledger: the data exports read, filled through Flexprice-shaped
//! endpoints. So far: usage events.

pub mod events;
