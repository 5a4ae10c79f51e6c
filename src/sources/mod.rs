//! Where exports read their rows: the embedded SQLite ledger ([`ledger`]).

pub mod ledger;
