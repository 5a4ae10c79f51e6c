//! The `runs` table (Flexprice's "tasks").

use rusqlite::{Row, Transaction};

use super::{Filter, Page, Result, Scope, parse_column, select_one, select_page};
use crate::runs::{Run, RunStatus, Trigger};
use crate::tasks::EntityType;

const COLUMNS: &str = "id, tenant_id, environment_id, scheduled_task_id, entity_type, trigger, \
     attempt, window_start, window_end, task_status, file_url, object_key, total_records, \
     processed_records, successful_records, failed_records, uncompressed_bytes, stored_bytes, \
     sha256, error_summary, started_at, completed_at, failed_at, created_at, updated_at, created_by";

/// Sort column of `GET /v1/tasks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunSort {
    CreatedAt,
    UpdatedAt,
}

/// Filters of `GET /v1/tasks`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFilter {
    pub scheduled_task_id: Option<String>,
    pub task_status: Option<RunStatus>,
    pub entity_type: Option<EntityType>,
    /// `created_at >= start` and `created_at <= end` (Flexprice's meaning of these filters).
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    pub sort: RunSort,
    pub descending: bool,
    pub limit: i64,
    pub offset: i64,
}

fn read_row(r: &Row<'_>) -> Result<Run> {
    Ok(Run {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        environment_id: r.get(2)?,
        scheduled_task_id: r.get(3)?,
        entity_type: parse_column("entity_type", r.get(4)?, EntityType::parse)?,
        trigger: parse_column("trigger", r.get(5)?, Trigger::parse)?,
        attempt: r.get(6)?,
        window_start: r.get(7)?,
        window_end: r.get(8)?,
        task_status: parse_column("task_status", r.get(9)?, RunStatus::parse)?,
        file_url: r.get(10)?,
        object_key: r.get(11)?,
        total_records: r.get(12)?,
        processed_records: r.get(13)?,
        successful_records: r.get(14)?,
        failed_records: r.get(15)?,
        uncompressed_bytes: r.get(16)?,
        stored_bytes: r.get(17)?,
        sha256: r.get(18)?,
        error_summary: r.get(19)?,
        started_at: r.get(20)?,
        completed_at: r.get(21)?,
        failed_at: r.get(22)?,
        created_at: r.get(23)?,
        updated_at: r.get(24)?,
        created_by: r.get(25)?,
    })
}

pub fn insert(tx: &Transaction<'_>, run: &Run) -> Result<()> {
    tx.execute(
        &format!(
            "INSERT INTO runs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, \
             ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)"
        ),
        rusqlite::params![
            run.id,
            run.tenant_id,
            run.environment_id,
            run.scheduled_task_id,
            run.entity_type.as_str(),
            run.trigger.as_str(),
            run.attempt,
            run.window_start,
            run.window_end,
            run.task_status.as_str(),
            run.file_url,
            run.object_key,
            run.total_records,
            run.processed_records,
            run.successful_records,
            run.failed_records,
            run.uncompressed_bytes,
            run.stored_bytes,
            run.sha256,
            run.error_summary,
            run.started_at,
            run.completed_at,
            run.failed_at,
            run.created_at,
            run.updated_at,
            run.created_by,
        ],
    )?;
    Ok(())
}

pub fn get(tx: &Transaction<'_>, scope: &Scope, id: &str) -> Result<Option<Run>> {
    let mut f = Filter::scoped(scope);
    f.eq("id", id.to_owned());
    select_one(tx, "runs", COLUMNS, &f, read_row)
}

pub fn list(tx: &Transaction<'_>, scope: &Scope, q: &RunFilter) -> Result<Page<Run>> {
    let mut f = Filter::scoped(scope);
    if let Some(id) = &q.scheduled_task_id {
        f.eq("scheduled_task_id", id.clone());
    }
    if let Some(s) = q.task_status {
        f.eq("task_status", s.as_str().to_owned());
    }
    if let Some(e) = q.entity_type {
        f.eq("entity_type", e.as_str().to_owned());
    }
    if let Some(t) = q.created_from {
        f.cmp("created_at", ">=", t);
    }
    if let Some(t) = q.created_to {
        f.cmp("created_at", "<=", t);
    }
    let column = match q.sort {
        RunSort::CreatedAt => "created_at",
        RunSort::UpdatedAt => "updated_at",
    };
    let dir = if q.descending { "DESC" } else { "ASC" };
    let order = format!("{column} {dir}, id {dir}");
    select_page(
        tx,
        "runs",
        COLUMNS,
        &f,
        &order,
        (q.limit, q.offset),
        read_row,
    )
}
