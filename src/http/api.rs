//! The HTTP API, served by exportd's HTTP front ([`crate::http`]): each request goes through
//! [`handle`]: route, authenticate, take a turn, read the body within its limit, run the
//! handler (a panic becomes a 500), answer JSON, log one line.

use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use super::error::ApiError;
use super::query::Query;
use super::routes::{self as router, Route};
pub use crate::app::App;
use crate::auth::Principal;
use crate::http::front::{Payload, Refusal, Refused, Request, Response, Turns};
use crate::ledger::billing::JobName;
use crate::store::Scope;

/// One authenticated request as a handler sees it.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub principal: Principal,
    pub scope: Scope,
    pub query: Query,
    pub body: Vec<u8>,
    pub user_agent: String,
    /// The Host header, for links to exportd itself when no public_url is configured.
    pub host: String,
}

impl Ctx<'_> {
    pub fn now(&self) -> i64 {
        self.app.now_ms()
    }

    /// Where this environment's managed connections write, or a 400 when the operator has
    /// switched the managed destination off.
    pub fn managed_target(
        &self,
    ) -> Result<crate::scheduled_tasks::job_config::ManagedTarget, ApiError> {
        self.app
            .config
            .managed
            .target(&self.scope.tenant_id, &self.scope.environment_id)
            .ok_or_else(|| {
                ApiError::invalid_operation(
                    "This exportd has no managed destination ([managed_destination] kind = \"none\"); ask the operator to configure one",
                )
            })
    }

    /// The body parsed as strict JSON; an empty body is an error naming what was expected.
    pub fn json(&self) -> Result<Value, ApiError> {
        // An empty body gets a clear message of its own rather than a JSON syntax error.
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::validation(
                "",
                "request body is required (a JSON object)",
            ));
        }
        Ok(crate::input::parse_json(&self.body)?)
    }
}

/// A 404 for an id of some kind. Ids that do not look like ours are not echoed back, so a
/// hostile path cannot make the answer (or the log) long.
pub fn not_found(kind: &str, id: &str) -> ApiError {
    let plausible = id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plausible {
        ApiError::not_found(format!("{kind} with ID {id} was not found")).with_detail("id", id)
    } else {
        ApiError::not_found(format!("{kind} with the given ID was not found"))
    }
}

/// A successful answer: a status and a JSON body, nothing (204), or a file streamed from disk.
pub struct Reply {
    pub status: u16,
    pub body: Body,
}

pub enum Body {
    Json(Value),
    Empty,
    /// Text that is not JSON (Prometheus metrics), or JSON kept as written (the OpenAPI file).
    Text {
        text: std::borrow::Cow<'static, str>,
        content_type: &'static str,
    },
    File {
        file: std::fs::File,
        len: u64,
        content_type: &'static str,
        filename: String,
    },
}

impl Reply {
    pub fn json(status: u16, value: impl Serialize) -> Result<Reply, ApiError> {
        let body = serde_json::to_value(value)
            .map_err(|e| ApiError::internal(format!("serialising a response: {e}")))?;
        Ok(Reply {
            status,
            body: Body::Json(body),
        })
    }

    pub fn no_content() -> Reply {
        Reply {
            status: 204,
            body: Body::Empty,
        }
    }
}

pub type Outcome = Result<Reply, ApiError>;

/// A list answer in Flexprice's shape: the page's items and how it sits in the whole.
pub fn list_reply<T: Serialize>(items: Vec<T>, total: i64, (limit, offset): (i64, i64)) -> Outcome {
    Reply::json(
        200,
        serde_json::json!({"items": items, "pagination": {"total": total, "limit": limit, "offset": offset}}),
    )
}

/// The running HTTP API: exportd's HTTP front ([`crate::http`]) serving [`handle`].
pub struct Server {
    http: crate::http::front::Server,
}

impl Server {
    /// Binds `addr`; `threads` requests are processed at once (see [`crate::http::front::Turns`]).
    pub fn start(app: Arc<App>, addr: SocketAddr, threads: usize) -> io::Result<Server> {
        let limits = app.config.http_limits();
        let api = Api {
            turns: Turns::new(threads),
            turn_wait: limits.header_timeout,
            app,
        };
        let http = crate::http::front::Server::start(addr, limits, Arc::new(api))?;
        Ok(Server { http })
    }

