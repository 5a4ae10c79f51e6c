//! A task's schedule when one of its runs ends, in the transaction that records the outcome:
//! the watermark moves on after a success, the same window is retried after a backoff after a
//! failure, the task pauses after too many; a manual or backfill run that did not complete
//! gets its next attempt. Stopped from outside (shutdown, crash), a run is not a failure.

use rusqlite::Transaction;

use super::storage::{self, ScheduleUpdate};
use super::{ScheduledTask, TaskStatus, window};
use crate::clock::rfc3339_ms;
use crate::config::Config;
use crate::failure::{ExportError, Failure};
use crate::runs::{Run, Trigger};
use crate::store::StoreError;
use crate::store::record::Stored;

/// When the task's next window is due.
pub(crate) fn next_due(task: &ScheduledTask, config: &Config) -> i64 {
    let (_, end) = window::next_window(task.interval, task.audit.created_at, task.watermark);
    window::due_at(end, config.delay.as_millis() as i64)
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
            let expected =
                window::next_window(task.interval, task.audit.created_at, task.watermark).0;
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
    next.insert(tx)?;
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
