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
//! to the one billing thread ([`Runner`]), which runs them one at a time and records the
//! outcome, with `next_run_at` = start + interval. A run cut short by a stop or a crash keeps
//! its old `next_run_at`, so it runs again at once (at the next start).

pub mod handlers;
pub mod storage;

use std::collections::{HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use rust_decimal::Decimal;
use serde_json::Value;

use super::customers::Customer;
use super::invoices::{
    Invoice, InvoiceStatus, LineItem, PAYMENT_PENDING, REASON_SUBSCRIPTION_CYCLE,
    TYPE_SUBSCRIPTION, line_item_ids,
};
use super::meters::{Accumulator, Meter, MeterIndex};
use super::money::{self, exact_mul};
use super::periods::{Period, Schedule};
use super::subscriptions::{STATUS_ACTIVE, Subscription};
use crate::app::App;
use crate::clock::rfc3339_ms;
use crate::ids::{INVOICE, new_id};
use crate::ledger::billing::storage::Finish;
use crate::ledger::events::storage::{Cursor, EventTime, StoredEvent};
use crate::store::{Scope, StoreError};

/// Who the jobs write as (`created_by`, `updated_by`).
pub const SYSTEM_USER: &str = "system";
/// A subscription whose last period (the one that reaches `cancel_at`) has been billed.
pub const STATUS_CANCELLED: &str = "cancelled";
/// Name of the recurring line of a subscription invoice.
pub const RECURRING_LINE: &str = "Recurring charge";
/// Events read per query while measuring usage.
const EVENT_PAGE: usize = 5000;
/// Subscriptions read per query, and drafts finalized per transaction.
const BATCH: usize = 200;

/// The system jobs there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobName {
    UpdateBillingPeriod,
    DraftFinalization,
}

impl JobName {
    pub const ALL: [JobName; 2] = [JobName::UpdateBillingPeriod, JobName::DraftFinalization];

    pub fn as_str(self) -> &'static str {
        match self {
            JobName::UpdateBillingPeriod => "update_billing_period",
            JobName::DraftFinalization => "draft_finalization",
        }
    }

    pub fn parse(text: &str) -> Option<JobName> {
        JobName::ALL.into_iter().find(|j| j.as_str() == text)
    }

    pub fn interval_ms(self) -> i64 {
        match self {
            JobName::UpdateBillingPeriod => 15 * 60_000,
            JobName::DraftFinalization => 30 * 60_000,
        }
    }

    /// What the endpoint that enables the job answers (Flexprice's words).
    pub fn triggered_message(self) -> &'static str {
        match self {
            JobName::UpdateBillingPeriod => "Triggered update billing period workflow successfully",
            JobName::DraftFinalization => "Triggered draft finalization schedule successfully",
        }
    }
}

/// A stored system job.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemJob {
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
pub struct ClaimedJob {
    pub scope: Scope,
    pub name: JobName,
    /// The claim time: the run bills what has ended by then.
    pub started_at: i64,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// With a summary for the log.
    Completed(String),
    Failed(String),
    /// Stopped by shutdown; runs again at the next start.
    Interrupted,
}

/// Why billing one subscription (or finalizing a batch) stopped.
#[derive(Debug)]
enum Stop {
    Interrupted,
    Failed(String),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Failed(e.to_string())
    }
}

// ---- The billing thread -----------------------------------------------------------------------

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

// ---- Billing-period update --------------------------------------------------------------------

/// Bills every period of the scope's active subscriptions that has ended by `now`.
pub fn update_billing_periods(app: &App, scope: &Scope, now: i64, stop: &AtomicBool) -> RunEnd {
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

/// The meters that charge a subscription in `currency`, in config order.
pub fn priced_meters(meters: &[Meter], currency: &str) -> Vec<Meter> {
    meters
        .iter()
        .filter(|m| m.unit_price.is_some() && m.currency == currency)
        .cloned()
        .collect()
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
        .read(|tx| crate::ledger::customers::storage::get(tx, &scope, &sub.customer_id))?
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
            let (invoice, lines) =
                subscription_invoice(sub, &current, &usage, number, at).map_err(Stop::Failed)?;
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

/// One usage line: a priced meter and the customer's usage of it in the period.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageCharge {
    pub meter: Meter,
    pub quantity: Decimal,
}

/// Whether an event is the customer's: its `customer_id` is the customer's id, or its
/// `external_customer_id` is the customer's external id.
pub fn is_customers(event: &StoredEvent, customer: &Customer) -> bool {
    event.customer_id.as_deref() == Some(customer.id.as_str())
        || event.external_customer_id == customer.external_id
}

/// Adds the customer's events to the running totals of the meters in `index`, keyed by meter
/// id.
pub fn add_usage(
    index: &MeterIndex<'_>,
    customer: &Customer,
    events: &[StoredEvent],
    totals: &mut HashMap<String, Accumulator>,
) {
    for e in events {
        let meters = index.for_event(&e.event_name);
        if meters.is_empty() || !is_customers(e, customer) {
            continue;
        }
        let properties: Option<Value> = e
            .properties
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok());
        for m in meters {
            let c = m.contribution(properties.as_ref());
            totals
                .entry(m.id.clone())
                .or_default()
                .add(&c, e.timestamp, &e.id);
        }
    }
}

