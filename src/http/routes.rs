//! The route table: every route exportd serves, one row each. Read it to find where a request
//! goes. 404 and 405 (with its `Allow` header) come from it, and so do the tests that must
//! cover every route (authentication, hostile bodies, the OpenAPI document): a route added
//! here is in all of them.

use super::ApiError;
use super::ctx::get;
use super::ctx::{Ctx, Outcome, Public};
use super::probes;
use crate::connections::handlers as connections;
use crate::ledger::billing::handlers as billing;
use crate::ledger::customers::Customer;
use crate::ledger::customers::handlers as customers;
use crate::ledger::events::handlers as events;
use crate::ledger::invoices::handlers as invoices;
use crate::ledger::subscriptions::Subscription;
use crate::ledger::subscriptions::handlers as subscriptions;
use crate::ledger::wallets::Wallet;
use crate::ledger::wallets::handlers as wallets;
use crate::runs::Run;
use crate::runs::{downloads, handlers as runs};
use crate::scheduled_tasks::ScheduledTask;
use crate::scheduled_tasks::handlers as tasks;
use Handler::{Keyed, KeyedId, NotSupported, Public as Open};

const GET: &str = "GET";
const POST: &str = "POST";
const PUT: &str = "PUT";
const DELETE: &str = "DELETE";

