//! Billing periods (SPEC 7.1): where each period of a subscription starts and ends. Pure
//! functions of the billing period, the count, the anchor, the start date and `cancel_at`, in
//! UTC civil time.
//!
//! Every boundary is computed from the anchor, as `anchor + k·count periods` for a whole
//! (possibly negative) `k`, never by adding to the previous boundary, so nothing drifts. Month
//! based periods (MONTHLY 1, QUARTERLY 3, HALF_YEARLY 6, ANNUAL 12 months per count) keep the
//! anchor's day of the month, clamped to the month's last day: Jan 31 → Feb 28 (29) → Mar 31,
//! and an annual anchor on Feb 29 falls on Feb 28 except in leap years. WEEKLY is 7·count days,
//! DAILY count days. The anchor's time of day is kept.
//!
//! The first period runs from the start date to the first boundary after it; each later one
//! from a boundary to the next. The period that reaches `cancel_at` ends there and is the last.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

use super::subscriptions::{BillingPeriod, Subscription};

const DAY_MS: i64 = 86_400_000;

/// How far one step of `count` periods goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// A fixed length (days and weeks: UTC has no daylight saving).
    Millis(i64),
    /// Calendar months, keeping the anchor's day where the month has it.
    Months(i64),
}

fn step(period: BillingPeriod, count: i64) -> Option<Step> {
    let (days, months) = match period {
        BillingPeriod::Daily => (1, 0),
        BillingPeriod::Weekly => (7, 0),
        BillingPeriod::Monthly => (0, 1),
        BillingPeriod::Quarterly => (0, 3),
        BillingPeriod::HalfYearly => (0, 6),
        BillingPeriod::Annual => (0, 12),
    };
    if count < 1 {
        return None;
    }
    if months > 0 {
        Some(Step::Months(count.checked_mul(months)?))
    } else {
        Some(Step::Millis(count.checked_mul(days)?.checked_mul(DAY_MS)?))
    }
}

fn civil(ms: i64) -> Option<DateTime> {
    let ts = jiff::Timestamp::from_millisecond(ms).ok()?;
    Some(TimeZone::UTC.to_datetime(ts))
}

fn month_index(dt: DateTime) -> i64 {
    i64::from(dt.year()) * 12 + i64::from(dt.month()) - 1
}

/// The boundaries of a subscription: `anchor + k·count periods` for every whole `k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cycle {
    step: Step,
    anchor: i64,
    anchor_civil: DateTime,
}

impl Cycle {
    /// `None` for a count below 1 or an anchor outside the calendar jiff knows.
    pub(crate) fn new(period: BillingPeriod, count: i64, anchor: i64) -> Option<Cycle> {
        Some(Cycle {
            step: step(period, count)?,
            anchor,
            anchor_civil: civil(anchor)?,
        })
    }

    /// The `k`th boundary (the anchor is boundary 0), or `None` outside the calendar.
    pub(crate) fn boundary(&self, k: i64) -> Option<i64> {
        match self.step {
            Step::Millis(len) => {
                let ms = self.anchor.checked_add(k.checked_mul(len)?)?;
                jiff::Timestamp::from_millisecond(ms).ok().map(|_| ms)
            }
            Step::Months(len) => {
                let a = self.anchor_civil;
                let index = month_index(a).checked_add(k.checked_mul(len)?)?;
                let year = i16::try_from(index.div_euclid(12)).ok()?;
                let month = i8::try_from(index.rem_euclid(12) + 1).ok()?;
                let last_day = Date::new(year, month, 1).ok()?.days_in_month();
                let date = Date::new(year, month, a.day().min(last_day)).ok()?;
                let ts = TimeZone::UTC
                    .to_timestamp(date.to_datetime(a.time()))
                    .ok()?;
                Some(ts.as_millisecond())
            }
        }
    }

