//! The `runs` table (Flexprice's "tasks").

use rusqlite::Transaction;

use crate::runs::{Completed, Run, RunStatus};
use crate::scheduled_tasks::EntityType;
use crate::store::record;
use crate::store::{Filter, Result};

/// Sort column of `GET /v1/tasks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunSort {
    CreatedAt,
    UpdatedAt,
}

/// Filters of `GET /v1/tasks`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RunFilter {
    pub scheduled_task_id: Option<String>,
    /// The key name (or `exportd export`, `scheduler`) that made the run.
    pub created_by: Option<String>,
    pub task_status: Option<RunStatus>,
    pub entity_type: Option<EntityType>,
    /// `created_at >= start` and `created_at <= end` (Flexprice's meaning of these filters).
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    pub sort: RunSort,
    pub descending: bool,
}

crate::store::record::stored!(Run in "runs" {
    id, tenant_id, environment_id, scheduled_task_id, entity_type, trigger, attempt,
    window_start, window_end, task_status, file_url, object_key, total_records,
    processed_records, successful_records, failed_records, uncompressed_bytes, stored_bytes,
    sha256, error_summary, started_at, completed_at, failed_at, created_at, updated_at,
    created_by, upload_id, run_after, superseded_at, superseded_by,
});

impl record::ListQuery for RunFilter {
    type Record = Run;

    fn narrow(&self, f: &mut Filter) {
        f.eq_some("scheduled_task_id", self.scheduled_task_id.clone());
        f.eq_some("created_by", self.created_by.clone());
        f.eq_some("task_status", self.task_status);
        f.eq_some("entity_type", self.entity_type);
        f.cmp_some("created_at", ">=", self.created_from);
        f.cmp_some("created_at", "<=", self.created_to);
    }

    fn order(&self) -> String {
        let column = match self.sort {
            RunSort::CreatedAt => "created_at",
            RunSort::UpdatedAt => "updated_at",
        };
        let dir = if self.descending { "DESC" } else { "ASC" };
        format!("{column} {dir}, id {dir}")
    }
}

/// Any run by id, whatever its scope (for the workers and signed downloads, never for a
/// client-scoped route).
pub(crate) fn get_unscoped(tx: &Transaction<'_>, id: &str) -> Result<Option<Run>> {
    let mut f = Filter::default();
    f.eq("id", id.to_owned());
    record::one(tx, &f)
}

/// PENDING → PROCESSING; `None` if the run is not (or no longer) pending.
pub(crate) fn claim(tx: &Transaction<'_>, id: &str, now: i64) -> Result<Option<Run>> {
    let changed = tx.execute(
        "UPDATE runs SET task_status = 'PROCESSING', started_at = ?1, updated_at = ?1
         WHERE id = ?2 AND task_status = 'PENDING'",
        rusqlite::params![now, id],
    )?;
    if changed == 0 {
        return Ok(None);
    }
    get_unscoped(tx, id)
}

/// Records the object and multipart upload a running export has open.
pub(crate) fn set_upload(
    tx: &Transaction<'_>,
    id: &str,
    object_key: &str,
    upload_id: &str,
    now: i64,
) -> Result<()> {
    tx.execute(
        "UPDATE runs SET object_key = ?1, upload_id = ?2, updated_at = ?3 WHERE id = ?4",
        rusqlite::params![object_key, upload_id, now, id],
    )?;
    Ok(())
}

pub(crate) fn complete(tx: &Transaction<'_>, id: &str, done: &Completed, now: i64) -> Result<()> {
    tx.execute(
        "UPDATE runs SET task_status = 'COMPLETED', object_key = ?1, file_url = ?2, total_records = ?3,
             processed_records = ?3, successful_records = ?3, failed_records = 0,
             uncompressed_bytes = ?4, stored_bytes = ?5, sha256 = ?6, error_summary = NULL,
             completed_at = ?7, updated_at = ?7, upload_id = NULL
         WHERE id = ?8",
        rusqlite::params![
            done.object_key,
            done.file_url,
            done.rows,
            done.uncompressed_bytes,
            done.stored_bytes,
            done.sha256,
            now,
            id
        ],
    )?;
    Ok(())
}

