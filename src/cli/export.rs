//! `exportd export --task ID --start T --end T`: runs one window of a task now, in this
//! process (no server), and prints the run as JSON. The run is recorded like a force run, under
//! the same rules, in the state a server made (never a new one).

use std::sync::atomic::AtomicBool;

use serde_json::json;

use super::StartError;
use crate::app::App;
use crate::auth::KeyRing;
use crate::clock::rfc3339_ms;
use crate::config::Loaded;
use crate::runs::{ManualRunError, RunStatus, manual_run};
use crate::store::record::Stored;

/// Exit code 0 when the run completed, 1 when it failed.
pub(crate) fn export(
    loaded: Loaded,
    task_id: &str,
    start: &str,
    end: &str,
) -> Result<bool, StartError> {
    let config = loaded.config;
    crate::logging::init(config.log_level);
    s3::set_retries(config.s3_retries);
    let (store, secrets) = crate::cli::serve::open_existing_state(&config)?;
    let clock = crate::app::clock_for(&config)?;
    let app = App::new(config, store, KeyRing::default(), secrets, clock)?;
    let now = app.now_ms();
    let task = app
        .store
        .read(|tx| crate::scheduled_tasks::storage::get_unscoped(tx, task_id))?
        .ok_or_else(|| StartError::Refused(format!("no scheduled task has the id {task_id:?}")))?;
    let body = json!({"start_time": start, "end_time": end}).to_string();
    let (run, _) =
        manual_run(&task, body.as_bytes(), "exportd export", now).map_err(|e| match e {
            ManualRunError::Deleted(_) => StartError::Refused(e.to_string()),
            ManualRunError::Window(e) => {
                StartError::Refused(format!("--{}: {}", e.field.replace("_time", ""), e.message))
            }
        })?;
    app.store.write(|tx| run.insert(tx))?;
    crate::runs::execute::execute(&app, &run.id, &AtomicBool::new(false))?;
    let done = app
        .store
        .read(|tx| crate::runs::storage::get_unscoped(tx, &run.id))?
        .ok_or_else(|| StartError::Runtime("the run disappeared".to_owned()))?;
    println!(
        "{}",
        json!({
            "run_id": done.id,
            "task_status": done.task_status.as_str(),
            "window_start": rfc3339_ms(done.window_start),
            "window_end": rfc3339_ms(done.window_end),
            "rows": done.total_records,
            "file_url": done.file_url,
            "stored_bytes": done.stored_bytes,
            "sha256": done.sha256,
            "error_summary": done.error_summary,
        })
    );
    let completed = done.task_status == RunStatus::Completed;
    app.close()?;
    Ok(completed)
}
