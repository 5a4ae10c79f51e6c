//! The `wallets` and `wallet_transactions` tables.

use rusqlite::Transaction;
use rust_decimal::Decimal;

use crate::ledger::money;
use crate::ledger::money::Money;
use crate::ledger::wallets::{Wallet, WalletTransaction};
use crate::store::Audit;
use crate::store::record;
use crate::store::record::Json;
use crate::store::{Filter, Page, Result, Scope};

crate::store::record::stored!(Wallet in "wallets" {
    id, tenant_id, environment_id, customer_id, currency, name, metadata: Json, balance: Money,
    wallet_status, status, ..audit: Audit,
});

crate::store::record::stored!(WalletTransaction in "wallet_transactions" {
    id, tenant_id, environment_id, wallet_id, tx_type("type"), amount: Money,
    balance_before: Money, balance_after: Money, reference_id, transaction_reason,
    transaction_status, idempotency_key, status, created_at, created_by,
});

/// Sets a wallet's balance (read and checked in the same transaction).
pub(crate) fn set_balance(
    tx: &Transaction<'_>,
    scope: &Scope,
    id: &str,
    balance: Decimal,
    now: i64,
    by: &str,
) -> Result<()> {
    tx.execute(
        "UPDATE wallets SET balance = ?1, updated_at = ?2, updated_by = ?3
         WHERE id = ?4 AND tenant_id = ?5 AND environment_id = ?6",
        rusqlite::params![
            money::format(balance),
            now,
            by,
            id,
            scope.tenant_id,
            scope.environment_id
        ],
    )?;
    Ok(())
}

/// The wallet's transaction with this idempotency key, if any.
pub(crate) fn transaction_by_key(
    tx: &Transaction<'_>,
    scope: &Scope,
    wallet_id: &str,
    key: &str,
) -> Result<Option<WalletTransaction>> {
    let mut f = Filter::scoped(scope);
    f.eq("wallet_id", wallet_id.to_owned());
    f.eq("idempotency_key", key.to_owned());
    record::one(tx, &f)
}

/// `(created_at, id)` of the wallet's latest transaction.
pub(crate) fn last_position(
    tx: &Transaction<'_>,
    wallet_id: &str,
) -> Result<Option<(i64, String)>> {
    let mut stmt = tx.prepare_cached(
        "SELECT created_at, id FROM wallet_transactions WHERE wallet_id = ?1
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )?;
    let mut rows = stmt.query([wallet_id])?;
    Ok(match rows.next()? {
        Some(r) => Some((r.get(0)?, r.get(1)?)),
        None => None,
    })
}

/// A wallet's transactions, newest first; `total` counts them all.
pub(crate) fn transactions(
    tx: &Transaction<'_>,
    scope: &Scope,
    wallet_id: &str,
    (limit, offset): (i64, i64),
) -> Result<Page<WalletTransaction>> {
    let mut f = Filter::scoped(scope);
    f.eq("wallet_id", wallet_id.to_owned());
    record::page(tx, &f, "created_at DESC, id DESC", (limit, offset))
}