    /// The address actually bound (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.http.addr()
    }

    /// Stops taking requests: those in flight finish, later ones get a JSON 503, then the
    /// listener closes.
    pub fn shutdown(self) {
        self.http.shutdown();
    }
}

struct Api {
    app: Arc<App>,
    turns: Turns,
    /// How long a request waits for a turn before a 503.
    turn_wait: std::time::Duration,
}

impl crate::http::front::Service for Api {
    fn serve(&self, request: &mut Request<'_, '_>) -> Response {
        handle(self, request)
    }

    fn refuse(&self, refused: Refused<'_>) -> Response {
        let err = refusal_error(refused.refusal);
        let request_id = crate::ids::new_id(crate::ids::REQUEST);
        if let Some(started) = refused.started {
            let method = refused.head.map_or("-", |h| h.method.as_str());
            log_request(
                &self.app,
                method,
                "(refused)",
                "",
                err.status,
                started,
                &request_id,
            );
        }
        respond(err.status, Body::Json(err.body()), &request_id, err.allow)
    }
}

/// The API error for a request the HTTP front refused.
fn refusal_error(refusal: &Refusal) -> ApiError {
    match refusal {
        Refusal::TooLarge(limit) => ApiError::payload_too_large(*limit),
        Refusal::Malformed(m) => ApiError::validation("", m.clone()),
        Refusal::Panicked => ApiError::internal("the request handler panicked"),
        other => ApiError::new(other.status(), other.code(), other.message()),
    }
}

