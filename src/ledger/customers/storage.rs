//! The `customers` table.

use rusqlite::Transaction;

use crate::ledger::customers::Customer;
use crate::store::Audit;
use crate::store::record::Json;
use crate::store::record::{self, Stored};
use crate::store::{Filter, Page, Result, Scope};

/// Filters of `GET /v1/customers`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CustomerFilter {
    pub external_id: Option<String>,
}

crate::store::record::stored!(Customer in "customers" {
    id, tenant_id, environment_id, external_id, name, email, metadata: Json, status,
    ..audit: Audit,
});

/// The scope's records of one kind that belong to a customer (to any, when `customer_id` is
/// `None`): newest first, id as tie-break; `total` counts every match.
pub(crate) fn of_customer<T: Stored>(
    tx: &Transaction<'_>,
    scope: &Scope,
    customer_id: Option<&str>,
    page: (i64, i64),
) -> Result<Page<T>> {
    let mut f = Filter::scoped(scope);
    f.eq_some("customer_id", customer_id.map(str::to_owned));
    record::page(tx, &f, "created_at DESC, id DESC", page)
}

impl record::ListQuery for CustomerFilter {
    type Record = Customer;

    fn narrow(&self, f: &mut Filter) {
        f.eq_some("external_id", self.external_id.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;
    use crate::store::testing::{scope, temp_store};
    use std::collections::BTreeMap;

    fn customer(id: &str, env: &str, external_id: &str, at: i64) -> Customer {
        Customer {
            metadata: Some(BTreeMap::from([("k".to_owned(), "v".to_owned())])),
            ..Customer::sample(id, env, external_id, at)
        }
    }

    #[test]
    fn round_trips_and_scopes_every_read() {
        let (_dir, store) = temp_store();
        store
            .write(|tx| {
                customer("cust_1", "prod", "a", 1).insert(tx)?;
                customer("cust_2", "prod", "b", 2).insert(tx)?;
                customer("cust_3", "dev", "a", 3).insert(tx)
            })
            .unwrap();
        store
            .read(|tx| {
                let c = Customer::by_id(tx, &scope("prod"), "cust_1")?.expect("found");
                assert_eq!(c, customer("cust_1", "prod", "a", 1));
                assert_eq!(Customer::by_id(tx, &scope("dev"), "cust_1")?, None);
                assert_eq!(
                    Customer::by(tx, &scope("dev"), "external_id", "a")?.map(|c| c.id),
                    Some("cust_3".to_owned())
                );
                let q = CustomerFilter { external_id: None };
                let page = record::list(tx, &scope("prod"), &q, (1, 0))?;
                assert_eq!((page.total, page.items[0].id.as_str()), (2, "cust_2"));
                Ok::<_, StoreError>(())
            })
            .unwrap();
        // The same external id twice in one environment breaks the table's unique rule.
        let dup = store.write(|tx| customer("cust_4", "prod", "a", 4).insert(tx));
        assert!(dup.is_err());
    }
}
