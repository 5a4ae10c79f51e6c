//! The `scheduled_tasks` table.

use rusqlite::Transaction;

use crate::scheduled_tasks::{EntityType, Interval, ScheduledTask, TaskStatus};
use crate::store::Audit;
use crate::store::record::Json;
use crate::store::record::{self, Stored};
use crate::store::{Filter, Result, Scope};

/// Filters of `GET /v1/tasks/scheduled`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TaskFilter {
    pub connection_id: Option<String>,
    pub entity_type: Option<EntityType>,
    pub interval: Option<Interval>,
    pub enabled: Option<bool>,
    pub status: TaskStatus,
}

// Stored intervals were accepted when written, so `custom` reads back either way.
crate::store::record::stored!(ScheduledTask in "scheduled_tasks" {
    id, tenant_id, environment_id, connection_id, entity_type, interval, enabled, job_config: Json,
    status, watermark, next_run_at, last_run_at, last_run_status, consecutive_failures,
    paused_reason, ..audit: Audit,
});

impl record::ListQuery for TaskFilter {
    type Record = ScheduledTask;

    fn narrow(&self, f: &mut Filter) {
        f.eq("status", self.status);
        f.eq_some("connection_id", self.connection_id.clone());
        f.eq_some("entity_type", self.entity_type);
        f.eq_some("interval", self.interval);
        f.eq_some("enabled", self.enabled);
    }
}

/// The scope's live tasks (enabled, not deleted) exporting `entity` under `key_prefix`: the
/// ones whose output a new or resumed task may overwrite (see [`crate::scheduled_tasks::output`]).
pub(crate) fn live_under(
    tx: &Transaction<'_>,
    scope: &Scope,
    entity: EntityType,
    key_prefix: &str,
) -> Result<Vec<ScheduledTask>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {} FROM scheduled_tasks
         WHERE tenant_id = ?1 AND environment_id = ?2 AND status = 'published' AND enabled = 1
           AND entity_type = ?3 AND COALESCE(json_extract(job_config, '$.key_prefix'), '') = ?4
         ORDER BY created_at, id",
        ScheduledTask::columns()
    ))?;
    record::all(stmt.query(rusqlite::params![
        scope.tenant_id,
        scope.environment_id,
        entity,
        key_prefix
    ])?)
}

/// Sets when the scheduler next starts a run of the task (`None`: not scheduled).
pub(crate) fn set_next_run(tx: &Transaction<'_>, id: &str, next_run_at: Option<i64>) -> Result<()> {
    tx.execute(
        "UPDATE scheduled_tasks SET next_run_at = ?1 WHERE id = ?2",
        rusqlite::params![next_run_at, id],
    )?;
    Ok(())
}

/// Enabled, published tasks whose next run is due, soonest first.
pub(crate) fn due(tx: &Transaction<'_>, now: i64, limit: usize) -> Result<Vec<ScheduledTask>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {} FROM scheduled_tasks
         WHERE enabled = 1 AND status = 'published' AND next_run_at <= ?1
         ORDER BY next_run_at, id LIMIT ?2",
        ScheduledTask::columns()
    ))?;
    record::all(stmt.query(rusqlite::params![now, limit as i64])?)
}

/// The soonest next run of any enabled, published task.
pub(crate) fn earliest_due(tx: &Transaction<'_>) -> Result<Option<i64>> {
    Ok(tx.query_row(
        "SELECT MIN(next_run_at) FROM scheduled_tasks WHERE enabled = 1 AND status = 'published'",
        [],
        |r| r.get(0),
    )?)
}

/// Enabled, published tasks with no next run and no scheduled run in flight: after a crash
/// they are the ones whose interrupted windows must be scheduled again.
pub(crate) fn unscheduled(tx: &Transaction<'_>) -> Result<Vec<ScheduledTask>> {
    let mut stmt = tx.prepare(&format!(
        "SELECT {} FROM scheduled_tasks t
         WHERE enabled = 1 AND status = 'published' AND next_run_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.scheduled_task_id = t.id
                           AND r.trigger IN ('scheduled', 'retry')
                           AND r.task_status IN ('PENDING', 'PROCESSING'))",
        ScheduledTask::columns()
    ))?;
    record::all(stmt.query([])?)
}

/// Whether a scheduled (or retry) run of the task is pending or running.
pub(crate) fn scheduled_run_in_flight(tx: &Transaction<'_>, id: &str) -> Result<bool> {
    Ok(tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM runs WHERE scheduled_task_id = ?1 AND trigger IN ('scheduled', 'retry')
                        AND task_status IN ('PENDING', 'PROCESSING'))",
        [id],
        |r| r.get(0),
    )?)
}

/// The scheduler's bookkeeping after a scheduled run ended (one statement, in the run's own
/// transaction).
pub(crate) struct ScheduleUpdate {
    pub watermark: Option<i64>,
    pub next_run_at: Option<i64>,
    pub last_run_at: i64,
    pub last_run_status: &'static str,
    pub consecutive_failures: i64,
    pub enabled: bool,
    pub paused_reason: Option<String>,
}

