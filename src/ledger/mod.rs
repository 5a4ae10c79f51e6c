//! The embedded billing ledger: the data exports read, filled through Flexprice-shaped
//! endpoints (SPEC 7): events, customers, wallets, invoices, subscriptions; and the meters
//! declared in the config.

pub mod customers;
pub mod events;
pub mod invoices;
pub mod meters;
pub mod money;
pub mod subscriptions;
pub mod wallets;
