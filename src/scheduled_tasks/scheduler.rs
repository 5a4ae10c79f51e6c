//! The scheduler: every window of every enabled task exported exactly once, oldest first.
//!
//! All its state is in the store. A task is due when it is enabled, published and its
//! `next_run_at` has passed; `next_run_at` is NULL while a scheduled run of the task is in
//! flight, so a task never has two. One thread sleeps until the earliest `next_run_at` or until
//! notified (a task created, resumed or deleted, a run finished, shutdown), starts the due runs,
//! and goes back to sleep: it never looks at tasks that are not due. When a scheduled run ends,
//! [`record_outcome`] updates the task in the same transaction that records the run: on
//! success the watermark moves to the window's end and the next window is scheduled; on failure
//! the same window is retried after a backoff, and the task is paused after too many failures.
//! A run stopped from outside (shutdown, crash) is not a failure: its window runs again at once.
//!
//! Manual and backfill runs are durable too ([`follow_up`]): one interrupted runs again as a
//! new attempt, and a failed backfill run is retried after the same backoff, up to
//! `max_consecutive_failures` attempts. Such a retry waits as a PENDING run with `run_after`,
//! which this thread queues when it is due.
//!
//! The same thread wakes for the billing system jobs (`ledger::billing`): it claims the due
//! ones and hands them to the billing thread, and sleeps no later than the next one is due.

use std::time::Duration;

use rusqlite::Transaction;

use crate::app::App;
use crate::clock::rfc3339_ms;
use crate::config::Config;
use crate::failure::{ExportError, Failure};
use crate::ledger::billing::storage as system_jobs;
use crate::runs::{Run, Trigger};
use crate::scheduled_tasks::storage::{self, ScheduleUpdate};
use crate::scheduled_tasks::window;
use crate::scheduled_tasks::{ScheduledTask, TaskStatus};
use crate::store::StoreError;

/// Longest sleep with the real clock: bounds the effect of a wall-clock jump.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// How often a test clock (a file) is looked at.
const TEST_CLOCK_POLL: Duration = Duration::from_millis(25);
/// Runs started per transaction when many tasks are due at once.
const BATCH: usize = 500;

/// The scheduler's loop; returns once `app.scheduler` is stopped. Each pass starts the due
/// runs and system jobs, then sleeps until the next is due or something changes
/// (`app.scheduler.notify()`).
pub(crate) fn run(app: &App) {
    let _looping = app.scheduler.looping();
    while app.scheduler.begin() {
        let now = app.now_ms();
        match start_due(app, now) {
            Ok(0) => {}
            Ok(n) => log::info!("scheduler: started {n} run(s)"),
            Err(e) => log::error!("scheduler: could not start due runs: {e}"),
        }
        let next_job = start_due_jobs(app, now).unwrap_or_else(|e| {
            log::error!("scheduler: could not start due system jobs: {e}");
            None
        });
        let next_retry = queue_waiting_runs(app, now).unwrap_or_else(|e| {
            log::error!("scheduler: could not queue waiting retries: {e}");
            None
        });
        let next = app.store.read(storage::earliest_due).unwrap_or_else(|e| {
            log::error!("scheduler: could not read the next due time: {e}");
            None
        });
        let next = next.into_iter().chain(next_job).chain(next_retry).min();
        log::debug!(
            "scheduler: woke ({}) at {}, next run due {}",
            app.scheduler.passes(),
            rfc3339_ms(now),
            next.map_or("never".to_owned(), rfc3339_ms)
        );
        let sleep = if app.clock.is_test() {
            TEST_CLOCK_POLL
        } else {
            match next {
                Some(due) => {
                    Duration::from_millis(due.saturating_sub(now).max(0) as u64).min(MAX_SLEEP)
                }
                None => MAX_SLEEP,
            }
        };
        app.scheduler.sleep(sleep);
    }
}

/// When the task's next window is due.
pub(crate) fn next_due(task: &ScheduledTask, config: &Config) -> i64 {
    let (_, end) = window::next_window(task.interval, task.created_at, task.watermark);
    window::due_at(end, config.delay.as_millis() as i64)
}

/// Creates a run for every due task (its next window, as `scheduled` or `retry`) and queues
/// them; returns how many.
fn start_due(app: &App, now: i64) -> Result<usize, StoreError> {
    let mut started = 0;
    loop {
        let runs = app.store.write(|tx| {
            let due = storage::due(tx, now, BATCH)?;
            let mut runs = Vec::with_capacity(due.len());
            for task in due {
                let window = window::next_window(task.interval, task.created_at, task.watermark);
                let (trigger, attempt) = if task.consecutive_failures > 0 {
                    (Trigger::Retry, task.consecutive_failures + 1)
                } else {
                    (Trigger::Scheduled, 1)
                };
                let run = Run::pending(&task, trigger, attempt, window, "scheduler", now);
                crate::runs::storage::insert(tx, &run)?;
                storage::set_next_run(tx, &task.id, None)?;
                runs.push((run.id, task.id));
            }
            Ok::<_, StoreError>(runs)
        })?;
        for (run_id, task_id) in &runs {
            app.queue_run(run_id, task_id);
        }
        started += runs.len();
        if runs.len() < BATCH {
            return Ok(started);
        }
    }
}

