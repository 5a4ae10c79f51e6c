//! The one way exportd's threads hand each other work and wake each other: a [`Mailbox`].
//!
//! A mailbox holds keyed items for worker threads ([`Mailbox::take`] gives the oldest whose key
//! is not busy, so a scheduled task never has two runs in flight), wakes a thread that sleeps
//! until its next due time ([`Mailbox::notify`], [`Mailbox::sleep`]), and stops either kind
//! ([`Mailbox::stop`]). The scheduler, the export workers, the billing thread and the webhook
//! delivery thread each have one.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

struct State<T> {
    items: VecDeque<(String, T)>,
    /// Keys of the items taken and not yet done.
    busy: HashSet<String>,
    /// Something changed since the sleeper's pass began.
    changed: bool,
}

pub(crate) struct Mailbox<T> {
    state: Mutex<State<T>>,
    wake: Condvar,
    /// Read without the lock by long jobs that stop at their next step.
    stopped: AtomicBool,
    /// Passes begun by the sleeper ([`Mailbox::begin`]): what tests wait on to know that a
    /// pass has looked at the world as it is now.
    passes: AtomicU64,
    /// Whether a loop runs on this mailbox (see [`Mailbox::looping`]).
    looping: AtomicBool,
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Mailbox {
            state: Mutex::new(State {
                items: VecDeque::new(),
                busy: HashSet::new(),
                changed: false,
            }),
            wake: Condvar::new(),
            stopped: AtomicBool::new(false),
            passes: AtomicU64::new(0),
            looping: AtomicBool::new(false),
        }
    }
}

/// The key of an item taken from a [`Mailbox`]: busy until this is dropped.
pub(crate) struct Busy<'a, T> {
    mailbox: &'a Mailbox<T>,
    key: String,
}

impl<T> Drop for Busy<'_, T> {
    fn drop(&mut self) {
        self.mailbox.lock().busy.remove(&self.key);
        self.mailbox.wake.notify_all();
    }
}

/// Marks a loop as running until dropped (a panic included); see [`Mailbox::looping`].
pub(crate) struct Looping<'a>(&'a AtomicBool);

impl Drop for Looping<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl<T> Mailbox<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // The state stays meaningful even if a holder panicked.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an item for a worker, under `key`.
    pub(crate) fn push(&self, key: &str, item: T) {
        let mut state = self.lock();
        state.items.push_back((key.to_owned(), item));
        state.changed = true;
        self.wake.notify_all();
    }

    /// The oldest item whose key is not busy, marking the key busy until the [`Busy`] is
    /// dropped; waits for one. `None` once stopped: items still waiting stay unread.
    pub(crate) fn take(&self) -> Option<(T, Busy<'_, T>)> {
        let mut state = self.lock();
        loop {
            if self.is_stopped() {
                return None;
            }
            let free = state
                .items
                .iter()
                .position(|(key, _)| !state.busy.contains(key));
            if let Some((key, item)) = free.and_then(|i| state.items.remove(i)) {
                state.busy.insert(key.clone());
                return Some((item, Busy { mailbox: self, key }));
            }
            state = self.wake.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Something changed: the sleeper looks again now.
    pub(crate) fn notify(&self) {
        self.lock().changed = true;
        self.wake.notify_all();
    }

    /// Ends the loops: [`Mailbox::take`] and [`Mailbox::begin`] answer no more work, and a
    /// sleeper wakes.
    pub(crate) fn stop(&self) {
        let _state = self.lock();
        self.stopped.store(true, Ordering::SeqCst);
        self.wake.notify_all();
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// The stop flag itself, for long jobs that look at it between steps.
    pub(crate) fn stop_flag(&self) -> &AtomicBool {
        &self.stopped
    }

    /// Starts a pass of a sleeper's loop: false once stopped. A change notified from here on
    /// ends the pass's [`Mailbox::sleep`] at once, so none is missed.
    pub(crate) fn begin(&self) -> bool {
        let mut state = self.lock();
        state.changed = false;
        self.passes.fetch_add(1, Ordering::Relaxed);
        !self.is_stopped()
    }

    /// How many passes have begun.
    pub(crate) fn passes(&self) -> u64 {
        self.passes.load(Ordering::Relaxed)
    }

    /// Sleeps up to `timeout`, less if something changed since [`Mailbox::begin`] or a stop
    /// was asked.
    pub(crate) fn sleep(&self, timeout: Duration) {
        let state = self.lock();
        let _woken = self
            .wake
            .wait_timeout_while(state, timeout, |s| !s.changed && !self.is_stopped())
            .unwrap_or_else(|e| e.into_inner());
    }

    /// Marks a loop as running on this mailbox until the guard is dropped.
    pub(crate) fn looping(&self) -> Looping<'_> {
        self.looping.store(true, Ordering::SeqCst);
        Looping(&self.looping)
    }

    /// Whether a loop holds [`Mailbox::looping`]'s guard now.
    pub(crate) fn is_looping(&self) -> bool {
        self.looping.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn a_busy_key_waits_while_other_keys_go_first() {
        let m = Mailbox::default();
        m.push("a", "r1");
        m.push("a", "r2");
        m.push("b", "r3");
        let (first, busy) = m.take().expect("r1");
        assert_eq!(first, "r1");
        let (next, _b) = m.take().expect("r3");
        assert_eq!(next, "r3", "r2 waits while a is busy");
        drop(busy);
        assert_eq!(m.take().map(|(item, _)| item), Some("r2"));
        m.stop();
        assert!(m.take().is_none());
    }

    #[test]
    fn a_change_before_the_sleep_is_not_missed() {
        let m = Mailbox::<()>::default();
        assert!(m.begin());
        m.notify();
        let t = Instant::now();
        m.sleep(Duration::from_secs(30));
        assert!(t.elapsed() < Duration::from_secs(5));
        // A new pass forgets it.
        assert!(m.begin());
        assert_eq!(m.passes(), 2);
    }

    #[test]
    fn stop_wakes_the_sleeper_and_the_taker_and_ends_the_loops() {
        let m = Arc::new(Mailbox::<()>::default());
        let sleeper = {
            let m = m.clone();
            std::thread::spawn(move || {
                let _looping = m.looping();
                let mut passes = 0;
                while m.begin() {
                    passes += 1;
                    m.sleep(Duration::from_secs(30));
                }
                passes
            })
        };
        let taker = {
            let m = m.clone();
            std::thread::spawn(move || m.take().is_none())
        };
        while m.passes() == 0 {
            std::thread::yield_now();
        }
        assert!(m.is_looping());
        m.stop();
        assert_eq!(sleeper.join().unwrap(), 1);
        assert!(taker.join().unwrap(), "take answers None once stopped");
        assert!(m.is_stopped() && m.stop_flag().load(Ordering::SeqCst));
        assert!(!m.is_looping(), "the guard clears the flag");
    }
}
