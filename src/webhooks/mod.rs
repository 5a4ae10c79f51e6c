//! Webhooks (SPEC 8, notifications): `run.completed`, `run.failed` and `task.auto_paused`
//! events POSTed as JSON to the `[[webhooks]]` of the config, signed with HMAC-SHA256 of the
//! body.
//!
//! Delivery is at least once through an outbox: the transaction that records a run's outcome
//! (or a task's auto-pause) also writes one `webhook_deliveries` row per webhook that wants the
//! event, so a crash after the commit loses nothing. One delivery thread posts the due rows and
//! retries failures with exponential backoff; export workers only insert rows, so a slow or
//! dead receiver never holds up an export. A receiver may see an event more than once (a crash
//! between its 2xx and our commit, or a timeout after it accepted) and de-duplicates by `id`.

pub mod storage;

use std::time::Duration;

use hmac::{Hmac, Mac};
use rusqlite::Transaction;
use serde_json::{Value, json};
use url::Url;

use crate::app::App;
use crate::clock::{rfc3339_ms, to_ms};
use std::collections::BTreeMap;

use crate::config::file::{WebhookDeliveryFile, WebhookFile};
use crate::config::validate::duration;
use crate::config::{Config, ConfigError, invalid};
use crate::runs::{Run, RunStatus};
use crate::scheduled_tasks::ScheduledTask;
use crate::sinks::endpoint::{self, Allowlist, Origin, Resolver};
use crate::store::StoreError;
use crate::webhooks::storage::{self as outbox, Attempt, Delivery};

/// Prefix of event ids (`evt_…`), the receiver's de-duplication key.
pub const EVENT_ID_PREFIX: &str = "evt";
/// Prefix of delivery ids (`whd_…`), one per event and webhook (internal).
const DELIVERY_ID_PREFIX: &str = "whd";
/// Header with `sha256=<hex HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "x-exportd-signature";
/// Header with the event type.
pub const EVENT_HEADER: &str = "x-exportd-event";
/// Header with the event id (the same on every redelivery).
pub const DELIVERY_HEADER: &str = "x-exportd-delivery";

/// Deliveries taken per look at the outbox.
const BATCH: usize = 100;
/// Longest sleep: bounds the effect of a wall-clock jump.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// Wait after the store failed, before looking again.
const STORE_RETRY: Duration = Duration::from_secs(5);
/// Delivered and given-up rows are kept this long (to look into), then deleted.
const RETENTION_MS: i64 = 7 * 86_400_000;
const PRUNE_EVERY_MS: i64 = 3_600_000;

crate::names::named! {
    /// What a webhook can be told about.
    pub enum EventType {
        RunCompleted = "run.completed",
        RunFailed = "run.failed",
        TaskAutoPaused = "task.auto_paused",
    }
}

/// A webhook signing secret; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: String) -> Secret {
        Secret(text)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One `[[webhooks]]` entry, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub url: Url,
    pub secret: Secret,
    pub events: Vec<EventType>,
}

impl Webhook {
    /// The webhook's origin, for logs: its path or query may carry a token.
    fn origin(&self) -> String {
        Origin::of_url(&self.url).map_or_else(|_| "(bad url)".to_owned(), |o| o.display())
    }
}

/// `[webhook_delivery]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverySettings {
    /// Limit on each POST, connecting included.
    pub timeout: Duration,
    /// Wait after the first failed attempt, doubling up to `retry_cap`.
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// An event not delivered this long after it happened is given up (and logged).
    pub max_age: Duration,
}

/// Applies the `endpoint_url` rule to a webhook URL: an absolute http(s) URL (a path and query
/// are allowed, a user name or fragment are not) whose origin is https on a public host, or
/// listed in `[s3] allowed_endpoints`.
pub fn check_url(text: &str, allow: &Allowlist, resolve: Resolver<'_>) -> Result<Url, String> {
    let url = Url::parse(text.trim())
        .map_err(|_| "must be an absolute http(s) URL such as https://hooks.example.com/exportd")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password".to_owned());
    }
    if url.fragment().is_some() {
        return Err("must not contain a fragment".to_owned());
    }
    endpoint::check_origin(Origin::of_url(&url)?, allow, resolve)?;
    Ok(url)
}

/// The signature header's value: `sha256=` and the hex HMAC-SHA256 of the body.
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.0.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(body);
    format!(
        "sha256={}",
        crate::secrets::to_hex(&mac.finalize().into_bytes())
    )
}

/// Wait before the attempt after `failures` failed ones: `base`, doubling, at most `cap`.
pub fn backoff(failures: u32, base: Duration, cap: Duration) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(30);
    base.saturating_mul(factor).min(cap)
}

fn real_now_ms() -> i64 {
    to_ms(jiff::Timestamp::now())
}

