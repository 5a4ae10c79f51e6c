//! Which handler a request goes to. Read this file to find where a route is served.

use super::error::ApiError;

/// A matched route and the path parameter it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    Health,
    /// Ready when the database takes a write and the scheduler thread is running.
    Ready,
    /// Prometheus text.
    Metrics,
    /// The OpenAPI 3 document of the whole API.
    OpenApi,
    ListScheduledTasks,
    CreateScheduledTask,
    GetScheduledTask(&'a str),
    UpdateScheduledTask(&'a str),
    DeleteScheduledTask(&'a str),
    RunScheduledTask(&'a str),
    BackfillScheduledTask(&'a str),
    ListRuns,
    GetRun(&'a str),
    ListConnections,
    CreateConnection,
    GetConnection(&'a str),
    UpdateConnection(&'a str),
    DeleteConnection(&'a str),
    TestConnection(&'a str),
    IngestEvent,
    IngestEvents,
    DownloadLink(&'a str),
    ListCustomers,
    CreateCustomer,
    GetCustomer(&'a str),
    UpdateCustomer(&'a str),
    ListWallets,
    CreateWallet,
    GetWallet(&'a str),
    TopUpWallet(&'a str),
    DebitWallet(&'a str),
    ListWalletTransactions(&'a str),
    ListInvoices,
    CreateInvoice,
    GetInvoice(&'a str),
    FinalizeInvoice(&'a str),
    VoidInvoice(&'a str),
    PayInvoice(&'a str),
    ListSubscriptions,
    CreateSubscription,
    GetSubscription(&'a str),
    /// A file served through a signed link (no API key: the signature is the credential).
    Download(&'a str),
    /// Enables the caller's billing-period update job and runs it now (SPEC 7.1).
    ScheduleUpdateBillingPeriod,
    /// Enables the caller's draft-finalization job and runs it now.
    ScheduleDraftFinalization,
    /// The caller's system jobs (exportd extension).
    ListSystemJobs,
    /// One stored event by its `event_id`.
    GetEvent(&'a str),
    /// The same, with the id in the query (`?id=&external_customer_id=`: the Python SDK's).
    LookupEvent,
    /// A route of Flexprice's SDKs that exportd does not serve: a clear 400 saying so.
    NotSupported(Unsupported),
}

/// Routes the official SDKs call that have no meaning in exportd (Temporal results, imports,
/// event analytics). Each answers 400 `not_supported` with what to use instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsupported {
    TaskResult,
    CreateTask,
    UpdateTaskStatus,
    QueryEvents,
    UsageAnalytics,
    UsageStatistics,
    UsageByMeter,
    HuggingFaceInference,
}

impl Unsupported {
    pub const ALL: [Unsupported; 8] = [
        Unsupported::TaskResult,
        Unsupported::CreateTask,
        Unsupported::UpdateTaskStatus,
        Unsupported::QueryEvents,
        Unsupported::UsageAnalytics,
        Unsupported::UsageStatistics,
        Unsupported::UsageByMeter,
        Unsupported::HuggingFaceInference,
    ];

    pub fn method(self) -> &'static str {
        match self {
            Unsupported::TaskResult => "GET",
            Unsupported::UpdateTaskStatus => "PUT",
            _ => "POST",
        }
    }

    pub fn pattern(self) -> &'static str {
        match self {
            Unsupported::TaskResult => "/v1/tasks/result",
            Unsupported::CreateTask => "/v1/tasks",
            Unsupported::UpdateTaskStatus => "/v1/tasks/{id}/status",
            Unsupported::QueryEvents => "/v1/events/query",
            Unsupported::UsageAnalytics => "/v1/events/analytics",
            Unsupported::UsageStatistics => "/v1/events/usage",
            Unsupported::UsageByMeter => "/v1/events/usage/meter",
            Unsupported::HuggingFaceInference => "/v1/events/huggingface-inference",
        }
    }

    /// The answer: 400 `not_supported` (a status both SDKs raise as their typed error).
    pub fn error(self) -> ApiError {
        ApiError::new(
            400,
            "not_supported",
            format!(
                "{} {} is not supported by exportd: {}",
                self.method(),
                self.pattern(),
                self.reason()
            ),
        )
    }

    /// Why exportd does not serve it, and what to use instead.
    pub fn reason(self) -> &'static str {
        match self {
            Unsupported::TaskResult => {
                "exportd runs no Temporal workflows: read the run itself with GET /v1/tasks/{workflow_id} (task_status, error_summary, file_url)"
            }
            Unsupported::CreateTask => {
                "exportd only exports, it imports nothing: runs are made by the scheduler, POST /v1/tasks/scheduled/{id}/run and POST /v1/tasks/scheduled/{id}/backfill"
            }
            Unsupported::UpdateTaskStatus => {
                "a run's task_status is set by exportd's export workers only: a failed window is retried by the scheduler, or run again with POST /v1/tasks/scheduled/{id}/run"
            }
            Unsupported::QueryEvents
            | Unsupported::UsageAnalytics
            | Unsupported::UsageStatistics
            | Unsupported::UsageByMeter => {
                "exportd stores events to export them and answers no event queries: export them with an events or usage_analytics scheduled task, or read one event with GET /v1/events/{id}"
            }
            Unsupported::HuggingFaceInference => {
                "exportd has no Hugging Face billing data: it stores usage events to export them"
            }
        }
    }
}

impl Route<'_> {
    /// The route's pattern, for logs (ids are left out so a hostile path cannot flood them).
    pub fn pattern(&self) -> &'static str {
        match self {
            Route::Health => "/healthz",
            Route::Ready => "/readyz",
            Route::Metrics => "/metrics",
            Route::OpenApi => "/openapi.json",
            Route::ListScheduledTasks | Route::CreateScheduledTask => "/v1/tasks/scheduled",
            Route::GetScheduledTask(_)
            | Route::UpdateScheduledTask(_)
            | Route::DeleteScheduledTask(_) => "/v1/tasks/scheduled/{id}",
            Route::RunScheduledTask(_) => "/v1/tasks/scheduled/{id}/run",
            Route::BackfillScheduledTask(_) => "/v1/tasks/scheduled/{id}/backfill",
            Route::ListRuns => "/v1/tasks",
            Route::GetRun(_) => "/v1/tasks/{id}",
            Route::ListConnections | Route::CreateConnection => "/v1/connections",
            Route::GetConnection(_) | Route::UpdateConnection(_) | Route::DeleteConnection(_) => {
                "/v1/connections/{id}"
            }
            Route::TestConnection(_) => "/v1/connections/{id}/test",
            Route::IngestEvent => "/v1/events",
            Route::IngestEvents => "/v1/events/bulk",
            Route::DownloadLink(_) => "/v1/tasks/{id}/download",
            Route::ListCustomers | Route::CreateCustomer => "/v1/customers",
            Route::GetCustomer(_) | Route::UpdateCustomer(_) => "/v1/customers/{id}",
            Route::ListWallets | Route::CreateWallet => "/v1/wallets",
            Route::GetWallet(_) => "/v1/wallets/{id}",
            Route::TopUpWallet(_) => "/v1/wallets/{id}/top-up",
            Route::DebitWallet(_) => "/v1/wallets/{id}/debit",
            Route::ListWalletTransactions(_) => "/v1/wallets/{id}/transactions",
            Route::ListInvoices | Route::CreateInvoice => "/v1/invoices",
            Route::GetInvoice(_) => "/v1/invoices/{id}",
            Route::FinalizeInvoice(_) => "/v1/invoices/{id}/finalize",
            Route::VoidInvoice(_) => "/v1/invoices/{id}/void",
            Route::PayInvoice(_) => "/v1/invoices/{id}/payment",
            Route::ListSubscriptions | Route::CreateSubscription => "/v1/subscriptions",
            Route::GetSubscription(_) => "/v1/subscriptions/{id}",
            Route::Download(_) => "/downloads/{id}",
            Route::ScheduleUpdateBillingPeriod => {
                "/v1/tasks/scheduled/schedule-update-billing-period"
            }
            Route::ScheduleDraftFinalization => "/v1/tasks/scheduled/schedule-draft-finalization",
            Route::ListSystemJobs => "/v1/tasks/scheduled/system",
            Route::GetEvent(_) => "/v1/events/{id}",
            Route::LookupEvent => "/v1/events/lookup",
            Route::NotSupported(u) => u.pattern(),
        }
    }

    /// Whether the handler reads a request body.
    pub fn takes_body(&self) -> bool {
        matches!(
            self,
            Route::CreateScheduledTask
                | Route::UpdateScheduledTask(_)
                | Route::RunScheduledTask(_)
                | Route::BackfillScheduledTask(_)
                | Route::CreateConnection
                | Route::UpdateConnection(_)
                | Route::TestConnection(_)
                | Route::IngestEvent
                | Route::IngestEvents
                | Route::CreateCustomer
                | Route::UpdateCustomer(_)
                | Route::CreateWallet
                | Route::TopUpWallet(_)
                | Route::DebitWallet(_)
                | Route::CreateInvoice
                | Route::PayInvoice(_)
                | Route::CreateSubscription
                | Route::ScheduleUpdateBillingPeriod
                | Route::ScheduleDraftFinalization
        )
    }
}

/// Matches a method and a path (without the query string). A trailing slash is ignored.
pub fn route<'a>(method: &str, path: &'a str) -> Result<Route<'a>, ApiError> {
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
    use Route::*;
    let only = |allowed: &'static str, m: &str, r: Route<'a>| {
        if m == allowed {
            Ok(r)
        } else {
            Err(ApiError::method_not_allowed(allowed))
        }
    };
    // A collection: GET lists it, POST adds to it.
    let collection = |m: &str, list: Route<'a>, create: Route<'a>| match m {
        "GET" => Ok(list),
        "POST" => Ok(create),
        _ => Err(ApiError::method_not_allowed("GET, POST")),
    };
    let unsupported = |m: &str, u: Unsupported| only(u.method(), m, Route::NotSupported(u));
    match segments.as_slice() {
        ["healthz"] => only("GET", method, Health),
        ["readyz"] => only("GET", method, Ready),
        ["metrics"] => only("GET", method, Metrics),
        ["openapi.json"] => only("GET", method, OpenApi),
        ["v1", "tasks", "scheduled"] => collection(method, ListScheduledTasks, CreateScheduledTask),
        ["v1", "tasks", "scheduled", "schedule-update-billing-period"]
        | [
            "v1",
            "subscriptions",
            "temporal",
            "schedule-update-billing-period",
        ] => only("POST", method, ScheduleUpdateBillingPeriod),
        ["v1", "tasks", "scheduled", "schedule-draft-finalization"]
        | [
            "v1",
            "subscriptions",
            "temporal",
            "schedule-draft-finalization",
        ] => only("POST", method, ScheduleDraftFinalization),
        ["v1", "tasks", "scheduled", "system"] => only("GET", method, ListSystemJobs),
        ["v1", "tasks", "scheduled", id] => match method {
            "GET" => Ok(GetScheduledTask(id)),
            "PUT" => Ok(UpdateScheduledTask(id)),
            "DELETE" => Ok(DeleteScheduledTask(id)),
            _ => Err(ApiError::method_not_allowed("GET, PUT, DELETE")),
        },
        ["v1", "tasks", "scheduled", id, "run"] => only("POST", method, RunScheduledTask(id)),
        ["v1", "tasks", "scheduled", id, "backfill"] => {
            only("POST", method, BackfillScheduledTask(id))
        }
        ["v1", "tasks"] => collection(
            method,
            ListRuns,
            Route::NotSupported(Unsupported::CreateTask),
        ),
        ["v1", "tasks", "result"] => unsupported(method, Unsupported::TaskResult),
        ["v1", "tasks", id] => only("GET", method, GetRun(id)),
        ["v1", "tasks", id, "download"] => only("GET", method, DownloadLink(id)),
        ["v1", "tasks", _, "status"] => unsupported(method, Unsupported::UpdateTaskStatus),
        ["downloads", id] => only("GET", method, Download(id)),
        ["v1", "events"] => only("POST", method, IngestEvent),
        ["v1", "events", "bulk"] => only("POST", method, IngestEvents),
        ["v1", "events", "query"] => unsupported(method, Unsupported::QueryEvents),
        ["v1", "events", "analytics"] => unsupported(method, Unsupported::UsageAnalytics),
        ["v1", "events", "usage"] => unsupported(method, Unsupported::UsageStatistics),
        ["v1", "events", "usage", "meter"] => unsupported(method, Unsupported::UsageByMeter),
        ["v1", "events", "lookup"] => only("GET", method, LookupEvent),
        ["v1", "events", "huggingface-inference"] => {
            unsupported(method, Unsupported::HuggingFaceInference)
        }
        ["v1", "events", id] => only("GET", method, GetEvent(id)),
        ["v1", "connections"] => collection(method, ListConnections, CreateConnection),
        ["v1", "connections", id] => match method {
            "GET" => Ok(GetConnection(id)),
            "PUT" => Ok(UpdateConnection(id)),
            "DELETE" => Ok(DeleteConnection(id)),
            _ => Err(ApiError::method_not_allowed("GET, PUT, DELETE")),
        },
        ["v1", "connections", id, "test"] => only("POST", method, TestConnection(id)),
        ["v1", "customers"] => collection(method, ListCustomers, CreateCustomer),
        ["v1", "customers", id] => match method {
            "GET" => Ok(GetCustomer(id)),
            "PUT" => Ok(UpdateCustomer(id)),
            _ => Err(ApiError::method_not_allowed("GET, PUT")),
        },
        ["v1", "wallets"] => collection(method, ListWallets, CreateWallet),
        ["v1", "wallets", id] => only("GET", method, GetWallet(id)),
        ["v1", "wallets", id, "top-up"] => only("POST", method, TopUpWallet(id)),
        ["v1", "wallets", id, "debit"] => only("POST", method, DebitWallet(id)),
        ["v1", "wallets", id, "transactions"] => only("GET", method, ListWalletTransactions(id)),
        ["v1", "invoices"] => collection(method, ListInvoices, CreateInvoice),
        ["v1", "invoices", id] => only("GET", method, GetInvoice(id)),
        ["v1", "invoices", id, "finalize"] => only("POST", method, FinalizeInvoice(id)),
        ["v1", "invoices", id, "void"] => only("POST", method, VoidInvoice(id)),
        ["v1", "invoices", id, "payment"] => only("POST", method, PayInvoice(id)),
        ["v1", "subscriptions"] => collection(method, ListSubscriptions, CreateSubscription),
        ["v1", "subscriptions", id] => only("GET", method, GetSubscription(id)),
        _ => Err(ApiError::route_not_found()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_routes_with_and_without_trailing_slash() {
        assert_eq!(
            route("GET", "/v1/tasks/scheduled"),
            Ok(Route::ListScheduledTasks)
        );
        assert_eq!(
            route("GET", "/v1/tasks/scheduled/"),
            Ok(Route::ListScheduledTasks)
        );
        assert_eq!(
            route("PUT", "/v1/tasks/scheduled/schtask_1"),
            Ok(Route::UpdateScheduledTask("schtask_1"))
        );
        assert_eq!(
            route("POST", "/v1/tasks/scheduled/schtask_1/run"),
            Ok(Route::RunScheduledTask("schtask_1"))
        );
        assert_eq!(
            route("GET", "/v1/tasks/task_1"),
            Ok(Route::GetRun("task_1"))
        );
        assert_eq!(
            route("DELETE", "/v1/connections/conn_1"),
            Ok(Route::DeleteConnection("conn_1"))
        );
        assert_eq!(
            route(
                "POST",
                "/v1/subscriptions/temporal/schedule-update-billing-period"
            ),
            Ok(Route::ScheduleUpdateBillingPeriod)
        );
        assert_eq!(
            route(
                "POST",
                "/v1/subscriptions/temporal/schedule-draft-finalization/"
            ),
            Ok(Route::ScheduleDraftFinalization)
        );
        assert!(Route::ScheduleUpdateBillingPeriod.takes_body());
    }

    #[test]
    fn matches_ledger_routes() {
        assert_eq!(route("POST", "/v1/customers"), Ok(Route::CreateCustomer));
        assert_eq!(
            route("PUT", "/v1/customers/cust_1"),
            Ok(Route::UpdateCustomer("cust_1"))
        );
        assert_eq!(
            route("POST", "/v1/wallets/wallet_1/top-up"),
            Ok(Route::TopUpWallet("wallet_1"))
        );
        assert_eq!(
            route("GET", "/v1/wallets/wallet_1/transactions"),
            Ok(Route::ListWalletTransactions("wallet_1"))
        );
        assert_eq!(
            route("POST", "/v1/invoices/inv_1/payment"),
            Ok(Route::PayInvoice("inv_1"))
        );
        assert_eq!(
            route("GET", "/v1/subscriptions/subs_1"),
            Ok(Route::GetSubscription("subs_1"))
        );
        assert_eq!(
            route("DELETE", "/v1/customers/cust_1").map_err(|e| e.allow),
            Err(Some("GET, PUT"))
        );
        assert_eq!(
            route("GET", "/v1/invoices/inv_1/void").map_err(|e| e.status),
            Err(405)
        );
        assert!(Route::PayInvoice("x").takes_body() && !Route::VoidInvoice("x").takes_body());
    }

    #[test]
    fn literal_routes_win_over_ids() {
        assert_eq!(
            route("POST", "/v1/tasks/scheduled/schedule-draft-finalization"),
            Ok(Route::ScheduleDraftFinalization)
        );
        assert_eq!(
            route("POST", "/v1/tasks/scheduled/schedule-update-billing-period"),
            Ok(Route::ScheduleUpdateBillingPeriod)
        );
        assert_eq!(
            route("GET", "/v1/tasks/scheduled/system"),
            Ok(Route::ListSystemJobs)
        );
        assert_eq!(
            route("GET", "/v1/tasks/scheduled/schedule-draft-finalization").map_err(|e| e.allow),
            Err(Some("POST"))
        );
        assert_eq!(
            route("DELETE", "/v1/tasks/scheduled/system").map_err(|e| e.allow),
            Err(Some("GET"))
        );
        assert_eq!(
            route("GET", "/v1/tasks/scheduled/systems"),
            Ok(Route::GetScheduledTask("systems"))
        );
    }

    #[test]
    fn the_sdks_routes_exportd_does_not_serve_are_routes_not_ids() {
        assert_eq!(
            route("GET", "/v1/tasks/result"),
            Ok(Route::NotSupported(Unsupported::TaskResult))
        );
        assert_eq!(
            route("POST", "/v1/tasks"),
            Ok(Route::NotSupported(Unsupported::CreateTask))
        );
        assert_eq!(
            route("PUT", "/v1/tasks/task_1/status"),
            Ok(Route::NotSupported(Unsupported::UpdateTaskStatus))
        );
        assert_eq!(
            route("POST", "/v1/events/usage/meter"),
            Ok(Route::NotSupported(Unsupported::UsageByMeter))
        );
        assert_eq!(
            route("GET", "/v1/events/evt-1"),
            Ok(Route::GetEvent("evt-1"))
        );
        assert_eq!(
            route("GET", "/v1/events/query").map_err(|e| e.allow),
            Err(Some("POST"))
        );
        for u in Unsupported::ALL {
            let concrete = u.pattern().replace("{id}", "x");
            assert_eq!(route(u.method(), &concrete), Ok(Route::NotSupported(u)));
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
            assert_eq!(
                route("GET", path).map_err(|e| e.status),
                Err(404),
                "{path:?}"
            );
        }
        let err = route("PATCH", "/v1/tasks/scheduled/x").unwrap_err();
        assert_eq!((err.status, err.allow), (405, Some("GET, PUT, DELETE")));
        assert_eq!(
            route("GET", "/v1/tasks/scheduled/x/run")
                .unwrap_err()
                .status,
            405
        );
    }

    /// The method each route answers. The match has no wildcard, so a new route does not
    /// compile until it is listed here, and then in `EVERY_ROUTE`.
    fn method_of(r: &Route<'_>) -> &'static str {
        use Route::*;
        match r {
            Health
            | Ready
            | Metrics
            | OpenApi
            | ListScheduledTasks
            | GetScheduledTask(_)
            | ListRuns
            | GetRun(_)
            | ListConnections
            | GetConnection(_)
            | DownloadLink(_)
            | ListCustomers
            | GetCustomer(_)
            | ListWallets
            | GetWallet(_)
            | ListWalletTransactions(_)
            | ListInvoices
            | GetInvoice(_)
            | ListSubscriptions
            | GetSubscription(_)
            | Download(_)
            | ListSystemJobs
            | GetEvent(_)
            | LookupEvent => "get",
            NotSupported(u) => match u.method() {
                "GET" => "get",
                "PUT" => "put",
                _ => "post",
            },
            CreateScheduledTask
            | RunScheduledTask(_)
            | BackfillScheduledTask(_)
            | CreateConnection
            | TestConnection(_)
            | IngestEvent
            | IngestEvents
            | CreateCustomer
            | CreateWallet
            | TopUpWallet(_)
            | DebitWallet(_)
            | CreateInvoice
            | FinalizeInvoice(_)
            | VoidInvoice(_)
            | PayInvoice(_)
            | CreateSubscription
            | ScheduleUpdateBillingPeriod
            | ScheduleDraftFinalization => "post",
            UpdateScheduledTask(_) | UpdateConnection(_) | UpdateCustomer(_) => "put",
            DeleteScheduledTask(_) | DeleteConnection(_) => "delete",
        }
    }

    const EVERY_ROUTE: [Route<'static>; 55] = {
        use super::Unsupported as U;
        use Route::*;
        [
            Health,
            Ready,
            Metrics,
            OpenApi,
            ListScheduledTasks,
            CreateScheduledTask,
            GetScheduledTask("x"),
            UpdateScheduledTask("x"),
            DeleteScheduledTask("x"),
            RunScheduledTask("x"),
            BackfillScheduledTask("x"),
            ListRuns,
            GetRun("x"),
            ListConnections,
            CreateConnection,
            GetConnection("x"),
            UpdateConnection("x"),
            DeleteConnection("x"),
            TestConnection("x"),
            IngestEvent,
            IngestEvents,
            DownloadLink("x"),
            ListCustomers,
            CreateCustomer,
            GetCustomer("x"),
            UpdateCustomer("x"),
            ListWallets,
            CreateWallet,
            GetWallet("x"),
            TopUpWallet("x"),
            DebitWallet("x"),
            ListWalletTransactions("x"),
            ListInvoices,
            CreateInvoice,
            GetInvoice("x"),
            FinalizeInvoice("x"),
            VoidInvoice("x"),
            PayInvoice("x"),
            ListSubscriptions,
            CreateSubscription,
            GetSubscription("x"),
            Download("x"),
            ScheduleUpdateBillingPeriod,
            ScheduleDraftFinalization,
            ListSystemJobs,
            GetEvent("x"),
            LookupEvent,
            NotSupported(U::TaskResult),
            NotSupported(U::CreateTask),
            NotSupported(U::UpdateTaskStatus),
            NotSupported(U::QueryEvents),
            NotSupported(U::UsageAnalytics),
            NotSupported(U::UsageStatistics),
            NotSupported(U::UsageByMeter),
            NotSupported(U::HuggingFaceInference),
        ]
    };

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
        for r in &EVERY_ROUTE {
            let (pattern, method) = (r.pattern(), method_of(r));
            let item = paths
                .get(pattern)
                .unwrap_or_else(|| panic!("openapi.json lacks path {pattern}"));
            assert!(
                item.get(method).is_some(),
                "openapi.json lacks {method} {pattern}"
            );
            // The document and the router agree on what the route reads.
            let body = item[method].get("requestBody").is_some();
            assert_eq!(body, r.takes_body(), "{method} {pattern} requestBody");
        }
        // Every documented operation reaches a route (aliases included) with that method.
        for (path, item) in &paths {
            let concrete = path.replace("{id}", "x");
            let documented: Vec<&str> = METHODS
                .into_iter()
                .filter(|m| item.get(*m).is_some())
                .collect();
            assert!(!documented.is_empty(), "{path} has no operation");
            for method in METHODS {
                let routed = route(&method.to_uppercase(), &concrete);
                match routed {
                    Ok(r) => {
                        assert!(
                            documented.contains(&method),
                            "{method} {path} is undocumented"
                        );
                        assert!(EVERY_ROUTE.contains(&r), "{method} {path}: {r:?}");
                        if path.contains("{id}") {
                            assert_eq!(r.pattern(), path.as_str());
                        }
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
