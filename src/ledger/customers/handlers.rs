//! `/v1/customers`: create, list, get and update customers.

use std::collections::BTreeMap;

use serde::Serialize;

use super::storage::{self, CustomerFilter};
use crate::http::{ApiError, Ctx, Outcome, Reply, View, not_found};
use crate::ids::{CUSTOMER, new_id};
use crate::ledger::customers::{self, Customer, MAX_TEXT};
use crate::store::Audit;
use crate::store::record::Stored;

#[derive(Serialize)]
pub(crate) struct CustomerView<'a> {
    id: &'a str,
    external_id: &'a str,
    name: &'a str,
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a BTreeMap<String, String>>,
    #[serde(flatten)]
    base: crate::http::BaseView<'a>,
}

fn view(c: &Customer) -> CustomerView<'_> {
    CustomerView {
        id: &c.id,
        external_id: &c.external_id,
        name: &c.name,
        email: c.email.as_deref(),
        metadata: c.metadata.as_ref(),
        base: crate::http::base_view!(c),
    }
}

impl View for Customer {
    const KIND: &'static str = "Customer";
    fn view(&self) -> impl Serialize {
        view(self)
    }
}

/// The 404 for a customer named by a request: in a path, or in a body field (`customer_id`).
pub(crate) fn customer_not_found(id: &str) -> ApiError {
    not_found("Customer", id)
}

/// The customer a new record names in its `customer_id` must exist in the scope (a 404
/// naming that field otherwise).
pub(crate) fn check_customer_exists(
    tx: &rusqlite::Transaction<'_>,
    ctx: &Ctx<'_>,
    customer_id: &str,
) -> Result<(), ApiError> {
    match Customer::by_id(tx, &ctx.scope, customer_id)? {
        Some(_) => Ok(()),
        None => Err(customer_not_found(customer_id).with_detail("customer_id", customer_id)),
    }
}

/// Inserts a new record of a customer (the one `customer_id` names, which must exist).
pub(crate) fn insert_of_customer<T: Stored>(
    ctx: &Ctx<'_>,
    customer_id: &str,
    record: &T,
) -> Result<(), ApiError> {
    ctx.app.store.write(|tx| {
        check_customer_exists(tx, ctx, customer_id)?;
        Ok(record.insert(tx)?)
    })
}

/// Answers a list of records of one kind, of the customer the query's `customer_id` names (of
/// every customer without it).
pub(crate) fn list_of_customer<T: Stored + View>(ctx: &Ctx<'_>) -> Outcome {
    let customer_id = ctx.query.text("customer_id", MAX_TEXT)?;
    ctx.list(|tx, s, page| storage::of_customer::<T>(tx, s, customer_id, page))
}

/// 409 when another customer of the environment has this external id.
fn check_external_id_free(
    tx: &rusqlite::Transaction<'_>,
    ctx: &Ctx<'_>,
    external_id: &str,
    except: Option<&str>,
) -> Result<(), ApiError> {
    match Customer::by(tx, &ctx.scope, "external_id", external_id)? {
        Some(other) if Some(other.id.as_str()) != except => Err(ApiError::already_exists(format!(
            "A customer with external_id {external_id:?} already exists"
        ))
        .with_detail("field", "external_id")
        .with_detail("id", other.id)),
        _ => Ok(()),
    }
}

pub(crate) fn create(ctx: &Ctx<'_>) -> Outcome {
    let input = customers::parse_create(&ctx.json()?)?;
    let now = ctx.now();
    let by = &ctx.principal.key_name;
    let customer = Customer {
        id: new_id(CUSTOMER),
        tenant_id: ctx.scope.tenant_id.clone(),
        environment_id: ctx.scope.environment_id.clone(),
        external_id: input.external_id,
        name: input.name,
        email: input.email,
        metadata: input.metadata,
        status: "published".to_owned(),
        audit: Audit::new(by, now),
    };
    ctx.app.store.write(|tx| {
        check_external_id_free(tx, ctx, &customer.external_id, None)?;
        customer.insert(tx)?;
        Ok::<_, ApiError>(())
    })?;
    Reply::json(201, view(&customer))
}

pub(crate) fn list(ctx: &Ctx<'_>) -> Outcome {
    let q = &ctx.query;
    let filter = CustomerFilter {
        external_id: q.text("external_id", MAX_TEXT)?.map(str::to_owned),
    };
    ctx.list(|tx, s, page| crate::store::record::list(tx, s, &filter, page))
}

/// Changes name, email, metadata and external_id (still unique in the environment).
pub(crate) fn update(ctx: &Ctx<'_>, id: &str) -> Outcome {
    let change = customers::parse_update(&ctx.json()?)?;
    let now = ctx.now();
    let customer = ctx.app.store.write(|tx| {
        let mut c = ctx.find::<Customer>(tx, id)?;
        if let Some(external_id) = &change.external_id {
            check_external_id_free(tx, ctx, external_id, Some(id))?;
        }
        if c.apply(change) {
            c.audit.touch(&ctx.principal.key_name, now);
            c.update(tx)?;
        }
        Ok::<_, ApiError>(c)
    })?;
    Reply::json(200, view(&customer))
}
