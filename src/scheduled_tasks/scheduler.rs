//! The scheduler: every window of every enabled task exported exactly once, oldest first.
//!
//! All its state is in the store. A task is due when it is enabled, published and its
//! `next_run_at` has passed; `next_run_at` is NULL while a scheduled run of the task is in
//! flight, so a task never has two. One thread sleeps until the earliest `next_run_at` or until
//! notified (a task created, resumed or deleted, a run finished, shutdown), starts the due runs,
//! and goes back to sleep: it never looks at tasks that are not due. When a scheduled run ends,
//! [`super::schedule::record_outcome`] updates the task in the transaction that records the run: on
//! success the watermark moves to the window's end and the next window is scheduled; on failure
//! the same window is retried after a backoff, and the task is paused after too many failures.
//! A run stopped from outside (shutdown, crash) is not a failure: its window runs again at once.
//!
//! Manual and backfill runs are durable too ([`super::schedule::follow_up`]): one interrupted runs again as a
//! new attempt, and a failed backfill run is retried after the same backoff, up to
//! `max_consecutive_failures` attempts. Such a retry waits as a PENDING run with `run_after`,
//! which this thread queues when it is due.
//!
//! The same thread wakes for the billing system jobs (`ledger::billing`): it claims the due
//! ones and hands them to the billing thread, and sleeps no later than the next one is due.

use std::time::Duration;

use crate::app::App;
use crate::clock::rfc3339_ms;
use crate::ledger::billing::storage as system_jobs;
use crate::runs::{Run, Trigger};
use crate::scheduled_tasks::schedule::next_due;
use crate::scheduled_tasks::storage;
use crate::scheduled_tasks::window;
use crate::store::StoreError;
use crate::store::record::Stored;

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

/// Creates a run for every due task (its next window, as `scheduled` or `retry`) and queues
/// them; returns how many.
fn start_due(app: &App, now: i64) -> Result<usize, StoreError> {
    let mut started = 0;
    loop {
        let runs = app.store.write(|tx| {
            let due = storage::due(tx, now, BATCH)?;
            let mut runs = Vec::with_capacity(due.len());
            for task in due {
                let window =
                    window::next_window(task.interval, task.audit.created_at, task.watermark);
                let (trigger, attempt) = if task.consecutive_failures > 0 {
                    (Trigger::Retry, task.consecutive_failures + 1)
                } else {
                    (Trigger::Scheduled, 1)
                };
                let run = Run::pending(&task, trigger, attempt, window, "scheduler", now);
                run.insert(tx)?;
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
