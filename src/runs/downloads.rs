//! Downloads: `GET /v1/tasks/{id}/download` answers a link valid for 30 minutes, a presigned
//! S3 GET (with the task's endpoint and addressing style) or, for a directory destination, a
//! link to exportd itself signed with HMAC-SHA256 (`GET /downloads/{run id}`).

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::app::App;
use crate::clock::rfc3339_ms;
use crate::http::{ApiError, Body, Ctx, Outcome, Public, Reply, not_found};
use crate::runs::{Run, RunStatus};
use crate::scheduled_tasks::ScheduledTask;
use crate::secrets::{parse_hex32, to_hex};
use crate::sinks::Destination;
use crate::sinks::destination::destination;
use crate::sinks::key::{compression_of_key, content_type};
use crate::store::record::Stored;

/// How long a download link works.
pub(crate) const LINK_SECONDS: i64 = 30 * 60;
const PURPOSE: &str = "exportd download links v1";

fn signature(app: &App, run_id: &str, expires: i64) -> [u8; 32] {
    let key = app.secrets.derive(PURPOSE);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(format!("{run_id}\n{expires}").as_bytes());
    mac.finalize().into_bytes().into()
}

/// The run's task and connection, or a 404 when either is gone.
fn task_of(
    app: &App,
    run: &Run,
) -> Result<(ScheduledTask, crate::connections::Connection), ApiError> {
    app.store
        .read(|tx| super::task_and_connection(tx, run))?
        .ok_or_else(|| {
            ApiError::not_found("The task's scheduled task or connection no longer exists")
        })
}

/// The key of a completed run's object, unless another run has replaced that object since:
/// then the answer says so rather than serving other bytes under this run's SHA-256.
fn completed_key(run: &Run) -> Result<&str, ApiError> {
    let key = match (&run.task_status, &run.object_key) {
        (RunStatus::Completed, Some(key)) => key,
        _ => {
            return Err(ApiError::not_found(
                "Task export has not completed yet or failed",
            ));
        }
    };
    let Some(at) = run.superseded_at else {
        return Ok(key);
    };
    let by = match &run.superseded_by {
        Some(id) => format!("run {id}"),
        None => "a run of another environment".to_owned(),
    };
    let mut err = ApiError::superseded(format!(
            "The file of this run was replaced at {} by {by}, which wrote the same object ({key}); download that run's file instead",
            rfc3339_ms(at)
        ),
    )
    .with_detail("superseded_at", rfc3339_ms(at));
    if let Some(id) = &run.superseded_by {
        err = err.with_detail("superseded_by", id.as_str());
    }
    Err(err)
}

pub(crate) fn link(ctx: &Ctx<'_>, id: &str) -> Outcome {
    let run = ctx
        .app
        .store
        .read(|tx| crate::runs::Run::by_id(tx, &ctx.scope, id))?
        .ok_or_else(|| not_found("Task", id))?;
    let key = completed_key(&run)?;
    let (task, conn) = task_of(ctx.app, &run)?;
    let dest =
        destination(&ctx.app.config, &ctx.app.secrets, &task.job_config, &conn).map_err(|e| {
            let mut err = ApiError::invalid_operation(format!(
                "The export cannot be downloaded: {}",
                e.summary
            ));
            err.internal = Some(e.detail);
            err
        })?;
    let expires = ctx.now() / 1000 + LINK_SECONDS;
    let url = match &dest {
        Destination::S3(s3) => s3.presign_get(key, LINK_SECONDS as u32).map_err(|e| {
            let mut err = ApiError::internal(e.detail);
            err.message = e.summary;
            err
        })?,
        Destination::Directory(_) => {
            let base = match &ctx.app.config.public_url {
                Some(base) => base.clone(),
                None => format!("http://{}", ctx.host),
            };
            format!(
                "{base}/downloads/{}?expires={expires}&signature={}",
                run.id,
                to_hex(&signature(ctx.app, &run.id, expires))
            )
        }
    };
    Reply::json(
        200,
        json!({"download_url": url, "expires_at": rfc3339_ms(expires * 1000)}),
    )
}

/// Serves a file of a directory destination to whoever holds a valid, unexpired link.
pub(crate) fn serve(p: &Public<'_>) -> Outcome {
    let (app, run_id, query) = (p.app, p.id, &p.query);
    let refused = || ApiError::permission_denied("This download link is invalid or has expired");
    let expires: i64 = query
        .get("expires")
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok())
        .ok_or_else(refused)?;
    let given = query
        .get("signature")
        .ok()
        .flatten()
        .and_then(parse_hex32)
        .ok_or_else(refused)?;
    let expected = signature(app, run_id, expires);
    if !bool::from(given.ct_eq(&expected)) || expires < app.now_ms() / 1000 {
        return Err(refused());
    }
    let run = app
        .store
        .read(|tx| crate::runs::storage::get_unscoped(tx, run_id))?
        .ok_or_else(|| not_found("Task", run_id))?;
    let key = completed_key(&run)?.to_owned();
    let (task, conn) = task_of(app, &run)?;
    let Ok(Destination::Directory(dir)) =
        destination(&app.config, &app.secrets, &task.job_config, &conn)
    else {
        return Err(ApiError::not_found("This export is not stored by exportd"));
    };
    let file = dir.open(&key).map_err(|e| {
        let mut err = ApiError::not_found("The exported file is no longer there");
        err.internal = Some(e.detail);
        err
    })?;
    let len = file
        .metadata()
        .map_err(|e| ApiError::internal(format!("stat {key}: {e}")))?
        .len();
    let compression = compression_of_key(&key);
    Ok(Reply {
        status: 200,
        body: Body::File {
            file,
            len,
            content_type: content_type(compression),
            filename: key.rsplit('/').next().unwrap_or("export.csv").to_owned(),
        },
    })
}
