//! What a handler gets and gives: the request as [`Ctx`] (or [`Public`] for routes without an
//! API key), and the answer as a [`Reply`] or an [`ApiError`].

use serde::Serialize;
use serde_json::Value;

use super::error::ApiError;
use super::query::Query;
pub(super) use crate::app::App;
use crate::auth::Principal;
use crate::store::record::Stored;
use crate::store::{self, Audit, Page, Scope};
use rusqlite::Transaction;

/// One authenticated request as a handler sees it.
pub(crate) struct Ctx<'a> {
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
    pub(crate) fn now(&self) -> i64 {
        self.app.now_ms()
    }

    /// Where this environment's managed connections write, or a 400 when the operator has
    /// switched the managed destination off.
    pub(crate) fn managed_target(
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

    /// The record of the request's scope with this id, or the 404 that names its kind.
    pub(crate) fn find<T: Stored + View>(
        &self,
        tx: &Transaction<'_>,
        id: &str,
    ) -> Result<T, ApiError> {
        T::by_id(tx, &self.scope, id)?.ok_or_else(|| not_found(T::KIND, id))
    }

    /// Answers a list route: the page (of the query's `limit` and `offset`) `read` finds in
    /// the request's scope, in Flexprice's list shape.
    pub(crate) fn list<T: View>(
        &self,
        read: impl FnOnce(&Transaction<'_>, &Scope, (i64, i64)) -> store::Result<Page<T>>,
    ) -> Outcome {
        let (page, (limit, offset)) = self.page(read)?;
        let items: Vec<_> = page.items.iter().map(T::view).collect();
        list_reply(items, page.total, (limit, offset))
    }

    /// The page `read` finds in the request's scope, and the `(limit, offset)` the query asked
    /// for.
    pub(crate) fn page<T>(
        &self,
        read: impl FnOnce(&Transaction<'_>, &Scope, (i64, i64)) -> store::Result<Page<T>>,
    ) -> Result<(Page<T>, (i64, i64)), ApiError> {
        let asked = self.query.page()?;
        let page = self.app.store.read(|tx| read(tx, &self.scope, asked))?;
        Ok((page, asked))
    }

    /// The body parsed as strict JSON; an empty body is an error naming what was expected.
    pub(crate) fn json(&self) -> Result<Value, ApiError> {
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

/// How a record shows in answers (its fields as the API names and formats them).
pub(crate) trait View {
    /// What the API calls the record, in a 404's message ("Wallet wallet_1 not found").
    const KIND: &'static str;
    fn view(&self) -> impl Serialize;
}

/// `GET /v1/<records>/{id}` of any record that shows as it is stored.
pub(crate) fn get<T: Stored + View>(ctx: &Ctx<'_>, id: &str) -> Outcome {
    let record: T = ctx.app.store.read(|tx| ctx.find(tx, id))?;
    Reply::json(200, record.view())
}

/// The fields of Flexprice's BaseModel that a ledger record shows: whose it is and its life.
/// A view holds it as `#[serde(flatten)] base: BaseView<'a>`, filled by [`base_view!`].
#[derive(Serialize)]
pub(crate) struct BaseView<'a> {
    pub tenant_id: &'a str,
    pub environment_id: &'a str,
    pub status: &'a str,
    #[serde(flatten)]
    pub audit: AuditView<'a>,
}

/// The [`BaseView`] of a record that has the BaseModel's fields.
macro_rules! base_view {
    ($r:expr) => {
        $crate::http::BaseView {
            tenant_id: &$r.tenant_id,
            environment_id: &$r.environment_id,
            status: &$r.status,
            audit: $crate::http::AuditView::of(&$r.audit),
        }
    };
}
pub(crate) use base_view;

/// A record's [`Audit`] as the API shows it (times in RFC 3339), held as
/// `#[serde(flatten)] audit: AuditView<'a>`.
#[derive(Serialize)]
pub(crate) struct AuditView<'a> {
    pub created_at: String,
    pub updated_at: String,
    pub created_by: &'a str,
    pub updated_by: &'a str,
}

impl AuditView<'_> {
    pub(crate) fn of(audit: &Audit) -> AuditView<'_> {
        AuditView {
            created_at: crate::clock::rfc3339_ms(audit.created_at),
            updated_at: crate::clock::rfc3339_ms(audit.updated_at),
            created_by: &audit.created_by,
            updated_by: &audit.updated_by,
        }
    }
}

/// A 404 for an id of some kind. Ids that do not look like ours are not echoed back, so a
/// hostile path cannot make the answer (or the log) long.
pub(crate) fn not_found(kind: &str, id: &str) -> ApiError {
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
pub(crate) struct Reply {
    pub status: u16,
    pub body: Body,
}

pub(crate) enum Body {
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
    pub(crate) fn json(status: u16, value: impl Serialize) -> Result<Reply, ApiError> {
        let body = serde_json::to_value(value)
            .map_err(|e| ApiError::internal(format!("serialising a response: {e}")))?;
        Ok(Reply {
            status,
            body: Body::Json(body),
        })
    }

    pub(crate) fn no_content() -> Reply {
        Reply {
            status: 204,
            body: Body::Empty,
        }
    }
}

pub(crate) type Outcome = Result<Reply, ApiError>;

/// A list answer in Flexprice's shape: the page's items and how it sits in the whole.
pub(crate) fn list_reply<T: Serialize>(
    items: Vec<T>,
    total: i64,
    (limit, offset): (i64, i64),
) -> Outcome {
    Reply::json(
        200,
        serde_json::json!({"items": items, "pagination": {"total": total, "limit": limit, "offset": offset}}),
    )
}

/// A request to a route without an API key (see [`super::routes::Handler::Public`]).
pub(crate) struct Public<'a> {
    pub app: &'a App,
    /// The path's `{id}`, or empty.
    pub id: &'a str,
    pub query: Query,
}

/// Applies the endpoint_url rule (allowlist, then https and public addresses) to a field.
pub(crate) fn check_endpoint(ctx: &Ctx<'_>, field: &str, url: &str) -> Result<(), ApiError> {
    let resolver = crate::sinks::endpoint::system_resolver;
    crate::sinks::endpoint::check(url, &ctx.app.config.allowed_endpoints, &resolver)
        .map(|_| ())
        .map_err(|why| ApiError::validation(field, format!("{field} {why}")))
}
