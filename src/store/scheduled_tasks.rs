//! The `scheduled_tasks` table.

use rusqlite::{Row, Transaction};

use super::{Filter, Page, Result, Scope, parse_column, select_one, select_page};
use crate::tasks::{EntityType, Interval, ScheduledTask, TaskStatus};

const COLUMNS: &str = "id, tenant_id, environment_id, connection_id, entity_type, interval, \
     enabled, job_config, status, created_at, updated_at, created_by, updated_by, watermark, \
     next_run_at, last_run_at, last_run_status";

/// Filters of `GET /v1/tasks/scheduled`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskFilter {
    pub connection_id: Option<String>,
    pub entity_type: Option<EntityType>,
    pub interval: Option<Interval>,
    pub enabled: Option<bool>,
    pub status: TaskStatus,
    pub limit: i64,
    pub offset: i64,
}

fn read_row(r: &Row<'_>) -> Result<ScheduledTask> {
    Ok(ScheduledTask {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        environment_id: r.get(2)?,
        connection_id: r.get(3)?,
        entity_type: parse_column("entity_type", r.get(4)?, EntityType::parse)?,
        // Stored intervals were accepted when written, so `custom` reads back either way.
        interval: parse_column("interval", r.get(5)?, |s| Interval::parse(s, true))?,
        enabled: r.get(6)?,
        job_config: serde_json::from_str(&r.get::<_, String>(7)?)?,
        status: parse_column("status", r.get(8)?, TaskStatus::parse)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
        created_by: r.get(11)?,
        updated_by: r.get(12)?,
        watermark: r.get(13)?,
        next_run_at: r.get(14)?,
        last_run_at: r.get(15)?,
        last_run_status: r.get(16)?,
    })
}

pub fn insert(tx: &Transaction<'_>, t: &ScheduledTask) -> Result<()> {
    tx.execute(
        &format!("INSERT INTO scheduled_tasks ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"),
        rusqlite::params![
            t.id,
            t.tenant_id,
            t.environment_id,
            t.connection_id,
            t.entity_type.as_str(),
            t.interval.as_str(),
            t.enabled,
            serde_json::to_string(&t.job_config)?,
            t.status.as_str(),
            t.created_at,
            t.updated_at,
            t.created_by,
            t.updated_by,
            t.watermark,
            t.next_run_at,
            t.last_run_at,
            t.last_run_status,
        ],
    )?;
    Ok(())
}

pub fn get(tx: &Transaction<'_>, scope: &Scope, id: &str) -> Result<Option<ScheduledTask>> {
    let mut f = Filter::scoped(scope);
    f.eq("id", id.to_owned());
    select_one(tx, "scheduled_tasks", COLUMNS, &f, read_row)
}

/// Newest first, id as tie-break; `total` counts every match, not just this page.
pub fn list(tx: &Transaction<'_>, scope: &Scope, q: &TaskFilter) -> Result<Page<ScheduledTask>> {
    let mut f = Filter::scoped(scope);
    f.eq("status", q.status.as_str().to_owned());
    if let Some(c) = &q.connection_id {
        f.eq("connection_id", c.clone());
    }
    if let Some(e) = q.entity_type {
        f.eq("entity_type", e.as_str().to_owned());
    }
    if let Some(i) = q.interval {
        f.eq("interval", i.as_str().to_owned());
    }
    if let Some(e) = q.enabled {
        f.eq("enabled", e as i64);
    }
    let order = "created_at DESC, id DESC";
    select_page(
        tx,
        "scheduled_tasks",
        COLUMNS,
        &f,
        order,
        (q.limit, q.offset),
        read_row,
    )
}

pub fn set_enabled(
    tx: &Transaction<'_>,
    scope: &Scope,
    id: &str,
    enabled: bool,
    now: i64,
    by: &str,
) -> Result<()> {
    tx.execute(
        "UPDATE scheduled_tasks SET enabled = ?1, updated_at = ?2, updated_by = ?3
         WHERE id = ?4 AND tenant_id = ?5 AND environment_id = ?6",
        rusqlite::params![enabled, now, by, id, scope.tenant_id, scope.environment_id],
    )?;
    Ok(())
}

/// Soft delete: status `deleted`, disabled. Idempotent.
pub fn mark_deleted(
    tx: &Transaction<'_>,
    scope: &Scope,
    id: &str,
    now: i64,
    by: &str,
) -> Result<()> {
    tx.execute(
        "UPDATE scheduled_tasks SET status = 'deleted', enabled = 0, updated_at = ?1, updated_by = ?2
         WHERE id = ?3 AND tenant_id = ?4 AND environment_id = ?5 AND status <> 'deleted'",
        rusqlite::params![now, by, id, scope.tenant_id, scope.environment_id],
    )?;
    Ok(())
}

/// Soft-deletes every live task of a connection; returns how many.
pub fn delete_for_connection(
    tx: &Transaction<'_>,
    scope: &Scope,
    connection_id: &str,
    now: i64,
    by: &str,
) -> Result<usize> {
    Ok(tx.execute(
        "UPDATE scheduled_tasks SET status = 'deleted', enabled = 0, updated_at = ?1, updated_by = ?2
         WHERE connection_id = ?3 AND tenant_id = ?4 AND environment_id = ?5 AND status <> 'deleted'",
        rusqlite::params![now, by, connection_id, scope.tenant_id, scope.environment_id],
    )?)
}

/// A task by id in any scope (operator tooling only, never a client route).
pub fn get_unscoped(tx: &Transaction<'_>, id: &str) -> Result<Option<ScheduledTask>> {
    let mut f = Filter::default();
    f.eq("id", id.to_owned());
    select_one(tx, "scheduled_tasks", COLUMNS, &f, read_row)
}
