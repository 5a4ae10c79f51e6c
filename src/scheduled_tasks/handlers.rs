//! `/v1/tasks/scheduled`: create, list, get, pause/resume, delete and force-run tasks.

use rusqlite::Transaction;
use serde::Serialize;
use serde_json::json;

use super::storage::{self, TaskFilter};
use super::{EntityType, Interval, JobConfig, ScheduledTask, TaskStatus, schedule, window};
use crate::clock::rfc3339_ms;
use crate::connections::ConnectionStatus;
use crate::http::AuditView;
use crate::http::{ApiError, Ctx, Outcome, Reply, View, check_endpoint, not_found};
use crate::ids::{SCHEDULED_TASK, new_id};
use crate::runs::{Run, Trigger, manual_run};
use crate::store::record::Stored;

/// A scheduled task on the wire: Flexprice's fields, then exportd's scheduler extensions.
#[derive(Serialize)]
pub(crate) struct TaskView<'a> {
    id: &'a str,
    tenant_id: &'a str,
    environment_id: &'a str,
    connection_id: &'a str,
    entity_type: &'static str,
    interval: &'static str,
    enabled: bool,
    job_config: &'a JobConfig,
    status: &'static str,
    #[serde(flatten)]
    audit: AuditView<'a>,
    next_run_at: Option<String>,
    last_run_at: Option<String>,
    last_run_status: Option<&'a str>,
    watermark: Option<String>,
    consecutive_failures: i64,
    paused_reason: Option<&'a str>,
}

pub(crate) fn view(t: &ScheduledTask) -> TaskView<'_> {
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
        audit: AuditView::of(&t.audit),
        next_run_at: t.next_run_at.map(rfc3339_ms),
        last_run_at: t.last_run_at.map(rfc3339_ms),
        last_run_status: t.last_run_status.as_deref(),
        watermark: t.watermark.map(rfc3339_ms),
        consecutive_failures: t.consecutive_failures,
        paused_reason: t.paused_reason.as_deref(),
    }
}

impl View for ScheduledTask {
    const KIND: &'static str = "Scheduled task";
    fn view(&self) -> impl Serialize {
        view(self)
    }
}

/// 409 when a live task of the scope already writes where `task` would (see
/// [`super::output`]): its files would be overwritten without a word.
fn check_output_free(
    tx: &rusqlite::Transaction<'_>,
    ctx: &Ctx<'_>,
    task: &ScheduledTask,
) -> Result<(), ApiError> {
    if task.job_config.allow_shared_output {
        return Ok(());
    }
    let prefix = &task.job_config.key_prefix;
    let live = storage::live_under(tx, &ctx.scope, task.entity_type, prefix)?;
    match super::output::conflict(&task.id, task.entity_type, &task.job_config, &live) {
        None => Ok(()),
        Some(other) => Err(ApiError::already_exists(format!(
                "Scheduled task {} already writes to the same place ({}): the two tasks would overwrite each other's files. Use another job_config.key_prefix, pause or delete {}, or set job_config.allow_shared_output to true to share it knowingly",
                other.id,
                super::output::Namespace::of(other.entity_type, &other.job_config).describe(),
                other.id
            ),
        )
        .with_detail("scheduled_task_id", other.id.as_str())),
    }
}

pub(crate) fn create(ctx: &Ctx<'_>) -> Outcome {
    let body = ctx.json()?;
    let input = super::parse_create(&body, ctx.app.config.allow_test_intervals)?;
    ctx.app.source.offers(input.entity_type)?;
    if let Some(url) = &input.job_config.config.endpoint_url {
        check_endpoint(ctx, "job_config.endpoint_url", url)?;
    }
    let now = ctx.now();
    let task = ctx.app.store.write(|tx| {
        let connection =
            crate::connections::Connection::by_id(tx, &ctx.scope, &input.connection_id)?
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
        let mut task = ScheduledTask::new(
            new_id(SCHEDULED_TASK),
            (&ctx.scope.tenant_id, &ctx.scope.environment_id),
            connection.id,
            (input.entity_type, input.interval),
            job_config,
            &ctx.principal.key_name,
            now,
        );
        task.enabled = input.enabled;
        if task.enabled {
            task.next_run_at = Some(schedule::next_due(&task, &ctx.app.config));
        }
        check_output_free(tx, ctx, &task)?;
        task.insert(tx)?;
        Ok::<_, ApiError>(task)
    })?;
    ctx.app.scheduler.notify();
    Reply::json(201, view(&task))
}

pub(crate) fn list(ctx: &Ctx<'_>) -> Outcome {
    let q = &ctx.query;
    let entities: Vec<_> = EntityType::ALL.iter().map(|e| e.as_str()).collect();
    let filter = TaskFilter {
        connection_id: q
            .text("connection_id", super::MAX_ID_CHARS)?
            .map(str::to_owned),
        entity_type: q.choice("entity_type", EntityType::parse, &entities.join(", "))?,
        interval: q.choice(
            "interval",
            Interval::parse,
            "15MIN, 30MIN, hourly, daily, custom",
        )?,
        enabled: q.bool("enabled")?,
        status: q
            .choice("status", TaskStatus::parse, "published, deleted")?
            .unwrap_or(TaskStatus::Published),
    };
    ctx.list(|tx, s, page| crate::store::record::list(tx, s, &filter, page))
}

