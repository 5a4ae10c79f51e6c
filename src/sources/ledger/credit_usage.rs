//! The `credit_usage` export: Flexprice's 6 columns plus metadata columns, a balance snapshot
//! at the window's end. One row per customer and wallet currency (Flexprice summed currencies
//! blindly): `current_balance` is the sum of the balances as of the window end,
//! `real_time_balance` the sum of the balances when the export runs, `number_of_wallets` how
//! many wallets of that currency existed at the window end. A customer without wallets gets one
//! row of zeros. Rows come in customer external id order, then currency order.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::{LedgerSource, PAGE, keyset};
use crate::failure::ExportError;
use crate::formats::{Cell, RowSink};
use crate::ledger::money::parse_any as parse_decimal;
use crate::sources::{ExportRequest, metadata_values};

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

pub(super) fn export(
    src: &LedgerSource,
    req: &ExportRequest<'_>,
    out: &mut dyn RowSink,
) -> Result<u64, ExportError> {
    let end = req.window.1;
    let mut rows = 0u64;
    keyset(&src.store, req.cancel, |tx, cursor, last| {
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
                    req.scope.tenant_id,
                    req.scope.environment_id,
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
            let mut found_wallets = wallets.query(rusqlite::params![id, end])?;
            while let Some(r) = found_wallets.next()? {
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
                let values = metadata_values(
                    req.metadata,
                    metadata.as_deref(),
                    group.wallet_metadata.as_deref(),
                );
                let mut cells = vec![
                    Cell::Text(name),
                    Cell::Text(external_id),
                    Cell::Text(id),
                    Cell::Decimal(group.current),
                    Cell::Decimal(group.real_time),
                    Cell::Int(group.wallets as i64),
                ];
                cells.extend(values.iter().map(|v| Cell::text(v.as_deref())));
                out.row(&cells)?;
                rows += 1;
            }
            *last = (0, external_id.clone());
        }
        Ok(found.len())
    })?;
    Ok(rows)
}
