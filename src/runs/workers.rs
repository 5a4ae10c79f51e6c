//! The export workers: a fixed number of threads taking runs from a queue. A task never has
//! two runs in flight: a run whose task is busy waits until that task's run is done.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::app::App;

#[derive(Default)]
struct State {
    waiting: VecDeque<Queued>,
    busy_tasks: HashSet<String>,
    closed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub run_id: String,
    pub task_id: String,
}

/// Runs waiting for a worker.
#[derive(Default)]
pub struct RunQueue {
    state: Mutex<State>,
    wake: Condvar,
}

impl RunQueue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn push(&self, run_id: &str, task_id: &str) {
        self.lock().waiting.push_back(Queued {
            run_id: run_id.to_owned(),
            task_id: task_id.to_owned(),
        });
        self.wake.notify_all();
    }

    /// The oldest run whose task is not busy, marking the task busy; `None` once closed.
    fn next(&self) -> Option<Queued> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return None;
            }
            let free = state
                .waiting
                .iter()
                .position(|q| !state.busy_tasks.contains(&q.task_id));
            if let Some(i) = free.and_then(|i| state.waiting.remove(i)) {
                state.busy_tasks.insert(i.task_id.clone());
                return Some(i);
            }
            state = self.wake.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn done(&self, task_id: &str) {
        self.lock().busy_tasks.remove(task_id);
        self.wake.notify_all();
    }

    /// No run starts after this; waiting runs stay PENDING in the store for the next start.
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_all();
    }

    /// Runs waiting or running.
    pub fn len(&self) -> usize {
        let s = self.lock();
        s.waiting.len() + s.busy_tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub struct Workers {
    handles: Vec<JoinHandle<()>>,
    cancel: Arc<AtomicBool>,
    app: Arc<App>,
}

impl Workers {
    pub fn start(app: Arc<App>, count: usize) -> std::io::Result<Workers> {
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
    pub fn shutdown(self, grace: Duration) {
        self.app.queue.close();
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
    while let Some(q) = app.queue.next() {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            super::execute::execute(app, &q.run_id, cancel)
        }));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::error!("run {}: could not record its outcome: {e}", q.run_id),
            Err(_) => {
                log::error!("run {}: the export panicked", q.run_id);
                let _ = super::execute::mark_failed(
                    app,
                    &q.run_id,
                    "exportd failed unexpectedly during this export; the server log has details",
                );
            }
        }
        app.queue.done(&q.task_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_task_waits_while_other_tasks_go_first() {
        let q = RunQueue::default();
        q.push("r1", "a");
        q.push("r2", "a");
        q.push("r3", "b");
        assert_eq!(q.next().map(|x| x.run_id), Some("r1".into()));
        assert_eq!(
            q.next().map(|x| x.run_id),
            Some("r3".into()),
            "r2 waits for task a"
        );
        q.done("a");
        assert_eq!(q.next().map(|x| x.run_id), Some("r2".into()));
        q.close();
        assert_eq!(q.next(), None);
    }
}
