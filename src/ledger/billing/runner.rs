//! The billing thread: it runs the system jobs the scheduler claims, one at a time, and
//! records how each ended.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use super::storage::Finish;
use super::{
    ClaimedJob, JobName, RunEnd, finalize::finalize_drafts, update::update_billing_periods,
};
use crate::app::App;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<ClaimedJob>,
}

/// The billing thread's queue of claimed jobs. Each enabled job is claimed at most once at a
/// time, so the queue holds at most two jobs per environment.
#[derive(Default)]
pub struct Runner {
    queue: Mutex<Queue>,
    wake: Condvar,
    stop: AtomicBool,
}

impl Runner {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn push(&self, job: ClaimedJob) {
        self.lock().jobs.push_back(job);
        self.wake.notify_all();
    }

    /// Asks the thread to stop: a running job stops at its next period or batch.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _guard = self.lock();
        self.wake.notify_all();
    }

    /// The billing thread's loop; returns after [`Runner::stop`]. Jobs still queued then stay
    /// claimed until `crate::ledger::billing::storage::release_interrupted`.
    pub fn run(&self, app: &App) {
        loop {
            let job = {
                let mut queue = self.lock();
                loop {
                    if self.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Some(job) = queue.jobs.pop_front() {
                        break job;
                    }
                    queue = self.wake.wait(queue).unwrap_or_else(|e| e.into_inner());
                }
            };
            run_job(app, &job, &self.stop);
        }
    }
}

/// Runs one claimed job and records how it ended.
pub fn run_job(app: &App, job: &ClaimedJob, stop: &AtomicBool) {
    let clock = Instant::now();
    let who = format!(
        "{}/{} {}",
        job.scope.tenant_id,
        job.scope.environment_id,
        job.name.as_str()
    );
    log::info!("system job {who}: started");
    let end = catch_unwind(AssertUnwindSafe(|| match job.name {
        JobName::UpdateBillingPeriod => {
            update_billing_periods(app, &job.scope, job.started_at, stop)
        }
        JobName::DraftFinalization => finalize_drafts(app, &job.scope, job.started_at, stop),
    }))
    .unwrap_or_else(|_| RunEnd::Failed("the job panicked; the log has details".to_owned()));
    let next = job.started_at.saturating_add(job.name.interval_ms());
    let took = clock.elapsed().as_millis();
    let finish = match &end {
        RunEnd::Completed(summary) => {
            log::info!("system job {who}: completed in {took}ms: {summary}");
            Finish {
                status: "COMPLETED",
                error: None,
                next_run_at: Some(next),
            }
        }
        RunEnd::Failed(error) => {
            log::error!("system job {who}: failed after {took}ms: {error}");
            Finish {
                status: "FAILED",
                error: Some(error),
                next_run_at: Some(next),
            }
        }
        RunEnd::Interrupted => {
            log::warn!("system job {who}: interrupted by shutdown after {took}ms");
            Finish {
                status: "FAILED",
                error: Some("interrupted by shutdown"),
                next_run_at: None,
            }
        }
    };
    let now = app.now_ms();
    if let Err(e) = app
        .store
        .write(|tx| crate::ledger::billing::storage::finish(tx, job, &finish, now))
    {
        log::error!("system job {who}: could not record the end of its run: {e}");
    }
    app.scheduler.notify();
}