/// Claims every due system job and hands it to the billing thread; returns when the next
/// idle job is due.
fn start_due_jobs(app: &App, now: i64) -> Result<Option<i64>, StoreError> {
    let next = app.store.read(system_jobs::earliest_due)?;
    if next.is_none_or(|due| due > now) {
        return Ok(next);
    }
    let jobs = app.store.write(|tx| system_jobs::claim_due(tx, now))?;
    for job in jobs {
        let key = format!(
            "{}/{}/{}",
            job.scope.tenant_id,
            job.scope.environment_id,
            job.name.as_str()
        );
        app.billing.push(&key, job);
    }
    app.store.read(system_jobs::earliest_due)
}

/// Queues the waiting retries (of backfill runs) whose time has come; returns when the next
/// one is due.
fn queue_waiting_runs(app: &App, now: i64) -> Result<Option<i64>, StoreError> {
    let next = app.store.read(crate::runs::storage::earliest_waiting)?;
    if next.is_none_or(|due| due > now) {
        return Ok(next);
    }
    let runs = app
        .store
        .write(|tx| crate::runs::storage::release_waiting(tx, now))?;
    for (run_id, task_id) in &runs {
        app.queue_run(run_id, task_id);
    }
    app.store.read(crate::runs::storage::earliest_waiting)
}

/// A number from 0 to 1 for retry jitter.
fn jitter() -> f64 {
    let mut b = [0u8; 4];
    crate::secrets::random_bytes(&mut b);
    f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX)
}

/// The scheduler's bookkeeping when a run ends; called in the transaction that records the
/// run's outcome. Only scheduled and retry runs count: manual and backfill runs never move the
/// watermark.
pub(crate) fn record_outcome(
    tx: &Transaction<'_>,
    config: &Config,
    run: &Run,
    failure: Option<&ExportError>,
    now: i64,
) -> Result<(), StoreError> {
    if !matches!(run.trigger, Trigger::Scheduled | Trigger::Retry) {
        return Ok(());
    }
    let Some(mut task) = storage::get_unscoped(tx, &run.scheduled_task_id)? else {
        return Ok(());
    };
    let live = task.enabled && task.status == TaskStatus::Published;
    let window = format!(
        "{}..{}",
        rfc3339_ms(run.window_start),
        rfc3339_ms(run.window_end)
    );
    let update = match failure {
        None => {
            let expected = window::next_window(task.interval, task.created_at, task.watermark).0;
            if run.window_start == expected {
                task.watermark = Some(run.window_end);
            } else {
                // Cannot happen while runs are created only by start_due; never skip a window.
                log::error!(
                    "task {}: run {} exported window {window} but the next window starts at {}; watermark kept",
                    task.id,
                    run.id,
                    rfc3339_ms(expected)
                );
            }
            ScheduleUpdate {
                watermark: task.watermark,
                next_run_at: live.then(|| next_due(&task, config)),
                last_run_at: now,
                last_run_status: "COMPLETED",
                consecutive_failures: 0,
                enabled: task.enabled,
                paused_reason: None,
            }
        }
        // Stopped by shutdown or a crash: not the window's fault, run it again at once.
        Some(e) if e.kind == Failure::Interrupted => ScheduleUpdate {
            watermark: task.watermark,
            next_run_at: live.then_some(now),
            last_run_at: now,
            last_run_status: "FAILED",
            consecutive_failures: task.consecutive_failures,
            enabled: task.enabled,
            paused_reason: task.paused_reason.clone(),
        },
        Some(e) => {
            let failures = task.consecutive_failures + 1;
            let pause = live && failures >= i64::from(config.max_consecutive_failures);
            let paused_reason = pause.then(|| {
                let reason = format!(
                    "paused after {failures} failed attempts in a row at window {window}; last error: {}",
                    e.summary
                );
                log::warn!("task {}: {reason}", task.id);
                reason
            });
            let wait = window::retry_delay(
                failures as u32,
                config.retry_base.as_millis() as i64,
                config.retry_cap.as_millis() as i64,
                e.is_retryable(),
                jitter(),
            );
            if live && !pause {
                log::info!(
                    "task {}: window {window} failed ({} attempt(s)); retrying at {}",
                    task.id,
                    failures,
                    rfc3339_ms(now + wait)
                );
            }
            ScheduleUpdate {
                watermark: task.watermark,
                next_run_at: (live && !pause).then_some(now + wait),
                last_run_at: now,
                last_run_status: "FAILED",
                consecutive_failures: failures,
                enabled: task.enabled && !pause,
                paused_reason: paused_reason.or(task.paused_reason.clone()),
            }
        }
    };
    storage::record_schedule(tx, &task.id, &update)?;
    if let (Some(e), false, Some(reason)) = (failure, update.enabled, &update.paused_reason)
        && task.enabled
        && e.kind != Failure::Interrupted
    {
        // This outcome is what paused the task (it was enabled before).
        let failures = update.consecutive_failures;
        crate::webhooks::events::task_auto_paused(tx, config, &task, run, reason, failures, now)?;
    }
    Ok(())
}

