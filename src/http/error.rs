//! The API's one error type and its JSON shape: SPEC 3's flat
//! `{"code","message","http_status_code","details"?}` (what Flexprice sends today and its
//! Python SDK reads) combined with Flexprice's envelope `{"success":false,"error":{"message",
//! "internal_error"}}` (what its JavaScript SDK reads), so that both SDKs raise typed errors
//! carrying exportd's message. Internal detail (SQL, paths, secrets) is never sent; it is
//! logged with the request id instead.

use serde_json::{Map, Value, json};

use crate::input::InputError;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub details: Map<String, Value>,
    /// For the log only.
    pub internal: Option<String>,
    /// Methods the route accepts (405 only), sent as the `Allow` header.
    pub allow: Option<String>,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Map::new(),
            internal: None,
            allow: None,
        }
    }

    pub(crate) fn with_detail(mut self, key: &str, value: impl Into<Value>) -> ApiError {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    pub(crate) fn validation(field: &str, message: impl Into<String>) -> ApiError {
        let e = ApiError::new(400, "validation_error", message);
        if field.is_empty() {
            e
        } else {
            e.with_detail("field", field)
        }
    }

    /// A request the HTTP front refused before any handler saw it.
    pub(crate) fn refused(refusal: &crate::http::front::Refusal) -> ApiError {
        use crate::http::front::Refusal;
        match refusal {
            Refusal::TooLarge(limit) => ApiError::payload_too_large(*limit),
            Refusal::Malformed(m) => ApiError::validation("", m.clone()),
            Refusal::Panicked => ApiError::internal("the request handler panicked"),
            other => ApiError::new(other.status(), other.code(), other.message()),
        }
    }

    pub(crate) fn route_not_found() -> ApiError {
        ApiError::new(404, "not_found", "No route matches this path")
    }

    pub(crate) fn method_not_allowed(allow: String) -> ApiError {
        let mut e = ApiError::new(
            405,
            "method_not_allowed",
            format!("This route accepts only {allow}"),
        );
        e.allow = Some(allow);
        e
    }

    pub(crate) fn payload_too_large(limit: u64) -> ApiError {
        ApiError::new(
            413,
            "payload_too_large",
            format!("Request body is larger than the limit of {limit} bytes"),
        )
        .with_detail("max_body_bytes", limit)
    }

    /// A failure that is ours, not the client's: a generic message out, the detail to the log.
    pub(crate) fn internal(detail: impl Into<String>) -> ApiError {
        let mut e = ApiError::new(
            500,
            "internal_error",
            "An unexpected error occurred; the server log has details",
        );
        e.internal = Some(detail.into());
        e
    }

    /// The one JSON body of every error answer. `error.internal_error` is built only from
    /// what is already public (the code and the field named), never from `internal`.
    pub(crate) fn body(&self) -> Value {
        let internal_error = match self.details.get("field").and_then(Value::as_str) {
            Some(field) => format!("{}: {field}", self.code),
            None => self.code.to_owned(),
        };
        let mut v = json!({
            "code": self.code,
            "message": self.message,
            "http_status_code": self.status,
            "success": false,
            "error": {"message": self.message, "internal_error": internal_error},
        });
        if !self.details.is_empty() {
            v["details"] = Value::Object(self.details.clone());
        }
        v
    }
}

/// The errors that are only a kind and a message: each kind's status and code, once.
macro_rules! kinds {
    ($($(#[$doc:meta])* $name:ident => $status:literal $code:literal;)+) => {
        impl ApiError {
            $(
                $(#[$doc])*
                pub(crate) fn $name(message: impl Into<String>) -> ApiError {
                    ApiError::new($status, $code, message)
                }
            )+
        }
    };
}

kinds! {
    not_found => 404 "not_found";
    invalid_operation => 400 "invalid_operation";
    /// Another object already holds what the request asks for (an external id, an
    /// idempotency key used with other content, a task's output place).
    already_exists => 409 "already_exists";
    /// The object changed while the request ran.
    version_conflict => 409 "version_conflict";
    /// A credential that is not (or no longer) valid, such as a download link's signature.
    permission_denied => 403 "permission_denied";
    /// The object of a run was replaced by another run's.
    superseded => 404 "superseded";
    unauthorized => 401 "unauthorized";
    /// A route of Flexprice's SDKs that exportd does not serve.
    not_supported => 400 "not_supported";
    unavailable => 503 "service_unavailable";
}

impl From<InputError> for ApiError {
    fn from(e: InputError) -> Self {
        ApiError::validation(&e.field, e.message)
    }
}

// Refusals of the domain, each as the one HTTP answer it gets.

/// An invoice transition its status does not allow.
impl From<crate::ledger::invoices::Illegal> for ApiError {
    fn from(illegal: crate::ledger::invoices::Illegal) -> Self {
        let err = ApiError::invalid_operation(illegal.message);
        match illegal.field {
            Some(field) => err.with_detail("field", field),
            None => err,
        }
    }
}

/// A top-up or debit the wallet's balance does not allow.
impl From<crate::ledger::wallets::Refusal> for ApiError {
    fn from(refusal: crate::ledger::wallets::Refusal) -> Self {
        ApiError::invalid_operation(refusal.message()).with_detail("field", "amount")
    }
}

/// A force run of a deleted task, or of a window that is not one.
impl From<crate::runs::ManualRunError> for ApiError {
    fn from(e: crate::runs::ManualRunError) -> Self {
        match e {
            crate::runs::ManualRunError::Deleted(_) => ApiError::invalid_operation(e.to_string()),
            crate::runs::ManualRunError::Window(input) => ApiError::from(input),
        }
    }
}

/// A scheduled task of an entity the source does not offer.
impl From<crate::sources::Unavailable> for ApiError {
    fn from(why: crate::sources::Unavailable) -> Self {
        ApiError::validation("entity_type", why.0)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Busy => {
                let mut err = ApiError::unavailable("The database is busy; retry the request");
                err.internal = Some(e.to_string());
                err
            }
            other => {
                let mut err = ApiError::new(
                    500,
                    "database_error",
                    "A database error occurred; the server log has details",
                );
                err.internal = Some(other.to_string());
                err
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shape_omits_empty_details_and_never_carries_internal_text() {
        let e = ApiError::not_found("Scheduled task with ID x was not found");
        assert_eq!(
            e.body(),
            json!({"code":"not_found","message":"Scheduled task with ID x was not found","http_status_code":404,
                   "success":false,"error":{"message":"Scheduled task with ID x was not found","internal_error":"not_found"}})
        );
        let e = ApiError::from(InputError::new(
            "job_config.bucket",
            "S3 bucket name is required",
        ));
        assert_eq!(e.body()["details"], json!({"field":"job_config.bucket"}));
        assert_eq!(
            e.body()["error"],
            json!({"message":"S3 bucket name is required","internal_error":"validation_error: job_config.bucket"})
        );
        let e = ApiError::from(StoreError::Corrupt("SELECT secret FROM x".into()));
        assert_eq!(e.status, 500);
        assert!(!e.body().to_string().contains("SELECT"));
        assert_eq!(e.body()["error"]["internal_error"], "database_error");
        assert_eq!(ApiError::from(StoreError::Busy).status, 503);
    }
}
