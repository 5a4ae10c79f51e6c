//! `exportd serve`: open the store, load the keys, start the API, wait for SIGTERM/SIGINT,
//! then stop listening, finish in-flight requests and close the database.

use std::sync::Arc;
use std::thread::JoinHandle;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::StartError;
use crate::app::App;
use crate::clock::Clock;
use crate::config::{Config, Loaded};
use crate::failure::{ExportError, Failure};
use crate::http::Server;
use crate::ledger::billing::runner;
use crate::runs::workers::Workers;
use crate::scheduled_tasks::scheduler;
use crate::secrets::{KeySource, SecretBox};
use crate::store::{Store, StoreError};
use crate::webhooks::outbox;

pub(crate) fn serve(loaded: Loaded) -> Result<(), StartError> {
    let config = loaded.config;
    crate::logging::init(config.log_level);
    for warning in &loaded.warnings {
        log::warn!("{warning}");
    }
    let clock = preflight(&config)?;
    // Registered before anything else so an early SIGTERM is handled, not fatal.
    let mut signals = Signals::new([SIGTERM, SIGINT])
        .map_err(|e| StartError::io("cannot install signal handlers", e))?;

    let _only = only_daemon(&config)?;
    let (store, secrets) = open_state(&config)?;
    let keys = crate::auth::key_ring(&config, &store)?;

    let (listen, threads, workers, grace) = (
        config.listen,
        config.threads,
        config.workers,
        config.shutdown_timeout,
    );
    log::info!("exportd {} starting: {config}", env!("CARGO_PKG_VERSION"));
    s3::set_retries(config.s3_retries);
    let app = Arc::new(App::new(config, store, keys, secrets, clock)?);
    app.source
        .check()
        .map_err(|e| StartError::Runtime(format!("cannot read {}: {e}", app.source.name())))?;
    log::info!("exports read {}", app.source.name());
    recover_runs(&app)?;
    let workers = Workers::start(app.clone(), workers)
        .map_err(|e| StartError::io("cannot start export workers", e))?;
    let scheduler = spawn(&app, ("scheduler", "the scheduler"), scheduler::run)?;
    let billing = spawn(&app, ("billing", "the billing thread"), runner::run)?;
    let webhooks = spawn(&app, ("webhooks", "the webhook thread"), outbox::run)?;
    let server = Server::start(app.clone(), listen, threads)
        .map_err(|e| StartError::io(format!("cannot listen on {listen}"), e))?;
    log::info!("listening on http://{}", server.addr());
    crate::systemd::notify("READY=1");

    let signal = signals.forever().next();
    log::info!(
        "received {}; finishing in-flight requests",
        match signal {
            Some(SIGINT) => "SIGINT",
            _ => "SIGTERM",
        }
    );
    crate::systemd::notify("STOPPING=1");
    server.shutdown();
    app.scheduler.stop();
    join(scheduler, "scheduler");
    app.billing.stop();
    join(billing, "billing");
    // What these write is found and done again at the next start if they cannot write now (a
    // full disk): not a reason to exit with an error.
    if let Err(e) = release_jobs(&app, "interrupted by shutdown") {
        log::error!("could not release the system jobs at shutdown: {e}");
    }
    workers.shutdown(grace);
    if let Err(e) = interrupt_runs(&app) {
        log::error!("could not record the runs interrupted by shutdown: {e}");
    }
    // Stopped last: events of the runs that just ended are in the outbox for the next start.
    app.webhooks.stop();
    join(webhooks, "webhook");
    match Arc::try_unwrap(app) {
        // Everything is committed; a checkpoint that fails (a full disk) leaves the WAL for the
        // next start to replay, which loses nothing: not a reason to exit with an error.
        Ok(app) => {
            if let Err(e) = app.close() {
                log::error!(
                    "the final checkpoint failed ({e}); the WAL is kept and is replayed at the next start"
                );
            }
        }
        Err(_) => log::warn!(
            "the database was still in use at shutdown; SQLite will recover its WAL on next start"
        ),
    }
    log::info!("stopped");
    Ok(())
}

/// The rules `serve` applies to a loaded config before it touches any state, and the clock it
/// runs on. `check-config` applies the same rules.
pub(crate) fn preflight(config: &Config) -> Result<Arc<dyn Clock>, StartError> {
    if config.api_keys.is_empty() && !config.listen.ip().is_loopback() {
        return Err(StartError::Refused(format!(
            "no API keys are configured and server.listen ({}) is not a loopback address. \
             Run `exportd keygen --tenant <tenant> --environment <environment>` and add the \
             [[auth.keys]] block it prints to the config file",
            config.listen
        )));
    }
    Ok(crate::app::clock_for(config)?)
}

