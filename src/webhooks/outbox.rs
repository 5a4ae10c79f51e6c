//! The delivery thread: it posts the outbox's due rows and retries failures with exponential
//! backoff; export workers only insert rows, so a slow or dead receiver never holds up an
//! export.

use std::time::Duration;

use super::events::real_now_ms;
use super::storage::{self as outbox, Attempt, Delivery};
use super::{DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, Webhook, backoff, check_url, sign};
use crate::app::App;
use crate::clock::rfc3339_ms;
use crate::sinks::endpoint;
use crate::store::StoreError;

/// Deliveries taken per look at the outbox.
const BATCH: usize = 100;
/// Longest sleep: bounds the effect of a wall-clock jump.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// Wait after the store failed, before looking again.
const STORE_RETRY: Duration = Duration::from_secs(5);
/// Delivered and given-up rows are kept this long (to look into), then deleted.
const RETENTION_MS: i64 = 7 * 86_400_000;
const PRUNE_EVERY_MS: i64 = 3_600_000;

/// The delivery loop; returns once `app.webhooks` is stopped (once the POST in flight, if any,
/// ends). `app.webhooks.notify()` says rows were added.
pub(crate) fn run(app: &App) {
    let mut last_prune = 0;
    while app.webhooks.begin() {
        let now = real_now_ms();
        if now - last_prune >= PRUNE_EVERY_MS {
            last_prune = now;
            match app.store.write(|tx| outbox::prune(tx, now - RETENTION_MS)) {
                Ok(0) => {}
                Ok(n) => log::debug!("webhooks: deleted {n} old delivery record(s)"),
                Err(e) => log::warn!("webhooks: cannot prune old deliveries: {e}"),
            }
        }
        let sleep = match deliver_due(app, now) {
            Ok(true) => continue,
            Ok(false) => match app.store.read(outbox::next_due) {
                Ok(Some(at)) => Duration::from_millis((at - real_now_ms()).max(0) as u64),
                Ok(None) => MAX_SLEEP,
                Err(e) => {
                    log::warn!("webhooks: cannot read the outbox: {e}");
                    STORE_RETRY
                }
            },
            Err(e) => {
                log::warn!("webhooks: cannot read the outbox: {e}");
                STORE_RETRY
            }
        };
        app.webhooks.sleep(sleep.min(MAX_SLEEP));
    }
}

/// Sends what is due; true when there may be more due at once.
fn deliver_due(app: &App, now: i64) -> Result<bool, StoreError> {
    let due = app.store.read(|tx| outbox::due(tx, now, BATCH))?;
    let full = due.len() == BATCH;
    for delivery in due {
        if app.webhooks.is_stopped() {
            return Ok(false);
        }
        let attempt = attempt(app, &delivery);
        app.store
            .write(|tx| outbox::record(tx, &delivery.id, &attempt, real_now_ms()))?;
    }
    Ok(full)
}

/// One attempt of a delivery, and what to do next.
fn attempt(app: &App, d: &Delivery) -> Attempt {
    let settings = &app.config.webhook_delivery;
    let Some(webhook) = app.config.webhooks.iter().find(|w| w.url.as_str() == d.url) else {
        let error = "no webhook with this URL is configured any more".to_owned();
        log::warn!(
            "webhook event {} ({}): {error}; dropped",
            d.event_id,
            d.event_type
        );
        return Attempt::GaveUp { error };
    };
    let result = post(app, webhook, d);
    let failures = d.attempts + 1;
    let error = match result {
        Ok(()) => {
            log::info!(
                "webhook {} got event {} ({}) at attempt {failures}",
                webhook.origin(),
                d.event_id,
                d.event_type
            );
            return Attempt::Delivered;
        }
        Err(error) => error,
    };
    let wait = backoff(
        failures.clamp(1, i64::from(u32::MAX)) as u32,
        settings.retry_base,
        settings.retry_cap,
    );
    let at = real_now_ms().saturating_add(wait.as_millis() as i64);
    if at - d.created_at > settings.max_age.as_millis() as i64 {
        log::error!(
            "webhook {}: gave up on event {} ({}) after {failures} attempt(s): {error}",
            webhook.origin(),
            d.event_id,
            d.event_type
        );
        return Attempt::GaveUp { error };
    }
    log::warn!(
        "webhook {}: event {} ({}) attempt {failures} failed: {error}; retrying at {}",
        webhook.origin(),
        d.event_id,
        d.event_type,
        rfc3339_ms(at)
    );
    Attempt::Retry { at, error }
}

/// POSTs the event; any 2xx answer is success. Redirects are not followed: they could lead
/// past the allowlist.
fn post(app: &App, webhook: &Webhook, d: &Delivery) -> Result<(), String> {
    // DNS is looked at again for each attempt, as for exports.
    check_url(
        webhook.url.as_str(),
        &app.config.allowed_endpoints,
        &endpoint::system_resolver,
    )
    .map_err(|why| format!("the URL is not allowed: it {why}"))?;
    let timeout = app.config.webhook_delivery.timeout;
    let response = attohttpc::post(webhook.url.as_str())
        .header("content-type", "application/json")
        .header("user-agent", concat!("exportd/", env!("CARGO_PKG_VERSION")))
        .header(SIGNATURE_HEADER, sign(&webhook.secret, d.body.as_bytes()))
        .header(EVENT_HEADER, d.event_type.as_str())
        .header(DELIVERY_HEADER, d.event_id.as_str())
        .timeout(timeout)
        .connect_timeout(timeout)
        .follow_redirects(false)
        .text(&d.body)
        .send()
        .map_err(|e| e.to_string())?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", status.as_u16()))
    }
}
