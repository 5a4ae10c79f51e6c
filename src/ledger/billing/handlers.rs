//! The billing system jobs (SPEC 7.1): `POST /v1/tasks/scheduled/schedule-update-billing-period`
//! and `.../schedule-draft-finalization` (also under `/v1/subscriptions/temporal/`) enable the
//! caller's environment's job and run it at once in the background; `GET
//! /v1/tasks/scheduled/system` lists the environment's jobs (exportd extension).

use serde::Serialize;
use serde_json::json;

use crate::clock::rfc3339_ms;
use crate::http::{ApiError, Ctx, Outcome, Reply};
use crate::ledger::billing::{JobName, SystemJob};

#[derive(Serialize)]
struct SystemJobView<'a> {
    name: &'static str,
    interval: String,
    enabled: bool,
    last_run_at: Option<String>,
    last_status: Option<&'a str>,
    /// Null while a run is in flight, as for scheduled tasks.
    next_run_at: Option<String>,
    last_error: Option<&'a str>,
}

/// An interval as Flexprice writes them (`15MIN`, `30MIN`).
fn interval_text(ms: i64) -> String {
    if ms > 0 && ms % 60_000 == 0 {
        format!("{}MIN", ms / 60_000)
    } else {
        format!("{}s", ms / 1000)
    }
}

fn view(j: &SystemJob) -> SystemJobView<'_> {
    SystemJobView {
        name: j.name.as_str(),
        interval: interval_text(j.interval_ms),
        enabled: j.enabled,
        last_run_at: j.last_run_at.map(rfc3339_ms),
        last_status: j.last_status.as_deref(),
        next_run_at: j
            .next_run_at
            .filter(|_| j.started_at.is_none())
            .map(rfc3339_ms),
        last_error: j.last_error.as_deref(),
    }
}

/// The body may be empty or an empty object (the Flexprice SDK sends `{}`); any field is
/// refused, as everywhere else.
fn check_empty_body(ctx: &Ctx<'_>) -> Result<(), ApiError> {
    if ctx.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let body = ctx.json()?;
    crate::input::Obj::root(&body)?.finish()?;
    Ok(())
}

/// `.../schedule-update-billing-period`: see [`schedule`].
pub(crate) fn update_periods(ctx: &Ctx<'_>) -> Outcome {
    schedule(ctx, JobName::UpdateBillingPeriod)
}

/// `.../schedule-draft-finalization`: see [`schedule`].
pub(crate) fn finalize_drafts(ctx: &Ctx<'_>) -> Outcome {
    schedule(ctx, JobName::DraftFinalization)
}

/// Enables the job (idempotently) and makes it due now; the scheduler hands it to the
/// billing thread at once.
fn schedule(ctx: &Ctx<'_>, name: JobName) -> Outcome {
    check_empty_body(ctx)?;
    let now = ctx.now();
    ctx.app
        .store
        .write(|tx| crate::ledger::billing::storage::enable(tx, &ctx.scope, name, now))?;
    ctx.app.scheduler.notify();
    Reply::json(200, json!({"message": name.triggered_message()}))
}

pub(crate) fn list(ctx: &Ctx<'_>) -> Outcome {
    let jobs = ctx
        .app
        .store
        .read(|tx| crate::ledger::billing::storage::list(tx, &ctx.scope))?;
    let items: Vec<_> = jobs.iter().map(view).collect();
    Reply::json(200, json!({ "items": items }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_like_flexprices() {
        assert_eq!(interval_text(15 * 60_000), "15MIN");
        assert_eq!(interval_text(30 * 60_000), "30MIN");
        assert_eq!(interval_text(90_000), "90s");
    }
}
