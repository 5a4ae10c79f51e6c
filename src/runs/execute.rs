//! One run from start to end: claim it, resolve where it writes, stream the window's rows into
//! one object (plus a manifest if asked), and record the outcome on the run.

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::{Condvar, LazyLock, Mutex};
use std::time::Instant;

use serde_json::json;

use crate::app::App;
use crate::clock::rfc3339_ms;
use crate::failure::ExportError;
use crate::formats::compress::Codec;
use crate::formats::csv::write_rows;
use crate::formats::entities;
use crate::formats::parquet::{ParquetOptions, ParquetWriter};
use crate::formats::pipeline::{Pipeline, PipelineOptions};
use crate::metrics::RunOutcome;
use crate::runs::{Completed, Run};
use crate::scheduled_tasks::job_config::Format;
use crate::scheduled_tasks::schedule;
use crate::sinks::ObjectMeta;
use crate::sinks::destination::destination;
use crate::sinks::key::{content_type, manifest_key, object_key};
use crate::sources::ExportRequest;
use crate::store::StoreError;
use crate::webhooks;

/// Executes a PENDING run and records its outcome. A run that is not PENDING (another worker
/// or process took it) is left alone. Errors are only those of recording the outcome.
pub(crate) fn execute(app: &App, run_id: &str, cancel: &AtomicBool) -> Result<(), StoreError> {
    let now = app.now_ms();
    let Some(run) = app
        .store
        .write(|tx| crate::runs::storage::claim(tx, run_id, now))?
    else {
        return Ok(());
    };
    let started = Instant::now();
    let window = format!(
        "{}..{}",
        rfc3339_ms(run.window_start),
        rfc3339_ms(run.window_end)
    );
    log::info!(
        "run {} started: task {} {} window {window} ({}, attempt {})",
        run.id,
        run.scheduled_task_id,
        run.entity_type.as_str(),
        run.trigger.as_str(),
        run.attempt
    );
    let outcome = export(app, &run, cancel);
    let now = app.now_ms();
    let ms = started.elapsed().as_millis();
    match outcome {
        Ok((done, finishing)) => {
            log::info!(
                "run {} COMPLETED: task {} window {window}, {} rows, {} bytes CSV, {} bytes stored, {ms}ms, {}",
                run.id,
                run.scheduled_task_id,
                done.rows,
                done.uncompressed_bytes,
                done.stored_bytes,
                done.file_url.as_deref().unwrap_or("no object (skip_empty)")
            );
            let superseded = app.store.write(|tx| {
                crate::runs::storage::complete(tx, &run.id, &done, now)?;
                let superseded = match &finishing {
                    Some(f) => crate::runs::storage::supersede(tx, &run, &f.key, &f.store, now)?,
                    None => 0,
                };
                schedule::record_outcome(tx, &app.config, &run, None, now)?;
                webhooks::events::run_ended(tx, &app.config, &run.id, now)?;
                Ok::<_, StoreError>(superseded)
            })?;
            drop(finishing);
            if superseded > 0 {
                log::info!(
                    "run {} replaced the object of {superseded} earlier run(s), now marked superseded",
                    run.id
                );
            }
            app.metrics.run_finished(RunOutcome {
                entity_type: run.entity_type.as_str(),
                status: "completed",
                rows: done.rows.max(0) as u64,
                stored_bytes: done.stored_bytes.max(0) as u64,
                uncompressed_bytes: done.uncompressed_bytes.max(0) as u64,
                seconds: started.elapsed().as_secs_f64(),
            });
            app.scheduler.notify();
            app.webhooks.notify();
            Ok(())
        }
        Err(e) => {
            log::warn!(
                "run {} FAILED: task {} window {window}, {ms}ms: {} [{}]",
                run.id,
                run.scheduled_task_id,
                e.summary,
                e.detail
            );
            let next = app
                .store
                .write(|tx| schedule::record_failure(tx, &app.config, &run, &e, now))?;
            if let Some(next) = next {
                app.queue_run(&next.id, &next.scheduled_task_id);
            }
            app.metrics.run_finished(RunOutcome {
                entity_type: run.entity_type.as_str(),
                status: "failed",
                rows: 0,
                stored_bytes: 0,
                uncompressed_bytes: 0,
                seconds: started.elapsed().as_secs_f64(),
            });
            app.scheduler.notify();
            app.webhooks.notify();
            Ok(())
        }
    }
}

/// Marks a run FAILED whatever state it is in (after a worker panic), with the scheduler's
/// bookkeeping as for any failure.
pub(crate) fn mark_failed(app: &App, run_id: &str, summary: &str) -> Result<(), StoreError> {
    let now = app.now_ms();
    let next = app.store.write(|tx| {
        let Some(run) = crate::runs::storage::get_unscoped(tx, run_id)? else {
            return Ok(None);
        };
        let error = ExportError::retryable(summary, "worker panic");
        schedule::record_failure(tx, &app.config, &run, &error, now)
    })?;
    if let Some(next) = next {
        app.queue_run(&next.id, &next.scheduled_task_id);
    }
    app.scheduler.notify();
    app.webhooks.notify();
    Ok(())
}

/// Runs writing the same object (the same key in the same store) finish one at a time, from
/// the moment their upload completes until their outcome is committed. So the run committed
/// last is the one whose bytes are stored, and committing it marks the others superseded.
pub(crate) struct Finishing {
    store: String,
    key: String,
}

/// `(store, key)` of the objects being finished now.
type Objects = HashSet<(String, String)>;

