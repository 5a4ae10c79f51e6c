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

pub(crate) mod events;
pub(crate) mod outbox;
pub(crate) mod storage;

use std::time::Duration;

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use url::Url;

use crate::config::file::{WebhookDeliveryFile, WebhookFile};
use crate::config::validate::duration;
use crate::config::{ConfigError, invalid};
use crate::input::Invalid;
use crate::sinks::endpoint::{self, Allowlist, Origin, Resolver};

/// Prefix of event ids (`evt_…`), the receiver's de-duplication key.
pub(crate) const EVENT_ID_PREFIX: &str = "evt";
/// Header with `sha256=<hex HMAC-SHA256(secret, body)>`.
pub(crate) const SIGNATURE_HEADER: &str = "x-exportd-signature";
/// Header with the event type.
pub(crate) const EVENT_HEADER: &str = "x-exportd-event";
/// Header with the event id (the same on every redelivery).
pub(crate) const DELIVERY_HEADER: &str = "x-exportd-delivery";

crate::names::named! {
    /// What a webhook can be told about.
    pub(crate) enum EventType {
        RunCompleted = "run.completed",
        RunFailed = "run.failed",
        TaskAutoPaused = "task.auto_paused",
    }
}

/// A webhook signing secret; never printed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn new(text: String) -> Secret {
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
pub(crate) struct Webhook {
    pub url: Url,
    pub secret: Secret,
    pub events: Vec<EventType>,
}

impl Webhook {
    /// The webhook's origin, for logs: its path or query may carry a token.
    pub(crate) fn origin(&self) -> String {
        Origin::of_url(&self.url).map_or_else(|_| "(bad url)".to_owned(), |o| o.display())
    }
}

/// `[webhook_delivery]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeliverySettings {
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
pub(crate) fn check_url(
    text: &str,
    allow: &Allowlist,
    resolve: Resolver<'_>,
) -> Result<Url, Invalid> {
    let url = Url::parse(text.trim())
        .map_err(|_| "must be an absolute http(s) URL such as https://hooks.example.com/exportd")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Invalid::from(
            "must not contain a user name or password".to_owned(),
        ));
    }
    if url.fragment().is_some() {
        return Err(Invalid::from("must not contain a fragment".to_owned()));
    }
    endpoint::check_origin(Origin::of_url(&url)?, allow, resolve)?;
    Ok(url)
}

/// The signature header's value: `sha256=` and the hex HMAC-SHA256 of the body.
pub(crate) fn sign(secret: &Secret, body: &[u8]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.0.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(body);
    format!(
        "sha256={}",
        crate::secrets::to_hex(&mac.finalize().into_bytes())
    )
}

/// Wait before the attempt after `failures` failed ones: `base`, doubling, at most `cap`.
pub(crate) fn backoff(failures: u32, base: Duration, cap: Duration) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(30);
    base.saturating_mul(factor).min(cap)
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