/// Queues the event of a run that has just been recorded COMPLETED or FAILED; called in the
/// transaction that records it.
pub fn run_ended(
    tx: &Transaction<'_>,
    config: &Config,
    run_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    if config.webhooks.is_empty() {
        return Ok(());
    }
    let Some(run) = crate::runs::storage::get_unscoped(tx, run_id)? else {
        return Ok(());
    };
    let event = match run.task_status {
        RunStatus::Completed => EventType::RunCompleted,
        RunStatus::Failed => EventType::RunFailed,
        RunStatus::Pending | RunStatus::Processing => return Ok(()),
    };
    let data = json!({
        "run_id": run.id,
        "scheduled_task_id": run.scheduled_task_id,
        "entity_type": run.entity_type.as_str(),
        "trigger": run.trigger.as_str(),
        "attempt": run.attempt,
        "task_status": run.task_status.as_str(),
        "window_start": rfc3339_ms(run.window_start),
        "window_end": rfc3339_ms(run.window_end),
        "total_records": run.total_records,
        "uncompressed_bytes": run.uncompressed_bytes,
        "stored_bytes": run.stored_bytes,
        "object_key": run.object_key,
        "file_url": run.file_url,
        "sha256": run.sha256,
        "error_summary": run.error_summary,
    });
    enqueue(
        tx,
        config,
        event,
        (&run.tenant_id, &run.environment_id),
        data,
        now,
    )
}

/// Queues `task.auto_paused`; called in the transaction that pauses the task.
pub fn task_auto_paused(
    tx: &Transaction<'_>,
    config: &Config,
    task: &ScheduledTask,
    run: &Run,
    reason: &str,
    failures: i64,
    now: i64,
) -> Result<(), StoreError> {
    let data = json!({
        "scheduled_task_id": task.id,
        "entity_type": task.entity_type.as_str(),
        "paused_reason": reason,
        "consecutive_failures": failures,
        "run_id": run.id,
        "window_start": rfc3339_ms(run.window_start),
        "window_end": rfc3339_ms(run.window_end),
    });
    let scope = (task.tenant_id.as_str(), task.environment_id.as_str());
    enqueue(tx, config, EventType::TaskAutoPaused, scope, data, now)
}

/// One outbox row per webhook that wants `event`, all with the same event id and body.
fn enqueue(
    tx: &Transaction<'_>,
    config: &Config,
    event: EventType,
    (tenant_id, environment_id): (&str, &str),
    data: Value,
    now: i64,
) -> Result<(), StoreError> {
    let wanted: Vec<&Webhook> = config
        .webhooks
        .iter()
        .filter(|w| w.events.contains(&event))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let event_id = crate::ids::new_id(EVENT_ID_PREFIX);
    let body = json!({
        "id": event_id,
        "type": event.as_str(),
        "created_at": rfc3339_ms(now),
        "tenant_id": tenant_id,
        "environment_id": environment_id,
        "data": data,
    })
    .to_string();
    let real_now = real_now_ms();
    for webhook in wanted {
        let delivery = Delivery {
            id: crate::ids::new_id(DELIVERY_ID_PREFIX),
            event_id: event_id.clone(),
            event_type: event.as_str().to_owned(),
            url: webhook.url.to_string(),
            body: body.clone(),
            attempts: 0,
            created_at: real_now,
        };
        outbox::insert(tx, &delivery, real_now)?;
    }
    Ok(())
}

