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