/// The usage lines of the meters (in their order) that counted at least one event; an error
/// names a meter whose usage is too large for a decimal.
pub fn usage_charges(
    meters: &[Meter],
    totals: &HashMap<String, Accumulator>,
) -> Result<Vec<UsageCharge>, String> {
    meters
        .iter()
        .filter_map(|m| {
            let acc = totals.get(&m.id).filter(|a| a.events > 0)?;
            Some(match acc.total(m.aggregation) {
                Some(quantity) => Ok(UsageCharge {
                    meter: m.clone(),
                    quantity,
                }),
                None => Err(format!(
                    "the usage of meter {} in the period is too large for a decimal (28 digits)",
                    m.id
                )),
            })
        })
        .collect()
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
    usage_charges(meters, &totals).map_err(Stop::Failed)
}

/// The DRAFT invoice of one subscription period: a recurring line (the recurring amount, once)
/// and a line per usage charge (unit price × quantity). Every amount is exact; an error says
/// which one cannot be represented.
pub fn subscription_invoice(
    sub: &Subscription,
    period: &Period,
    usage: &[UsageCharge],
    invoice_number: String,
    now: i64,
) -> Result<(Invoice, Vec<LineItem>), String> {
    let id = new_id(INVOICE);
    let mut ids = line_item_ids(usage.len() + 1).into_iter();
    let mut line = |display_name: &str, amount, quantity, meter_id: Option<&str>| LineItem {
        id: ids
            .next()
            .unwrap_or_else(|| new_id(crate::ids::INVOICE_LINE_ITEM)),
        tenant_id: sub.tenant_id.clone(),
        environment_id: sub.environment_id.clone(),
        invoice_id: id.clone(),
        display_name: display_name.to_owned(),
        amount,
        quantity,
        meter_id: meter_id.map(str::to_owned),
        period_start: Some(period.start),
        period_end: Some(period.end),
        metadata: None,
        created_at: now,
    };
    let mut lines = vec![line(
        RECURRING_LINE,
        sub.recurring_amount,
        Decimal::ONE,
        None,
    )];
    let mut total = sub.recurring_amount;
    for charge in usage {
        let m = &charge.meter;
        let price = m.unit_price.unwrap_or_default();
        let cost = exact_mul(price, charge.quantity).ok_or_else(|| {
            format!(
                "meter {}: unit_price {} × quantity {} cannot be represented exactly",
                m.id,
                money::format(price),
                money::format(charge.quantity)
            )
        })?;
        total = total.checked_add(cost).ok_or_else(|| {
            format!(
                "the invoice total overflows at meter {} (period from {})",
                m.id,
                rfc3339_ms(period.start)
            )
        })?;
        lines.push(line(&m.feature_name, price, charge.quantity, Some(&m.id)));
    }
    let total = total.normalize();
    let invoice = Invoice {
        id,
        tenant_id: sub.tenant_id.clone(),
        environment_id: sub.environment_id.clone(),
        customer_id: sub.customer_id.clone(),
        subscription_id: Some(sub.id.clone()),
        invoice_number,
        invoice_type: TYPE_SUBSCRIPTION.to_owned(),
        invoice_status: InvoiceStatus::Draft,
        payment_status: PAYMENT_PENDING.to_owned(),
        currency: sub.currency.clone(),
        amount_due: total,
        amount_paid: Decimal::ZERO,
        amount_remaining: total,
        subtotal: total,
        total,
        total_discount: Decimal::ZERO,
        total_tax: Decimal::ZERO,
        adjustment_amount: Decimal::ZERO,
        refunded_amount: Decimal::ZERO,
        billing_sequence: Some(period.sequence),
        description: None,
        due_date: None,
        paid_at: None,
        voided_at: None,
        finalized_at: None,
        billing_period: Some(sub.billing_period.as_str().to_owned()),
        period_start: Some(period.start),
        period_end: Some(period.end),
        invoice_pdf_url: None,
        billing_reason: REASON_SUBSCRIPTION_CYCLE.to_owned(),
        metadata: None,
        idempotency_key: None,
        version: 1,
        status: "published".to_owned(),
        created_by: SYSTEM_USER.to_owned(),
        updated_by: SYSTEM_USER.to_owned(),
        created_at: now,
        updated_at: now,
    };
    Ok((invoice, lines))
}

