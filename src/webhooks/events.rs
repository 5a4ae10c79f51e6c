//! Queuing webhook events: the transaction that records a run's outcome (or a task's
//! auto-pause) writes one outbox row per webhook that wants the event, so a crash after the
//! commit loses nothing.

use rusqlite::Transaction;
use serde_json::{Value, json};

use super::storage::{self as outbox, Delivery};
use super::{EVENT_ID_PREFIX, EventType, Webhook};
use crate::clock::{rfc3339_ms, to_ms};
use crate::config::Config;
use crate::runs::{Run, RunStatus};
use crate::scheduled_tasks::ScheduledTask;
use crate::store::StoreError;

/// Prefix of delivery ids (`whd_…`), one per event and webhook (internal).
const DELIVERY_ID_PREFIX: &str = "whd";

/// Queues the event of a run that has just been recorded COMPLETED or FAILED; called in the
/// transaction that records it.
pub(crate) fn run_ended(
    tx: &Transaction<'_>,
    config: &Config,
    run_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    if config.webhooks.is_empty() {
        return Ok(());
    }
    let Some(run) = crate::runs::storage::get_unscoped(tx, run_id)? else {
        return Ok(());
    };
    let event = match run.task_status {
        RunStatus::Completed => EventType::RunCompleted,
        RunStatus::Failed => EventType::RunFailed,
        RunStatus::Pending | RunStatus::Processing => return Ok(()),
    };
    let data = json!({
        "run_id": run.id,
        "scheduled_task_id": run.scheduled_task_id,
        "entity_type": run.entity_type.as_str(),
        "trigger": run.trigger.as_str(),
        "attempt": run.attempt,
        "task_status": run.task_status.as_str(),
        "window_start": rfc3339_ms(run.window_start),
        "window_end": rfc3339_ms(run.window_end),
        "total_records": run.total_records,
        "uncompressed_bytes": run.uncompressed_bytes,
        "stored_bytes": run.stored_bytes,
        "object_key": run.object_key,
        "file_url": run.file_url,
        "sha256": run.sha256,
        "error_summary": run.error_summary,
    });
    enqueue(
        tx,
        config,
        event,
        (&run.tenant_id, &run.environment_id),
        data,
        now,
    )
}

/// Queues `task.auto_paused`; called in the transaction that pauses the task.
pub(crate) fn task_auto_paused(
    tx: &Transaction<'_>,
    config: &Config,
    task: &ScheduledTask,
    run: &Run,
    reason: &str,
    failures: i64,
    now: i64,
) -> Result<(), StoreError> {
    let data = json!({
        "scheduled_task_id": task.id,
        "entity_type": task.entity_type.as_str(),
        "paused_reason": reason,
        "consecutive_failures": failures,
        "run_id": run.id,
        "window_start": rfc3339_ms(run.window_start),
        "window_end": rfc3339_ms(run.window_end),
    });
    let scope = (task.tenant_id.as_str(), task.environment_id.as_str());
    enqueue(tx, config, EventType::TaskAutoPaused, scope, data, now)
}

/// One outbox row per webhook that wants `event`, all with the same event id and body.
fn enqueue(
    tx: &Transaction<'_>,
    config: &Config,
    event: EventType,
    (tenant_id, environment_id): (&str, &str),
    data: Value,
    now: i64,
) -> Result<(), StoreError> {
    let wanted: Vec<&Webhook> = config
        .webhooks
        .iter()
        .filter(|w| w.events.contains(&event))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let event_id = crate::ids::new_id(EVENT_ID_PREFIX);
    let body = json!({
        "id": event_id,
        "type": event.as_str(),
        "created_at": rfc3339_ms(now),
        "tenant_id": tenant_id,
        "environment_id": environment_id,
        "data": data,
    })
    .to_string();
    let real_now = real_now_ms();
    for webhook in wanted {
        let delivery = Delivery {
            id: crate::ids::new_id(DELIVERY_ID_PREFIX),
            event_id: event_id.clone(),
            event_type: event.as_str().to_owned(),
            url: webhook.url.to_string(),
            body: body.clone(),
            attempts: 0,
            created_at: real_now,
        };
        outbox::insert(tx, &delivery, real_now)?;
    }
    Ok(())
}

pub(super) fn real_now_ms() -> i64 {
    to_ms(jiff::Timestamp::now())
}
