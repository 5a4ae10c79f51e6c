//! The billing thread: it runs the system jobs the scheduler claims, one at a time, and
//! records how each ended.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use super::storage::Finish;
use super::{
    ClaimedJob, JobName, RunEnd, finalize::finalize_drafts, update::update_billing_periods,
};
use crate::app::App;

/// The billing thread's loop: takes the jobs the scheduler claimed (`app.billing`) and runs
/// them; returns once `app.billing` is stopped. A running job stops at its next period or
/// batch then; jobs still queued stay claimed until
/// `crate::ledger::billing::storage::release_interrupted`.
pub(crate) fn run(app: &App) {
    while let Some((job, _busy)) = app.billing.take() {
        run_job(app, &job, app.billing.stop_flag());
    }
}

/// Runs one claimed job and records how it ended.
pub(crate) fn run_job(app: &App, job: &ClaimedJob, stop: &AtomicBool) {
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
