//! The `customers` table, and the column helpers the ledger tables share.

use rusqlite::{Row, Transaction};

use crate::ledger::customers::Customer;
use crate::store::{Filter, Page, Result, Scope, metadata, metadata_json, select_one, select_page};

const COLUMNS: &str = "id, tenant_id, environment_id, external_id, name, email, metadata, status, \
     created_at, updated_at, created_by, updated_by";

/// Filters of `GET /v1/customers`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CustomerFilter {
    pub external_id: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

fn read_row(r: &Row<'_>) -> Result<Customer> {
    Ok(Customer {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        environment_id: r.get(2)?,
        external_id: r.get(3)?,
        name: r.get(4)?,
        email: r.get(5)?,
        metadata: metadata(r, 6)?,
        status: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
        created_by: r.get(10)?,
        updated_by: r.get(11)?,
    })
}

pub(crate) fn insert(tx: &Transaction<'_>, c: &Customer) -> Result<()> {
    tx.execute(
        &format!(
            "INSERT INTO customers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        ),
        rusqlite::params![
            c.id,
            c.tenant_id,
            c.environment_id,
            c.external_id,
            c.name,
            c.email,
            metadata_json(&c.metadata)?,
            c.status,
            c.created_at,
            c.updated_at,
            c.created_by,
            c.updated_by,
        ],
    )?;
    Ok(())
}

/// Writes back every mutable field of a customer read (and changed) in this transaction.
pub(crate) fn update(tx: &Transaction<'_>, c: &Customer) -> Result<()> {
    tx.execute(
        "UPDATE customers SET external_id = ?1, name = ?2, email = ?3, metadata = ?4,
             updated_at = ?5, updated_by = ?6
         WHERE id = ?7 AND tenant_id = ?8 AND environment_id = ?9",
        rusqlite::params![
            c.external_id,
            c.name,
            c.email,
            metadata_json(&c.metadata)?,
            c.updated_at,
            c.updated_by,
            c.id,
            c.tenant_id,
            c.environment_id,
        ],
    )?;
    Ok(())
}

pub(crate) fn get(tx: &Transaction<'_>, scope: &Scope, id: &str) -> Result<Option<Customer>> {
    let mut f = Filter::scoped(scope);
    f.eq("id", id.to_owned());
    select_one(tx, "customers", COLUMNS, &f, read_row)
}

pub(crate) fn get_by_external_id(
    tx: &Transaction<'_>,
    scope: &Scope,
    external_id: &str,
) -> Result<Option<Customer>> {
    let mut f = Filter::scoped(scope);
    f.eq("external_id", external_id.to_owned());
    select_one(tx, "customers", COLUMNS, &f, read_row)
}

/// Newest first, id as tie-break; `total` counts every match.
pub(crate) fn list(
    tx: &Transaction<'_>,
    scope: &Scope,
    q: &CustomerFilter,
) -> Result<Page<Customer>> {
    let mut f = Filter::scoped(scope);
    if let Some(e) = &q.external_id {
        f.eq("external_id", e.clone());
    }
    select_page(
        tx,
        "customers",
        COLUMNS,
        &f,
        "created_at DESC, id DESC",
        (q.limit, q.offset),
        read_row,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;
    use crate::store::testing::{scope, temp_store};
    use std::collections::BTreeMap;

    fn customer(id: &str, env: &str, external_id: &str, at: i64) -> Customer {
        Customer {
            id: id.into(),
            tenant_id: "t".into(),
            environment_id: env.into(),
            external_id: external_id.into(),
            name: String::new(),
            email: None,
            metadata: Some(BTreeMap::from([("k".to_owned(), "v".to_owned())])),
            status: "published".into(),
            created_at: at,
            updated_at: at,
            created_by: "key".into(),
            updated_by: "key".into(),
        }
    }

    #[test]
    fn round_trips_and_scopes_every_read() {
        let (_dir, store) = temp_store();
        store
            .write(|tx| {
                insert(tx, &customer("cust_1", "prod", "a", 1))?;
                insert(tx, &customer("cust_2", "prod", "b", 2))?;
                insert(tx, &customer("cust_3", "dev", "a", 3))
            })
            .unwrap();
        store
            .read(|tx| {
                let c = get(tx, &scope("prod"), "cust_1")?.expect("found");
                assert_eq!(c, customer("cust_1", "prod", "a", 1));
                assert_eq!(get(tx, &scope("dev"), "cust_1")?, None);
                assert_eq!(
                    get_by_external_id(tx, &scope("dev"), "a")?.map(|c| c.id),
                    Some("cust_3".to_owned())
                );
                let q = CustomerFilter {
                    external_id: None,
                    limit: 1,
                    offset: 0,
                };
                let page = list(tx, &scope("prod"), &q)?;
                assert_eq!((page.total, page.items[0].id.as_str()), (2, "cust_2"));
                Ok::<_, StoreError>(())
            })
            .unwrap();
        // The same external id twice in one environment breaks the table's unique rule.
        let dup = store.write(|tx| insert(tx, &customer("cust_4", "prod", "a", 4)));
        assert!(dup.is_err());
    }
}