/// Serves one request from start to finish.
fn handle(api: &Api, req: &mut Request<'_, '_>) -> Response {
    let app = &*api.app;
    let started = req.started;
    let request_id = crate::ids::new_id(crate::ids::REQUEST);
    let method = req.method().to_owned();
    let url = req.target().to_owned();
    let (path, raw_query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    // HEAD is GET without the body (the front leaves the body out).
    let route_method = if method == "HEAD" {
        "GET"
    } else {
        method.as_str()
    };

    let mut pattern = "(no route)";
    let outcome = guarded(|| {
        let route = router::route(route_method, path)?;
        pattern = route.pattern();
        dispatch(api, req, route, raw_query)
    });

    let (status, body, allow) = match outcome {
        Ok(reply) => (reply.status, reply.body, None),
        Err(err) => {
            if let Some(detail) = &err.internal {
                log::error!("{request_id} {method:.16} {pattern}: {detail}");
            }
            (err.status, Body::Json(err.body()), err.allow)
        }
    };
    let path_note = if pattern == "(no route)" {
        // Unmatched paths come from clients; show a bounded, escaped form.
        format!(" {:?}", path.chars().take(120).collect::<String>())
    } else {
        String::new()
    };
    log_request(
        app,
        &method,
        pattern,
        &path_note,
        status,
        started,
        &request_id,
    );
    respond(status, body, &request_id, allow)
}

/// The request's log line and metrics.
fn log_request(
    app: &App,
    method: &str,
    pattern: &'static str,
    path_note: &str,
    status: u16,
    started: Instant,
    request_id: &str,
) {
    let elapsed = started.elapsed();
    app.metrics
        .http_request(method, pattern, status, elapsed.as_secs_f64());
    log::info!(
        "{method:.16} {pattern}{path_note} {status} {}ms {request_id}",
        elapsed.as_millis()
    );
}

/// Runs a handler; a panic becomes a 500 (logged with the request id by the caller), so the
/// worker thread goes on serving.
fn guarded(handler: impl FnOnce() -> Outcome) -> Outcome {
    catch_unwind(AssertUnwindSafe(handler))
        .unwrap_or_else(|_| Err(ApiError::internal("the request handler panicked")))
}

fn dispatch(api: &Api, req: &mut Request<'_, '_>, route: Route<'_>, raw_query: &str) -> Outcome {
    let app = &*api.app;
    // Unauthenticated: probes, scrapers and API tooling carry no API key. They take no turn,
    // so they answer even when every turn is held.
    match route {
        Route::Health => return Reply::json(200, serde_json::json!({"status": "ok"})),
        Route::Ready => return ready(app),
        Route::Metrics => return metrics(app),
        Route::OpenApi => {
            return Ok(Reply {
                status: 200,
                body: Body::Text {
                    text: OPENAPI.into(),
                    content_type: "application/json",
                },
            });
        }
        Route::Download(id) => {
            return crate::runs::downloads::serve(app, id, &Query::parse(raw_query));
        }
        _ => {}
    }
    let principal = authenticate(app, req)?;
    let _turn = api.turns.take(api.turn_wait).ok_or_else(|| {
        ApiError::unavailable("exportd is busy: every request thread is in use; retry shortly")
    })?;
    let body = if route.takes_body() {
        req.read_body(app.config.max_body_bytes)
            .map_err(|r| refusal_error(&r))?
    } else {
        Vec::new()
    };
    let ctx = Ctx {
        app,
        scope: Scope::from(&principal),
        principal,
        query: Query::parse(raw_query),
        body,
        user_agent: req.header("user-agent").unwrap_or_default().to_owned(),
        host: req.header("host").unwrap_or("localhost").to_owned(),
    };
    match route {
        Route::ListScheduledTasks => crate::scheduled_tasks::handlers::list(&ctx),
        Route::CreateScheduledTask => crate::scheduled_tasks::handlers::create(&ctx),
        Route::GetScheduledTask(id) => crate::scheduled_tasks::handlers::get(&ctx, id),
        Route::UpdateScheduledTask(id) => crate::scheduled_tasks::handlers::update(&ctx, id),
        Route::DeleteScheduledTask(id) => crate::scheduled_tasks::handlers::delete(&ctx, id),
        Route::RunScheduledTask(id) => crate::scheduled_tasks::handlers::force_run(&ctx, id),
        Route::BackfillScheduledTask(id) => crate::scheduled_tasks::handlers::backfill(&ctx, id),
        Route::ListRuns => crate::runs::handlers::list(&ctx),
        Route::GetRun(id) => crate::runs::handlers::get(&ctx, id),
        Route::ListConnections => crate::connections::handlers::list(&ctx),
        Route::CreateConnection => crate::connections::handlers::create(&ctx),
        Route::GetConnection(id) => crate::connections::handlers::get(&ctx, id),
        Route::UpdateConnection(id) => crate::connections::handlers::update(&ctx, id),
        Route::DeleteConnection(id) => crate::connections::handlers::delete(&ctx, id),
        Route::TestConnection(id) => crate::connections::handlers::test(&ctx, id),
        Route::IngestEvent => crate::ledger::events::handlers::ingest(&ctx),
        Route::IngestEvents => crate::ledger::events::handlers::ingest_bulk(&ctx),
        Route::GetEvent(id) => crate::ledger::events::handlers::get(&ctx, id),
        Route::LookupEvent => crate::ledger::events::handlers::lookup(&ctx),
        Route::NotSupported(what) => Err(what.error()),
        Route::DownloadLink(id) => crate::runs::downloads::link(&ctx, id),
        Route::ListCustomers => crate::ledger::customers::handlers::list(&ctx),
        Route::CreateCustomer => crate::ledger::customers::handlers::create(&ctx),
        Route::GetCustomer(id) => crate::ledger::customers::handlers::get(&ctx, id),
        Route::UpdateCustomer(id) => crate::ledger::customers::handlers::update(&ctx, id),
        Route::ListWallets => crate::ledger::wallets::handlers::list(&ctx),
        Route::CreateWallet => crate::ledger::wallets::handlers::create(&ctx),
        Route::GetWallet(id) => crate::ledger::wallets::handlers::get(&ctx, id),
        Route::TopUpWallet(id) => crate::ledger::wallets::handlers::top_up(&ctx, id),
        Route::DebitWallet(id) => crate::ledger::wallets::handlers::debit(&ctx, id),
        Route::ListWalletTransactions(id) => {
            crate::ledger::wallets::handlers::transactions(&ctx, id)
        }
        Route::ListInvoices => crate::ledger::invoices::handlers::list(&ctx),
        Route::CreateInvoice => crate::ledger::invoices::handlers::create(&ctx),
        Route::GetInvoice(id) => crate::ledger::invoices::handlers::get(&ctx, id),
        Route::FinalizeInvoice(id) => crate::ledger::invoices::handlers::finalize(&ctx, id),
        Route::VoidInvoice(id) => crate::ledger::invoices::handlers::void(&ctx, id),
        Route::PayInvoice(id) => crate::ledger::invoices::handlers::payment(&ctx, id),
        Route::ListSubscriptions => crate::ledger::subscriptions::handlers::list(&ctx),
        Route::CreateSubscription => crate::ledger::subscriptions::handlers::create(&ctx),
        Route::GetSubscription(id) => crate::ledger::subscriptions::handlers::get(&ctx, id),
        Route::ScheduleUpdateBillingPeriod => {
            crate::ledger::billing::handlers::schedule(&ctx, JobName::UpdateBillingPeriod)
        }
        Route::ScheduleDraftFinalization => {
            crate::ledger::billing::handlers::schedule(&ctx, JobName::DraftFinalization)
        }
        Route::ListSystemJobs => crate::ledger::billing::handlers::list(&ctx),
        Route::Health | Route::Ready | Route::Metrics | Route::OpenApi | Route::Download(_) => {
            Err(ApiError::route_not_found())
        }
    }
}

/// The OpenAPI 3 document of the whole API, served as written.
const OPENAPI: &str = include_str!("openapi.json");

/// 200 when writes work (a file beside the database and a committed row: see
/// [`crate::store::Store::check_writes`]) and the scheduler loop runs, else 503 naming what is
/// wrong. It turns 200 again by itself once writes work again (space freed, say).
fn ready(app: &App) -> Outcome {
    if let Err(e) = app.store.check_writes(app.now_ms()) {
        let mut err = ApiError::unavailable(
            "exportd cannot write its data (a full or read-only volume?); the server log has details",
        );
        err.internal = Some(format!("readiness: {e}"));
        return Err(err);
    }
    if !app.scheduler.is_running() {
        return Err(ApiError::unavailable("the scheduler is not running"));
    }
    Reply::json(
        200,
        serde_json::json!({"status": "ready", "database": "ok", "scheduler": "running"}),
    )
}

fn metrics(app: &App) -> Outcome {
    let now = app.now_ms();
    let gauges = app
        .store
        .read(|tx| crate::scheduled_tasks::storage::gauges(tx, now))?;
    Ok(Reply {
        status: 200,
        body: Body::Text {
            text: app.metrics.render(&gauges).into(),
            content_type: "text/plain; version=0.0.4; charset=utf-8",
        },
    })
}

fn authenticate(app: &App, req: &Request<'_, '_>) -> Result<Principal, ApiError> {
    let key = req
        .header("x-api-key")
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized("Missing API key: send it in the x-api-key header")
        })?;
    app.keys
        .authenticate(key)
        .cloned()
        .ok_or_else(|| ApiError::unauthorized("Invalid API key"))
}

