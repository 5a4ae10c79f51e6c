//! The wake-up of a thread that sleeps until its next due time: other threads say "something
//! changed, look again" or "stop". The scheduler and the webhook delivery thread use it.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Default)]
struct Signal {
    changed: bool,
    stop: bool,
}

#[derive(Default)]
pub struct Wakeup {
    signal: Mutex<Signal>,
    wake: Condvar,
}

impl Wakeup {
    fn lock(&self) -> MutexGuard<'_, Signal> {
        // The flags stay meaningful even if a holder panicked.
        self.signal.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Something changed: the sleeper looks again now.
    pub fn notify(&self) {
        self.lock().changed = true;
        self.wake.notify_all();
    }

    /// The sleeper's loop should end.
    pub fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_all();
    }

    pub fn stopped(&self) -> bool {
        self.lock().stop
    }

    /// Starts a pass of the loop: false once stopped. A change notified from here on ends the
    /// pass's [`Wakeup::sleep`] at once, so none is missed.
    pub fn begin(&self) -> bool {
        let mut s = self.lock();
        s.changed = false;
        !s.stop
    }

    /// Sleeps up to `timeout`, less if something changed since [`Wakeup::begin`] or a stop
    /// was asked.
    pub fn sleep(&self, timeout: Duration) {
        let s = self.lock();
        let _woken = self
            .wake
            .wait_timeout_while(s, timeout, |s| !s.changed && !s.stop)
            .unwrap_or_else(|e| e.into_inner());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn a_change_before_the_sleep_is_not_missed() {
        let w = Wakeup::default();
        assert!(w.begin());
        w.notify();
        let t = Instant::now();
        w.sleep(Duration::from_secs(30));
        assert!(t.elapsed() < Duration::from_secs(5));
        // A new pass forgets it.
        assert!(w.begin());
    }

    #[test]
    fn stop_wakes_the_sleeper_and_ends_the_loop() {
        let w = Arc::new(Wakeup::default());
        let sleeper = {
            let w = w.clone();
            std::thread::spawn(move || {
                let mut passes = 0;
                while w.begin() {
                    passes += 1;
                    w.sleep(Duration::from_secs(30));
                }
                passes
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        w.stop();
        assert_eq!(sleeper.join().unwrap(), 1);
        assert!(w.stopped());
    }
}
