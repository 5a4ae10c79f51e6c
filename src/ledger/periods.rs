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
mod tests;
