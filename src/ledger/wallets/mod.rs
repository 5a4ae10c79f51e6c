//! Wallets and their transactions (Flexprice's `/v1/wallets`): the records, the parsing of
//! requests, and the pure balance arithmetic a top-up or debit applies.

pub(crate) mod handlers;
pub(crate) mod storage;

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::Value;

use super::money::{self, Bound};
use crate::input::{InputError, Obj};
use crate::store::Audit;

const MAX_TEXT: usize = 255;

/// The only wallet status exportd gives; a wallet in any other is refused top-ups and debits.
pub(crate) const WALLET_ACTIVE: &str = "active";
/// Every transaction exportd writes completes at once.
pub(crate) const TRANSACTION_COMPLETED: &str = "completed";

/// A wallet as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Wallet {
    pub id: String,
    pub tenant_id: String,
    pub environment_id: String,
    pub customer_id: String,
    pub currency: String,
    pub name: String,
    pub metadata: Option<BTreeMap<String, String>>,
    pub balance: Decimal,
    pub wallet_status: String,
    pub status: String,
    pub audit: Audit,
}

crate::names::named! {
    /// Which way money moves.
    pub(crate) enum TxType {
        Credit = "credit",
        Debit = "debit",
    }
}

impl TxType {
    /// The reason recorded when the request gives none.
    pub(crate) fn default_reason(self) -> &'static str {
        match self {
            TxType::Credit => "PURCHASED_CREDIT_DIRECT",
            TxType::Debit => "MANUAL_BALANCE_DEBIT",
        }
    }
}

/// Flexprice's `transaction_reason` values.
pub(crate) const TRANSACTION_REASONS: [&str; 12] = [
    "INVOICE_PAYMENT",
    "FREE_CREDIT_GRANT",
    "SUBSCRIPTION_CREDIT_GRANT",
    "PURCHASED_CREDIT_INVOICED",
    "PURCHASED_CREDIT_DIRECT",
    "CREDIT_NOTE",
    "CREDIT_EXPIRED",
    "WALLET_TERMINATION",
    "MANUAL_BALANCE_DEBIT",
    "CREDIT_ADJUSTMENT",
    "INVOICE_VOID_REFUND",
    "PURCHASED_CREDIT_BONUS",
];

/// A wallet transaction as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WalletTransaction {
    pub id: String,
    pub tenant_id: String,
    pub environment_id: String,
    pub wallet_id: String,
    pub tx_type: TxType,
    pub amount: Decimal,
    pub balance_before: Decimal,
    pub balance_after: Decimal,
    pub reference_id: Option<String>,
    pub transaction_reason: String,
    pub transaction_status: String,
    pub idempotency_key: Option<String>,
    pub status: String,
    pub created_at: i64,
    pub created_by: String,
}

/// A validated `POST /v1/wallets`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CreateWallet {
    pub customer_id: String,
    pub currency: String,
    pub name: String,
    pub metadata: Option<BTreeMap<String, String>>,
}

pub(crate) fn parse_create(body: &Value) -> Result<CreateWallet, InputError> {
    let mut obj = Obj::root(body)?;
    let customer_id = obj.required_str("customer_id", MAX_TEXT)?.to_owned();
    let currency = money::required_currency(&mut obj, "currency")?;
    let name = obj.str("name", MAX_TEXT)?.unwrap_or_default().to_owned();
    let metadata = obj.string_map("metadata")?;
    obj.finish()?;
    Ok(CreateWallet {
        customer_id,
        currency,
        name,
        metadata,
    })
}

/// A validated top-up or debit request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Movement {
    pub tx_type: TxType,
    pub amount: Decimal,
    pub transaction_reason: String,
    pub reference_id: Option<String>,
    pub idempotency_key: Option<String>,
}

/// `POST /v1/wallets/{id}/top-up` (credit) and `/debit` (debit).
pub(crate) fn parse_movement(body: &Value, tx_type: TxType) -> Result<Movement, InputError> {
    let mut obj = Obj::root(body)?;
    let amount = money::required_amount(&mut obj, "amount", Bound::Positive)?;
    let transaction_reason = match obj.str("transaction_reason", 64)? {
        None => tx_type.default_reason().to_owned(),
        Some(r) if TRANSACTION_REASONS.contains(&r) => r.to_owned(),
        Some(_) => {
            return Err(InputError::new(
                "transaction_reason",
                format!(
                    "transaction_reason must be one of: {}",
                    TRANSACTION_REASONS.join(", ")
                ),
            ));
        }
    };
    let text = |obj: &mut Obj<'_>, key| -> Result<Option<String>, InputError> {
        Ok(obj
            .str(key, MAX_TEXT)?
            .filter(|s| !s.is_empty())
            .map(str::to_owned))
    };
    let reference_id = text(&mut obj, "reference_id")?;
    let idempotency_key = text(&mut obj, "idempotency_key")?;
    obj.finish()?;
    Ok(Movement {
        tx_type,
        amount,
        transaction_reason,
        reference_id,
        idempotency_key,
    })
}

/// Why a movement cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A debit larger than the balance.
    Insufficient { balance: Decimal },
    /// A credit that would take the balance past [`money::MAX_BALANCE`].
    BalanceLimit,
}

impl Refusal {
    pub(crate) fn message(&self) -> String {
        match self {
            Refusal::Insufficient { balance } => format!(
                "insufficient balance: the wallet holds {}",
                money::format(*balance)
            ),
            Refusal::BalanceLimit => {
                format!("a wallet balance cannot exceed {}", money::MAX_BALANCE)
            }
        }
    }
}