/// Locks the database for this daemon until it exits (the lock goes with the process, however
/// it ends). A second `serve` on the same database would take the first one's runs for
/// interrupted ones (ending them and aborting their uploads) and export every window twice:
/// it is refused, naming the process that holds the lock.
fn only_daemon(config: &Config) -> Result<std::fs::File, StartError> {
    use std::io::{Read, Seek, Write};
    use std::os::unix::fs::OpenOptionsExt;
    make_data_dir(config)?;
    let mut path = config.database_path.clone().into_os_string();
    path.push(".lock");
    let path = std::path::PathBuf::from(path);
    let cannot = |e| StartError::io(format!("cannot lock {}", path.display()), e);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(cannot)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(StartError::Runtime(format!(
                "another exportd serve (pid {}) is using the database {}: stop it first, or give this one its own [storage] data_dir",
                holder.trim(),
                config.database_path.display()
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(cannot(e)),
    }
    // Who holds it, for the message above; the lock, not this text, is what counts.
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(cannot)?;
    Ok(file)
}

/// The state a server made, for commands that work on it (`export`, `keygen --development`):
/// they never make a new, empty one where the server's is not.
pub(crate) fn open_existing_state(config: &Config) -> Result<(Store, SecretBox), StartError> {
    let missing = |what: &str, path: &std::path::Path| {
        StartError::Refused(format!(
            "no {what} at {}: pass --config (or set EXPORTD_CONFIG) with the server's config file, or run from the server's directory",
            path.display()
        ))
    };
    if !config.database_path.is_file() {
        return Err(missing("database", &config.database_path));
    }
    if let KeySource::File(path) = &config.secret_key
        && !path.is_file()
    {
        return Err(missing("secrets key file", path));
    }
    open_state(config)
}

/// The data directory, the database (migrated) and the secrets key (created on first start).
/// A data directory exportd creates is 0700, and the database files are 0600, whatever the
/// umask: they hold every tenant's data.
pub(crate) fn open_state(config: &Config) -> Result<(Store, SecretBox), StartError> {
    make_data_dir(config)?;
    let store = Store::open(&config.database_path)?;
    store.limit_wal(config.max_wal_bytes)?;
    let secrets = SecretBox::load(&config.secret_key)?;
    Ok((store, secrets))
}

/// Creates the data directory if it is missing (see [`private_dir`]).
fn make_data_dir(config: &Config) -> Result<(), StartError> {
    private_dir(&config.data_dir).map_err(|e| {
        StartError::io(
            format!("cannot create data directory {}", config.data_dir.display()),
            e,
        )
    })
}

/// Creates `dir` (and missing parents) with mode 0700; a directory that exists is left as it is.
fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // The umask may have taken bits away from 0700: set them exactly.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Starts one of the daemon's loops on its own named thread.
fn spawn(
    app: &Arc<App>,
    (name, what): (&str, &str),
    run: fn(&App),
) -> Result<JoinHandle<()>, StartError> {
    let app = app.clone();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || run(&app))
        .map_err(|e| StartError::io(format!("cannot start {what}"), e))
}

/// Waits for a loop's thread to end (its loop was told to stop); a panic there is logged.
fn join(handle: JoinHandle<()>, name: &str) {
    if handle.join().is_err() {
        log::error!("the {name} thread panicked");
    }
}

/// What a previous process left: its runs still PROCESSING end as interrupted (their windows
/// run again, their multipart uploads are aborted in the background), temporary files of the
/// directory destination are removed, and PENDING runs are queued again.
fn recover_runs(app: &Arc<App>) -> Result<(), StartError> {
    let interrupted = end_interrupted(app, "interrupted: exportd stopped during this export")?;
    if !interrupted.is_empty() {
        log::warn!(
            "{} run(s) were interrupted by the last stop: marked FAILED, their windows run again",
            interrupted.len()
        );
        let app = app.clone();
        std::thread::spawn(move || abort_uploads(&app, &interrupted));
    }
    if let crate::config::Managed::Directory { root, .. } = &app.config.managed {
        crate::sinks::directory::remove_leftovers(root);
    }
    release_jobs(app, "interrupted: exportd stopped during this run")?;
    let rescheduled = crate::scheduled_tasks::scheduler::reschedule_orphans(app)?;
    if rescheduled > 0 {
        log::info!(
            "{rescheduled} task(s) had no next run (an interrupted window): scheduled again"
        );
    }
    let pending = app.store.read(crate::runs::storage::pending)?;
    for (run_id, task_id) in &pending {
        app.queue_run(run_id, task_id);
    }
    if !pending.is_empty() {
        log::info!("{} pending run(s) queued", pending.len());
    }
    Ok(())
}

/// Ends every run left PROCESSING as interrupted, with `summary`: each is marked FAILED, a
/// scheduled window is due again at once, and a manual or backfill run gets a new attempt,
/// PENDING (queued at the next start). None counts as a failure, unless its window has now
/// been running [`CRASHES`] times when exportd stopped without shutting down (see
/// [`crash_failure`]). Returns the runs as they were, with any upload still to abort.
fn end_interrupted(app: &App, summary: &str) -> Result<Vec<crate::runs::Run>, StartError> {
    let now = app.now_ms();
    Ok(app.store.write(|tx| {
        let runs = crate::runs::storage::processing(tx)?;
        for run in &runs {
            let before = crate::runs::storage::ended_with(tx, run, summary)?;
            let failure = crash_failure(summary, before + 1);
            crate::scheduled_tasks::schedule::record_failure(tx, &app.config, run, &failure, now)?;
        }
        Ok::<_, StoreError>(runs)
    })?)
}

/// How many times one window may be running when exportd stops without shutting down (a
/// crash, SIGKILL, the out-of-memory killer) before that counts as a failure.
const CRASHES: i64 = 3;

/// The failure of a run found running at start, the `crashes`-th time for its window. Up to
/// [`CRASHES`] it is an interruption, which never counts; from then on an ordinary retryable
/// failure, so that the window's retries, backoff and pause apply: a window that brings
/// exportd down each time would otherwise be run again at every start, forever.
fn crash_failure(summary: &str, crashes: i64) -> ExportError {
    if crashes < CRASHES {
        return ExportError {
            kind: Failure::Interrupted,
            summary: summary.to_owned(),
            detail: summary.to_owned(),
        };
    }
    ExportError::retryable(
        format!(
            "{summary} ({crashes} times for this window: counted as a failure, as the export \
             may be what stops exportd)"
        ),
        summary,
    )
}

/// System jobs still claimed (their run was cut short, or never started) become idle again,
/// still due: they run at once on this start, or the next.
fn release_jobs(app: &App, message: &str) -> Result<(), StartError> {
    let now = app.now_ms();
    let released = app
        .store
        .write(|tx| crate::ledger::billing::storage::release_interrupted(tx, message, now))?;
    if released > 0 {
        log::warn!("{released} system job run(s) {message}; they run again when next due");
    }
    Ok(())
}

/// Aborts the multipart uploads interrupted runs left open, so no partial upload lingers.
fn abort_uploads(app: &App, runs: &[crate::runs::Run]) {
    for run in runs {
        let (Some(key), Some(upload_id)) = (&run.object_key, &run.upload_id) else {
            continue;
        };
        let found = app
            .store
            .read(|tx| crate::runs::task_and_connection(tx, run));
        let result = match found {
            Ok(Some((task, conn))) => crate::sinks::destination::destination(
                &app.config,
                &app.secrets,
                &task.job_config,
                &conn,
            )
            .and_then(|dest| dest.abort_upload(key, upload_id))
            .map_err(|e| e.to_string()),
            Ok(None) => Err("its task or connection is gone".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => log::info!("run {}: aborted its interrupted upload {upload_id}", run.id),
            Err(e) => log::warn!("run {}: could not abort upload {upload_id}: {e}", run.id),
        }
    }
}

/// After shutdown, runs that were still running (interrupted past the grace period) have
/// ended as interrupted through their workers; any left PROCESSING end so now.
fn interrupt_runs(app: &App) -> Result<(), StartError> {
    let left = end_interrupted(app, "interrupted by shutdown")?;
    abort_uploads(app, &left);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crashes_count_as_failures_from_the_third_on() {
        let kinds: Vec<Failure> = (1..=4).map(|n| crash_failure("stopped", n).kind).collect();
        assert_eq!(kinds[..2], [Failure::Interrupted, Failure::Interrupted]);
        assert!(kinds[2..].iter().all(|k| *k != Failure::Interrupted));
        assert!(crash_failure("stopped", 3).is_retryable());
        assert!(
            crash_failure("stopped", 4)
                .summary
                .starts_with("stopped (4 times")
        );
    }
}