/// Every route, in the order their methods are listed in `Allow`.
#[rustfmt::skip]
static ROUTES: &[Route] = &[
    Route::new(GET, "/healthz", Open(probes::health)),
    Route::new(GET, "/readyz", Open(probes::ready)),
    Route::new(GET, "/metrics", Open(probes::metrics)),
    Route::new(GET, "/openapi.json", Open(probes::openapi)),
    // The signature in the link is the credential.
    Route::new(GET, "/downloads/{id}", Open(downloads::serve)),
    // Scheduled tasks.
    Route::new(GET, "/v1/tasks/scheduled", Keyed(tasks::list)),
    Route::new(POST, "/v1/tasks/scheduled", Keyed(tasks::create)).body(),
    Route::new(GET, "/v1/tasks/scheduled/{id}", KeyedId(get::<ScheduledTask>)),
    Route::new(PUT, "/v1/tasks/scheduled/{id}", KeyedId(tasks::update)).body(),
    Route::new(DELETE, "/v1/tasks/scheduled/{id}", KeyedId(tasks::delete)),
    Route::new(POST, "/v1/tasks/scheduled/{id}/run", KeyedId(tasks::force_run)).body(),
    Route::new(POST, "/v1/tasks/scheduled/{id}/backfill", KeyedId(tasks::backfill)).body(),
    // The billing system jobs (SPEC 7.1), under both of Flexprice's paths.
    Route::new(POST, "/v1/tasks/scheduled/schedule-update-billing-period", Keyed(billing::update_periods)).body().ledger(),
    Route::new(POST, "/v1/subscriptions/temporal/schedule-update-billing-period", Keyed(billing::update_periods)).body().ledger(),
    Route::new(POST, "/v1/tasks/scheduled/schedule-draft-finalization", Keyed(billing::finalize_drafts)).body().ledger(),
    Route::new(POST, "/v1/subscriptions/temporal/schedule-draft-finalization", Keyed(billing::finalize_drafts)).body().ledger(),
    Route::new(GET, "/v1/tasks/scheduled/system", Keyed(billing::list)),
    // Runs ("tasks" on the wire).
    Route::new(GET, "/v1/tasks", Keyed(runs::list)),
    Route::new(POST, "/v1/tasks", NotSupported(CREATE_TASK)),
    Route::new(GET, "/v1/tasks/result", NotSupported(TASK_RESULT)),
    Route::new(GET, "/v1/tasks/{id}", KeyedId(get::<Run>)),
    Route::new(GET, "/v1/tasks/{id}/download", KeyedId(downloads::link)),
    Route::new(PUT, "/v1/tasks/{id}/status", NotSupported(UPDATE_TASK_STATUS)),
    // Events.
    Route::new(POST, "/v1/events", Keyed(events::ingest)).body().ledger(),
    Route::new(POST, "/v1/events/bulk", Keyed(events::ingest_bulk)).body().ledger(),
    Route::new(POST, "/v1/events/query", NotSupported(EVENT_QUERIES)),
    Route::new(POST, "/v1/events/analytics", NotSupported(EVENT_QUERIES)),
    Route::new(POST, "/v1/events/usage", NotSupported(EVENT_QUERIES)),
    Route::new(POST, "/v1/events/usage/meter", NotSupported(EVENT_QUERIES)),
    Route::new(GET, "/v1/events/lookup", Keyed(events::lookup)),
    Route::new(POST, "/v1/events/huggingface-inference", NotSupported(HUGGING_FACE)),
    Route::new(GET, "/v1/events/{id}", KeyedId(events::get)),
    // Connections.
    Route::new(GET, "/v1/connections", Keyed(connections::list)),
    Route::new(POST, "/v1/connections", Keyed(connections::create)).body(),
    Route::new(GET, "/v1/connections/{id}", KeyedId(connections::get)),
    Route::new(PUT, "/v1/connections/{id}", KeyedId(connections::update)).body(),
    Route::new(DELETE, "/v1/connections/{id}", KeyedId(connections::delete)),
    Route::new(POST, "/v1/connections/{id}/test", KeyedId(connections::test)).body(),
    // The ledger.
    Route::new(GET, "/v1/customers", Keyed(customers::list)),
    Route::new(POST, "/v1/customers", Keyed(customers::create)).body().ledger(),
    Route::new(GET, "/v1/customers/{id}", KeyedId(get::<Customer>)),
    Route::new(PUT, "/v1/customers/{id}", KeyedId(customers::update)).body().ledger(),
    Route::new(GET, "/v1/wallets", Keyed(customers::list_of_customer::<Wallet>)),
    Route::new(POST, "/v1/wallets", Keyed(wallets::create)).body().ledger(),
    Route::new(GET, "/v1/wallets/{id}", KeyedId(get::<Wallet>)),
    Route::new(POST, "/v1/wallets/{id}/top-up", KeyedId(wallets::top_up)).body().ledger(),
    Route::new(POST, "/v1/wallets/{id}/debit", KeyedId(wallets::debit)).body().ledger(),
    Route::new(GET, "/v1/wallets/{id}/transactions", KeyedId(wallets::transactions)),
    Route::new(GET, "/v1/invoices", Keyed(invoices::list)),
    Route::new(POST, "/v1/invoices", Keyed(invoices::create)).body().ledger(),
    Route::new(GET, "/v1/invoices/{id}", KeyedId(invoices::get)),
    Route::new(POST, "/v1/invoices/{id}/finalize", KeyedId(invoices::finalize)).ledger(),
    Route::new(POST, "/v1/invoices/{id}/void", KeyedId(invoices::void)).ledger(),
    Route::new(POST, "/v1/invoices/{id}/payment", KeyedId(invoices::payment)).body().ledger(),
    Route::new(GET, "/v1/subscriptions", Keyed(customers::list_of_customer::<Subscription>)),
    Route::new(POST, "/v1/subscriptions", Keyed(subscriptions::create)).body().ledger(),
    Route::new(GET, "/v1/subscriptions/{id}", KeyedId(get::<Subscription>)),
];

// Why exportd does not serve some routes of Flexprice's SDKs, and what to use instead. Each
// answers 400 `not_supported` (a status both SDKs raise as their typed error).
const TASK_RESULT: &str = "exportd runs no Temporal workflows: read the run itself with GET /v1/tasks/{workflow_id} (task_status, error_summary, file_url)";
const CREATE_TASK: &str = "exportd only exports, it imports nothing: runs are made by the scheduler, POST /v1/tasks/scheduled/{id}/run and POST /v1/tasks/scheduled/{id}/backfill";
const UPDATE_TASK_STATUS: &str = "a run's task_status is set by exportd's export workers only: a failed window is retried by the scheduler, or run again with POST /v1/tasks/scheduled/{id}/run";
const EVENT_QUERIES: &str = "exportd stores events to export them and answers no event queries: export them with an events or usage_analytics scheduled task, or read one event with GET /v1/events/{id}";
const HUGGING_FACE: &str =
    "exportd has no Hugging Face billing data: it stores usage events to export them";

