//! `/v1/tasks`: the run records, in Flexprice's Task shape plus exportd's extensions.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::storage::{RunFilter, RunSort};
use crate::clock::rfc3339_ms;
use crate::http::{Ctx, Outcome, View};
use crate::runs::{Run, RunStatus};
use crate::scheduled_tasks::{EntityType, MAX_ID_CHARS};
use crate::store;

#[derive(Serialize)]
pub(crate) struct RunView<'a> {
    id: &'a str,
    task_type: &'static str,
    entity_type: &'static str,
    scheduled_task_id: &'a str,
    workflow_id: &'a str,
    file_url: &'a str,
    file_name: Option<&'a str>,
    file_type: &'static str,
    task_status: &'static str,
    total_records: Option<i64>,
    processed_records: i64,
    successful_records: i64,
    failed_records: i64,
    error_summary: Option<&'a str>,
    metadata: Value,
    started_at: Option<String>,
    completed_at: Option<String>,
    failed_at: Option<String>,
    tenant_id: &'a str,
    environment_id: &'a str,
    status: &'static str,
    created_at: String,
    updated_at: String,
    created_by: &'a str,
    updated_by: &'a str,
    trigger: &'static str,
    attempt: i64,
    window_start: String,
    window_end: String,
    object_key: Option<&'a str>,
    stored_bytes: Option<i64>,
    sha256: Option<&'a str>,
    superseded_at: Option<String>,
    superseded_by: Option<&'a str>,
}

fn view(r: &Run) -> RunView<'_> {
    // Flexprice's metadata keys: the window, and on success the uncompressed size and time.
    let mut metadata = Map::new();
    metadata.insert("start_time".into(), json!(rfc3339_ms(r.window_start)));
    metadata.insert("end_time".into(), json!(rfc3339_ms(r.window_end)));
    if let Some(bytes) = r.uncompressed_bytes {
        metadata.insert("file_size_bytes".into(), json!(bytes));
    }
    if let Some(t) = r.completed_at {
        metadata.insert("completed_at".into(), json!(rfc3339_ms(t)));
    }
    RunView {
        id: &r.id,
        task_type: "EXPORT",
        entity_type: r.entity_type.as_str(),
        scheduled_task_id: &r.scheduled_task_id,
        workflow_id: &r.id,
        file_url: r.file_url.as_deref().unwrap_or(""),
        // The object's name, which ends in .csv.gz when it is gzipped; file_type is the
        // format of the rows, CSV either way (as in Flexprice), or PARQUET.
        file_name: (r.task_status == RunStatus::Completed)
            .then_some(r.object_key.as_deref())
            .flatten()
            .and_then(|k| k.rsplit('/').next()),
        file_type: match &r.object_key {
            Some(key) if key.ends_with(".parquet") => "PARQUET",
            _ => "CSV",
        },
        task_status: r.task_status.as_str(),
        total_records: r.total_records,
        processed_records: r.processed_records,
        successful_records: r.successful_records,
        failed_records: r.failed_records,
        error_summary: r.error_summary.as_deref(),
        metadata: Value::Object(metadata),
        started_at: r.started_at.map(rfc3339_ms),
        completed_at: r.completed_at.map(rfc3339_ms),
        failed_at: r.failed_at.map(rfc3339_ms),
        tenant_id: &r.tenant_id,
        environment_id: &r.environment_id,
        status: "published",
        created_at: rfc3339_ms(r.created_at),
        updated_at: rfc3339_ms(r.updated_at),
        created_by: &r.created_by,
        updated_by: &r.created_by,
        trigger: r.trigger.as_str(),
        attempt: r.attempt,
        window_start: rfc3339_ms(r.window_start),
        window_end: rfc3339_ms(r.window_end),
        object_key: r.object_key.as_deref(),
        stored_bytes: r.stored_bytes,
        sha256: r.sha256.as_deref(),
        superseded_at: r.superseded_at.map(rfc3339_ms),
        superseded_by: r.superseded_by.as_deref(),
    }
}

impl View for Run {
    const KIND: &'static str = "Task";
    fn view(&self) -> impl Serialize {
        view(self)
    }
}

/// Entity types of Flexprice's import tasks, which its SDKs offer as `entity_type` filters
/// (`EVENTS` being the only one that is also exported). exportd has no imports.
const IMPORT_ENTITIES: [&str; 3] = ["PRICES", "CUSTOMERS", "FEATURES"];

pub(crate) fn list(ctx: &Ctx<'_>) -> Outcome {
    let q = &ctx.query;
    let entities: Vec<_> = EntityType::ALL
        .iter()
        .map(|e| e.as_str())
        .chain(IMPORT_ENTITIES)
        .collect();
    // `Some(None)`: an import entity type, which matches no run.
    let entity_type = q.choice(
        "entity_type",
        |s| match EntityType::parse(s) {
            Some(e) => Some(Some(e)),
            None => IMPORT_ENTITIES.contains(&s).then_some(None),
        },
        &entities.join(", "),
    )?;
    // Runs are never deleted: `deleted` and `archived` match none.
    let status = q.choice(
        "status",
        |s| match s {
            "published" => Some(true),
            "deleted" | "archived" => Some(false),
            _ => None,
        },
        "published, deleted, archived",
    )?;
    let filter = RunFilter {
        scheduled_task_id: q
            .text("scheduled_task_id", MAX_ID_CHARS)?
            .map(str::to_owned),
        created_by: q.text("created_by", MAX_ID_CHARS)?.map(str::to_owned),
        task_status: q.choice(
            "task_status",
            RunStatus::parse,
            "PENDING, PROCESSING, COMPLETED, FAILED",
        )?,
        entity_type: entity_type.flatten(),
        created_from: q.timestamp("start_time")?,
        created_to: q.timestamp("end_time")?,
        sort: q
            .choice(
                "sort",
                |s| match s {
                    "created_at" => Some(RunSort::CreatedAt),
                    "updated_at" => Some(RunSort::UpdatedAt),
                    _ => None,
                },
                "created_at, updated_at",
            )?
            .unwrap_or(RunSort::CreatedAt),
        descending: q
            .choice(
                "order",
                |s| match s {
                    "desc" => Some(true),
                    "asc" => Some(false),
                    _ => None,
                },
                "asc, desc",
            )?
            .unwrap_or(true),
    };
    // exportd only exports; an IMPORT filter matches nothing.
    let imports_only = q
        .choice(
            "task_type",
            |s| match s {
                "EXPORT" => Some(false),
                "IMPORT" => Some(true),
                _ => None,
            },
            "EXPORT, IMPORT",
        )?
        .unwrap_or(false);
    let matches_none = imports_only || entity_type == Some(None) || status == Some(false);
    ctx.list(|tx, s, page| match matches_none {
        true => Ok(store::Page::default()),
        false => crate::store::record::list(tx, s, &filter, page),
    })
}
