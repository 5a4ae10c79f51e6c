//! The `credit_usage` export: Flexprice's 6 columns plus metadata columns, a balance snapshot
//! at the window's end. One row per customer and wallet currency (Flexprice summed currencies
//! blindly): `current_balance` is the sum of the balances as of the window end,
//! `real_time_balance` the sum of the balances when the export runs, `number_of_wallets` how
//! many wallets of that currency existed at the window end. A customer without wallets gets one
//! row of zeros. Rows come in customer external id order, then currency order.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use rust_decimal::Decimal;

use super::{Cursor, ExportError, PAGE, Source, keyset_pages, metadata_cells};
use crate::formats::pipeline::Pipeline;
use crate::ledger::money::{format as format_decimal, parse_any as parse_decimal};

pub const COLUMNS: [&str; 6] = [
    "name",
    "customer_external_id",
    "customer_id",
    "current_balance",
    "real_time_balance",
    "number_of_wallets",
];

/// One currency of one customer.
#[derive(Default)]
struct Group {
    current: Decimal,
    real_time: Decimal,
    wallets: u64,
    /// Metadata of the customer's oldest wallet in this currency (the one its columns show).
    wallet_metadata: Option<String>,
}

fn decimal(text: Option<String>) -> Decimal {
    text.as_deref().and_then(parse_decimal).unwrap_or_default()
}

pub fn write_rows(
    src: &Source<'_>,
    out: &mut Pipeline<'_>,
    cancel: &AtomicBool,
) -> Result<u64, ExportError> {
    let end = src.window.1;
    keyset_pages(
        &src.app.store,
        cancel,
        |tx, cursor, page: &mut Vec<(Vec<String>, Cursor)>| {
            let after = cursor.map_or("", |(_, external_id)| external_id.as_str());
            let mut customers = tx.prepare_cached(
                "SELECT id, external_id, name, metadata FROM customers
                 WHERE tenant_id = ?1 AND environment_id = ?2 AND status = 'published' AND created_at < ?3
                   AND external_id > ?4
                 ORDER BY external_id LIMIT ?5",
            )?;
            let found: Vec<(String, String, String, Option<String>)> = customers
                .query_map(
                    rusqlite::params![
                        src.scope.tenant_id,
                        src.scope.environment_id,
                        end,
                        after,
                        PAGE as i64
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )?
                .collect::<rusqlite::Result<_>>()?;
            let mut wallets = tx.prepare_cached(
                "SELECT w.currency, w.balance, w.metadata,
                        (SELECT t.balance_after FROM wallet_transactions t
                         WHERE t.wallet_id = w.id AND t.created_at < ?2
                         ORDER BY t.created_at DESC, t.id DESC LIMIT 1)
                 FROM wallets w
                 WHERE w.customer_id = ?1 AND w.status = 'published' AND w.created_at < ?2
                 ORDER BY w.currency, w.created_at, w.id",
            )?;
            for (id, external_id, name, metadata) in &found {
                let mut groups: BTreeMap<String, Group> = BTreeMap::new();
                let mut rows = wallets.query(rusqlite::params![id, end])?;
                while let Some(r) = rows.next()? {
                    let group = groups.entry(r.get(0)?).or_default();
                    group.real_time += decimal(r.get(1)?);
                    group.current += decimal(r.get(3)?);
                    group.wallets += 1;
                    if group.wallet_metadata.is_none() {
                        group.wallet_metadata = r.get(2)?;
                    }
                }
                if groups.is_empty() {
                    groups.insert(String::new(), Group::default());
                }
                for group in groups.values() {
                    let mut row = vec![
                        name.clone(),
                        external_id.clone(),
                        id.clone(),
                        format_decimal(group.current),
                        format_decimal(group.real_time),
                        group.wallets.to_string(),
                    ];
                    row.extend(metadata_cells(
                        src.task,
                        metadata.as_deref(),
                        group.wallet_metadata.as_deref(),
                    ));
                    page.push((row, (0, external_id.clone())));
                }
            }
            Ok(found.len() == PAGE)
        },
        |(_, key)| key.clone(),
        |(row, _)| {
            out.records
                .write_record(row)
                .map_err(|e| out.write_error(e))
        },
    )
}
