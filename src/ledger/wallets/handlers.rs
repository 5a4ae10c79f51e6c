//! `/v1/wallets`: create, list and get wallets; top up, debit and list their transactions.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::storage;
use crate::clock::rfc3339_ms;
use crate::http::{ApiError, Ctx, Outcome, Reply, View};
use crate::ids::{WALLET, WALLET_TRANSACTION, new_id};
use crate::ledger::customers;
use crate::ledger::money;
use crate::ledger::wallets::{
    self, TRANSACTION_COMPLETED, TxType, WALLET_ACTIVE, Wallet, WalletTransaction,
};
use crate::store::Audit;
use crate::store::record::Stored;

#[derive(Serialize)]
pub(crate) struct WalletView<'a> {
    id: &'a str,
    customer_id: &'a str,
    currency: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a BTreeMap<String, String>>,
    balance: String,
    wallet_status: &'a str,
    #[serde(flatten)]
    base: crate::http::BaseView<'a>,
}

fn view(w: &Wallet) -> WalletView<'_> {
    WalletView {
        id: &w.id,
        customer_id: &w.customer_id,
        currency: &w.currency,
        name: &w.name,
        metadata: w.metadata.as_ref(),
        balance: money::format(w.balance),
        wallet_status: &w.wallet_status,
        base: crate::http::base_view!(w),
    }
}

impl View for Wallet {
    const KIND: &'static str = "Wallet";
    fn view(&self) -> impl Serialize {
        view(self)
    }
}

#[derive(Serialize)]
struct TransactionView<'a> {
    id: &'a str,
    wallet_id: &'a str,
    #[serde(rename = "type")]
    tx_type: &'static str,
    amount: String,
    balance_before: String,
    balance_after: String,
    reference_id: Option<&'a str>,
    transaction_reason: &'a str,
    transaction_status: &'a str,
    idempotency_key: Option<&'a str>,
    tenant_id: &'a str,
    environment_id: &'a str,
    status: &'a str,
    created_at: String,
    created_by: &'a str,
}

fn transaction_view(t: &WalletTransaction) -> TransactionView<'_> {
    TransactionView {
        id: &t.id,
        wallet_id: &t.wallet_id,
        tx_type: t.tx_type.as_str(),
        amount: money::format(t.amount),
        balance_before: money::format(t.balance_before),
        balance_after: money::format(t.balance_after),
        reference_id: t.reference_id.as_deref(),
        transaction_reason: &t.transaction_reason,
        transaction_status: &t.transaction_status,
        idempotency_key: t.idempotency_key.as_deref(),
        tenant_id: &t.tenant_id,
        environment_id: &t.environment_id,
        status: &t.status,
        created_at: rfc3339_ms(t.created_at),
        created_by: &t.created_by,
    }
}

pub(crate) fn create(ctx: &Ctx<'_>) -> Outcome {
    let input = wallets::parse_create(&ctx.json()?)?;
    let now = ctx.now();
    let by = &ctx.principal.key_name;
    let wallet = Wallet {
        id: new_id(WALLET),
        tenant_id: ctx.scope.tenant_id.clone(),
        environment_id: ctx.scope.environment_id.clone(),
        customer_id: input.customer_id,
        currency: input.currency,
        name: input.name,
        metadata: input.metadata,
        balance: rust_decimal::Decimal::ZERO,
        wallet_status: WALLET_ACTIVE.to_owned(),
        status: "published".to_owned(),
        audit: Audit::new(by, now),
    };
    customers::handlers::insert_of_customer(ctx, &wallet.customer_id, &wallet)?;
    Reply::json(201, view(&wallet))
}

pub(crate) fn top_up(ctx: &Ctx<'_>, id: &str) -> Outcome {
    movement(ctx, id, TxType::Credit)
}

pub(crate) fn debit(ctx: &Ctx<'_>, id: &str) -> Outcome {
    movement(ctx, id, TxType::Debit)
}

/// One top-up or debit: the balance is read, checked and written in one transaction with the
/// transaction row. A repeated idempotency key answers what the first request got.
fn movement(ctx: &Ctx<'_>, id: &str, tx_type: TxType) -> Outcome {
    let m = wallets::parse_movement(&ctx.json()?, tx_type)?;
    let now = ctx.now();
    let by = &ctx.principal.key_name;
    let (wallet, transaction) = ctx.app.store.write(|tx| {
        let mut wallet =
            ctx.find::<Wallet>(tx, id)?;
        if let Some(key) = &m.idempotency_key
            && let Some(first) = storage::transaction_by_key(tx, &ctx.scope, id, key)?
        {
            if !wallets::same_request(&first, &m) {
                return Err(ApiError::already_exists(format!(
                        "idempotency_key was already used on this wallet for another transaction ({} of {})",
                        first.tx_type.as_str(),
                        money::format(first.amount)
                    ),
                )
                .with_detail("field", "idempotency_key"));
            }
            // The wallet as that transaction left it: the same answer as the first time.
            wallet.balance = first.balance_after;
            wallet.audit.touch(&first.created_by, first.created_at);
            return Ok((wallet, first));
        }
        if wallet.wallet_status != WALLET_ACTIVE {
            return Err(ApiError::invalid_operation(format!(
                "Wallet {id} is {}: only an active wallet can be topped up or debited",
                wallet.wallet_status
            )));
        }
        let after = wallets::apply(wallet.balance, tx_type, m.amount)?;
        let last = storage::last_position(tx, id)?;
        let (created_at, tx_id) = wallets::position_after(
            last.as_ref().map(|(at, last_id)| (*at, last_id.as_str())),
            now,
            new_id(WALLET_TRANSACTION),
        );
        let transaction = WalletTransaction {
            id: tx_id,
            tenant_id: ctx.scope.tenant_id.clone(),
            environment_id: ctx.scope.environment_id.clone(),
            wallet_id: wallet.id.clone(),
            tx_type,
            amount: m.amount,
            balance_before: wallet.balance,
            balance_after: after,
            reference_id: m.reference_id.clone(),
            transaction_reason: m.transaction_reason.clone(),
            transaction_status: TRANSACTION_COMPLETED.to_owned(),
            idempotency_key: m.idempotency_key.clone(),
            status: "published".to_owned(),
            created_at,
            created_by: by.clone(),
        };
        transaction.insert(tx)?;
        storage::set_balance(tx, &ctx.scope, id, after, created_at, by)?;
        wallet.balance = after;
        wallet.audit.touch(by, created_at);
        Ok::<_, ApiError>((wallet, transaction))
    })?;
    Reply::json(
        200,
        json!({"wallet": view(&wallet), "transaction": transaction_view(&transaction)}),
    )
}

/// `GET /v1/wallets/{id}/transactions`: newest first.
pub(crate) fn transactions(ctx: &Ctx<'_>, id: &str) -> Outcome {
    let page_args = ctx.query.page()?;
    let page = ctx.app.store.read(|tx| {
        ctx.find::<Wallet>(tx, id)?;
        Ok::<_, ApiError>(storage::transactions(tx, &ctx.scope, id, page_args)?)
    })?;
    crate::http::list_reply(
        page.items.iter().map(transaction_view).collect(),
        page.total,
        page_args,
    )
}