    /// The first boundary strictly after `t`, and its `k`.
    pub(crate) fn first_after(&self, t: i64) -> Option<(i64, i64)> {
        let mut k = match self.step {
            // Exact for a fixed length: boundary(k) = anchor + k·len > t.
            Step::Millis(len) => {
                let k = t.checked_sub(self.anchor)?.div_euclid(len).checked_add(1)?;
                return Some((k, self.boundary(k)?));
            }
            // A guess from the month numbers, then at most a step or two either way.
            Step::Months(len) => {
                (month_index(civil(t)?) - month_index(self.anchor_civil)).div_euclid(len)
            }
        };
        while self.boundary(k)? <= t {
            k += 1;
        }
        while self.boundary(k - 1).is_some_and(|b| b > t) {
            k -= 1;
        }
        Some((k, self.boundary(k)?))
    }
}

/// One billing period, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Period {
    pub start: i64,
    pub end: i64,
    /// The period's number: 1 for the first.
    pub sequence: i64,
    /// The subscription ends with this period: its end is `cancel_at`.
    pub last: bool,
    /// The `k` of the boundary the period would end at without `cancel_at`.
    end_k: i64,
}

/// A subscription's periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Schedule {
    cycle: Cycle,
    start_date: i64,
    cancel_at: Option<i64>,
    /// The `k` of the first boundary after the start date (where the first period ends).
    first_k: i64,
}

impl Schedule {
    /// `None` when the numbers cannot make a period (a count below 1, dates outside the
    /// calendar, or `cancel_at` not after the start date).
    pub(crate) fn new(
        period: BillingPeriod,
        count: i64,
        start_date: i64,
        anchor: i64,
        cancel_at: Option<i64>,
    ) -> Option<Schedule> {
        if cancel_at.is_some_and(|c| c <= start_date) {
            return None;
        }
        let cycle = Cycle::new(period, count, anchor)?;
        let (first_k, _) = cycle.first_after(start_date)?;
        Some(Schedule {
            cycle,
            start_date,
            cancel_at,
            first_k,
        })
    }

    pub(crate) fn of(s: &Subscription) -> Option<Schedule> {
        Schedule::new(
            s.billing_period,
            s.billing_period_count,
            s.start_date,
            s.billing_anchor,
            s.cancel_at,
        )
    }

    /// The period from `start` to boundary `end_k`, cut at `cancel_at`.
    fn period(&self, start: i64, end_k: i64) -> Option<Period> {
        let end = self.cycle.boundary(end_k)?;
        let sequence = end_k - self.first_k + 1;
        Some(match self.cancel_at {
            Some(c) if c <= end => Period {
                start,
                end: c,
                sequence,
                last: true,
                end_k,
            },
            _ => Period {
                start,
                end,
                sequence,
                last: false,
                end_k,
            },
        })
    }

    /// The first period: from the start date to the first boundary after it.
    pub(crate) fn first(&self) -> Option<Period> {
        self.period(self.start_date, self.first_k)
    }

    /// The period after `p`; `None` when `p` is the last one (or the calendar ends).
    pub(crate) fn after(&self, p: &Period) -> Option<Period> {
        if p.last {
            return None;
        }
        self.period(p.end, p.end_k + 1)
    }

    /// The period that starts at `start` (a stored `current_period_start`); `None` when no
    /// period starts there.
    pub(crate) fn starting_at(&self, start: i64) -> Option<Period> {
        if start == self.start_date {
            return self.first();
        }
        let (k, boundary) = self.cycle.first_after(start.checked_sub(1)?)?;
        if boundary != start || k < self.first_k || self.cancel_at.is_some_and(|c| c <= start) {
            return None;
        }
        self.period(start, k + 1)
    }