/// The balance after a movement: a debit never goes below zero, a credit never past the limit.
pub(crate) fn apply(
    balance: Decimal,
    tx_type: TxType,
    amount: Decimal,
) -> Result<Decimal, Refusal> {
    let after = match tx_type {
        TxType::Credit => balance
            .checked_add(amount)
            .filter(|a| *a <= Decimal::from(money::MAX_BALANCE))
            .ok_or(Refusal::BalanceLimit)?,
        TxType::Debit => {
            if amount > balance {
                return Err(Refusal::Insufficient { balance });
            }
            balance - amount
        }
    };
    Ok(after.normalize())
}

/// Whether a stored transaction is what `m` asks for (a retry with the same idempotency key
/// must be the same request).
pub(crate) fn same_request(tx: &WalletTransaction, m: &Movement) -> bool {
    tx.tx_type == m.tx_type
        && tx.amount == m.amount
        && tx.transaction_reason == m.transaction_reason
        && tx.reference_id == m.reference_id
}

/// The id right after `id` (`<prefix>_<ULID + 1>`), if `id` is one of ours.
fn successor_id(id: &str) -> Option<String> {
    let (prefix, ulid) = id.split_once('_')?;
    let next = ulid::Ulid::from_string(ulid).ok()?.increment()?;
    Some(format!("{prefix}_{next}"))
}

/// `created_at` and id of a new transaction so that, in `(created_at, id)` order, it comes
/// after the wallet's last one `prev`, even within one millisecond or if the clock went back.
/// Then that order is the order in which balances changed.
pub(crate) fn position_after(
    prev: Option<(i64, &str)>,
    now: i64,
    fresh_id: String,
) -> (i64, String) {
    match prev {
        Some((at, id)) if now <= at => {
            if fresh_id.as_str() > id {
                (at, fresh_id)
            } else {
                (at, successor_id(id).unwrap_or(fresh_id))
            }
        }
        _ => (now, fresh_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::money::dec;
    use serde_json::json;

    #[test]
    fn parses_wallets() {
        let w = parse_create(&json!({"customer_id": "cust_1", "currency": "usd"})).unwrap();
        assert_eq!((w.currency.as_str(), w.name.as_str()), ("USD", ""));
        let err = |v: Value| parse_create(&v).unwrap_err();
        assert_eq!(
            err(json!({"currency": "USD"})).message,
            "customer_id is required"
        );
        assert_eq!(
            err(json!({"customer_id": "c"})).message,
            "currency is required"
        );
        assert_eq!(
            err(json!({"customer_id": "c", "currency": "ZZZ"})).field,
            "currency"
        );
        assert_eq!(
            err(json!({"customer_id": "c", "currency": "USD", "balance": "5"})).message,
            "balance is not a known field"
        );
    }

    #[test]
    fn parses_movements_with_default_reasons() {
        let m = parse_movement(&json!({"amount": "10.50"}), TxType::Credit).unwrap();
        assert_eq!(m.amount, dec("10.5"));
        assert_eq!(m.transaction_reason, "PURCHASED_CREDIT_DIRECT");
        let m = parse_movement(
            &json!({"amount": 3, "transaction_reason": "INVOICE_PAYMENT", "reference_id": "inv_1",
                    "idempotency_key": "k1"}),
            TxType::Debit,
        )
        .unwrap();
        assert_eq!(
            (m.transaction_reason.as_str(), m.idempotency_key.as_deref()),
            ("INVOICE_PAYMENT", Some("k1"))
        );
        let d = parse_movement(&json!({"amount": 1}), TxType::Debit).unwrap();
        assert_eq!(d.transaction_reason, "MANUAL_BALANCE_DEBIT");
        let err = |v: Value| parse_movement(&v, TxType::Credit).unwrap_err();
        assert_eq!(err(json!({})).message, "amount is required");
        assert_eq!(
            err(json!({"amount": "0"})).message,
            "amount must be greater than 0"
        );
        assert_eq!(err(json!({"amount": -1})).field, "amount");
        assert_eq!(err(json!({"amount": "ten"})).field, "amount");
        assert_eq!(
            err(json!({"amount": "1", "transaction_reason": "GIFT"})).field,
            "transaction_reason"
        );
    }

    #[test]
    fn debits_never_go_below_zero_and_credits_stop_at_the_limit() {
        assert_eq!(
            apply(dec("10"), TxType::Debit, dec("10")),
            Ok(Decimal::ZERO)
        );
        assert_eq!(apply(dec("10"), TxType::Debit, dec("2.5")), Ok(dec("7.5")));
        let refused = apply(dec("1.50"), TxType::Debit, dec("2")).unwrap_err();
        assert_eq!(
            refused.message(),
            "insufficient balance: the wallet holds 1.5"
        );
        assert_eq!(
            apply(dec("0.1"), TxType::Credit, dec("0.2")),
            Ok(dec("0.3"))
        );
        let max = Decimal::from(money::MAX_BALANCE);
        assert_eq!(apply(max - dec("1"), TxType::Credit, dec("1")), Ok(max));
        assert_eq!(
            apply(max, TxType::Credit, dec("0.000000000001")),
            Err(Refusal::BalanceLimit)
        );
    }

    #[test]
    fn new_transactions_sort_after_the_last_one() {
        let id = |n: u8| format!("wtx_01JZ000000000000000000000{n}");
        let prev = id(5);
        let after = |now, fresh: String| position_after(Some((10, &prev)), now, fresh);
        // A later millisecond: the clock decides.
        assert_eq!(after(11, id(1)), (11, id(1)));
        // The same millisecond, or a clock that went back: after the previous id.
        for now in [10, 9] {
            assert_eq!(after(now, id(1)), (10, id(6)));
            assert_eq!(after(now, id(9)), (10, id(9)));
        }
        assert_eq!(position_after(None, 5, "wtx_x".into()), (5, "wtx_x".into()));
    }
}
