//! The pieces of SQL text exportd sends to ClickHouse: string literals, window conditions and
//! the sealed query shape whose last row proves that the stream is whole.
//!
//! Literals are escaped, never bound: ClickHouse 18.16 has no query parameters, and one SQL
//! text for every server version is what the tests replay on a modern engine. The escaping is
//! total (every byte that is not printable ASCII or UTF-8 text is written as `\xHH`, quotes
//! and backslashes are escaped), so no value can end the literal early.

use std::fmt::Write;

/// A ClickHouse string literal holding exactly `value`.
pub fn string_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                // Control bytes (NUL, newlines, tabs...) as hex escapes: nothing raw that a
                // parser, a log line or a proxy might treat specially.
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `(a, b, c)` of string literals, or `NULL`-free `('')` when empty (never matches a real id
/// because the callers only ask for non-empty ids; an empty tuple is not valid SQL).
pub fn string_list<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    let items: Vec<String> = values.into_iter().map(string_literal).collect();
    if items.is_empty() {
        "('')".to_owned()
    } else {
        format!("({})", items.join(", "))
    }
}

/// How a time column stores its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeColumn {
    /// `DateTime`: whole seconds.
    Seconds,
    /// `DateTime64(p)`: sub-second precision (ClickHouse 20.1 and later).
    SubSecond,
}

/// A time bound, in milliseconds since 1970, as an expression comparable with a column of
/// `kind` so that `column >= bound` holds exactly for the rows at or after `ms`. Whole seconds
/// are `toDateTime(<unix seconds>)` on every version (a `DateTime64` column compares with it
/// at full precision); a bound with milliseconds is rounded up to the next second for a
/// `DateTime` column (its rows are whole seconds) and kept exact for `DateTime64`.
pub fn time_bound(ms: i64, kind: TimeColumn) -> String {
    let seconds = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    match (millis, kind) {
        (0, _) => format!("toDateTime({seconds})"),
        (_, TimeColumn::Seconds) => format!("toDateTime({})", seconds + 1),
        (_, TimeColumn::SubSecond) => format!("fromUnixTimestamp64Milli(toInt64({ms}))"),
    }
}

/// `column >= start AND column < end`: the half-open window `[start, end)` on `column`.
pub fn window_condition(column: &str, kind: TimeColumn, window: (i64, i64)) -> String {
    format!(
        "{column} >= {} AND {column} < {}",
        time_bound(window.0, kind),
        time_bound(window.1, kind)
    )
}

/// The name of the first column of every sealed query: 0 on data rows, 1 on the end row.
pub const END_COLUMN: &str = "exportd_end";

/// A query whose output ends with one known row: the data rows of `select` (whose first
/// column must be `0 AS exportd_end`), then `end_row` (the same columns, `1` first), sorted
/// by `exportd_end, <order_by>`. Receiving the end row proves that ClickHouse sent every row
/// before it: the end row sorts last, a failure or a cut connection leaves it out, and no
/// data row can forge it (its first column is 0).
pub fn sealed(select: &str, end_row: &str, order_by: &str) -> String {
    let order = if order_by.is_empty() {
        END_COLUMN.to_owned()
    } else {
        format!("{END_COLUMN}, {order_by}")
    };
    format!(
        "SELECT *\nFROM\n(\n{select}\nUNION ALL\n{end_row}\n)\nORDER BY {order}\nFORMAT TabSeparated"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_quotes_backslashes_and_every_control_byte() {
        assert_eq!(string_literal("acme"), "'acme'");
        assert_eq!(string_literal(""), "''");
        assert_eq!(string_literal("a'b"), r"'a\'b'");
        assert_eq!(string_literal(r"a\b"), r"'a\\b'");
        assert_eq!(string_literal(r"\'"), r"'\\\''");
        assert_eq!(string_literal("a\nb\r\t\0"), r"'a\x0Ab\x0D\x09\x00'");
        assert_eq!(string_literal("\u{7f}\u{1b}"), r"'\x7F\x1B'");
        assert_eq!(string_literal("ü€😀"), "'ü€😀'");
        assert_eq!(string_literal("x' OR 1=1 --"), r"'x\' OR 1=1 --'");
        // Nothing unescaped can close the literal: the only quotes are the two ends and
        // escaped ones.
        let lit = string_literal("'''\\''\\\\'");
        let inner = &lit[1..lit.len() - 1];
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            assert_ne!(c, '\'', "{lit}");
            if c == '\\' {
                chars.next();
            }
        }
    }

    #[test]
    fn lists_of_literals() {
        assert_eq!(string_list(["a", "b'"]), r"('a', 'b\'')");
        assert_eq!(string_list(std::iter::empty()), "('')");
    }

    #[test]
    fn time_bounds_are_exact_for_both_column_kinds() {
        let s = 1_760_608_800_000; // 2025-10-16T10:00:00Z
        assert_eq!(time_bound(s, TimeColumn::Seconds), "toDateTime(1760608800)");
        assert_eq!(
            time_bound(s, TimeColumn::SubSecond),
            "toDateTime(1760608800)"
        );
        assert_eq!(
            time_bound(s + 1, TimeColumn::Seconds),
            "toDateTime(1760608801)"
        );
        assert_eq!(
            time_bound(s + 999, TimeColumn::Seconds),
            "toDateTime(1760608801)"
        );
        assert_eq!(
            time_bound(s + 250, TimeColumn::SubSecond),
            "fromUnixTimestamp64Milli(toInt64(1760608800250))"
        );
        assert_eq!(time_bound(-1, TimeColumn::Seconds), "toDateTime(0)");
        assert_eq!(
            window_condition("ingested_at", TimeColumn::Seconds, (s, s + 3_600_000)),
            "ingested_at >= toDateTime(1760608800) AND ingested_at < toDateTime(1760612400)"
        );
    }

    #[test]
    fn sealed_queries_sort_the_end_row_last() {
        let q = sealed("SELECT 0 AS exportd_end, 'x' AS a", "SELECT 1, ''", "a");
        assert_eq!(
            q,
            "SELECT *\nFROM\n(\nSELECT 0 AS exportd_end, 'x' AS a\nUNION ALL\nSELECT 1, ''\n)\nORDER BY exportd_end, a\nFORMAT TabSeparated"
        );
        assert!(sealed("s", "e", "").contains("ORDER BY exportd_end\n"));
    }
}