/// Records that `run` ended without completing, in the caller's transaction: its next attempt
/// if one is due ([`follow_up`]), the run FAILED with its summary, the scheduler's bookkeeping
/// and the webhook event. Returns the next attempt when it is to be queued at once.
pub(crate) fn record_failure(
    tx: &Transaction<'_>,
    config: &Config,
    run: &Run,
    failure: &ExportError,
    now: i64,
) -> Result<Option<Run>, StoreError> {
    let (next, summary) = follow_up(tx, config, run, failure, now)?;
    crate::runs::storage::fail(tx, &run.id, &summary, now)?;
    record_outcome(tx, config, run, Some(failure), now)?;
    crate::webhooks::events::run_ended(tx, config, &run.id, now)?;
    Ok(next.filter(|n| n.run_after.is_none()))
}

/// What becomes of the window of a manual or backfill run that ended without completing
/// (scheduled windows are the watermark's business, see [`record_outcome`]):
/// - interrupted (shutdown, crash): a new attempt, queued at once;
/// - a backfill run that failed: a new attempt after the backoff of scheduled windows, until
///   `max_consecutive_failures` attempts have failed; then the run says it gave up;
/// - a manual run that failed: nothing (its caller sees the failure and decides).
///
/// No new attempt is made for a task that is gone or deleted. Returns the new attempt (already
/// inserted) and the summary to record on the ended run, which names it.
pub(crate) fn follow_up(
    tx: &Transaction<'_>,
    config: &Config,
    run: &Run,
    failure: &ExportError,
    now: i64,
) -> Result<(Option<Run>, String), StoreError> {
    let summary = failure.summary.clone();
    let limit = i64::from(config.max_consecutive_failures);
    let run_after = match (run.trigger, failure.kind) {
        (Trigger::Scheduled | Trigger::Retry, _) => return Ok((None, summary)),
        (_, Failure::Interrupted) => None,
        (Trigger::Backfill, _) if run.attempt < limit => {
            let wait = window::retry_delay(
                run.attempt.clamp(1, i64::from(u32::MAX)) as u32,
                config.retry_base.as_millis() as i64,
                config.retry_cap.as_millis() as i64,
                failure.is_retryable(),
                jitter(),
            );
            Some(now + wait)
        }
        (Trigger::Backfill, _) => {
            let attempts = run.attempt;
            return Ok((
                None,
                format!("{summary} (gave up after {attempts} attempts)"),
            ));
        }
        (Trigger::Manual, _) => return Ok((None, summary)),
    };
    let live = storage::get_unscoped(tx, &run.scheduled_task_id)?
        .is_some_and(|task| task.status != TaskStatus::Deleted);
    if !live {
        return Ok((None, summary));
    }
    let next = run.next_attempt(run_after, now);
    crate::runs::storage::insert(tx, &next)?;
    let summary = match run_after {
        None => format!("{summary}; run again as {}", next.id),
        Some(at) => format!(
            "{summary}; retrying at {} as {} (attempt {} of {limit})",
            rfc3339_ms(at),
            next.id,
            next.attempt
        ),
    };
    log::info!(
        "run {} ({} {}): {summary}",
        run.id,
        run.trigger.as_str(),
        match failure.kind {
            Failure::Interrupted => "interrupted",
            _ => "failed",
        }
    );
    Ok((Some(next), summary))
}

/// Gives every enabled task that has neither a next run nor a scheduled run in flight its next
/// run: after a crash, the windows of interrupted runs are due again at once.
pub(crate) fn reschedule_orphans(app: &App) -> Result<usize, StoreError> {
    app.store.write(|tx| {
        let tasks = storage::unscheduled(tx)?;
        for task in &tasks {
            storage::set_next_run(tx, &task.id, Some(next_due(task, &app.config)))?;
        }
        Ok(tasks.len())
    })
}