/// The front's response for an answer: JSON, text or a file, with the request id.
fn respond(status: u16, body: Body, request_id: &str, allow: Option<&str>) -> Response {
    let mut headers = vec![("x-request-id".to_owned(), request_id.to_owned())];
    if let Some(allow) = allow {
        headers.push(("Allow".to_owned(), allow.to_owned()));
    }
    let body = match body {
        Body::Json(v) => {
            headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
            Payload::Bytes(v.to_string().into_bytes())
        }
        Body::Empty => Payload::Bytes(Vec::new()),
        Body::Text { text, content_type } => {
            headers.push(("Content-Type".to_owned(), content_type.to_owned()));
            Payload::Bytes(text.into_owned().into_bytes())
        }
        Body::File {
            file,
            len,
            content_type,
            filename,
        } => {
            headers.push(("Content-Type".to_owned(), content_type.to_owned()));
            headers.push((
                "Content-Disposition".to_owned(),
                format!("attachment; filename=\"{filename}\""),
            ));
            Payload::File { file, len }
        }
    };
    Response {
        status,
        headers,
        body,
    }
}

/// Applies the endpoint_url rule (allowlist, then https and public addresses) to a field.
pub fn check_endpoint(ctx: &Ctx<'_>, field: &str, url: &str) -> Result<(), ApiError> {
    let resolver = crate::sinks::endpoint::system_resolver;
    crate::sinks::endpoint::check(url, &ctx.app.config.allowed_endpoints, &resolver)
        .map(|_| ())
        .map_err(|why| ApiError::validation(field, format!("{field} {why}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_handler_is_a_500_and_the_next_request_is_served() {
        let err = match guarded(|| panic!("handler bug")) {
            Err(e) => e,
            Ok(_) => panic!("a panic must not be a success"),
        };
        assert_eq!(err.status, 500);
        assert_eq!(
            err.internal.as_deref(),
            Some("the request handler panicked")
        );
        // The panic text stays out of the answer.
        assert!(!err.body().to_string().contains("handler bug"));
        let next = guarded(|| Reply::json(200, serde_json::json!({"ok": true})));
        assert_eq!(next.map(|r| r.status).ok(), Some(200));
    }
}