    /// Every period that has ended by `now`, in order (for tests: the billing job walks them
    /// one transaction at a time).
    #[cfg(test)]
    pub(crate) fn ended_by(&self, now: i64) -> Vec<Period> {
        let mut out = Vec::new();
        let mut next = self.first();
        while let Some(p) = next.filter(|p| p.end <= now) {
            out.push(p);
            next = self.after(&p);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{parse_rfc3339_ms, rfc3339_ms};
    use BillingPeriod::*;

    fn ms(text: &str) -> i64 {
        parse_rfc3339_ms(text).unwrap_or_else(|| panic!("bad time {text}"))
    }

    /// `[start, end)` of every period ended by `now`, as RFC 3339 text.
    fn periods(
        period: BillingPeriod,
        count: i64,
        start: &str,
        anchor: Option<&str>,
        cancel_at: Option<&str>,
        now: &str,
    ) -> Vec<(String, String)> {
        let s = Schedule::new(
            period,
            count,
            ms(start),
            ms(anchor.unwrap_or(start)),
            cancel_at.map(ms),
        )
        .expect("schedule");
        let ended = s.ended_by(ms(now));
        for (i, p) in ended.iter().enumerate() {
            assert_eq!(p.sequence, i as i64 + 1, "sequence of {p:?}");
            assert_eq!(s.starting_at(p.start), Some(*p), "starting_at({p:?})");
        }
        ended
            .iter()
            .map(|p| (rfc3339_ms(p.start), rfc3339_ms(p.end)))
            .collect()
    }

    fn expect(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn month_end_anchors_clamp_and_return_to_the_anchor_day() {
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
        let cases: &[Case<'_>] = &[
            (
                "2025-01-31T00:00:00Z",
                "2025-06-01T00:00:00Z",
                &[
                    ("2025-01-31T00:00:00Z", "2025-02-28T00:00:00Z"),
                    ("2025-02-28T00:00:00Z", "2025-03-31T00:00:00Z"),
                    ("2025-03-31T00:00:00Z", "2025-04-30T00:00:00Z"),
                    ("2025-04-30T00:00:00Z", "2025-05-31T00:00:00Z"),
                ],
            ),
            (
                "2024-01-31T09:30:00Z",
                "2024-04-01T00:00:00Z",
                &[
                    ("2024-01-31T09:30:00Z", "2024-02-29T09:30:00Z"),
                    ("2024-02-29T09:30:00Z", "2024-03-31T09:30:00Z"),
                ],
            ),
            (
                "2025-01-30T00:00:00Z",
                "2025-04-01T00:00:00Z",
                &[
                    ("2025-01-30T00:00:00Z", "2025-02-28T00:00:00Z"),
                    ("2025-02-28T00:00:00Z", "2025-03-30T00:00:00Z"),
                ],
            ),
            (
                "2023-12-29T00:00:00Z",
                "2024-04-01T00:00:00Z",
                &[
                    ("2023-12-29T00:00:00Z", "2024-01-29T00:00:00Z"),
                    ("2024-01-29T00:00:00Z", "2024-02-29T00:00:00Z"),
                    ("2024-02-29T00:00:00Z", "2024-03-29T00:00:00Z"),
                ],
            ),
            (
                "2025-01-29T00:00:00Z",
                "2025-03-30T00:00:00Z",
                &[
                    ("2025-01-29T00:00:00Z", "2025-02-28T00:00:00Z"),
                    ("2025-02-28T00:00:00Z", "2025-03-29T00:00:00Z"),
                ],
            ),
            (
                "2025-08-31T00:00:00Z",
                "2025-12-01T00:00:00Z",
                &[
                    ("2025-08-31T00:00:00Z", "2025-09-30T00:00:00Z"),
                    ("2025-09-30T00:00:00Z", "2025-10-31T00:00:00Z"),
                    ("2025-10-31T00:00:00Z", "2025-11-30T00:00:00Z"),
                ],
            ),
        ];
        for (start, now, want) in cases {
            assert_eq!(
                periods(Monthly, 1, start, None, None, now),
                expect(want),
                "monthly from {start}"
            );
        }
    }

    #[test]
    fn quarterly_half_yearly_and_annual_periods() {
        assert_eq!(
            periods(
                Quarterly,
                1,
                "2024-11-30T00:00:00Z",
                None,
                None,
                "2025-12-01T00:00:00Z"
            ),
            expect(&[
                ("2024-11-30T00:00:00Z", "2025-02-28T00:00:00Z"),
                ("2025-02-28T00:00:00Z", "2025-05-30T00:00:00Z"),
                ("2025-05-30T00:00:00Z", "2025-08-30T00:00:00Z"),
                ("2025-08-30T00:00:00Z", "2025-11-30T00:00:00Z"),
            ])
        );
        assert_eq!(
            periods(
                HalfYearly,
                1,
                "2023-08-31T12:00:00Z",
                None,
                None,
                "2025-03-01T00:00:00Z"
            ),
            expect(&[
                ("2023-08-31T12:00:00Z", "2024-02-29T12:00:00Z"),
                ("2024-02-29T12:00:00Z", "2024-08-31T12:00:00Z"),
                ("2024-08-31T12:00:00Z", "2025-02-28T12:00:00Z"),
            ])
        );
        assert_eq!(
            periods(
                Annual,
                1,
                "2020-02-29T00:00:00Z",
                None,
                None,
                "2025-01-01T00:00:00Z"
            ),
            expect(&[
                ("2020-02-29T00:00:00Z", "2021-02-28T00:00:00Z"),
                ("2021-02-28T00:00:00Z", "2022-02-28T00:00:00Z"),
                ("2022-02-28T00:00:00Z", "2023-02-28T00:00:00Z"),
                ("2023-02-28T00:00:00Z", "2024-02-29T00:00:00Z"),
            ])
        );
        // Count 2 on a leap day: every boundary is an even number of years on, so 2024 and
        // 2028 return to the 29th and 2026 clamps.
        assert_eq!(
            periods(
                Annual,
                2,
                "2024-02-29T00:00:00Z",
                None,
                None,
                "2030-03-01T00:00:00Z"
            ),
            expect(&[
                ("2024-02-29T00:00:00Z", "2026-02-28T00:00:00Z"),
                ("2026-02-28T00:00:00Z", "2028-02-29T00:00:00Z"),
                ("2028-02-29T00:00:00Z", "2030-02-28T00:00:00Z"),
            ])
        );
        assert_eq!(
            periods(
                Quarterly,
                2,
                "2025-01-31T00:00:00Z",
                None,
                None,
                "2026-02-01T00:00:00Z"
            ),
            expect(&[
                ("2025-01-31T00:00:00Z", "2025-07-31T00:00:00Z"),
                ("2025-07-31T00:00:00Z", "2026-01-31T00:00:00Z"),
            ])
        );
    }

    #[test]
    fn weekly_and_daily_periods_with_counts() {
        assert_eq!(
            periods(
                Weekly,
                2,
                "2025-02-24T08:00:00Z",
                None,
                None,
                "2025-04-07T08:00:00Z"
            ),
            expect(&[
                ("2025-02-24T08:00:00Z", "2025-03-10T08:00:00Z"),
                ("2025-03-10T08:00:00Z", "2025-03-24T08:00:00Z"),
                ("2025-03-24T08:00:00Z", "2025-04-07T08:00:00Z"),
            ])
        );
        assert_eq!(
            periods(
                Daily,
                1,
                "2024-02-28T23:00:00Z",
                None,
                None,
                "2024-03-02T00:00:00Z"
            ),
            expect(&[
                ("2024-02-28T23:00:00Z", "2024-02-29T23:00:00Z"),
                ("2024-02-29T23:00:00Z", "2024-03-01T23:00:00Z"),
            ])
        );
        assert_eq!(
            periods(
                Daily,
                3,
                "2025-12-30T00:00:00Z",
                None,
                None,
                "2026-01-05T00:00:00Z"
            ),
            expect(&[
                ("2025-12-30T00:00:00Z", "2026-01-02T00:00:00Z"),
                ("2026-01-02T00:00:00Z", "2026-01-05T00:00:00Z"),
            ])
        );
        assert_eq!(
            periods(
                Monthly,
                3,
                "2025-01-31T00:00:00Z",
                None,
                None,
                "2025-07-31T00:00:00Z"
            ),
            expect(&[
                ("2025-01-31T00:00:00Z", "2025-04-30T00:00:00Z"),
                ("2025-04-30T00:00:00Z", "2025-07-31T00:00:00Z"),
            ])
        );
    }

    #[test]
    fn an_anchor_other_than_the_start_date_makes_a_short_first_period() {
        // Anchor after the start, in the same month.
        assert_eq!(
            periods(
                Monthly,
                1,
                "2025-01-10T00:00:00Z",
                Some("2025-01-31T00:00:00Z"),
                None,
                "2025-03-31T00:00:00Z"
            ),
            expect(&[
                ("2025-01-10T00:00:00Z", "2025-01-31T00:00:00Z"),
                ("2025-01-31T00:00:00Z", "2025-02-28T00:00:00Z"),
                ("2025-02-28T00:00:00Z", "2025-03-31T00:00:00Z"),
            ])
        );
        // Anchor long before the start: boundaries are still counted from it.
        assert_eq!(
            periods(
                Monthly,
                1,
                "2025-02-10T12:00:00Z",
                Some("2023-05-31T00:00:00Z"),
                None,
                "2025-04-01T00:00:00Z"
            ),
            expect(&[
                ("2025-02-10T12:00:00Z", "2025-02-28T00:00:00Z"),
                ("2025-02-28T00:00:00Z", "2025-03-31T00:00:00Z"),
            ])
        );
        // Anchor later than the start by more than one period.
        assert_eq!(
            periods(
                Weekly,
                1,
                "2025-03-01T00:00:00Z",
                Some("2025-06-02T06:00:00Z"),
                None,
                "2025-03-18T00:00:00Z"
            ),
            expect(&[
                ("2025-03-01T00:00:00Z", "2025-03-03T06:00:00Z"),
                ("2025-03-03T06:00:00Z", "2025-03-10T06:00:00Z"),
                ("2025-03-10T06:00:00Z", "2025-03-17T06:00:00Z"),
            ])
        );
        // The anchor's time of day is kept, even when the start is later that day.
        assert_eq!(
            periods(
                Daily,
                1,
                "2025-03-01T18:00:00Z",
                Some("2025-03-01T06:00:00Z"),
                None,
                "2025-03-03T07:00:00Z"
            ),
            expect(&[
                ("2025-03-01T18:00:00Z", "2025-03-02T06:00:00Z"),
                ("2025-03-02T06:00:00Z", "2025-03-03T06:00:00Z"),
            ])
        );
    }

    #[test]
    fn cancel_at_ends_the_period_that_contains_it() {
        let start = "2025-01-15T00:00:00Z";
        let s = Schedule::new(
            Monthly,
            1,
            ms(start),
            ms(start),
            Some(ms("2025-03-20T00:00:00Z")),
        )
        .unwrap();
        let all = s.ended_by(ms("2030-01-01T00:00:00Z"));
        assert_eq!(
            all.iter()
                .map(|p| (rfc3339_ms(p.start), rfc3339_ms(p.end), p.last))
                .collect::<Vec<_>>(),
            vec![
                (
                    "2025-01-15T00:00:00Z".to_string(),
                    "2025-02-15T00:00:00Z".to_string(),
                    false
                ),
                (
                    "2025-02-15T00:00:00Z".to_string(),
                    "2025-03-15T00:00:00Z".to_string(),
                    false
                ),
                (
                    "2025-03-15T00:00:00Z".to_string(),
                    "2025-03-20T00:00:00Z".to_string(),
                    true
                ),
            ]
        );
        assert_eq!(s.after(&all[2]), None);
        // Exactly on a boundary: that period is the last, whole.
        assert_eq!(
            periods(
                Monthly,
                1,
                start,
                None,
                Some("2025-03-15T00:00:00Z"),
                "2030-01-01T00:00:00Z"
            ),
            expect(&[
                ("2025-01-15T00:00:00Z", "2025-02-15T00:00:00Z"),
                ("2025-02-15T00:00:00Z", "2025-03-15T00:00:00Z"),
            ])
        );
        // Inside the first period.
        assert_eq!(
            periods(
                Annual,
                1,
                start,
                None,
                Some("2025-01-16T00:00:00Z"),
                "2030-01-01T00:00:00Z"
            ),
            expect(&[("2025-01-15T00:00:00Z", "2025-01-16T00:00:00Z")])
        );
        assert_eq!(
            Schedule::new(Monthly, 1, ms(start), ms(start), Some(ms(start))),
            None
        );
    }

    #[test]
    fn catch_up_walks_many_periods_without_drift() {
        // Three years of monthly periods from Jan 31: 36 periods, each ending on the month's
        // last day, and the 37th (current) period contains now.
        let start = ms("2022-01-31T00:00:00Z");
        let s = Schedule::new(Monthly, 1, start, start, None).unwrap();
        let now = ms("2025-01-31T00:00:00Z") + 1;
        let ended = s.ended_by(now);
        assert_eq!(ended.len(), 36);
        for (i, p) in ended.iter().enumerate() {
            let end = civil(p.end).unwrap();
            assert_eq!(end.day(), end.date().days_in_month(), "period {i}: {p:?}");
            if i > 0 {
                assert_eq!(p.start, ended[i - 1].end, "periods tile");
            }
        }
        let current = s.after(&ended[35]).unwrap();
        assert!(current.start <= now && now < current.end);
        assert_eq!(current.sequence, 37);
        assert_eq!(rfc3339_ms(current.end), "2025-02-28T00:00:00Z");

        // Daily over ten years: exactly the number of days.
        let s = Schedule::new(Daily, 1, start, start, None).unwrap();
        assert_eq!(s.ended_by(ms("2032-01-31T00:00:00Z")).len(), 3652);
        // Weekly, count 2, over a year: 26 periods of 14 days each.
        let s = Schedule::new(Weekly, 2, start, start, None).unwrap();
        let ended = s.ended_by(start + 364 * DAY_MS);
        assert_eq!(ended.len(), 26);
        assert!(ended.iter().all(|p| p.end - p.start == 14 * DAY_MS));
    }

    #[test]
    fn boundaries_are_counted_from_the_anchor_in_both_directions() {
        let c = Cycle::new(Monthly, 1, ms("2025-01-31T10:00:00Z")).unwrap();
        assert_eq!(c.boundary(0), Some(ms("2025-01-31T10:00:00Z")));
        assert_eq!(c.boundary(-1), Some(ms("2024-12-31T10:00:00Z")));
        assert_eq!(c.boundary(-11), Some(ms("2024-02-29T10:00:00Z")));
        assert_eq!(c.boundary(13), Some(ms("2026-02-28T10:00:00Z")));
        assert_eq!(
            c.first_after(ms("2025-02-28T10:00:00Z")),
            Some((2, ms("2025-03-31T10:00:00Z")))
        );
        assert_eq!(
            c.first_after(ms("2025-02-28T09:59:59Z")),
            Some((1, ms("2025-02-28T10:00:00Z")))
        );
        assert_eq!(
            c.first_after(ms("2024-12-31T10:00:00Z")),
            Some((0, ms("2025-01-31T10:00:00Z")))
        );
        assert_eq!(c.boundary(i64::MAX), None);
        assert_eq!(c.boundary(100_000), None, "past year 9999");
        let d = Cycle::new(Daily, 2, 0).unwrap();
        assert_eq!(d.first_after(-1), Some((0, 0)));
        assert_eq!(d.first_after(0), Some((1, 2 * DAY_MS)));
        assert_eq!(Cycle::new(Daily, 0, 0), None);
    }

    #[test]
    fn periods_that_do_not_exist_are_not_found() {
        let start = ms("2025-01-31T00:00:00Z");
        let s = Schedule::new(Monthly, 1, start, start, None).unwrap();
        assert_eq!(s.starting_at(ms("2025-02-01T00:00:00Z")), None);
        assert_eq!(
            s.starting_at(ms("2024-12-31T00:00:00Z")),
            None,
            "before start"
        );
        let second = s.starting_at(ms("2025-02-28T00:00:00Z")).unwrap();
        assert_eq!(
            (second.sequence, rfc3339_ms(second.end).as_str()),
            (2, "2025-03-31T00:00:00Z")
        );
    }
}