pub(crate) fn record_schedule(tx: &Transaction<'_>, id: &str, u: &ScheduleUpdate) -> Result<()> {
    tx.execute(
        "UPDATE scheduled_tasks SET watermark = ?1, next_run_at = ?2, last_run_at = ?3, last_run_status = ?4,
             consecutive_failures = ?5, enabled = ?6, paused_reason = ?7
         WHERE id = ?8",
        rusqlite::params![
            u.watermark,
            u.next_run_at,
            u.last_run_at,
            u.last_run_status,
            u.consecutive_failures,
            u.enabled,
            u.paused_reason,
            id
        ],
    )?;
    Ok(())
}

/// Pauses or resumes. Resuming starts the failure count afresh (the user fixed something)
/// and sets when the next run is due; pausing unschedules.
pub(crate) fn set_enabled(
    tx: &Transaction<'_>,
    scope: &Scope,
    id: &str,
    enabled: bool,
    next_run_at: Option<i64>,
    now: i64,
    by: &str,
) -> Result<()> {
    tx.execute(
        "UPDATE scheduled_tasks SET enabled = ?1, next_run_at = ?2, updated_at = ?3, updated_by = ?4,
             consecutive_failures = CASE WHEN ?1 THEN 0 ELSE consecutive_failures END,
             paused_reason = CASE WHEN ?1 THEN NULL ELSE paused_reason END
         WHERE id = ?5 AND tenant_id = ?6 AND environment_id = ?7",
        rusqlite::params![enabled, next_run_at, now, by, id, scope.tenant_id, scope.environment_id],
    )?;
    Ok(())
}

/// Soft delete: status `deleted`, disabled. Idempotent.
pub(crate) fn mark_deleted(
    tx: &Transaction<'_>,
    scope: &Scope,
    id: &str,
    now: i64,
    by: &str,
) -> Result<()> {
    tx.execute(
        "UPDATE scheduled_tasks SET status = 'deleted', enabled = 0, next_run_at = NULL, updated_at = ?1,
             updated_by = ?2
         WHERE id = ?3 AND tenant_id = ?4 AND environment_id = ?5 AND status <> 'deleted'",
        rusqlite::params![now, by, id, scope.tenant_id, scope.environment_id],
    )?;
    Ok(())
}

/// Soft-deletes every live task of a connection; returns how many.
pub(crate) fn delete_for_connection(
    tx: &Transaction<'_>,
    scope: &Scope,
    connection_id: &str,
    now: i64,
    by: &str,
) -> Result<usize> {
    Ok(tx.execute(
        "UPDATE scheduled_tasks SET status = 'deleted', enabled = 0, next_run_at = NULL, updated_at = ?1,
             updated_by = ?2
         WHERE connection_id = ?3 AND tenant_id = ?4 AND environment_id = ?5 AND status <> 'deleted'",
        rusqlite::params![now, by, connection_id, scope.tenant_id, scope.environment_id],
    )?)
}

/// A task by id in any scope (operator tooling only, never a client route).
pub(crate) fn get_unscoped(tx: &Transaction<'_>, id: &str) -> Result<Option<ScheduledTask>> {
    let mut f = Filter::default();
    f.eq("id", id.to_owned());
    record::one(tx, &f)
}

/// What `/metrics` reads from the database at scrape time (see [`crate::metrics::Gauges`]).
pub(crate) fn gauges(tx: &Transaction<'_>, now: i64) -> Result<crate::metrics::Gauges> {
    let oldest_due: Option<i64> = tx.query_row(
        "SELECT MIN(next_run_at) FROM scheduled_tasks
         WHERE enabled = 1 AND status = 'published' AND next_run_at <= ?1",
        [now],
        |r| r.get(0),
    )?;
    let mut stmt = tx.prepare_cached(
        "SELECT id, entity_type, watermark FROM scheduled_tasks
         WHERE enabled = 1 AND status = 'published' AND watermark IS NOT NULL ORDER BY id",
    )?;
    let watermark_age = stmt
        .query_map([], |r| {
            let watermark: i64 = r.get(2)?;
            Ok((r.get(0)?, r.get(1)?, (now - watermark) as f64 / 1000.0))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut stmt = tx.prepare_cached(
        "SELECT entity_type, enabled, COUNT(*) FROM scheduled_tasks WHERE status = 'published'
         GROUP BY entity_type, enabled ORDER BY entity_type, enabled",
    )?;
    let tasks = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let runs_in_flight: i64 = tx.query_row(
        "SELECT COUNT(*) FROM runs WHERE task_status IN ('PENDING', 'PROCESSING')",
        [],
        |r| r.get(0),
    )?;
    Ok(crate::metrics::Gauges {
        scheduler_lag_seconds: oldest_due.map_or(0.0, |due| (now - due).max(0) as f64 / 1000.0),
        watermark_age,
        tasks,
        runs_in_flight: runs_in_flight as u64,
        scheduler_passes: 0,
    })
}
