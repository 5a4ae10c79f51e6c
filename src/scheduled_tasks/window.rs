//! Window and retry arithmetic, pure (SPEC 5.1, 5.2). Times are UTC milliseconds.

use crate::scheduled_tasks::Interval;

/// The window of a task that follows `watermark` (the end of the last exported window), or
/// its first window, the one that contains the task's creation time.
pub(crate) fn next_window(
    interval: Interval,
    created_at: i64,
    watermark: Option<i64>,
) -> (i64, i64) {
    let start = watermark.unwrap_or_else(|| interval.floor_ms(created_at));
    (start, start + interval.duration_ms())
}

/// When a window may be exported: its end plus the configured delay (late-arriving data).
pub(crate) fn due_at(window_end: i64, delay_ms: i64) -> i64 {
    window_end + delay_ms
}

/// Every aligned window that overlaps `[start, end)` and has ended by `now`, oldest first.
pub(crate) fn windows_in(interval: Interval, start: i64, end: i64, now: i64) -> Vec<(i64, i64)> {
    let d = interval.duration_ms();
    let mut out = Vec::new();
    let mut s = interval.floor_ms(start);
    while s < end && s + d <= now {
        out.push((s, s + d));
        s += d;
    }
    out
}

/// How long to wait before retrying a window that failed `failures` times in a row:
/// exponential from `base`, capped at `cap`, then scaled into `[1/2, 1]` by `jitter` (0 to 1)
/// so that tasks failing together do not retry together. Errors that retrying cannot fix
/// (terminal) wait the full cap.
pub(crate) fn retry_delay(
    failures: u32,
    base_ms: i64,
    cap_ms: i64,
    retryable: bool,
    jitter: f64,
) -> i64 {
    let full = if retryable {
        let exp = failures.saturating_sub(1).min(40);
        base_ms.saturating_mul(1i64 << exp).min(cap_ms)
    } else {
        cap_ms
    };
    let jitter = jitter.clamp(0.0, 1.0);
    (full as f64 * (0.5 + jitter / 2.0)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{parse_rfc3339_ms, rfc3339_ms};

    fn t(s: &str) -> i64 {
        parse_rfc3339_ms(s).unwrap()
    }

    fn w((s, e): (i64, i64)) -> (String, String) {
        (rfc3339_ms(s), rfc3339_ms(e))
    }

    #[test]
    fn first_windows_contain_the_creation_time() {
        let created = t("2025-10-16T10:40:00Z");
        let cases = [
            (
                Interval::Hourly,
                "2025-10-16T10:00:00Z",
                "2025-10-16T11:00:00Z",
            ),
            (
                Interval::Min15,
                "2025-10-16T10:30:00Z",
                "2025-10-16T10:45:00Z",
            ),
            (
                Interval::Min30,
                "2025-10-16T10:30:00Z",
                "2025-10-16T11:00:00Z",
            ),
            (
                Interval::Daily,
                "2025-10-16T00:00:00Z",
                "2025-10-17T00:00:00Z",
            ),
            (
                Interval::Custom,
                "2025-10-16T10:40:00Z",
                "2025-10-16T10:50:00Z",
            ),
        ];
        for (interval, start, end) in cases {
            assert_eq!(
                w(next_window(interval, created, None)),
                (start.into(), end.into()),
                "{interval:?}"
            );
        }
        // On a boundary, the window starting there.
        assert_eq!(
            w(next_window(
                Interval::Min15,
                t("2025-10-16T10:45:00Z"),
                None
            ))
            .0,
            "2025-10-16T10:45:00Z"
        );
    }

    #[test]
    fn windows_follow_the_watermark_and_are_due_after_the_delay() {
        let next = next_window(
            Interval::Hourly,
            t("2025-10-16T10:40:00Z"),
            Some(t("2025-10-16T13:00:00Z")),
        );
        assert_eq!(
            w(next),
            ("2025-10-16T13:00:00Z".into(), "2025-10-16T14:00:00Z".into())
        );
        assert_eq!(
            rfc3339_ms(due_at(next.1, 15 * 60_000)),
            "2025-10-16T14:15:00Z"
        );
        // 15MIN and 30MIN tile the day (Flexprice exported a whole day for these).
        let mut start = t("2025-10-16T00:00:00Z");
        for _ in 0..96 {
            let (s, e) = next_window(Interval::Min15, 0, Some(start));
            assert_eq!((s, e - s), (start, 15 * 60_000));
            start = e;
        }
        assert_eq!(rfc3339_ms(start), "2025-10-17T00:00:00Z");
    }

    #[test]
    fn backfill_ranges_list_complete_aligned_windows() {
        let ws = windows_in(
            Interval::Hourly,
            t("2025-10-16T09:30:00Z"),
            t("2025-10-16T12:00:00Z"),
            t("2025-10-17T00:00:00Z"),
        );
        let starts: Vec<String> = ws.iter().map(|x| w(*x).0).collect();
        assert_eq!(
            starts,
            [
                "2025-10-16T09:00:00Z",
                "2025-10-16T10:00:00Z",
                "2025-10-16T11:00:00Z"
            ]
        );
        // A window not yet ended is left out.
        let ws = windows_in(
            Interval::Hourly,
            t("2025-10-16T09:00:00Z"),
            t("2025-10-16T12:00:00Z"),
            t("2025-10-16T11:30:00Z"),
        );
        assert_eq!(ws.len(), 2);
    }

    #[test]
    fn retries_back_off_exponentially_with_a_cap_and_jitter() {
        let (base, cap) = (30_000, 30 * 60_000);
        let full: Vec<i64> = (1..=8)
            .map(|n| retry_delay(n, base, cap, true, 1.0))
            .collect();
        assert_eq!(
            full,
            [
                30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_800_000, 1_800_000
            ]
        );
        assert_eq!(
            retry_delay(1, base, cap, true, 0.0),
            15_000,
            "jitter keeps at least half"
        );
        assert_eq!(
            retry_delay(1, base, cap, false, 1.0),
            cap,
            "terminal errors wait the cap"
        );
        assert_eq!(
            retry_delay(u32::MAX, base, cap, true, 1.0),
            cap,
            "no overflow"
        );
    }
}
