//! Lookups in Flexprice's PostgreSQL that the ClickHouse entities need (issue 16): the
//! customer behind an external id (`events.customer_id`, `usage_analytics` names and
//! metadata), and for `usage_analytics` the meter, feature, group and price behind a meter id.
//!
//! Each function takes a batch of ids and answers with a map; batches of any size are split
//! into queries of at most [`MAX_IDS`] ids, so memory follows the caller's batch, not the
//! tenant's size. All run in the caller's [`Snapshot`] and are scoped to the key's tenant and
//! environment.
//!
//! ```ignore
//! let mut session = pg.connect()?;
//! let mut snap = session.snapshot()?;
//! let scope = Scope { tenant_id: "acme", environment_id: "prod" };
//! let customers = catalog::customers_by_external_id(&mut snap, scope, &["cust-001", "walk-in"])?;
//! let meters = catalog::meters(&mut snap, scope, &["mtr_1"])?;
//! let features = catalog::features_by_meter(&mut snap, scope, &["mtr_1"])?;
//! let prices = catalog::prices(&mut snap, scope, &["cus_1"], &["mtr_1"])?;
//! ```

use std::collections::HashMap;

use rust_decimal::Decimal;

use postgres::types::ToSql;

use super::postgres::{Fields, Snapshot};
use crate::failure::ExportError;

/// Most ids sent in one query.
pub const MAX_IDS: usize = 1000;

/// The key's tenant and environment.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub tenant_id: &'a str,
    pub environment_id: &'a str,
}

/// A published customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: String,
    pub external_id: String,
    pub name: String,
    /// `customers.metadata` as JSON text (a map of strings), if any: read it with
    /// [`crate::sources::metadata_values`].
    pub metadata: Option<String>,
}

/// A meter, whatever its `status` (usage recorded before a meter was deleted still names it);
/// `status` says which it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meter {
    pub id: String,
    pub name: String,
    pub event_name: String,
    /// `aggregation.type`: COUNT, SUM, AVG, COUNT_UNIQUE, LATEST, SUM_WITH_MULTIPLIER, MAX,
    /// WEIGHTED_SUM (empty when missing).
    pub aggregation_type: String,
    /// `aggregation.field`.
    pub aggregation_field: Option<String>,
    pub status: String,
}

/// The published feature of a meter, and its published group's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    pub id: String,
    pub name: String,
    pub meter_id: String,
    pub group_name: Option<String>,
}

/// The price a customer pays for a meter: its published line item (the first by id) on a
/// published, `active` subscription, and that item's price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinePrice {
    pub customer_id: String,
    pub meter_id: String,
    pub line_item_id: String,
    pub price_id: String,
    /// `prices.amount`, exact (numeric(25,15)).
    pub amount: Decimal,
    pub currency: String,
    /// `USAGE` | `FIXED`.
    pub price_type: String,
    /// `FLAT_FEE` | `PACKAGE` | `TIERED`.
    pub billing_model: String,
    /// The line item has a commitment (amount or quantity).
    pub has_commitment: bool,
}

impl LinePrice {
    /// The price of one unit when usage × price is the whole cost: a `USAGE` price billed
    /// `FLAT_FEE` without a commitment. `None` when the cost needs Flexprice's pricing engine
    /// (tiers, packages, commitments) or the price is not per usage.
    pub fn unit_price(&self) -> Option<Decimal> {
        (self.price_type == "USAGE" && self.billing_model == "FLAT_FEE" && !self.has_commitment)
            .then_some(self.amount)
    }
}

