//! Turns: how many requests are processed at once (`[server] threads`), apart from how many
//! connections are open. A request holds a turn while its body is read and its handler runs,
//! so bodies in memory are bounded by `threads × max_body_bytes` whatever the connections.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

pub(crate) struct Turns {
    free: Mutex<usize>,
    returned: Condvar,
}

/// A turn held; given back when dropped.
pub(crate) struct Turn<'a>(&'a Turns);

impl Turns {
    pub(crate) fn new(count: usize) -> Turns {
        Turns {
            free: Mutex::new(count),
            returned: Condvar::new(),
        }
    }

    /// A turn, waiting for one at most `wait`; `None` if none came free in time.
    pub(crate) fn take(&self, wait: Duration) -> Option<Turn<'_>> {
        let deadline = Instant::now() + wait;
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            free = self
                .returned
                .wait_timeout(free, left)
                .map_or_else(|e| e.into_inner().0, |(g, _)| g);
        }
        *free -= 1;
        Some(Turn(self))
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.returned.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_are_bounded_and_come_back() {
        let turns = Turns::new(2);
        let a = turns.take(Duration::ZERO);
        let b = turns.take(Duration::ZERO);
        assert!(a.is_some() && b.is_some());
        assert!(turns.take(Duration::from_millis(20)).is_none());
        drop(a);
        assert!(turns.take(Duration::ZERO).is_some());
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                drop(b);
            });
            assert!(
                turns.take(Duration::from_secs(5)).is_some(),
                "a waiter gets the turn given back"
            );
        });
    }
}
