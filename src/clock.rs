//! Time: a `Clock` the rest of the program asks for "now" (so tests can drive time), and the
//! conversions between stored milliseconds and RFC 3339 text.

use jiff::Timestamp;

/// Where "now" comes from.
pub(crate) trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;

    /// A clock tests move by hand: whoever waits on it must look again often, since its time
    /// can jump without any notification.
    fn is_test(&self) -> bool {
        false
    }
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A test clock: the current time is the RFC 3339 text in a file, which tests rewrite to move
/// time (it survives restarts, like real time). Set with `scheduler.test_clock`; never in
/// production.
pub(crate) struct FileClock {
    path: std::path::PathBuf,
    last: std::sync::atomic::AtomicI64,
}

impl FileClock {
    /// Reads the file once, so a bad file fails at start rather than later.
    pub(crate) fn open(path: &std::path::Path) -> Result<FileClock, ClockError> {
        let ms = read_clock_file(path)?;
        Ok(FileClock {
            path: path.to_owned(),
            last: std::sync::atomic::AtomicI64::new(ms),
        })
    }
}

/// Why a test clock file cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClockError {
    #[error("{path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: expected an RFC 3339 time, got {text:?}")]
    NotATime {
        path: std::path::PathBuf,
        text: String,
    },
}

fn read_clock_file(path: &std::path::Path) -> Result<i64, ClockError> {
    let text = std::fs::read_to_string(path).map_err(|source| ClockError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_rfc3339_ms(&text).ok_or_else(|| ClockError::NotATime {
        path: path.to_owned(),
        text,
    })
}

impl Clock for FileClock {
    fn now(&self) -> Timestamp {
        use std::sync::atomic::Ordering;
        // A file caught mid-rewrite reads as garbage: keep the last good time.
        if let Ok(ms) = read_clock_file(&self.path) {
            self.last.store(ms, Ordering::Relaxed);
        }
        from_ms(self.last.load(Ordering::Relaxed))
    }

    fn is_test(&self) -> bool {
        true
    }
}

/// Milliseconds since the Unix epoch: how timestamps are stored in SQLite.
pub(crate) fn to_ms(ts: Timestamp) -> i64 {
    ts.as_millisecond()
}

/// The timestamp of stored milliseconds. Out-of-range values (which exportd never writes)
/// clamp to the supported range instead of failing.
pub(crate) fn from_ms(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// RFC 3339 in UTC, with fractional seconds only when they are not zero.
pub(crate) fn rfc3339_ms(ms: i64) -> String {
    from_ms(ms).to_string()
}

/// Parses an RFC 3339 timestamp with an offset (`Z` or `±hh:mm`) into UTC milliseconds.
pub(crate) fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    text.trim().parse::<Timestamp>().ok().map(to_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rfc3339() {
        let ms = parse_rfc3339_ms("2025-10-16T10:00:00Z").expect("parses");
        assert_eq!(rfc3339_ms(ms), "2025-10-16T10:00:00Z");
        let ms = parse_rfc3339_ms("2025-10-16T12:00:00.250+02:00").expect("parses");
        assert_eq!(rfc3339_ms(ms), "2025-10-16T10:00:00.25Z");
    }

    #[test]
    fn rejects_timestamps_without_offset_or_garbage() {
        assert_eq!(parse_rfc3339_ms("2025-10-16T10:00:00"), None);
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
        assert_eq!(parse_rfc3339_ms(""), None);
    }
}