// ---- Draft finalization -----------------------------------------------------------------------

/// Finalizes the scope's DRAFT invoices whose period ended more than the finalization delay
/// before `now`, a batch per transaction.
pub fn finalize_drafts(app: &App, scope: &Scope, now: i64, stop: &AtomicBool) -> RunEnd {
    let delay = i64::try_from(app.config.finalization_delay.as_millis()).unwrap_or(i64::MAX);
    let cutoff = now.saturating_sub(delay);
    let mut finalized = 0;
    loop {
        if stop.load(Ordering::SeqCst) {
            return RunEnd::Interrupted;
        }
        let batch = app.store.write(|tx| {
            let drafts =
                crate::ledger::invoices::storage::drafts_ended_before(tx, scope, cutoff, BATCH)?;
            let at = app.now_ms();
            for mut invoice in drafts.iter().cloned() {
                invoice
                    .finalize(at, SYSTEM_USER)
                    .map_err(|illegal| Stop::Failed(illegal.message))?;
                if !crate::ledger::invoices::storage::update_status(tx, &invoice)? {
                    return Err(Stop::Failed(format!(
                        "invoice {} changed while it was being finalized",
                        invoice.id
                    )));
                }
            }
            Ok::<_, Stop>(drafts.len())
        });
        match batch {
            Ok(n) => {
                finalized += n;
                if n < BATCH {
                    return RunEnd::Completed(format!("{finalized} invoice(s) finalized"));
                }
            }
            Err(Stop::Interrupted) => return RunEnd::Interrupted,
            Err(Stop::Failed(e)) => {
                return RunEnd::Failed(format!("{e} ({finalized} invoice(s) finalized before)"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_rfc3339_ms;
    use crate::ledger::meters::Aggregation;
    use crate::ledger::periods::Schedule;
    use crate::ledger::subscriptions::BillingPeriod;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    fn ms(s: &str) -> i64 {
        parse_rfc3339_ms(s).unwrap()
    }

    fn meter(id: &str, event: &str, aggregation: Aggregation, field: &str, price: &str) -> Meter {
        Meter {
            id: id.into(),
            event_name: event.into(),
            aggregation,
            field: field.into(),
            feature_id: format!("feat_{id}"),
            feature_name: format!("Feature {id}"),
            feature_group_name: String::new(),
            unit_price: Some(d(price)),
            currency: "EUR".into(),
        }
    }

    fn customer() -> Customer {
        Customer {
            id: "cust_1".into(),
            tenant_id: "t".into(),
            environment_id: "e".into(),
            external_id: "acme".into(),
            name: String::new(),
            email: None,
            metadata: None,
            status: "published".into(),
            created_at: 0,
            updated_at: 0,
            created_by: "k".into(),
            updated_by: "k".into(),
        }
    }

    fn event(
        id: &str,
        name: &str,
        external: &str,
        customer_id: Option<&str>,
        props: &str,
    ) -> StoredEvent {
        StoredEvent {
            id: id.into(),
            event_name: name.into(),
            external_customer_id: external.into(),
            customer_id: customer_id.map(str::to_owned),
            source: None,
            timestamp: 10,
            ingested_at: 10,
            properties: Some(props.into()),
        }
    }

    fn subscription(recurring: &str) -> Subscription {
        Subscription {
            id: "subs_1".into(),
            tenant_id: "t".into(),
            environment_id: "e".into(),
            customer_id: "cust_1".into(),
            currency: "EUR".into(),
            billing_period: BillingPeriod::Monthly,
            billing_period_count: 1,
            start_date: ms("2025-01-31T00:00:00Z"),
            billing_anchor: ms("2025-01-31T00:00:00Z"),
            recurring_amount: d(recurring),
            cancel_at: None,
            current_period_start: None,
            current_period_end: None,
            subscription_status: STATUS_ACTIVE.into(),
            metadata: None,
            status: "published".into(),
            created_at: 0,
            updated_at: 0,
            created_by: "k".into(),
            updated_by: "k".into(),
        }
    }

    #[test]
    fn usage_counts_only_the_customers_events_per_meter() {
        let meters = vec![
            meter("calls", "api_call", Aggregation::Count, "", "0.002"),
            meter("gb", "storage", Aggregation::Max, "gb", "0.25"),
            meter("unused", "login", Aggregation::Count, "", "1"),
        ];
        let index = MeterIndex::new(&meters);
        let events = [
            event("e1", "api_call", "acme", None, "{}"),
            // Its own customer_id names our customer, whatever its external id says.
            event("e2", "api_call", "someone-else", Some("cust_1"), "{}"),
            event("e3", "api_call", "other", Some("cust_2"), "{}"),
            event("e4", "storage", "acme", Some("cust_9"), r#"{"gb":"3.5"}"#),
            event("e5", "storage", "acme", None, r#"{"gb":2}"#),
            event("e6", "signup", "acme", None, "{}"),
        ];
        let mut totals = HashMap::new();
        add_usage(&index, &customer(), &events, &mut totals);
        let charges = usage_charges(&meters, &totals).unwrap();
        assert_eq!(
            charges
                .iter()
                .map(|c| (c.meter.id.as_str(), c.quantity))
                .collect::<Vec<_>>(),
            [("calls", d("2")), ("gb", d("3.5"))]
        );
        assert_eq!(
            priced_meters(&meters, "USD"),
            Vec::<Meter>::new(),
            "meters priced in another currency do not charge"
        );
    }

    #[test]
    fn invoices_add_the_recurring_amount_and_usage_exactly() {
        let sub = subscription("49.99");
        let period = Schedule::of(&sub).unwrap().first().unwrap();
        let usage = [
            UsageCharge {
                meter: meter("calls", "api_call", Aggregation::Count, "", "0.002"),
                quantity: d("1234"),
            },
            UsageCharge {
                meter: meter("gb", "storage", Aggregation::Max, "gb", "0.25"),
                quantity: d("3.5"),
            },
        ];
        let (inv, lines) =
            subscription_invoice(&sub, &period, &usage, "INV-000007".into(), 99).unwrap();
        // 49.99 + 2.468 + 0.875
        assert_eq!(inv.total, d("53.333"));
        assert_eq!(
            (inv.amount_due, inv.amount_remaining, inv.subtotal),
            (inv.total, inv.total, inv.total)
        );
        assert_eq!(
            (
                inv.invoice_type.as_str(),
                inv.billing_reason.as_str(),
                inv.invoice_status,
                inv.billing_sequence,
                inv.billing_period.as_deref(),
                inv.currency.as_str(),
                inv.subscription_id.as_deref(),
                inv.invoice_number.as_str()
            ),
            (
                "SUBSCRIPTION",
                "SUBSCRIPTION_CYCLE",
                InvoiceStatus::Draft,
                Some(1),
                Some("MONTHLY"),
                "EUR",
                Some("subs_1"),
                "INV-000007"
            )
        );
        assert_eq!(
            (inv.period_start, inv.period_end),
            (
                Some(ms("2025-01-31T00:00:00Z")),
                Some(ms("2025-02-28T00:00:00Z"))
            )
        );
        assert_eq!(
            lines
                .iter()
                .map(|l| (
                    l.display_name.as_str(),
                    l.amount,
                    l.quantity,
                    l.meter_id.as_deref()
                ))
                .collect::<Vec<_>>(),
            [
                ("Recurring charge", d("49.99"), d("1"), None),
                ("Feature calls", d("0.002"), d("1234"), Some("calls")),
                ("Feature gb", d("0.25"), d("3.5"), Some("gb")),
            ]
        );
        assert!(lines.iter().all(|l| l.invoice_id == inv.id));
        assert!(lines.windows(2).all(|w| w[0].id < w[1].id));

        // A product with more digits than a Decimal holds is refused, never rounded.
        let huge = [UsageCharge {
            meter: meter(
                "calls",
                "api_call",
                Aggregation::Count,
                "",
                "0.000000000001",
            ),
            quantity: d("0.1234567890123456789"),
        }];
        let err = subscription_invoice(&sub, &period, &huge, "INV-1".into(), 0).unwrap_err();
        assert!(err.contains("cannot be represented exactly"), "{err}");
    }

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
