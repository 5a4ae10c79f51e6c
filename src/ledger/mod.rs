//! The embedded billing ledger: the data exports read, filled through Flexprice-shaped
//! endpoints (SPEC 7): events, customers, wallets, invoices, subscriptions; the meters
//! declared in the config; and the billing jobs that turn subscriptions into invoices (7.1).

pub(crate) mod billing;
pub(crate) mod customers;
pub(crate) mod events;
pub(crate) mod invoices;
pub(crate) mod meters;
pub(crate) mod money;
pub(crate) mod periods;
pub(crate) mod subscriptions;
pub(crate) mod wallets;
