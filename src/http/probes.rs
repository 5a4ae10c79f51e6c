//! The routes without an API key that tell how exportd is: `/healthz`, `/readyz`, `/metrics`
//! (Prometheus) and `/openapi.json`.

use super::ctx::{Body, Outcome, Public, Reply};
use super::error::ApiError;

/// The OpenAPI 3 document of the whole API, served as written.
const OPENAPI: &str = include_str!("openapi.json");

pub(crate) fn health(_: &Public<'_>) -> Outcome {
    Reply::json(200, serde_json::json!({"status": "ok"}))
}

/// 200 when writes work (a file beside the database and a committed row: see
/// [`crate::store::Store::check_writes`]) and the scheduler loop runs, else 503 naming what is
/// wrong. It turns 200 again by itself once writes work again (space freed, say).
pub(crate) fn ready(p: &Public<'_>) -> Outcome {
    let app = p.app;
    if let Err(e) = app.store.check_writes(app.now_ms()) {
        let mut err = ApiError::unavailable(
            "exportd cannot write its data (a full or read-only volume?); the server log has details",
        );
        err.internal = Some(format!("readiness: {e}"));
        return Err(err);
    }
    if !app.scheduler.is_looping() {
        return Err(ApiError::unavailable("the scheduler is not running"));
    }
    Reply::json(
        200,
        serde_json::json!({"status": "ready", "database": "ok", "scheduler": "running"}),
    )
}

pub(crate) fn metrics(p: &Public<'_>) -> Outcome {
    let app = p.app;
    let now = app.now_ms();
    let mut gauges = app
        .store
        .read(|tx| crate::scheduled_tasks::storage::gauges(tx, now))?;
    gauges.scheduler_passes = app.scheduler.passes();
    Ok(Reply {
        status: 200,
        body: Body::Text {
            text: app.metrics.render(&gauges).into(),
            content_type: "text/plain; version=0.0.4; charset=utf-8",
        },
    })
}

pub(crate) fn openapi(_: &Public<'_>) -> Outcome {
    Ok(Reply {
        status: 200,
        body: Body::Text {
            text: OPENAPI.into(),
            content_type: "application/json",
        },
    })
}
