//! `/v1/tasks/scheduled`: create, list, get, pause/resume, delete and force-run tasks.

use serde::Serialize;
use serde_json::json;

use super::{ApiError, Ctx, Outcome, Reply, check_endpoint, not_found};
use crate::clock::rfc3339_ms;
use crate::connections::ConnectionStatus;
use crate::ids::{SCHEDULED_TASK, new_id};
use crate::runs::{Run, Trigger, parse_force_run};
use crate::store::{self, scheduled_tasks::TaskFilter};
use crate::tasks::{self, EntityType, Interval, JobConfig, ScheduledTask, TaskStatus};

/// A scheduled task on the wire: Flexprice's fields, then exportd's scheduler extensions.
#[derive(Serialize)]
pub struct TaskView<'a> {
    id: &'a str,
    tenant_id: &'a str,
    environment_id: &'a str,
    connection_id: &'a str,
    entity_type: &'static str,
    interval: &'static str,
    enabled: bool,
    job_config: &'a JobConfig,
    status: &'static str,
    created_at: String,
    updated_at: String,
    created_by: &'a str,
    updated_by: &'a str,
    next_run_at: Option<String>,
    last_run_at: Option<String>,
    last_run_status: Option<&'a str>,
    watermark: Option<String>,
}

pub fn view(t: &ScheduledTask) -> TaskView<'_> {
    TaskView {
        id: &t.id,
        tenant_id: &t.tenant_id,
        environment_id: &t.environment_id,
        connection_id: &t.connection_id,
        entity_type: t.entity_type.as_str(),
        interval: t.interval.as_str(),
        enabled: t.enabled,
        job_config: &t.job_config,
        status: t.status.as_str(),
        created_at: rfc3339_ms(t.created_at),
        updated_at: rfc3339_ms(t.updated_at),
        created_by: &t.created_by,
        updated_by: &t.updated_by,
        next_run_at: t.next_run_at.map(rfc3339_ms),
        last_run_at: t.last_run_at.map(rfc3339_ms),
        last_run_status: t.last_run_status.as_deref(),
        watermark: t.watermark.map(rfc3339_ms),
    }
}

fn task_not_found(id: &str) -> ApiError {
    not_found("Scheduled task", id)
}

pub fn create(ctx: &Ctx<'_>) -> Outcome {
    let body = ctx.json()?;
    let input = tasks::parse_create(&body, ctx.app.config.allow_test_intervals)?;
    if let Some(url) = &input.job_config.config.endpoint_url {
        check_endpoint(ctx, "job_config.endpoint_url", url)?;
    }
    let now = ctx.now();
    let task = ctx.app.store.write(|tx| {
        let connection = store::connections::get(tx, &ctx.scope, &input.connection_id)?
            .filter(|c| c.status == ConnectionStatus::Published)
            .ok_or_else(|| {
                not_found("Connection", &input.connection_id)
                    .with_detail("connection_id", input.connection_id.as_str())
            })?;
        let target = if connection.is_managed() {
            Some(ctx.managed_target()?)
        } else {
            None
        };
        let job_config = input.job_config.clone().resolve(target.as_ref())?;
        let task = ScheduledTask {
            id: new_id(SCHEDULED_TASK),
            tenant_id: ctx.scope.tenant_id.clone(),
            environment_id: ctx.scope.environment_id.clone(),
            connection_id: connection.id,
            entity_type: input.entity_type,
            interval: input.interval,
            enabled: input.enabled,
            job_config,
            status: TaskStatus::Published,
            created_at: now,
            updated_at: now,
            created_by: ctx.principal.key_name.clone(),
            updated_by: ctx.principal.key_name.clone(),
            next_run_at: None,
            last_run_at: None,
            last_run_status: None,
            watermark: None,
        };
        store::scheduled_tasks::insert(tx, &task)?;
        Ok::<_, ApiError>(task)
    })?;
    Reply::json(201, view(&task))
}

