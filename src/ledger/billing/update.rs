//! The billing-period update job: every ended period of the scope's active subscriptions gets
//! its DRAFT invoice, one transaction per period.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use super::pricing::{UsageCharge, add_usage, priced_meters, subscription_invoice, usage_charges};
use super::{RunEnd, STATUS_CANCELLED, SYSTEM_USER, Stop};
use crate::app::App;
use crate::clock::rfc3339_ms;
use crate::ledger::customers::Customer;
use crate::ledger::events::storage::{Cursor, EventTime};
use crate::ledger::meters::{Meter, MeterIndex};
use crate::ledger::periods::{Period, Schedule};
use crate::ledger::subscriptions::{STATUS_ACTIVE, Subscription};
use crate::store::Scope;
use crate::store::record::Stored;

/// Events read per query while measuring usage.
const EVENT_PAGE: usize = 5000;
/// Subscriptions read per query.
const BATCH: usize = 200;

/// Bills every period of the scope's active subscriptions that has ended by `now`.
pub(super) fn update_billing_periods(
    app: &App,
    scope: &Scope,
    now: i64,
    stop: &AtomicBool,
) -> RunEnd {
    let (mut after, mut subscriptions, mut invoices) = (String::new(), 0usize, 0usize);
    let mut failures = Vec::new();
    loop {
        if stop.load(Ordering::SeqCst) {
            return RunEnd::Interrupted;
        }
        let due = match app.store.read(|tx| {
            crate::ledger::subscriptions::storage::due_for_billing(tx, scope, now, &after, BATCH)
        }) {
            Ok(due) => due,
            Err(e) => return RunEnd::Failed(format!("reading the subscriptions to bill: {e}")),
        };
        let Some(last) = due.last() else { break };
        after = last.id.clone();
        for sub in &due {
            match bill_subscription(app, sub, now, stop) {
                Ok(n) => {
                    subscriptions += 1;
                    invoices += n;
                }
                Err(Stop::Interrupted) => return RunEnd::Interrupted,
                Err(Stop::Failed(e)) => {
                    log::error!("subscription {}: not billed: {e}", sub.id);
                    failures.push(format!("subscription {}: {e}", sub.id));
                }
            }
        }
    }
    match failures.first() {
        None => RunEnd::Completed(format!(
            "{invoices} invoice(s) for {subscriptions} subscription(s)"
        )),
        Some(first) => RunEnd::Failed(format!(
            "{} subscription(s) could not be billed ({invoices} invoice(s) made); the first: {first}",
            failures.len()
        )),
    }
}

/// Bills one subscription's ended periods, one transaction each; returns how many.
fn bill_subscription(
    app: &App,
    sub: &Subscription,
    now: i64,
    stop: &AtomicBool,
) -> Result<usize, Stop> {
    let scope = Scope {
        tenant_id: sub.tenant_id.clone(),
        environment_id: sub.environment_id.clone(),
    };
    let schedule = Schedule::of(sub).ok_or_else(|| {
        Stop::Failed("its billing period, count and dates make no billing period".to_owned())
    })?;
    let mut stored = sub.current_period_start;
    let mut current = match stored {
        None => schedule.first(),
        Some(start) => schedule.starting_at(start),
    }
    .ok_or_else(|| {
        Stop::Failed(format!(
            "no billing period starts at its current_period_start {}",
            stored.map_or("(none)".to_owned(), rfc3339_ms)
        ))
    })?;
    let customer = app
        .store
        .read(|tx| crate::ledger::customers::Customer::by_id(tx, &scope, &sub.customer_id))?
        .ok_or_else(|| Stop::Failed(format!("its customer {} is missing", sub.customer_id)))?;
    let meters = priced_meters(&app.config.meters, &sub.currency);
    let mut billed = 0;
    loop {
        if current.end > now {
            if stored.is_none() {
                // First seen: record its current period.
                app.store.write(|tx| {
                    crate::ledger::subscriptions::storage::set_period(
                        tx,
                        &scope,
                        &sub.id,
                        None,
                        (current.start, current.end),
                        STATUS_ACTIVE,
                        app.now_ms(),
                        SYSTEM_USER,
                    )
                })?;
            }
            return Ok(billed);
        }
        if stop.load(Ordering::SeqCst) {
            return Err(Stop::Interrupted);
        }
        let next = if current.last {
            None
        } else {
            Some(schedule.after(&current).ok_or_else(|| {
                Stop::Failed(format!(
                    "the period after {} is past the calendar's end",
                    rfc3339_ms(current.start)
                ))
            })?)
        };
        let usage = measure(app, &scope, &customer, &meters, &current, stop)?;
        app.store.write(|tx| {
            let at = app.now_ms();
            let number = crate::ledger::invoices::storage::next_number(tx, &scope)?;
            let (invoice, lines) = subscription_invoice(sub, &current, &usage, number, at)
                .map_err(|e| Stop::Failed(e.to_string()))?;
            let (to, status) = match next {
                Some(p) => (p, STATUS_ACTIVE),
                None => (current, STATUS_CANCELLED),
            };
            let moved = crate::ledger::subscriptions::storage::set_period(
                tx,
                &scope,
                &sub.id,
                stored,
                (to.start, to.end),
                status,
                at,
                SYSTEM_USER,
            )?;
            if !moved {
                return Err(Stop::Failed(
                    "it changed while it was being billed; the next run goes on".to_owned(),
                ));
            }
            crate::ledger::invoices::storage::insert(tx, &invoice, &lines)?;
            Ok::<_, Stop>(())
        })?;
        billed += 1;
        match next {
            Some(p) => {
                stored = Some(p.start);
                current = p;
            }
            None => return Ok(billed),
        }
    }
}

/// The customer's usage of the priced meters over the period: events whose `timestamp` is in
/// `[start, end)`, read in one snapshot.
fn measure(
    app: &App,
    scope: &Scope,
    customer: &Customer,
    meters: &[Meter],
    period: &Period,
    stop: &AtomicBool,
) -> Result<Vec<UsageCharge>, Stop> {
    if meters.is_empty() {
        return Ok(Vec::new());
    }
    let index = MeterIndex::new(meters);
    let mut totals = HashMap::new();
    app.store.read(|tx| {
        let mut cursor: Option<Cursor> = None;
        let mut page = Vec::with_capacity(EVENT_PAGE);
        loop {
            if stop.load(Ordering::SeqCst) {
                return Err(Stop::Interrupted);
            }
            page.clear();
            crate::ledger::events::storage::page(
                tx,
                scope,
                EventTime::Timestamp,
                (period.start, period.end),
                cursor.as_ref(),
                EVENT_PAGE,
                &mut page,
            )?;
            add_usage(&index, customer, &page, &mut totals);
            match page.last() {
                Some(last) if page.len() == EVENT_PAGE => {
                    cursor = Some((last.timestamp, last.id.clone()));
                }
                _ => return Ok(()),
            }
        }
    })?;
    usage_charges(meters, &totals).map_err(|e| Stop::Failed(e.to_string()))
}
