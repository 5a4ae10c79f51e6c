//! The two billing system jobs (SPEC 7.1). Each tenant environment enables its own; a job
//! only ever reads and writes its own environment's data.
//!
//! - **Billing-period update** (every 15 minutes): every active subscription whose current
//!   period has ended gets a DRAFT invoice for that period (the recurring amount, plus the
//!   usage charges of its customer's events in the period from meters priced in its currency)
//!   and moves on to its next period, until its current period contains now. One transaction
//!   per period inserts the invoice and moves the period on, and only if the subscription is
//!   still at the period that was billed; a unique index on (subscription_id, period_start)
//!   backs that up. So a run killed halfway leaves every period billed exactly once or not at
//!   all, and the next run goes on from there.
//! - **Draft finalization** (every 30 minutes): DRAFT invoices whose period ended more than
//!   `billing.finalization_delay` ago become FINALIZED, as `POST /v1/invoices/{id}/finalize`
//!   would make them.
//!
//! The scheduler thread claims due jobs (`started_at` set, `next_run_at` kept) and hands them
//! to the one billing thread ([`runner::run`]), which runs them one at a time and records the
//! outcome, with `next_run_at` = start + interval. A run cut short by a stop or a crash keeps
//! its old `next_run_at`, so it runs again at once (at the next start).

mod finalize;
pub(crate) mod handlers;
mod pricing;
pub(crate) mod runner;
pub(crate) mod storage;
mod update;

use crate::store::{Scope, StoreError};

/// Who the jobs write as (`created_by`, `updated_by`).
pub(crate) const SYSTEM_USER: &str = "system";
/// A subscription whose last period (the one that reaches `cancel_at`) has been billed.
pub(crate) const STATUS_CANCELLED: &str = "cancelled";
/// Name of the recurring line of a subscription invoice.
pub(crate) const RECURRING_LINE: &str = "Recurring charge";

crate::names::named! {
    /// The system jobs there are.
    pub(crate) enum JobName {
        UpdateBillingPeriod = "update_billing_period",
        DraftFinalization = "draft_finalization",
    }
}

impl JobName {
    pub(crate) fn interval_ms(self) -> i64 {
        match self {
            JobName::UpdateBillingPeriod => 15 * 60_000,
            JobName::DraftFinalization => 30 * 60_000,
        }
    }

    /// What the endpoint that enables the job answers (Flexprice's words).
    pub(crate) fn triggered_message(self) -> &'static str {
        match self {
            JobName::UpdateBillingPeriod => "Triggered update billing period workflow successfully",
            JobName::DraftFinalization => "Triggered draft finalization schedule successfully",
        }
    }
}

/// A stored system job.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SystemJob {
    pub tenant_id: String,
    pub environment_id: String,
    pub name: JobName,
    pub interval_ms: i64,
    pub enabled: bool,
    pub next_run_at: Option<i64>,
    pub last_run_at: Option<i64>,
    /// COMPLETED or FAILED.
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    /// When the run in flight was claimed; `None` while idle.
    pub started_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A job the scheduler claimed for a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClaimedJob {
    pub scope: Scope,
    pub name: JobName,
    /// The claim time: the run bills what has ended by then.
    pub started_at: i64,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RunEnd {
    /// With a summary for the log.
    Completed(String),
    Failed(String),
    /// Stopped by shutdown; runs again at the next start.
    Interrupted,
}

/// Why billing one subscription (or finalizing a batch) stopped.
#[derive(Debug)]
pub(super) enum Stop {
    Interrupted,
    Failed(String),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Failed(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_round_trip() {
        for j in JobName::ALL {
            assert_eq!(JobName::parse(j.as_str()), Some(j));
        }
        assert_eq!(JobName::UpdateBillingPeriod.interval_ms(), 900_000);
        assert_eq!(JobName::DraftFinalization.interval_ms(), 1_800_000);
        assert_eq!(JobName::parse("nope"), None);
    }
}
