//! `/v1/connections`: S3 credentials (sealed at rest, never returned) and managed connections.

use serde::Serialize;
use serde_json::{Value, json};

use super::storage::ConnectionFilter;
use super::{Connection, ConnectionStatus, PROVIDER_S3, SyncS3};
use crate::http::AuditView;
use crate::http::{ApiError, Ctx, Outcome, Reply, check_endpoint, not_found};
use crate::ids::{CONNECTION, new_id};
use crate::store::Audit;
use crate::store::record::Stored;

#[derive(Serialize)]
struct ConnectionView<'a> {
    id: &'a str,
    name: &'a str,
    provider_type: &'a str,
    environment_id: &'a str,
    tenant_id: &'a str,
    status: &'static str,
    metadata: Option<&'a std::collections::BTreeMap<String, String>>,
    sync_config: Value,
    #[serde(flatten)]
    audit: AuditView<'a>,
}

fn view(c: &Connection) -> ConnectionView<'_> {
    ConnectionView {
        id: &c.id,
        name: &c.name,
        provider_type: &c.provider_type,
        environment_id: &c.environment_id,
        tenant_id: &c.tenant_id,
        status: c.status.as_str(),
        metadata: c.metadata.as_ref(),
        sync_config: match &c.sync_s3 {
            Some(s3) => json!({ "s3": s3 }),
            None => json!({}),
        },
        audit: AuditView::of(&c.audit),
    }
}

fn connection_not_found(id: &str) -> ApiError {
    not_found("Connection", id)
}

/// Fills a managed connection's sync_config from the operator's destination.
fn apply_managed(ctx: &Ctx<'_>, s3: &mut SyncS3) -> Result<(), ApiError> {
    let target = ctx.managed_target()?;
    s3.bucket = target.bucket;
    s3.region = target.region;
    s3.key_prefix = target.key_prefix;
    s3.endpoint_url = None;
    s3.use_path_style = false;
    Ok(())
}

fn check_sync_endpoint(ctx: &Ctx<'_>, s3: &Option<SyncS3>) -> Result<(), ApiError> {
    match s3.as_ref().and_then(|s| s.endpoint_url.as_deref()) {
        Some(url) => check_endpoint(ctx, "sync_config.s3.endpoint_url", url),
        None => Ok(()),
    }
}

pub(crate) fn create(ctx: &Ctx<'_>) -> Outcome {
    let mut input = super::parse_create(&ctx.json()?)?;
    if let Some(s3) = input.sync_s3.as_mut().filter(|s| s.is_flexprice_managed) {
        apply_managed(ctx, s3)?;
    }
    check_sync_endpoint(ctx, &input.sync_s3)?;
    let now = ctx.now();
    let id = new_id(CONNECTION);
    let connection = Connection {
        sealed_secrets: input
            .credentials
            .as_ref()
            .map(|c| c.seal(&ctx.app.secrets, &id)),
        id,
        tenant_id: ctx.scope.tenant_id.clone(),
        environment_id: ctx.scope.environment_id.clone(),
        name: input.name,
        provider_type: PROVIDER_S3.to_owned(),
        sync_s3: input.sync_s3,
        metadata: input.metadata,
        status: ConnectionStatus::Published,
        audit: Audit::new(&ctx.principal.key_name, now),
    };
    ctx.app.store.write(|tx| connection.insert(tx))?;
    Reply::json(201, view(&connection))
}

pub(crate) fn list(ctx: &Ctx<'_>) -> Outcome {
    let q = &ctx.query;
    let filter = ConnectionFilter {
        provider_type: q.text("provider_type", 64)?.map(str::to_owned),
        status: q
            .choice("status", ConnectionStatus::parse, "published, archived")?
            .unwrap_or(ConnectionStatus::Published),
    };
    let (page, (limit, offset)) =
        ctx.page(|tx, s, page| crate::store::record::list(tx, s, &filter, page))?;
    let items: Vec<_> = page.items.iter().map(view).collect();
    Reply::json(
        200,
        json!({"connections": items, "total": page.total, "limit": limit, "offset": offset}),
    )
}

pub(crate) fn get(ctx: &Ctx<'_>, id: &str) -> Outcome {
    let connection = ctx
        .app
        .store
        .read(|tx| Connection::by_id(tx, &ctx.scope, id))?
        .ok_or_else(|| connection_not_found(id))?;
    Reply::json(200, view(&connection))
}