static FINISHING: LazyLock<(Mutex<Objects>, Condvar)> = LazyLock::new(Default::default);

impl Finishing {
    fn begin(store: String, key: String) -> Finishing {
        let (lock, turn) = &*FINISHING;
        let id = (store, key);
        let mut busy = lock.lock().unwrap_or_else(|e| e.into_inner());
        while busy.contains(&id) {
            busy = turn.wait(busy).unwrap_or_else(|e| e.into_inner());
        }
        busy.insert(id.clone());
        Finishing {
            store: id.0,
            key: id.1,
        }
    }
}

impl Drop for Finishing {
    fn drop(&mut self) {
        let (lock, turn) = &*FINISHING;
        let mut busy = lock.lock().unwrap_or_else(|e| e.into_inner());
        busy.remove(&(
            std::mem::take(&mut self.store),
            std::mem::take(&mut self.key),
        ));
        turn.notify_all();
    }
}

fn export(
    app: &App,
    run: &Run,
    cancel: &AtomicBool,
) -> Result<(Completed, Option<Finishing>), ExportError> {
    let scope = run.scope();
    let found = app.store.read(|tx| super::task_and_connection(tx, run))?;
    let Some((task, connection)) = found else {
        return Err(ExportError::terminal(
            "the scheduled task or its connection no longer exists",
            format!("run {} of task {}", run.id, run.scheduled_task_id),
        ));
    };
    let dest = destination(&app.config, &app.secrets, &task.job_config, &connection)?;
    let job = &task.job_config;
    let key = object_key(job, task.entity_type, run.window_start, run.window_end);
    let meta = ObjectMeta {
        content_type: content_type(job),
        encryption: job.encryption,
        kms_key_id: job.kms_key_id.clone(),
    };
    let upload = dest.begin(&key, &meta)?;
    let mut pipeline = Pipeline::new(
        upload,
        PipelineOptions {
            part_size: app.config.part_size,
            compression: Codec::of(job),
            cancel,
            on_upload_id: Box::new(|upload_id| {
                let now = app.now_ms();
                if let Err(e) = app
                    .store
                    .write(|tx| crate::runs::storage::set_upload(tx, &run.id, &key, upload_id, now))
                {
                    log::warn!("run {}: could not record upload {upload_id}: {e}", run.id);
                }
            }),
        },
    );
    let columns = entities::columns(task.entity_type, &job.export_metadata_fields);
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let request = ExportRequest {
        entity: task.entity_type,
        scope: &scope,
        window: (run.window_start, run.window_end),
        window_field: job.window_field,
        metadata: &job.export_metadata_fields,
        cancel,
    };
    let source = &*app.source;
    // The rows the source gives are formatted on a reading thread: as CSV after a header, or
    // into a Parquet file (which compresses inside; the pipeline stores its bytes as they are).
    let produced = match job.format {
        Format::Csv => {
            if let Err(e) = pipeline.records.write_record(&names) {
                let err = pipeline.write_error(e);
                pipeline.abandon(err.clone());
                return Err(err);
            }
            pipeline.parallel(|csv| write_rows(csv, |rows| source.export(&request, rows)))
        }
        Format::Parquet => {
            let options = ParquetOptions::of(job);
            pipeline.parallel_bytes(|out| {
                let mut file =
                    ParquetWriter::new(out, &columns, &options).map_err(|e| e.into_export())?;
                let rows = source.export(&request, &mut file)?;
                Ok((rows, file.finish().map_err(|e| e.into_export())?))
            })
        }
    };
    let rows = match produced {
        Ok(rows) => rows,
        Err(e) => {
            pipeline.abandon(e.clone());
            return Err(e);
        }
    };
    if rows == 0 && job.skip_empty {
        pipeline.abandon(ExportError::terminal(
            "skipped",
            "empty window with skip_empty",
        ));
        let done = Completed {
            rows: 0,
            object_key: None,
            file_url: None,
            uncompressed_bytes: 0,
            stored_bytes: 0,
            sha256: None,
        };
        return Ok((done, None));
    }
    let finishing = Finishing::begin(crate::scheduled_tasks::output::store_of(job), key.clone());
    let stored = pipeline.finish()?;
    let file_url = dest.file_url(&key);
    if job.write_manifest {
        let manifest = json!({
            "exportd_version": env!("CARGO_PKG_VERSION"),
            "run_id": run.id,
            "scheduled_task_id": task.id,
            "entity_type": task.entity_type.as_str(),
            "window_start": rfc3339_ms(run.window_start),
            "window_end": rfc3339_ms(run.window_end),
            "object_key": key,
            "file_url": file_url,
            "columns": names,
            "row_count": rows,
            "uncompressed_bytes": stored.uncompressed_bytes,
            "stored_bytes": stored.stored_bytes,
            "sha256": stored.sha256,
            "format": job.format,
            "compression": job.compression,
            "content_type": meta.content_type,
        });
        let manifest_meta = ObjectMeta {
            content_type: "application/json",
            ..meta
        };
        let body = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        dest.put(&manifest_key(&key), &body, &manifest_meta)?;
    }
    let done = Completed {
        rows: rows as i64,
        object_key: Some(key),
        file_url: Some(file_url),
        uncompressed_bytes: stored.uncompressed_bytes as i64,
        stored_bytes: stored.stored_bytes as i64,
        sha256: Some(stored.sha256),
    };
    Ok((done, Some(finishing)))
}