/// The task, which must not be deleted to be `done` (modified, backfilled).
fn live_task(
    tx: &Transaction<'_>,
    ctx: &Ctx<'_>,
    id: &str,
    done: &str,
) -> Result<ScheduledTask, ApiError> {
    let task = ctx.find::<ScheduledTask>(tx, id)?;
    if task.status == TaskStatus::Deleted {
        return Err(ApiError::invalid_operation(format!(
            "Scheduled task {id} has been deleted and cannot be {done}"
        )));
    }
    Ok(task)
}

/// Pause or resume. A deleted task cannot be changed; setting the current value is a no-op.
pub(crate) fn update(ctx: &Ctx<'_>, id: &str) -> Outcome {
    let enabled = super::parse_update(&ctx.json()?)?;
    let now = ctx.now();
    let task = ctx.app.store.write(|tx| {
        let task = live_task(tx, ctx, id, "modified")?;
        if task.enabled == enabled {
            return Ok(task);
        }
        if enabled {
            check_output_free(tx, ctx, &task)?;
        }
        // Resuming schedules the window after the watermark: missed windows are caught up.
        // A scheduled run still in flight schedules the next one itself when it ends.
        let next_run_at = (enabled && !storage::scheduled_run_in_flight(tx, id)?)
            .then(|| schedule::next_due(&task, &ctx.app.config));
        storage::set_enabled(
            tx,
            &ctx.scope,
            id,
            enabled,
            next_run_at,
            now,
            &ctx.principal.key_name,
        )?;
        ctx.find::<ScheduledTask>(tx, id)
    })?;
    ctx.app.scheduler.notify();
    Reply::json(200, view(&task))
}

/// Soft delete, idempotent. Flexprice answers 200 with a body; Speakeasy-generated Flexprice
/// SDKs were built from a swagger that says 204 and reject any other success status, so they
/// (and only they) get 204.
pub(crate) fn delete(ctx: &Ctx<'_>, id: &str) -> Outcome {
    let now = ctx.now();
    ctx.app.store.write(|tx| {
        ctx.find::<ScheduledTask>(tx, id)?;
        storage::mark_deleted(tx, &ctx.scope, id, now, &ctx.principal.key_name)?;
        Ok::<_, ApiError>(())
    })?;
    ctx.app.scheduler.notify();
    if ctx.user_agent.starts_with("speakeasy-sdk/") {
        return Ok(Reply::no_content());
    }
    Reply::json(
        200,
        json!({"message": "Scheduled task archived successfully", "id": id, "status": "archived"}),
    )
}

/// Records a manual run (PENDING) before answering; its id is the `workflow_id`.
pub(crate) fn force_run(ctx: &Ctx<'_>, id: &str) -> Outcome {
    let now = ctx.now();
    let (run, mode) = ctx.app.store.write(|tx| {
        let task = ctx.find::<ScheduledTask>(tx, id)?;
        let (run, window) = manual_run(&task, &ctx.body, &ctx.principal.key_name, now)?;
        run.insert(tx)?;
        Ok::<_, ApiError>((run, window.mode()))
    })?;
    ctx.app.queue_run(&run.id, &run.scheduled_task_id);
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

/// Most windows one backfill request may queue.
const MAX_BACKFILL_WINDOWS: usize = 1000;

/// `POST /v1/tasks/scheduled/{id}/backfill {"start_time","end_time"}`: queues every aligned
/// window that overlaps the range and has ended, as `backfill` runs. The watermark does not
/// move: backfill re-exports windows, it never changes the schedule.
pub(crate) fn backfill(ctx: &Ctx<'_>, id: &str) -> Outcome {
    let body = ctx.json()?;
    let mut obj = crate::input::Obj::root(&body)?;
    let start = obj.required_str("start_time", 64)?;
    let end = obj.required_str("end_time", 64)?;
    obj.finish()?;
    let time = |field: &str, text: &str| {
        crate::clock::parse_rfc3339_ms(text).filter(|ms| *ms >= 0).ok_or_else(|| {
            ApiError::validation(
                field,
                format!("{field} must be an RFC 3339 timestamp after 1970, such as 2025-10-16T10:00:00Z"),
            )
        })
    };
    let (start, end) = (time("start_time", start)?, time("end_time", end)?);
    if end <= start {
        return Err(ApiError::validation(
            "end_time",
            "End time must be after start time",
        ));
    }
    let now = ctx.now();
    let runs = ctx.app.store.write(|tx| {
        let task = live_task(tx, ctx, id, "backfilled")?;
        let windows = window::windows_in(task.interval, start, end, now);
        if windows.is_empty() {
            return Err(ApiError::validation(
                "end_time",
                "The range holds no complete window: a window is backfilled once it has ended",
            ));
        }
        if windows.len() > MAX_BACKFILL_WINDOWS {
            return Err(ApiError::validation(
                "end_time",
                format!(
                    "The range holds {} {} windows; backfill at most {MAX_BACKFILL_WINDOWS} per request",
                    windows.len(),
                    task.interval.as_str()
                ),
            ));
        }
        let mut runs = Vec::with_capacity(windows.len());
        for window in windows {
            let run = Run::pending(&task, Trigger::Backfill, 1, window, &ctx.principal.key_name, now);
            run.insert(tx)?;
            runs.push(run);
        }
        Ok::<_, ApiError>(runs)
    })?;
    for run in &runs {
        ctx.app.queue_run(&run.id, &run.scheduled_task_id);
    }
    let listed: Vec<_> = runs
        .iter()
        .map(|r| json!({"workflow_id": r.id, "start_time": rfc3339_ms(r.window_start), "end_time": rfc3339_ms(r.window_end)}))
        .collect();
    Reply::json(
        200,
        json!({"message": "Backfill triggered successfully", "count": runs.len(), "runs": listed}),
    )
}