/// Runs `sql` (`$1` tenant, `$2` environment, `$3` a chunk of `ids`, `$4` `extra` when
/// given) on `ids`, deduplicated, at most [`MAX_IDS`] at a time, and collects what `read`
/// makes of each row.
fn lookup<K: std::hash::Hash + Eq, V>(
    snap: &mut Snapshot<'_>,
    scope: Scope<'_>,
    sql: &str,
    ids: &[&str],
    extra: Option<&[&str]>,
    read: impl Fn(&Fields<'_>) -> Result<(K, V), ExportError>,
) -> Result<HashMap<K, V>, ExportError> {
    let mut ids: Vec<&str> = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut found = HashMap::new();
    for chunk in ids.chunks(MAX_IDS) {
        let mut params: Vec<&(dyn ToSql + Sync)> =
            vec![&scope.tenant_id, &scope.environment_id, &chunk];
        if let Some(extra) = &extra {
            params.push(extra);
        }
        snap.rows(sql, &params, |row| {
            let (k, v) = read(row)?;
            found.insert(k, v);
            Ok(())
        })?;
    }
    Ok(found)
}

/// The published customers of the scope with these external ids, by external id. An id with
/// no such customer is absent (an empty `customer_id` cell). Should two published customers
/// share one (Flexprice's unique index forbids it), the first by id wins.
pub fn customers_by_external_id(
    snap: &mut Snapshot<'_>,
    scope: Scope<'_>,
    external_ids: &[&str],
) -> Result<HashMap<String, Customer>, ExportError> {
    const SQL: &str = "
        SELECT DISTINCT ON (external_id COLLATE \"C\") id, external_id, name, metadata::text
        FROM customers
        WHERE tenant_id = $1 AND environment_id = $2 AND status = 'published'
          AND external_id = ANY($3::text[])
        ORDER BY external_id COLLATE \"C\", id COLLATE \"C\"";
    lookup(snap, scope, SQL, external_ids, None, |row| {
        let customer = Customer {
            id: row.get(0)?,
            external_id: row.get(1)?,
            name: row.get(2)?,
            metadata: row.get(3)?,
        };
        Ok((customer.external_id.clone(), customer))
    })
}

/// The scope's meters with these ids, whatever their status, by id.
pub fn meters(
    snap: &mut Snapshot<'_>,
    scope: Scope<'_>,
    ids: &[&str],
) -> Result<HashMap<String, Meter>, ExportError> {
    const SQL: &str = "
        SELECT id, name, event_name, coalesce(aggregation->>'type', ''), aggregation->>'field',
               status
        FROM meters
        WHERE tenant_id = $1 AND environment_id = $2 AND id = ANY($3::text[])";
    lookup(snap, scope, SQL, ids, None, |row| {
        let meter = Meter {
            id: row.get(0)?,
            name: row.get(1)?,
            event_name: row.get(2)?,
            aggregation_type: row.get(3)?,
            aggregation_field: row.get(4)?,
            status: row.get(5)?,
        };
        Ok((meter.id.clone(), meter))
    })
}

/// The published feature of each of these meters (the first by id when several), with its
/// published group's name, by meter id.
pub fn features_by_meter(
    snap: &mut Snapshot<'_>,
    scope: Scope<'_>,
    meter_ids: &[&str],
) -> Result<HashMap<String, Feature>, ExportError> {
    const SQL: &str = "
        SELECT DISTINCT ON (f.meter_id COLLATE \"C\") f.id, f.name, f.meter_id, g.name
        FROM features f
        LEFT JOIN groups g
          ON g.id = f.group_id AND g.tenant_id = f.tenant_id
         AND g.environment_id = f.environment_id AND g.status = 'published'
        WHERE f.tenant_id = $1 AND f.environment_id = $2 AND f.status = 'published'
          AND f.meter_id = ANY($3::text[])
        ORDER BY f.meter_id COLLATE \"C\", f.id COLLATE \"C\"";
    lookup(snap, scope, SQL, meter_ids, None, |row| {
        let feature = Feature {
            id: row.get(0)?,
            name: row.get(1)?,
            meter_id: row.get(2)?,
            group_name: row.get(3)?,
        };
        Ok((feature.meter_id.clone(), feature))
    })
}

/// The price of each (customer id, meter id) pair among these customers and meters that has
/// one, by that pair. Customers are chunked; the meters of one call should be few (a tenant's
/// metered meters).
pub fn prices(
    snap: &mut Snapshot<'_>,
    scope: Scope<'_>,
    customer_ids: &[&str],
    meter_ids: &[&str],
) -> Result<HashMap<(String, String), LinePrice>, ExportError> {
    const SQL: &str = "
        SELECT DISTINCT ON (l.customer_id COLLATE \"C\", l.meter_id COLLATE \"C\")
               l.customer_id, l.meter_id, l.id, p.id, p.amount, p.currency, p.type,
               p.billing_model,
               (l.commitment_amount IS NOT NULL OR l.commitment_quantity IS NOT NULL)
        FROM subscription_line_items l
        JOIN subscriptions s
          ON s.id = l.subscription_id AND s.tenant_id = l.tenant_id
         AND s.environment_id = l.environment_id AND s.status = 'published'
         AND s.subscription_status = 'active'
        JOIN prices p
          ON p.id = l.price_id AND p.tenant_id = l.tenant_id AND p.environment_id = l.environment_id
        WHERE l.tenant_id = $1 AND l.environment_id = $2 AND l.status = 'published'
          AND l.customer_id = ANY($3::text[]) AND l.meter_id = ANY($4::text[])
        ORDER BY l.customer_id COLLATE \"C\", l.meter_id COLLATE \"C\", l.id COLLATE \"C\"";
    let mut meters: Vec<&str> = meter_ids.to_vec();
    meters.sort_unstable();
    meters.dedup();
    lookup(snap, scope, SQL, customer_ids, Some(&meters), |row| {
        let price = LinePrice {
            customer_id: row.get(0)?,
            meter_id: row.get(1)?,
            line_item_id: row.get(2)?,
            price_id: row.get(3)?,
            amount: row.get(4)?,
            currency: row.get(5)?,
            price_type: row.get(6)?,
            billing_model: row.get(7)?,
            has_commitment: row.get(8)?,
        };
        Ok(((price.customer_id.clone(), price.meter_id.clone()), price))
    })
}