pub fn list(ctx: &Ctx<'_>) -> Outcome {
    let q = &ctx.query;
    let (limit, offset) = q.page()?;
    let entities: Vec<_> = EntityType::ALL.iter().map(|e| e.as_str()).collect();
    let filter = TaskFilter {
        connection_id: q
            .text("connection_id", tasks::MAX_ID_CHARS)?
            .map(str::to_owned),
        entity_type: q.choice("entity_type", EntityType::parse, &entities.join(", "))?,
        interval: q.choice(
            "interval",
            |s| Interval::parse(s, true),
            "15MIN, 30MIN, hourly, daily, custom",
        )?,
        enabled: q.bool("enabled")?,
        status: q
            .choice("status", TaskStatus::parse, "published, deleted")?
            .unwrap_or(TaskStatus::Published),
        limit,
        offset,
    };
    let page = ctx
        .app
        .store
        .read(|tx| store::scheduled_tasks::list(tx, &ctx.scope, &filter))?;
    let items: Vec<_> = page.items.iter().map(view).collect();
    Reply::json(
        200,
        json!({"items": items, "pagination": {"total": page.total, "limit": limit, "offset": offset}}),
    )
}

pub fn get(ctx: &Ctx<'_>, id: &str) -> Outcome {
    let task = ctx
        .app
        .store
        .read(|tx| store::scheduled_tasks::get(tx, &ctx.scope, id))?
        .ok_or_else(|| task_not_found(id))?;
    Reply::json(200, view(&task))
}

/// Pause or resume. A deleted task cannot be changed; setting the current value is a no-op.
pub fn update(ctx: &Ctx<'_>, id: &str) -> Outcome {
    let enabled = tasks::parse_update(&ctx.json()?)?;
    let now = ctx.now();
    let task = ctx.app.store.write(|tx| {
        let task =
            store::scheduled_tasks::get(tx, &ctx.scope, id)?.ok_or_else(|| task_not_found(id))?;
        if task.status == TaskStatus::Deleted {
            return Err(ApiError::invalid_operation(format!(
                "Scheduled task {id} has been deleted and cannot be modified"
            )));
        }
        if task.enabled == enabled {
            return Ok(task);
        }
        store::scheduled_tasks::set_enabled(
            tx,
            &ctx.scope,
            id,
            enabled,
            now,
            &ctx.principal.key_name,
        )?;
        store::scheduled_tasks::get(tx, &ctx.scope, id)?.ok_or_else(|| task_not_found(id))
    })?;
    Reply::json(200, view(&task))
}

/// Soft delete, idempotent. Flexprice answers 200 with a body; Speakeasy-generated Flexprice
/// SDKs were built from a swagger that says 204 and reject any other success status, so they
/// (and only they) get 204.
pub fn delete(ctx: &Ctx<'_>, id: &str) -> Outcome {
    let now = ctx.now();
    ctx.app.store.write(|tx| {
        store::scheduled_tasks::get(tx, &ctx.scope, id)?.ok_or_else(|| task_not_found(id))?;
        store::scheduled_tasks::mark_deleted(tx, &ctx.scope, id, now, &ctx.principal.key_name)?;
        Ok::<_, ApiError>(())
    })?;
    if ctx.user_agent.starts_with("speakeasy-sdk/") {
        return Ok(Reply::no_content());
    }
    Reply::json(
        200,
        json!({"message": "Scheduled task archived successfully", "id": id, "status": "archived"}),
    )
}

/// Records a manual run (PENDING) before answering; its id is the `workflow_id`.
pub fn force_run(ctx: &Ctx<'_>, id: &str) -> Outcome {
    let now = ctx.now();
    let (run, mode) = ctx.app.store.write(|tx| {
        let task =
            store::scheduled_tasks::get(tx, &ctx.scope, id)?.ok_or_else(|| task_not_found(id))?;
        if task.status == TaskStatus::Deleted {
            return Err(ApiError::invalid_operation(format!(
                "Scheduled task {id} has been deleted and cannot be run"
            )));
        }
        let window = parse_force_run(&ctx.body, task.interval, now)?;
        let run = Run::pending(
            &task,
            Trigger::Manual,
            1,
            (window.start, window.end),
            &ctx.principal.key_name,
            now,
        );
        store::runs::insert(tx, &run)?;
        Ok::<_, ApiError>((run, window.mode()))
    })?;
    ctx.app.queue.push(&run.id, &run.scheduled_task_id);
    Reply::json(
        200,
        json!({
            "workflow_id": run.id,
            "message": "Force run triggered successfully",
            "start_time": rfc3339_ms(run.window_start),
            "end_time": rfc3339_ms(run.window_end),
            "mode": mode,
        }),
    )
}