/// The delivery loop; returns once `app.webhooks` is stopped (once the POST in flight, if any,
/// ends). `app.webhooks.notify()` says rows were added.
pub fn run(app: &App) {
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

/// The `[[webhooks]]` of the config, checked.
pub(crate) fn from_config(
    hooks: &[WebhookFile],
    allow: &Allowlist,
    env: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Webhook>, ConfigError> {
    let mut out: Vec<Webhook> = Vec::with_capacity(hooks.len());
    for (i, h) in hooks.iter().enumerate() {
        let at = |field: &str| format!("webhooks[{i}].{field}");
        // A host that does not resolve now (network not up yet) is only a warning: the rule is
        // applied again, with a fresh lookup, before every delivery.
        let unresolved = std::cell::Cell::new(false);
        let resolve = |host: &str, port: u16| {
            crate::sinks::endpoint::system_resolver(host, port)
                .inspect_err(|_| unresolved.set(true))
        };
        let url = match check_url(&h.url, allow, &resolve) {
            Ok(url) => url,
            Err(why) if unresolved.get() => {
                warnings.push(format!(
                    "config: {}: {why}; it is checked again at each delivery",
                    at("url")
                ));
                url::Url::parse(h.url.trim()).map_err(|_| invalid(at("url"), why))?
            }
            Err(why) => {
                return Err(invalid(
                    at("url"),
                    format!(
                        "expected an http(s) URL that follows the endpoint_url rule, got {:?}: it {why}",
                        h.url
                    ),
                ));
            }
        };
        if let Some(j) = out.iter().position(|w| w.url == url) {
            return Err(invalid(
                at("url"),
                format!("the same URL is already configured as webhooks[{j}]"),
            ));
        }
        let secret = match (h.secret.as_str(), h.secret_env.trim()) {
            (text, "") if !text.is_empty() => text.to_owned(),
            ("", var) if !var.is_empty() => env.get(var).cloned().unwrap_or_default(),
            _ => {
                return Err(invalid(
                    format!("webhooks[{i}]"),
                    "expected exactly one of secret or secret_env",
                ));
            }
        };
        if secret.len() < 16 {
            let key = if h.secret_env.trim().is_empty() {
                at("secret")
            } else {
                at("secret_env")
            };
            let what = if h.secret_env.trim().is_empty() {
                "a secret".to_owned()
            } else {
                format!(
                    "environment variable {} to hold a secret",
                    h.secret_env.trim()
                )
            };
            return Err(invalid(
                key,
                format!("expected {what} of at least 16 characters"),
            ));
        }
        if h.events.is_empty() {
            return Err(invalid(
                at("events"),
                "expected at least one of run.completed, run.failed, task.auto_paused",
            ));
        }
        let mut events = Vec::with_capacity(h.events.len());
        for (k, text) in h.events.iter().enumerate() {
            let event = EventType::parse(text.trim()).ok_or_else(|| {
                invalid(
                    format!("webhooks[{i}].events[{k}]"),
                    format!(
                        "expected one of run.completed, run.failed, task.auto_paused, got {text:?}"
                    ),
                )
            })?;
            if !events.contains(&event) {
                events.push(event);
            }
        }
        out.push(Webhook {
            url,
            secret: Secret::new(secret),
            events,
        });
    }
    Ok(out)
}

impl DeliverySettings {
    /// `[webhook_delivery]`, checked.
    pub(crate) fn from_config(d: &WebhookDeliveryFile) -> Result<DeliverySettings, ConfigError> {
        let timeout = duration("webhook_delivery.timeout", &d.timeout, 1, 300)?;
        let retry_base = duration("webhook_delivery.retry_base", &d.retry_base, 1, 3600)?;
        let retry_cap = duration("webhook_delivery.retry_cap", &d.retry_cap, 1, 86_400)?;
        if retry_cap < retry_base {
            return Err(invalid(
                "webhook_delivery.retry_cap",
                "expected a duration at least as long as webhook_delivery.retry_base",
            ));
        }
        let max_age = duration("webhook_delivery.max_age", &d.max_age, 1, 30 * 86_400)?;
        Ok(DeliverySettings {
            timeout,
            retry_base,
            retry_cap,
            max_age,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hex_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        let sig = sign(&Secret::new("Jefe".into()), b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let other = sign(&Secret::new("Jefe".into()), b"what do ya want for nothing!");
        assert_ne!(sig, other);
        assert_eq!(format!("{:?}", Secret::new("Jefe".into())), "<redacted>");
    }

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap() {
        let (base, cap) = (Duration::from_secs(1), Duration::from_secs(600));
        let waits: Vec<u64> = (1..=12).map(|n| backoff(n, base, cap).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        assert_eq!(backoff(0, base, cap), base);
        assert_eq!(backoff(u32::MAX, base, cap), cap, "no overflow");
    }

    #[test]
    fn urls_follow_the_endpoint_rule_but_may_have_a_path() {
        let no_dns = |_: &str, _: u16| -> std::io::Result<Vec<std::net::IpAddr>> {
            Err(std::io::Error::other("no dns in tests"))
        };
        let allow = Allowlist(vec![Origin::parse("http://127.0.0.1:8999").expect("ok")]);
        let url = check_url("http://127.0.0.1:8999/hooks/exportd?x=1", &allow, &no_dns)
            .expect("allowlisted");
        assert_eq!(url.path(), "/hooks/exportd");
        assert!(check_url("https://93.184.216.34/hook", &Allowlist::default(), &no_dns).is_ok());
        for (bad, why) in [
            ("http://127.0.0.1:9000/hook", "https"),
            ("https://10.0.0.1/hook", "private"),
            ("https://u:p@93.184.216.34/hook", "user name"),
            ("https://93.184.216.34/hook#f", "fragment"),
            ("ftp://93.184.216.34/hook", "http or https"),
            ("hooks.example.com", "absolute"),
        ] {
            let err = check_url(bad, &allow, &no_dns).expect_err(bad);
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn event_types_round_trip() {
        for e in EventType::ALL {
            assert_eq!(EventType::parse(e.as_str()), Some(e));
        }
        assert_eq!(EventType::parse("run.started"), None);
    }
}
