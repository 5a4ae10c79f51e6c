//! The API shell: exportd's own HTTP/1.1 server ([`front`]), and on it the API: the route
//! table ([`routes`], read it to find where a request goes), authentication, the error shape
//! ([`error`]) and query parameters ([`query`]). The handlers live with what they are about
//! (`scheduled_tasks/handlers.rs`, `runs/handlers.rs`, ...).

mod api;
mod ctx;
pub(crate) mod error;
pub(crate) mod front;
mod probes;
pub(crate) mod query;
pub(crate) mod routes;

pub(crate) use api::Server;
pub(crate) use ctx::{
    AuditView, BaseView, Body, Ctx, Outcome, Public, Reply, View, base_view, check_endpoint,
    list_reply, not_found,
};
pub(crate) use error::ApiError;