/// What serves a route.
#[derive(Clone, Copy)]
pub(crate) enum Handler {
    /// Answers without an API key (probes, scrapers, API tooling, signed links), and without
    /// taking a turn, so it answers even when every turn is held.
    Public(fn(&Public<'_>) -> Outcome),
    /// Needs an API key.
    Keyed(fn(&Ctx<'_>) -> Outcome),
    /// Needs an API key; takes the path's `{id}`.
    KeyedId(fn(&Ctx<'_>, &str) -> Outcome),
    /// A route of Flexprice's SDKs that exportd does not serve, and why (needs an API key).
    NotSupported(&'static str),
}

/// One row of the table.
pub struct Route {
    pub method: &'static str,
    /// The path, with `{id}` for its one parameter.
    pub pattern: &'static str,
    /// Whether the handler reads a request body.
    pub body: bool,
    /// Whether the route writes the embedded ledger (refused when exportd reads its billing
    /// data from another source).
    pub ledger: bool,
    pub(crate) handler: Handler,
}

impl Route {
    const fn new(method: &'static str, pattern: &'static str, handler: Handler) -> Route {
        Route {
            method,
            pattern,
            body: false,
            ledger: false,
            handler,
        }
    }

    const fn body(mut self) -> Route {
        self.body = true;
        self
    }

    const fn ledger(mut self) -> Route {
        self.ledger = true;
        self
    }

    /// Whether the route needs an API key.
    pub fn needs_key(&self) -> bool {
        !matches!(self.handler, Handler::Public(_))
    }

    /// The answer of a route exportd does not serve.
    pub(crate) fn not_supported(&self, reason: &str) -> ApiError {
        ApiError::not_supported(format!(
            "{} {} is not supported by exportd: {reason}",
            self.method, self.pattern
        ))
    }
}

/// The route table.
pub fn routes() -> &'static [Route] {
    ROUTES
}

/// How closely a pattern matches a path: `None` when it does not; otherwise, segment by
/// segment, whether it is a literal (a literal beats `{id}`, so `/v1/tasks/result` is not the
/// run `result`).
fn specificity(pattern: &str, segments: &[&str]) -> Option<Vec<bool>> {
    let parts: Vec<&str> = pattern[1..].split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    parts
        .iter()
        .zip(segments)
        .map(|(part, segment)| match *part {
            "{id}" => Some(false),
            literal => (literal == *segment).then_some(true),
        })
        .collect()
}

/// The route of a method and a path (without the query string), and the path's `{id}` if it
/// has one. A trailing slash is ignored. A path no pattern matches is a 404; a method the
/// path's pattern does not take is a 405 naming those it takes.
pub(crate) fn find<'p>(method: &str, path: &'p str) -> Result<(&'static Route, &'p str), ApiError> {
    let trimmed = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let Some(rest) = trimmed.strip_prefix('/') else {
        return Err(ApiError::route_not_found());
    };
    let segments: Vec<&str> = rest.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(ApiError::route_not_found());
    }
    let pattern = ROUTES
        .iter()
        .filter_map(|r| specificity(r.pattern, &segments).map(|s| (s, r.pattern)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, pattern)| pattern)
        .ok_or_else(ApiError::route_not_found)?;
    let same: Vec<&'static Route> = ROUTES.iter().filter(|r| r.pattern == pattern).collect();
    let Some(route) = same.iter().find(|r| r.method == method) else {
        let allow: Vec<&str> = same.iter().map(|r| r.method).collect();
        return Err(ApiError::method_not_allowed(allow.join(", ")));
    };
    let id = pattern[1..]
        .split('/')
        .zip(&segments)
        .find_map(|(part, segment)| (part == "{id}").then_some(*segment))
        .unwrap_or("");
    Ok((route, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pattern and `{id}` a request is routed to.
    fn routed(method: &str, path: &str) -> Result<(&'static str, &'static str, String), u16> {
        find(method, path)
            .map(|(r, id)| (r.method, r.pattern, id.to_owned()))
            .map_err(|e| e.status)
    }

    fn ok(
        method: &'static str,
        pattern: &'static str,
        id: &str,
    ) -> Result<(&'static str, &'static str, String), u16> {
        Ok((method, pattern, id.to_owned()))
    }

    fn allow(method: &str, path: &str) -> Option<String> {
        find(method, path).err().and_then(|e| e.allow)
    }

    #[test]
    fn matches_routes_with_and_without_trailing_slash() {
        assert_eq!(
            routed("GET", "/v1/tasks/scheduled"),
            ok("GET", "/v1/tasks/scheduled", "")
        );
        assert_eq!(
            routed("GET", "/v1/tasks/scheduled/"),
            ok("GET", "/v1/tasks/scheduled", "")
        );
        assert_eq!(
            routed("PUT", "/v1/tasks/scheduled/schtask_1"),
            ok("PUT", "/v1/tasks/scheduled/{id}", "schtask_1")
        );
        assert_eq!(
            routed("POST", "/v1/tasks/scheduled/schtask_1/run"),
            ok("POST", "/v1/tasks/scheduled/{id}/run", "schtask_1")
        );
        assert_eq!(
            routed("GET", "/v1/tasks/task_1"),
            ok("GET", "/v1/tasks/{id}", "task_1")
        );
        assert_eq!(
            routed("DELETE", "/v1/connections/conn_1"),
            ok("DELETE", "/v1/connections/{id}", "conn_1")
        );
        for pattern in [
            "/v1/subscriptions/temporal/schedule-update-billing-period",
            "/v1/subscriptions/temporal/schedule-draft-finalization",
        ] {
            assert_eq!(
                routed("POST", &format!("{pattern}/")),
                ok("POST", pattern, "")
            );
            let (route, _) = find("POST", pattern).unwrap();
            assert!(route.body && route.ledger);
        }
    }

    #[test]
    fn matches_ledger_routes() {
        assert_eq!(
            routed("POST", "/v1/customers"),
            ok("POST", "/v1/customers", "")
        );
        assert_eq!(
            routed("PUT", "/v1/customers/cust_1"),
            ok("PUT", "/v1/customers/{id}", "cust_1")
        );
        assert_eq!(
            routed("POST", "/v1/wallets/wallet_1/top-up"),
            ok("POST", "/v1/wallets/{id}/top-up", "wallet_1")
        );
        assert_eq!(
            routed("GET", "/v1/wallets/wallet_1/transactions"),
            ok("GET", "/v1/wallets/{id}/transactions", "wallet_1")
        );
        assert_eq!(
            routed("POST", "/v1/invoices/inv_1/payment"),
            ok("POST", "/v1/invoices/{id}/payment", "inv_1")
        );
        assert_eq!(
            routed("GET", "/v1/subscriptions/subs_1"),
            ok("GET", "/v1/subscriptions/{id}", "subs_1")
        );
        assert_eq!(
            allow("DELETE", "/v1/customers/cust_1").as_deref(),
            Some("GET, PUT")
        );
        assert_eq!(routed("GET", "/v1/invoices/inv_1/void"), Err(405));
        let (pay, _) = find("POST", "/v1/invoices/x/payment").unwrap();
        let (void, _) = find("POST", "/v1/invoices/x/void").unwrap();
        assert!(pay.body && !void.body);
    }

    #[test]
    fn literal_routes_win_over_ids() {
        for path in [
            "/v1/tasks/scheduled/schedule-draft-finalization",
            "/v1/tasks/scheduled/schedule-update-billing-period",
        ] {
            assert_eq!(routed("POST", path), ok("POST", path, ""));
            assert_eq!(allow("GET", path).as_deref(), Some("POST"));
        }
        assert_eq!(
            routed("GET", "/v1/tasks/scheduled/system"),
            ok("GET", "/v1/tasks/scheduled/system", "")
        );
        assert_eq!(
            allow("DELETE", "/v1/tasks/scheduled/system").as_deref(),
            Some("GET")
        );
        assert_eq!(
            routed("GET", "/v1/tasks/scheduled/systems"),
            ok("GET", "/v1/tasks/scheduled/{id}", "systems")
        );
    }

    #[test]
    fn the_sdks_routes_exportd_does_not_serve_are_routes_not_ids() {
        assert_eq!(
            routed("GET", "/v1/tasks/result"),
            ok("GET", "/v1/tasks/result", "")
        );
        assert_eq!(routed("POST", "/v1/tasks"), ok("POST", "/v1/tasks", ""));
        assert_eq!(
            routed("PUT", "/v1/tasks/task_1/status"),
            ok("PUT", "/v1/tasks/{id}/status", "task_1")
        );
        assert_eq!(
            routed("POST", "/v1/events/usage/meter"),
            ok("POST", "/v1/events/usage/meter", "")
        );
        assert_eq!(
            routed("GET", "/v1/events/evt-1"),
            ok("GET", "/v1/events/{id}", "evt-1")
        );
        assert_eq!(allow("GET", "/v1/events/query").as_deref(), Some("POST"));
        for route in ROUTES {
            if let Handler::NotSupported(reason) = route.handler {
                let concrete = route.pattern.replace("{id}", "x");
                let (found, _) = find(route.method, &concrete).unwrap();
                assert_eq!(found.pattern, route.pattern);
                let message = route.not_supported(reason).message;
                assert!(
                    message.starts_with(&format!(
                        "{} {} is not supported by exportd: ",
                        route.method, route.pattern
                    )),
                    "{message}"
                );
            }
        }
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405() {
        for path in [
            "/",
            "",
            "/v1",
            "/v1/tasks/scheduled//run",
            "/v2/tasks",
            "/v1/tasks/a/b/c",
            "//v1/tasks",
        ] {
            assert_eq!(routed("GET", path), Err(404), "{path:?}");
        }
        let err = find("PATCH", "/v1/tasks/scheduled/x").err().unwrap();
        assert_eq!(
            (err.status, err.allow.as_deref()),
            (405, Some("GET, PUT, DELETE"))
        );
        assert_eq!(routed("GET", "/v1/tasks/scheduled/x/run"), Err(405));
    }

    #[test]
    fn every_row_is_one_method_of_one_pattern_and_ids_go_to_handlers_that_take_them() {
        for (i, a) in ROUTES.iter().enumerate() {
            assert!(
                ROUTES[..i]
                    .iter()
                    .all(|b| (b.method, b.pattern) != (a.method, a.pattern)),
                "{} {} twice",
                a.method,
                a.pattern
            );
            let takes_id = matches!(a.handler, Handler::KeyedId(_));
            let has_id = a.pattern.contains("{id}");
            match a.handler {
                Handler::Keyed(_) | Handler::KeyedId(_) => {
                    assert_eq!(takes_id, has_id, "{}", a.pattern)
                }
                Handler::Public(_) | Handler::NotSupported(_) => {}
            }
            assert!(a.pattern.matches("{id}").count() <= 1, "{}", a.pattern);
            assert!(!a.ledger || a.needs_key(), "{}", a.pattern);
        }
    }

    fn openapi_paths() -> serde_json::Map<String, serde_json::Value> {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("openapi.json")).expect("openapi.json is JSON");
        assert_eq!(doc["openapi"], "3.0.3");
        doc["paths"]
            .as_object()
            .expect("openapi.json has paths")
            .clone()
    }

    const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

    #[test]
    fn openapi_documents_every_route_and_only_routes() {
        let paths = openapi_paths();
        for r in ROUTES {
            let (pattern, method) = (r.pattern, r.method.to_ascii_lowercase());
            let item = paths
                .get(pattern)
                .unwrap_or_else(|| panic!("openapi.json lacks path {pattern}"));
            assert!(
                item.get(&method).is_some(),
                "openapi.json lacks {method} {pattern}"
            );
            // The document and the router agree on what the route reads.
            let body = item[&method].get("requestBody").is_some();
            assert_eq!(body, r.body, "{method} {pattern} requestBody");
        }
        // Every documented operation reaches its own row.
        for (path, item) in &paths {
            let concrete = path.replace("{id}", "x");
            let documented: Vec<&str> = METHODS
                .into_iter()
                .filter(|m| item.get(*m).is_some())
                .collect();
            assert!(!documented.is_empty(), "{path} has no operation");
            for method in METHODS {
                match find(&method.to_uppercase(), &concrete) {
                    Ok((r, _)) => {
                        assert!(
                            documented.contains(&method),
                            "{method} {path} is undocumented"
                        );
                        assert_eq!(r.pattern, path.as_str());
                    }
                    Err(e) => {
                        assert_eq!(e.status, 405, "{method} {path}");
                        assert!(
                            !documented.contains(&method),
                            "{method} {path} is not routed"
                        );
                    }
                }
            }
        }
    }
}
