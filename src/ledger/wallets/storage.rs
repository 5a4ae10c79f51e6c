//! The `wallets` and `wallet_transactions` tables.

use rusqlite::{Row, Transaction};
use rust_decimal::Decimal;

use crate::ledger::money;
use crate::ledger::wallets::{TxType, Wallet, WalletTransaction};
use crate::store::{Filter, Page, Result, Scope, parse_column, select_one, select_page};
use crate::store::{decimal, metadata, metadata_json};

const COLUMNS: &str = "id, tenant_id, environment_id, customer_id, currency, name, metadata, \
     balance, wallet_status, status, created_at, updated_at, created_by, updated_by";

const TX_COLUMNS: &str = "id, tenant_id, environment_id, wallet_id, type, amount, balance_before, \
     balance_after, reference_id, transaction_reason, transaction_status, idempotency_key, \
     status, created_at, created_by";

/// Filters of `GET /v1/wallets`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WalletFilter {
    pub customer_id: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

fn read_row(r: &Row<'_>) -> Result<Wallet> {
    Ok(Wallet {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        environment_id: r.get(2)?,
        customer_id: r.get(3)?,
        currency: r.get(4)?,
        name: r.get(5)?,
        metadata: metadata(r, 6)?,
        balance: decimal(r, 7, "balance")?,
        wallet_status: r.get(8)?,
        status: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
        created_by: r.get(12)?,
        updated_by: r.get(13)?,
    })
}

fn read_tx(r: &Row<'_>) -> Result<WalletTransaction> {
    Ok(WalletTransaction {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        environment_id: r.get(2)?,
        wallet_id: r.get(3)?,
        tx_type: parse_column("type", r.get(4)?, TxType::parse)?,
        amount: decimal(r, 5, "amount")?,
        balance_before: decimal(r, 6, "balance_before")?,
        balance_after: decimal(r, 7, "balance_after")?,
        reference_id: r.get(8)?,
        transaction_reason: r.get(9)?,
        transaction_status: r.get(10)?,
        idempotency_key: r.get(11)?,
        status: r.get(12)?,
        created_at: r.get(13)?,
        created_by: r.get(14)?,
    })
}

pub(crate) fn insert(tx: &Transaction<'_>, w: &Wallet) -> Result<()> {
    tx.execute(
        &format!(
            "INSERT INTO wallets ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        ),
        rusqlite::params![
            w.id,
            w.tenant_id,
            w.environment_id,
            w.customer_id,
            w.currency,
            w.name,
            metadata_json(&w.metadata)?,
            money::format(w.balance),
            w.wallet_status,
            w.status,
            w.created_at,
            w.updated_at,
            w.created_by,
            w.updated_by,
        ],
    )?;
    Ok(())
}

pub(crate) fn get(tx: &Transaction<'_>, scope: &Scope, id: &str) -> Result<Option<Wallet>> {
    let mut f = Filter::scoped(scope);
    f.eq("id", id.to_owned());
    select_one(tx, "wallets", COLUMNS, &f, read_row)
}

/// Newest first, id as tie-break; `total` counts every match.
pub(crate) fn list(tx: &Transaction<'_>, scope: &Scope, q: &WalletFilter) -> Result<Page<Wallet>> {
    let mut f = Filter::scoped(scope);
    if let Some(c) = &q.customer_id {
        f.eq("customer_id", c.clone());
    }
    select_page(
        tx,
        "wallets",
        COLUMNS,
        &f,
        "created_at DESC, id DESC",
        (q.limit, q.offset),
        read_row,
    )
}

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

pub(crate) fn insert_transaction(tx: &Transaction<'_>, t: &WalletTransaction) -> Result<()> {
    tx.execute(
        &format!(
            "INSERT INTO wallet_transactions ({TX_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
        ),
        rusqlite::params![
            t.id,
            t.tenant_id,
            t.environment_id,
            t.wallet_id,
            t.tx_type.as_str(),
            money::format(t.amount),
            money::format(t.balance_before),
            money::format(t.balance_after),
            t.reference_id,
            t.transaction_reason,
            t.transaction_status,
            t.idempotency_key,
            t.status,
            t.created_at,
            t.created_by,
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
    select_one(tx, "wallet_transactions", TX_COLUMNS, &f, read_tx)
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
    select_page(
        tx,
        "wallet_transactions",
        TX_COLUMNS,
        &f,
        "created_at DESC, id DESC",
        (limit, offset),
        read_tx,
    )
}