/// Marks every other completed run whose object `run` has just replaced (the same key in the
/// same store, as [`crate::scheduled_tasks::output::store_of`] names it) as superseded by `run`. The
/// replacing run is named only to runs of its own environment. Returns how many were marked.
pub(crate) fn supersede(
    tx: &Transaction<'_>,
    run: &Run,
    object_key: &str,
    store: &str,
    now: i64,
) -> Result<usize> {
    let mut stmt = tx.prepare_cached(
        "SELECT r.id, r.tenant_id, r.environment_id, t.job_config FROM runs AS r
         JOIN scheduled_tasks AS t ON t.id = r.scheduled_task_id
         WHERE r.object_key = ?1 AND r.task_status = 'COMPLETED' AND r.superseded_at IS NULL
           AND r.id != ?2",
    )?;
    let candidates: Vec<(String, String, String, String)> = stmt
        .query_map(rusqlite::params![object_key, run.id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut marked = 0;
    for (id, tenant_id, environment_id, job_config) in candidates {
        let job: crate::scheduled_tasks::JobConfig = serde_json::from_str(&job_config)?;
        if crate::scheduled_tasks::output::store_of(&job) != store {
            continue;
        }
        let same_scope = tenant_id == run.tenant_id && environment_id == run.environment_id;
        tx.execute(
            "UPDATE runs SET superseded_at = ?1, superseded_by = ?2, updated_at = ?1 WHERE id = ?3",
            rusqlite::params![now, same_scope.then_some(run.id.as_str()), id],
        )?;
        marked += 1;
    }
    Ok(marked)
}

pub(crate) fn fail(tx: &Transaction<'_>, id: &str, summary: &str, now: i64) -> Result<()> {
    tx.execute(
        "UPDATE runs SET task_status = 'FAILED', error_summary = ?1, failed_at = ?2, updated_at = ?2,
             upload_id = NULL
         WHERE id = ?3",
        rusqlite::params![summary, now, id],
    )?;
    Ok(())
}

/// Runs to queue now, oldest first: `(run id, scheduled task id)`. Retries still waiting for
/// their `run_after` are not among them.
pub(crate) fn pending(tx: &Transaction<'_>) -> Result<Vec<(String, String)>> {
    let mut stmt = tx.prepare(
        "SELECT id, scheduled_task_id FROM runs WHERE task_status = 'PENDING' AND run_after IS NULL
         ORDER BY created_at, id",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Waiting retries whose `run_after` has passed: no longer waiting from now on, returned to be
/// queued.
pub(crate) fn release_waiting(tx: &Transaction<'_>, now: i64) -> Result<Vec<(String, String)>> {
    let mut stmt = tx.prepare(
        "UPDATE runs SET run_after = NULL, updated_at = ?1
         WHERE run_after IS NOT NULL AND run_after <= ?1 AND task_status = 'PENDING'
         RETURNING id, scheduled_task_id",
    )?;
    let rows = stmt.query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// When the earliest waiting retry is due.
pub(crate) fn earliest_waiting(tx: &Transaction<'_>) -> Result<Option<i64>> {
    Ok(tx.query_row(
        "SELECT MIN(run_after) FROM runs WHERE run_after IS NOT NULL",
        [],
        |r| r.get(0),
    )?)
}

/// Runs left PROCESSING (a process stopped mid-export), oldest first.
pub(crate) fn processing(tx: &Transaction<'_>) -> Result<Vec<Run>> {
    let mut f = Filter::default();
    f.eq("task_status", RunStatus::Processing);
    Ok(record::page(tx, &f, "created_at, id", (i64::MAX, 0))?.items)
}

/// How many other runs of `run`'s task and window failed with a summary that begins with
/// `summary`.
pub(crate) fn ended_with(tx: &Transaction<'_>, run: &Run, summary: &str) -> Result<i64> {
    Ok(tx.query_row(
        "SELECT COUNT(*) FROM runs WHERE scheduled_task_id = ?1 AND window_start = ?2 \
         AND window_end = ?3 AND id <> ?4 AND task_status = 'FAILED' \
         AND substr(error_summary, 1, length(?5)) = ?5",
        rusqlite::params![
            run.scheduled_task_id,
            run.window_start,
            run.window_end,
            run.id,
            summary
        ],
        |r| r.get(0),
    )?)
}
