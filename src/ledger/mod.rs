//! The embedded billing ledger: the data exports read, filled through Flexprice-shaped
//! endpoints (SPEC 7): events, customers, wallets, invoices, subscriptions; the meters
//! declared in the config; and the billing jobs that turn subscriptions into invoices (7.1).

pub mod billing;
pub mod customers;
pub mod events;
pub mod invoices;
pub mod meters;
pub mod money;
pub mod periods;
pub mod subscriptions;
pub mod wallets;
