//! Formatting of values in exported files and object keys, without allocation in the per-row
//! path. Times are UTC; these functions cover years 1970 to 9999 (inputs are kept there).

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's civil-from-days algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The calendar fields of a UTC time given in milliseconds (sub-second part dropped).
pub(crate) fn fields(ms: i64) -> [u32; 6] {
    let secs = ms.div_euclid(1000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400) as u32;
    [
        year.clamp(0, 9999) as u32,
        month,
        day,
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
    ]
}

fn put2(out: &mut [u8], v: u32) {
    out[0] = b'0' + (v / 10 % 10) as u8;
    out[1] = b'0' + (v % 10) as u8;
}

/// RFC 3339 at second precision, `2025-10-16T10:00:00Z`, for many times in a row: the dates
/// of the last two days seen are kept (rows come in time order, and a row's times are
/// mostly of its own day and one other, such as a due date).
pub(crate) struct Rfc3339Seconds {
    /// (days since 1970, `YYYY-MM-DD`), the last used first. No time is on day `i64::MIN`.
    dates: [(i64, [u8; 10]); 2],
    buf: [u8; 20],
}

impl Rfc3339Seconds {
    pub(crate) fn new() -> Rfc3339Seconds {
        Rfc3339Seconds {
            dates: [(i64::MIN, [0; 10]); 2],
            buf: *b"0000-00-00T00:00:00Z",
        }
    }

    /// The time `ms` as 20 ASCII bytes.
    pub(crate) fn format(&mut self, ms: i64) -> &[u8; 20] {
        let secs = ms.div_euclid(1000);
        let day = secs.div_euclid(86_400);
        if self.dates[0].0 != day {
            if self.dates[1].0 == day {
                self.dates.swap(0, 1);
            } else {
                let [y, mo, d, ..] = fields(ms);
                let mut date = *b"0000-00-00";
                put2(&mut date[0..2], y / 100);
                put2(&mut date[2..4], y % 100);
                put2(&mut date[5..7], mo);
                put2(&mut date[8..10], d);
                self.dates = [(day, date), self.dates[0]];
            }
            self.buf[..10].copy_from_slice(&self.dates[0].1);
        }
        let sod = secs.rem_euclid(86_400) as u32;
        put2(&mut self.buf[11..13], sod / 3600);
        put2(&mut self.buf[14..16], sod / 60 % 60);
        put2(&mut self.buf[17..19], sod % 60);
        &self.buf
    }
}

/// `YYMMDDHHMMSS`, Flexprice's file-name stamp (Go layout `060102150405`).
pub(crate) fn compact_stamp(ms: i64) -> String {
    let [y, mo, d, h, mi, s] = fields(ms);
    format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}", y % 100)
}

/// `YYYY-MM-DD`, for `dt=` partitions.
pub(crate) fn date(ms: i64) -> String {
    let [y, mo, d, ..] = fields(ms);
    format!("{y:04}-{mo:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_jiff_across_the_range() {
        let mut times = Rfc3339Seconds::new();
        // Every 7919 hours plus some seconds, from 1970 to 2100, and the edges; then times a
        // few minutes apart (the day's date reused), across midnights and back.
        let mut cases: Vec<i64> = (0..145).map(|i| i * 7919 * 3_600_000 + i * 1237).collect();
        cases.extend([
            0,
            951_782_400_000,
            951_868_799_999,
            4_107_542_399_000,
            253_402_207_200_000,
        ]);
        cases.extend((0..2000).map(|i| 1_760_572_000_000 + i * 271_001));
        // Two days taking turns, then a third, as a row's times and due dates do.
        cases.extend((0..300).map(|i| 1_760_572_000_000 + (i % 3) * 2_592_000_000 + i * 997));
        cases.extend([
            1_760_572_800_000,
            1_760_572_799_999,
            1_760_572_800_000,
            0,
            -1,
            -1000,
        ]);
        for ms in cases {
            let expected = jiff::Timestamp::from_millisecond(ms)
                .unwrap()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            assert_eq!(times.format(ms), expected.as_bytes(), "{ms}");
        }
        // Beyond the years covered, the year is clamped as `fields` does, the rest still exact.
        for ms in [i64::MIN, i64::MAX, -62_167_219_200_001, 253_402_300_800_000] {
            let [y, mo, d, h, mi, s] = fields(ms);
            let expected = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z");
            assert_eq!(times.format(ms), expected.as_bytes(), "{ms}");
        }
    }

    #[test]
    fn stamps_and_dates() {
        let ms = crate::clock::parse_rfc3339_ms("2025-10-16T10:00:59.999Z").unwrap();
        assert_eq!(compact_stamp(ms), "251016100059");
        assert_eq!(date(ms), "2025-10-16");
        assert_eq!(
            compact_stamp(crate::clock::parse_rfc3339_ms("2000-02-29T23:59:59Z").unwrap()),
            "000229235959"
        );
    }
}
