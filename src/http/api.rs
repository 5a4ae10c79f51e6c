//! The HTTP API, served by exportd's HTTP front ([`crate::http`]): each request goes through
//! [`handle`]: route, authenticate, take a turn, read the body within its limit, run the
//! handler (a panic becomes a 500), answer JSON, log one line.

use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use super::ctx::{App, Body, Ctx, Outcome, Public};
use super::error::ApiError;
use super::query::Query;
use super::routes::{self, Handler, Route};
use crate::auth::Principal;
use crate::http::front::{Payload, Refused, Request, Response, Turns};
use crate::sources::Source;
use crate::store::Scope;

/// The running HTTP API: exportd's HTTP front ([`crate::http`]) serving [`handle`].
pub(crate) struct Server {
    http: crate::http::front::Server,
}

impl Server {
    /// Binds `addr`; `threads` requests are processed at once (see [`crate::http::front::Turns`]).
    pub(crate) fn start(app: Arc<App>, addr: SocketAddr, threads: usize) -> io::Result<Server> {
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
    pub(crate) fn addr(&self) -> SocketAddr {
        self.http.addr()
    }

    /// Stops taking requests: those in flight finish, later ones get a JSON 503, then the
    /// listener closes.
    pub(crate) fn shutdown(self) {
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
        let err = ApiError::refused(refused.refusal);
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
        respond(
            err.status,
            Body::Json(err.body()),
            &request_id,
            err.allow.as_deref(),
        )
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
        let (route, id) = routes::find(route_method, path)?;
        pattern = route.pattern;
        dispatch(api, req, route, id, raw_query)
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
    respond(status, body, &request_id, allow.as_deref())
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

fn dispatch(
    api: &Api,
    req: &mut Request<'_, '_>,
    route: &Route,
    id: &str,
    raw_query: &str,
) -> Outcome {
    let app = &*api.app;
    if let Handler::Public(handler) = route.handler {
        let query = Query::parse(raw_query);
        return handler(&Public { app, id, query });
    }
    let principal = authenticate(app, req)?;
    ledger_open(route, &*app.source)?;
    let _turn = api.turns.take(api.turn_wait).ok_or_else(|| {
        ApiError::unavailable("exportd is busy: every request thread is in use; retry shortly")
    })?;
    let body = if route.body {
        req.read_body(app.config.max_body_bytes)
            .map_err(|r| ApiError::refused(&r))?
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
    match route.handler {
        Handler::Keyed(handler) => handler(&ctx),
        Handler::KeyedId(handler) => handler(&ctx, id),
        Handler::NotSupported(reason) => Err(route.not_supported(reason)),
        Handler::Public(handler) => handler(&Public {
            app,
            id,
            query: ctx.query,
        }),
    }
}

/// The embedded ledger's write routes answer only when the ledger is what exports read.
fn ledger_open(route: &Route, source: &dyn Source) -> Result<(), ApiError> {
    if route.ledger && !source.ledger_writes() {
        return Err(ApiError::invalid_operation(format!(
            "{} {} writes exportd's embedded ledger, which is off: this exportd exports {}",
            route.method,
            route.pattern,
            source.name()
        )));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Reply;

    /// A source that is not the embedded ledger (Flexprice's databases, say).
    struct Elsewhere;

    impl Source for Elsewhere {
        fn name(&self) -> &'static str {
            "Flexprice's databases"
        }
        fn offers(
            &self,
            _: crate::scheduled_tasks::EntityType,
        ) -> Result<(), crate::sources::Unavailable> {
            Ok(())
        }
        fn ledger_writes(&self) -> bool {
            false
        }
        fn export(
            &self,
            _: &crate::sources::ExportRequest<'_>,
            _: &mut dyn crate::sources::RowSink,
        ) -> Result<u64, crate::failure::ExportError> {
            Ok(0)
        }
        fn check(&self) -> Result<(), crate::sources::SourceError> {
            Ok(())
        }
    }

    #[test]
    fn the_ledger_routes_are_refused_as_a_group_when_another_source_is_read() {
        let mut refused = 0;
        for route in routes::routes() {
            match ledger_open(route, &Elsewhere) {
                Ok(()) => assert!(!route.ledger, "{} {}", route.method, route.pattern),
                Err(e) => {
                    assert!(route.ledger, "{} {}", route.method, route.pattern);
                    assert_eq!((e.status, e.code), (400, "invalid_operation"));
                    assert!(e.message.contains("Flexprice's databases"), "{}", e.message);
                    refused += 1;
                }
            }
        }
        assert!(refused >= 15, "{refused}");
    }

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
