//! What the ClickHouse exports need from Flexprice's PostgreSQL: customers by external id
//! (events' `customer_id`, usage_analytics' names and metadata), meters with their features
//! and groups, and the price of each customer's usage. The PostgreSQL source implements these
//! traits ([`Postgres`]); the ClickHouse side only asks, in batches.

use std::collections::HashMap;

use rust_decimal::Decimal;

use crate::failure::ExportError;
use crate::sources::flexprice::catalog as pg;
use crate::sources::flexprice::postgres::Snapshot;

/// A published Flexprice customer of the export's scope.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    pub external_id: String,
    pub id: String,
    pub name: String,
    /// `customers.metadata` as JSON text (a map of strings), if any.
    pub metadata: Option<String>,
}

/// Customers by external id, in the export's tenant and environment.
pub trait Customers {
    /// The published customers whose external ids are among `external_ids` (distinct, at
    /// most [`LOOKUP_BATCH`]); an id without one is simply absent from the answer.
    fn by_external_ids(&mut self, external_ids: &[&str]) -> Result<Vec<Customer>, ExportError>;
}

/// The most external ids asked for at once.
pub const LOOKUP_BATCH: usize = 1000;

/// A meter (by id, whatever its status), with the feature that meters it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meter {
    pub id: String,
    pub event_name: String,
    /// `aggregation.type`: COUNT, SUM, MAX, COUNT_UNIQUE and LATEST are computed; others
    /// (AVG, SUM_WITH_MULTIPLIER, WEIGHTED_SUM...) leave the usage empty.
    pub aggregation: String,
    /// The published feature of the scope with this `meter_id`.
    pub feature: Option<Feature>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    pub id: String,
    pub name: String,
    /// Its published group's name.
    pub group_name: Option<String>,
}

/// What a customer pays for a meter's usage (its line item on an active subscription).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsagePrice {
    pub currency: String,
    /// The price per unit when the cost is usage × it (a flat per-unit usage price without a
    /// commitment); `None` when only Flexprice's pricing engine can compute the cost (tiers,
    /// packages, commitments).
    pub unit_amount: Option<Decimal>,
}

/// Everything usage_analytics reads from PostgreSQL.
pub trait UsageCatalog: Customers {
    /// The meters with these ids (whatever their status), by id; an unknown id is absent.
    fn meters(&mut self, ids: &[&str]) -> Result<HashMap<String, Meter>, ExportError>;

    /// The usage prices of these customers (by customer id, at most [`LOOKUP_BATCH`]), per
    /// (customer id, meter id).
    fn prices(
        &mut self,
        customer_ids: &[&str],
    ) -> Result<HashMap<(String, String), UsagePrice>, ExportError>;
}

/// Flexprice's PostgreSQL as this catalog: the PostgreSQL side's lookups
/// ([`crate::sources::flexprice::catalog`]) in the run's snapshot and the key's scope.
pub(crate) struct Postgres<'s, 'c> {
    pub snap: &'s mut Snapshot<'c>,
    pub scope: pg::Scope<'s>,
    /// The window's meters (asked first): the prices asked later are theirs.
    meters: Vec<String>,
}

impl<'s, 'c> Postgres<'s, 'c> {
    pub(crate) fn new(snap: &'s mut Snapshot<'c>, scope: pg::Scope<'s>) -> Postgres<'s, 'c> {
        Postgres {
            snap,
            scope,
            meters: Vec::new(),
        }
    }
}

impl Customers for Postgres<'_, '_> {
    fn by_external_ids(&mut self, external_ids: &[&str]) -> Result<Vec<Customer>, ExportError> {
        let found = pg::customers_by_external_id(self.snap, self.scope, external_ids)?;
        Ok(found
            .into_values()
            .map(|c| Customer {
                external_id: c.external_id,
                id: c.id,
                name: c.name,
                metadata: c.metadata,
            })
            .collect())
    }
}

impl UsageCatalog for Postgres<'_, '_> {
    fn meters(&mut self, ids: &[&str]) -> Result<HashMap<String, Meter>, ExportError> {
        let meters = pg::meters(self.snap, self.scope, ids)?;
        let mut features = pg::features_by_meter(self.snap, self.scope, ids)?;
        self.meters = meters.keys().cloned().collect();
        Ok(meters
            .into_values()
            .map(|m| {
                let feature = features.remove(&m.id).map(|f| Feature {
                    id: f.id,
                    name: f.name,
                    group_name: f.group_name,
                });
                let meter = Meter {
                    id: m.id.clone(),
                    event_name: m.event_name,
                    aggregation: m.aggregation_type,
                    feature,
                };
                (m.id, meter)
            })
            .collect())
    }

    fn prices(
        &mut self,
        customer_ids: &[&str],
    ) -> Result<HashMap<(String, String), UsagePrice>, ExportError> {
        let meters: Vec<&str> = self.meters.iter().map(String::as_str).collect();
        if meters.is_empty() {
            return Ok(HashMap::new());
        }
        let prices = pg::prices(self.snap, self.scope, customer_ids, &meters)?;
        Ok(prices
            .into_iter()
            .map(|(key, p)| {
                let price = UsagePrice {
                    unit_amount: p.unit_price(),
                    currency: p.currency,
                };
                (key, price)
            })
            .collect())
    }
}
