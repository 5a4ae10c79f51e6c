//! What the API, the export workers and the CLI share.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::auth::KeyRing;
use crate::clock::{Clock, to_ms};
use crate::config::Config;
use crate::ledger::billing::ClaimedJob;
use crate::metrics::Metrics;
use crate::secrets::SecretBox;
use crate::sources::Source;
use crate::store::{Store, StoreError};
use crate::sync::Mailbox;

pub(crate) struct App {
    pub config: Config,
    pub store: Arc<Store>,
    /// Where exports read their rows.
    pub source: Box<dyn Source>,
    pub keys: KeyRing,
    pub secrets: SecretBox,
    pub clock: Arc<dyn Clock>,
    /// Runs (their ids) waiting for an export worker, keyed by their scheduled task: a task
    /// never has two runs in flight.
    pub(crate) runs: Mailbox<String>,
    /// Wakes the scheduler: a task created, resumed or deleted, a run finished, shutdown.
    pub(crate) scheduler: Mailbox<()>,
    /// System jobs (billing) the scheduler has claimed, for the billing thread.
    pub(crate) billing: Mailbox<ClaimedJob>,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Wakes the webhook delivery thread.
    pub(crate) webhooks: Mailbox<()>,
    /// The last `ingested_at` handed out: ingest times never go back, even if the wall
    /// clock does, so an event can never land in a window that was already exported.
    last_ingested_at: AtomicI64,
}

impl App {
    pub(crate) fn new(
        config: Config,
        store: Store,
        keys: KeyRing,
        secrets: SecretBox,
        clock: Arc<dyn Clock>,
    ) -> Result<App, StoreError> {
        let last = store.read(crate::ledger::events::storage::max_ingested_at)?;
        let store = Arc::new(store);
        let source = crate::sources::open(&config, store.clone());
        Ok(App {
            config,
            store,
            source,
            keys,
            secrets,
            clock,
            runs: Mailbox::default(),
            scheduler: Mailbox::default(),
            billing: Mailbox::default(),
            metrics: Metrics::default(),
            webhooks: Mailbox::default(),
            last_ingested_at: AtomicI64::new(last),
        })
    }

    /// Checkpoints and closes the database once nothing else holds it; when something still
    /// does, SQLite recovers its WAL at the next start instead (nothing is lost).
    pub(crate) fn close(self) -> Result<(), StoreError> {
        drop(self.source);
        match Arc::try_unwrap(self.store) {
            Ok(store) => store.close(),
            Err(_) => {
                log::warn!(
                    "the database was still in use at shutdown; SQLite will recover its WAL on next start"
                );
                Ok(())
            }
        }
    }

    /// Queues a PENDING run for an export worker.
    pub(crate) fn queue_run(&self, run_id: &str, task_id: &str) {
        self.runs.push(task_id, run_id.to_owned());
    }

    pub(crate) fn now_ms(&self) -> i64 {
        to_ms(self.clock.now())
    }

    /// The next ingest time: now, or the last one given if the clock went back. Called inside
    /// the write transaction, so ingest times follow commit order.
    pub(crate) fn next_ingested_at(&self) -> i64 {
        let now = self.now_ms();
        let previous = self.last_ingested_at.fetch_max(now, Ordering::SeqCst);
        previous.max(now)
    }
}

/// The clock the config asks for: the real one, or a test clock file.
pub(crate) fn clock_for(config: &Config) -> Result<Arc<dyn Clock>, crate::clock::ClockError> {
    match &config.test_clock {
        None => Ok(Arc::new(crate::clock::SystemClock)),
        Some(path) => {
            let clock = crate::clock::FileClock::open(path)?;
            log::warn!(
                "using the test clock in {}: time is whatever that file says",
                path.display()
            );
            Ok(Arc::new(clock))
        }
    }
}
