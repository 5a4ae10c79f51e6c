//! `/v1/customers`: create, list, get and update customers.

use std::collections::BTreeMap;

use serde::Serialize;

use super::storage::{self, CustomerFilter};
use crate::clock::rfc3339_ms;
use crate::http::{ApiError, Ctx, Outcome, Reply, not_found};
use crate::ids::{CUSTOMER, new_id};
use crate::ledger::customers::{self, Customer, MAX_TEXT};

#[derive(Serialize)]
struct CustomerView<'a> {
    id: &'a str,
    external_id: &'a str,
    name: &'a str,
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a BTreeMap<String, String>>,
    tenant_id: &'a str,
    environment_id: &'a str,
    status: &'a str,
    created_at: String,
    updated_at: String,
    created_by: &'a str,
    updated_by: &'a str,
}

fn view(c: &Customer) -> CustomerView<'_> {
    CustomerView {
        id: &c.id,
        external_id: &c.external_id,
        name: &c.name,
        email: c.email.as_deref(),
        metadata: c.metadata.as_ref(),
        tenant_id: &c.tenant_id,
        environment_id: &c.environment_id,
        status: &c.status,
        created_at: rfc3339_ms(c.created_at),
        updated_at: rfc3339_ms(c.updated_at),
        created_by: &c.created_by,
        updated_by: &c.updated_by,
    }
}

/// The 404 for a customer named by a request: in a path, or in a body field (`customer_id`).
pub(crate) fn customer_not_found(id: &str) -> ApiError {
    not_found("Customer", id)
}

/// 409 when another customer of the environment has this external id.
fn check_external_id_free(
    tx: &rusqlite::Transaction<'_>,
    ctx: &Ctx<'_>,
    external_id: &str,
    except: Option<&str>,
) -> Result<(), ApiError> {
    match storage::get_by_external_id(tx, &ctx.scope, external_id)? {
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
        created_at: now,
        updated_at: now,
        created_by: by.clone(),
        updated_by: by.clone(),
    };
    ctx.app.store.write(|tx| {
        check_external_id_free(tx, ctx, &customer.external_id, None)?;
        storage::insert(tx, &customer)?;
        Ok::<_, ApiError>(())
    })?;
    Reply::json(201, view(&customer))
}

pub(crate) fn list(ctx: &Ctx<'_>) -> Outcome {
    let q = &ctx.query;
    let (limit, offset) = q.page()?;
    let filter = CustomerFilter {
        external_id: q.text("external_id", MAX_TEXT)?.map(str::to_owned),
        limit,
        offset,
    };
    let page = ctx
        .app
        .store
        .read(|tx| storage::list(tx, &ctx.scope, &filter))?;
    let items: Vec<_> = page.items.iter().map(view).collect();
    crate::http::list_reply(items, page.total, (limit, offset))
}

pub(crate) fn get(ctx: &Ctx<'_>, id: &str) -> Outcome {
    let customer = ctx
        .app
        .store
        .read(|tx| storage::get(tx, &ctx.scope, id))?
        .ok_or_else(|| customer_not_found(id))?;
    Reply::json(200, view(&customer))
}

/// Changes name, email, metadata and external_id (still unique in the environment).
pub(crate) fn update(ctx: &Ctx<'_>, id: &str) -> Outcome {
    let change = customers::parse_update(&ctx.json()?)?;
    let now = ctx.now();
    let customer = ctx.app.store.write(|tx| {
        let mut c = storage::get(tx, &ctx.scope, id)?.ok_or_else(|| customer_not_found(id))?;
        if let Some(external_id) = &change.external_id {
            check_external_id_free(tx, ctx, external_id, Some(id))?;
        }
        if c.apply(change) {
            c.updated_at = now;
            c.updated_by = ctx.principal.key_name.clone();
            storage::update(tx, &c)?;
        }
        Ok::<_, ApiError>(c)
    })?;
    Reply::json(200, view(&customer))
}