/// Changes name, metadata, sync_config and credentials (rotation re-seals them).
pub(crate) fn update(ctx: &Ctx<'_>, id: &str) -> Outcome {
    let body = ctx.json()?;
    // Whether the connection is managed decides what the body may say; it never changes, so
    // it can be read before the write (and the endpoint's DNS lookup stays outside the lock).
    let managed = ctx
        .app
        .store
        .read(|tx| Connection::by_id(tx, &ctx.scope, id))?
        .ok_or_else(|| connection_not_found(id))?
        .is_managed();
    let mut change = super::parse_update(&body, managed)?;
    if let Some(s3) = change.sync_s3.as_mut().filter(|s| s.is_flexprice_managed) {
        apply_managed(ctx, s3)?;
    }
    check_sync_endpoint(ctx, &change.sync_s3)?;
    let now = ctx.now();
    let connection = ctx.app.store.write(|tx| {
        let mut c =
            Connection::by_id(tx, &ctx.scope, id)?.ok_or_else(|| connection_not_found(id))?;
        if c.status == ConnectionStatus::Archived {
            return Err(ApiError::invalid_operation(format!(
                "Connection {id} has been deleted and cannot be modified"
            )));
        }
        if let Some(name) = change.name {
            c.name = name;
        }
        if let Some(metadata) = change.metadata {
            c.metadata = Some(metadata);
        }
        if let Some(s3) = change.sync_s3 {
            c.sync_s3 = Some(s3);
        }
        if let Some(credentials) = &change.credentials {
            c.sealed_secrets = Some(credentials.seal(&ctx.app.secrets, &c.id));
        }
        c.audit.touch(&ctx.principal.key_name, now);
        c.update(tx)?;
        Ok::<_, ApiError>(c)
    })?;
    Reply::json(200, view(&connection))
}

/// Soft-deletes the connection and every scheduled task on it, in one transaction. Idempotent.
pub(crate) fn delete(ctx: &Ctx<'_>, id: &str) -> Outcome {
    let now = ctx.now();
    ctx.app.store.write(|tx| {
        let mut c =
            Connection::by_id(tx, &ctx.scope, id)?.ok_or_else(|| connection_not_found(id))?;
        if c.status == ConnectionStatus::Published {
            let by = ctx.principal.key_name.clone();
            let tasks = crate::scheduled_tasks::storage::delete_for_connection(
                tx, &ctx.scope, id, now, &by,
            )?;
            c.status = ConnectionStatus::Archived;
            c.audit.touch(&by, now);
            c.update(tx)?;
            log::info!("connection {id} deleted with {tasks} scheduled task(s)");
        }
        Ok::<_, ApiError>(())
    })?;
    ctx.app.scheduler.notify();
    Ok(Reply::no_content())
}

/// `POST /v1/connections/{id}/test`: writes and deletes a probe object with the connection's
/// credentials and reports each step. A customer connection names the bucket to try
/// (`{bucket, region, endpoint_url?, use_path_style?, encryption?, kms_key_id?}`); a managed
/// one tests the operator's destination and takes no body.
pub(crate) fn test(ctx: &Ctx<'_>, id: &str) -> Outcome {
    let conn = ctx
        .app
        .store
        .read(|tx| Connection::by_id(tx, &ctx.scope, id))?
        .filter(|c| c.status == ConnectionStatus::Published)
        .ok_or_else(|| connection_not_found(id))?;
    let body = if ctx.body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Object(Default::default())
    } else {
        ctx.json()?
    };
    // The body's fields are a job_config's (same rules and messages), at the top level.
    let untie = |e: crate::input::InputError| {
        ApiError::validation(
            e.field.trim_start_matches("job_config."),
            e.message.replace("job_config.", ""),
        )
    };
    let mut job = crate::scheduled_tasks::job_config::parse(
        crate::input::Obj::root(&body)?,
        crate::scheduled_tasks::EntityType::Events,
    )
    .map_err(untie)?;
    if conn.is_managed() {
        job.config.provider = crate::scheduled_tasks::job_config::Provider::Flexprice;
    } else if let Some(url) = &job.config.endpoint_url {
        check_endpoint(ctx, "endpoint_url", url)?;
    }
    let target = if conn.is_managed() {
        Some(ctx.managed_target()?)
    } else {
        None
    };
    let encryption = job.config.encryption;
    let kms_key_id = job.config.kms_key_id.clone();
    let job_config = job.resolve(target.as_ref()).map_err(untie)?;
    let steps = match crate::sinks::destination::destination(
        &ctx.app.config,
        &ctx.app.secrets,
        &job_config,
        &conn,
    ) {
        Ok(dest) => {
            let meta = crate::sinks::destination::probe_meta(encryption, kms_key_id);
            dest.probe(&meta)
        }
        Err(e) => vec![crate::sinks::ProbeStep::new("connect", Err(e))],
    };
    let failed = steps
        .iter()
        .find_map(|s| s.error.as_ref().map(|e| (s.step, e)));
    for s in &steps {
        if let Some(e) = &s.error {
            log::info!("connection test {id}: step {} failed: {}", s.step, e.detail);
        }
    }
    let report: Vec<_> = steps
        .iter()
        .map(|s| json!({"step": s.step, "success": s.error.is_none(), "error": s.error.as_ref().map(|e| e.summary.clone())}))
        .collect();
    let message = match failed {
        None => format!(
            "wrote and deleted a test object in bucket '{}'",
            job_config.bucket
        ),
        Some((step, e)) => format!("the {step} step failed: {}", e.summary),
    };
    Reply::json(
        200,
        json!({"success": failed.is_none(), "message": message, "steps": report}),
    )
}
