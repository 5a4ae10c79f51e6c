//! The export workers: a fixed number of threads taking runs from a queue. A task never has
//! two runs in flight: a run whose task is busy waits until that task's run is done.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::app::App;

pub(crate) struct Workers {
    handles: Vec<JoinHandle<()>>,
    cancel: Arc<AtomicBool>,
    app: Arc<App>,
}

impl Workers {
    pub(crate) fn start(app: Arc<App>, count: usize) -> std::io::Result<Workers> {
        let cancel = Arc::new(AtomicBool::new(false));
        let handles = (0..count)
            .map(|i| {
                let (app, cancel) = (app.clone(), cancel.clone());
                std::thread::Builder::new()
                    .name(format!("export-{i}"))
                    .spawn(move || work(&app, &cancel))
            })
            .collect::<std::io::Result<_>>()?;
        Ok(Workers {
            handles,
            cancel,
            app,
        })
    }

    /// Stops taking runs, lets running exports finish for up to `grace`, then interrupts
    /// them (their uploads are aborted and the runs marked FAILED) and waits for the threads.
    pub(crate) fn shutdown(self, grace: Duration) {
        self.app.runs.stop();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && self.handles.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.handles.iter().any(|h| !h.is_finished()) {
            log::warn!("exports still running after {grace:?}: interrupting them");
            self.cancel.store(true, Ordering::SeqCst);
        }
        for h in self.handles {
            if h.join().is_err() {
                log::error!("an export worker panicked");
            }
        }
    }
}

fn work(app: &App, cancel: &AtomicBool) {
    while let Some((run_id, _busy)) = app.runs.take() {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            super::execute::execute(app, &run_id, cancel)
        }));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::error!("run {}: could not record its outcome: {e}", run_id),
            Err(_) => {
                log::error!("run {}: the export panicked", run_id);
                let _ = super::execute::mark_failed(
                    app,
                    &run_id,
                    "exportd failed unexpectedly during this export; the server log has details",
                );
            }
        }
    }
}
