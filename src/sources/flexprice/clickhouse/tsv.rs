//! ClickHouse's TabSeparated output read row by row as it arrives, in bounded memory, from a
//! response of a [`super::sql::sealed`] query: every row must have the expected number of
//! fields and start with `0`; the last one starts with `1` (the end row) and nothing may follow
//! it. So a stream that ends early (a cut connection, a crashed server, a proxy's timeout), or
//! that ClickHouse ends with an error after it began (status 200 and a `Code: NNN` tail), is
//! an error here, never a shorter export; and no data can pass for the end, since escaping
//! keeps tabs and newlines inside a field and the first field is exportd's own `0`.
//!
//! Escapes (ClickHouse writes `\b \f \n \r \t \0 \' \\`; its reader also knows `\a \v \xHH`
//! and takes any other escaped character as itself) are decoded; `\N` is NULL. Text that is
//! not UTF-8 is decoded with replacement characters (ClickHouse strings are bytes).

use std::io::{self, Read};
use std::ops::Range;

use memchr::memchr;

/// Why a stream cannot be trusted. [`super::error`] says what to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// Reading failed (a reset connection, a read timeout, broken chunked encoding).
    Io(String),
    /// The body ended before the end row: cut short.
    Truncated { rows: u64 },
    /// ClickHouse reported an error in mid-stream: `text` is its message (`Code: NNN...`).
    Server { rows: u64, text: String },
    /// A row that is not what the query asked for.
    Malformed { rows: u64, problem: String },
    /// A row longer than the reader's limit.
    TooLong { limit: usize },
}

impl From<io::Error> for StreamError {
    fn from(e: io::Error) -> Self {
        StreamError::Io(e.to_string())
    }
}

/// Where a field's text is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Null,
    /// In the line as received (no escapes).
    Line(Range<usize>),
    /// Decoded into the arena.
    Arena(Range<usize>),
}

/// One data row, borrowed from the reader until the next call.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    line: &'a str,
    arena: &'a str,
    fields: &'a [Field],
}

impl<'a> Row<'a> {
    /// Field `i` (0 is `exportd_end`), `None` for NULL. Panics on an index beyond the
    /// reader's column count (a bug, not data).
    pub fn get(&self, i: usize) -> Option<&'a str> {
        match &self.fields[i] {
            Field::Null => None,
            Field::Line(r) => Some(&self.line[r.clone()]),
            Field::Arena(r) => Some(&self.arena[r.clone()]),
        }
    }

    /// Field `i`, NULL as the empty string.
    pub fn text(&self, i: usize) -> &'a str {
        self.get(i).unwrap_or("")
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Reads the rows of a sealed query's TabSeparated output.
pub struct RowReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    columns: usize,
    max_row: usize,
    fields: Vec<Field>,
    arena: String,
    scratch: Vec<u8>,
    rows: u64,
    finished: bool,
}

/// Bytes read from the body at a time (and the buffer's first size).
const READ_SIZE: usize = 256 * 1024;

impl<R: Read> RowReader<R> {
    /// A reader of rows of `columns` fields (`exportd_end` included); a row longer than
    /// `max_row` bytes is an error (the buffer grows to hold one row, never more).
    pub fn new(inner: R, columns: usize, max_row: usize) -> RowReader<R> {
        RowReader {
            inner,
            buf: vec![0; READ_SIZE],
            start: 0,
            end: 0,
            eof: false,
            columns,
            max_row: max_row.max(READ_SIZE),
            fields: Vec::with_capacity(columns),
            arena: String::new(),
            scratch: Vec::new(),
            rows: 0,
            finished: false,
        }
    }

    /// Fields per row.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// Data rows read so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The next data row; `Ok(None)` once the end row arrived and the body ended right after
    /// it (the proof that the result is whole); an error for anything else.
    pub fn next_row(&mut self) -> Result<Option<Row<'_>>, StreamError> {
        if self.finished {
            return Ok(None);
        }
        let line = self.next_line()?;
        let Some(line) = line else {
            return Err(StreamError::Truncated { rows: self.rows });
        };
        if self.buf[line.clone()].starts_with(b"1\t") || &self.buf[line.clone()] == b"1" {
            self.check_end_row(line)?;
            self.finish()?;
            return Ok(None);
        }
        self.parse(line.clone())?;
        self.rows += 1;
        // A line that is not UTF-8 had all its fields moved to the arena by parse(), so the
        // empty line in its place is never read.
        let line = std::str::from_utf8(&self.buf[line.clone()]).unwrap_or_default();
        Ok(Some(Row {
            line,
            arena: &self.arena,
            fields: &self.fields,
        }))
    }

    /// The range of the next complete line (without its `\n`), or `None` at the end of the
    /// body with nothing left over; a partial last line is a truncation (or an error tail).
    fn next_line(&mut self) -> Result<Option<Range<usize>>, StreamError> {
        let mut searched = self.start;
        loop {
            if let Some(p) = memchr(b'\n', &self.buf[searched..self.end]) {
                let nl = searched + p;
                let line = self.start..nl;
                self.start = nl + 1;
                return Ok(Some(line));
            }
            searched = self.end;
            if self.eof {
                if self.start == self.end {
                    return Ok(None);
                }
                let rest = String::from_utf8_lossy(&self.buf[self.start..self.end]).into_owned();
                return Err(match server_error(&rest) {
                    Some(text) => StreamError::Server {
                        rows: self.rows,
                        text,
                    },
                    None => StreamError::Truncated { rows: self.rows },
                });
            }
            if self.start > 0 && self.end == self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                searched -= self.start;
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                if self.buf.len() >= self.max_row {
                    return Err(StreamError::TooLong {
                        limit: self.max_row,
                    });
                }
                let grown = (self.buf.len() * 2).min(self.max_row);
                self.buf.resize(grown, 0);
            }
            let n = read_some(&mut self.inner, &mut self.buf[self.end..])?;
            if n == 0 {
                self.eof = true;
            }
            self.end += n;
        }
    }

    /// Splits a data line into fields, decoding escapes.
    fn parse(&mut self, line: Range<usize>) -> Result<(), StreamError> {
        self.fields.clear();
        self.arena.clear();
        let bytes = &self.buf[line.clone()];
        let utf8 = std::str::from_utf8(bytes).is_ok();
        let mut at = 0;
        loop {
            let stop = memchr(b'\t', &bytes[at..]).map_or(bytes.len(), |p| at + p);
            let raw = &bytes[at..stop];
            let field = if raw == b"\\N" {
                Field::Null
            } else if !utf8 || memchr(b'\\', raw).is_some() {
                self.scratch.clear();
                unescape(raw, &mut self.scratch);
                let from = self.arena.len();
                self.arena.push_str(&String::from_utf8_lossy(&self.scratch));
                Field::Arena(from..self.arena.len())
            } else {
                Field::Line(at..stop)
            };
            self.fields.push(field);
            if self.fields.len() > self.columns {
                break;
            }
            if stop == bytes.len() {
                break;
            }
            at = stop + 1;
        }
        let data_row = bytes.starts_with(b"0\t") || bytes == b"0";
        if self.fields.len() != self.columns || !data_row {
            let text = String::from_utf8_lossy(bytes).into_owned();
            return Err(match server_error(&text) {
                Some(text) => StreamError::Server {
                    rows: self.rows,
                    text,
                },
                None => StreamError::Malformed {
                    rows: self.rows,
                    problem: format!(
                        "a row has {} fields where {} were expected, or does not start with 0",
                        self.fields.len().min(self.columns + 1),
                        self.columns
                    ),
                },
            });
        }
        Ok(())
    }

    fn check_end_row(&mut self, line: Range<usize>) -> Result<(), StreamError> {
        let tabs = memchr::memchr_iter(b'\t', &self.buf[line.clone()]).count();
        if tabs + 1 != self.columns {
            return Err(StreamError::Malformed {
                rows: self.rows,
                problem: format!(
                    "the end row has {} fields where {} were expected",
                    tabs + 1,
                    self.columns
                ),
            });
        }
        Ok(())
    }

    /// After the end row: the body must end there.
    fn finish(&mut self) -> Result<(), StreamError> {
        loop {
            if self.start < self.end {
                let rest = String::from_utf8_lossy(&self.buf[self.start..self.end]).into_owned();
                return Err(match server_error(&rest) {
                    Some(text) => StreamError::Server {
                        rows: self.rows,
                        text,
                    },
                    None => StreamError::Malformed {
                        rows: self.rows,
                        problem: "bytes follow the end row".to_owned(),
                    },
                });
            }
            if self.eof {
                self.finished = true;
                return Ok(());
            }
            self.start = 0;
            self.end = read_some(&mut self.inner, &mut self.buf)?;
            if self.end == 0 {
                self.eof = true;
            }
        }
    }
}

/// One `read`, retried on `Interrupted`.
fn read_some(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, StreamError> {
    loop {
        match r.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The error ClickHouse appended to a body, if `text` holds one: from `Code: ` on, trimmed
/// and cut to a bounded length.
pub fn server_error(text: &str) -> Option<String> {
    let at = text.find("Code: ")?;
    let digits = text[at + 6..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    if digits == 0 {
        return None;
    }
    let message = text[at..].trim();
    let mut end = message.len().min(2000);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    Some(message[..end].to_owned())
}

/// The number of a ClickHouse error message (`Code: 60, ...` or `Code: 60. ...`).
pub fn error_code(message: &str) -> Option<u32> {
    let at = message.find("Code: ")?;
    let digits: String = message[at + 6..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Decodes one TabSeparated field's escapes into `out`.
fn unescape(raw: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b != b'\\' || i + 1 == raw.len() {
            out.push(b);
            i += 1;
            continue;
        }
        let e = raw[i + 1];
        i += 2;
        let decoded = match e {
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'0' => 0,
            b'a' => 0x07,
            b'v' => 0x0b,
            b'x' if i + 2 <= raw.len() => {
                match std::str::from_utf8(&raw[i..i + 2])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        i += 2;
                        v
                    }
                    None => b'x',
                }
            }
            other => other,
        };
        out.push(decoded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every data row (as owned cells, NULL as None), or the error.
    fn read(body: &[u8], columns: usize) -> Result<Vec<Vec<Option<String>>>, StreamError> {
        read_chunked(body, columns, body.len().max(1))
    }

    fn read_chunked(
        body: &[u8],
        columns: usize,
        chunk: usize,
    ) -> Result<Vec<Vec<Option<String>>>, StreamError> {
        let mut reader = RowReader::new(Dribble { data: body, chunk }, columns, 1 << 20);
        let mut out = Vec::new();
        while let Some(row) = reader.next_row()? {
            out.push(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_owned))
                    .collect(),
            );
        }
        assert_eq!(reader.rows(), out.len() as u64);
        // After the end, the reader stays at the end.
        assert!(reader.next_row()?.is_none());
        Ok(out)
    }

    /// A reader that returns at most `chunk` bytes per read.
    struct Dribble<'a> {
        data: &'a [u8],
        chunk: usize,
    }

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.chunk.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn cells(row: &[&str]) -> Vec<Option<String>> {
        row.iter()
            .map(|c| (*c != "<NULL>").then(|| (*c).to_owned()))
            .collect()
    }

    #[test]
    fn rows_then_the_end_row_then_nothing() {
        let body = b"0\ta\t1\n0\tb\t2\n1\t\t0\n";
        let rows = read(body, 3).unwrap();
        assert_eq!(rows, vec![cells(&["0", "a", "1"]), cells(&["0", "b", "2"])]);
        // Whatever the read sizes.
        for chunk in 1..body.len() {
            assert_eq!(read_chunked(body, 3, chunk).unwrap(), rows);
        }
        assert_eq!(read(b"1\t\t0\n", 3).unwrap(), Vec::<Vec<_>>::new());
    }

    #[test]
    fn escapes_and_nulls_are_decoded() {
        let body = b"0\ta\\tb\\nc\\\\d\\'e\\0\\b\\f\\r\\a\\v\\x41\\q\t\\N\t\\\\N\n1\t\t\t\n";
        let rows = read(body, 4).unwrap();
        assert_eq!(
            rows,
            vec![vec![
                Some("0".into()),
                Some("a\tb\nc\\d'e\0\u{8}\u{c}\r\u{7}\u{b}Aq".into()),
                None,
                Some("\\N".into()),
            ]]
        );
    }

    #[test]
    fn text_that_is_not_utf8_is_replaced_not_refused() {
        let body = b"0\tok\t\xff\xfe\n1\t\t\n";
        let rows = read(body, 3).unwrap();
        assert_eq!(rows, vec![cells(&["0", "ok", "\u{fffd}\u{fffd}"])]);
    }

    #[test]
    fn a_body_without_the_end_row_is_truncated() {
        assert_eq!(
            read(b"0\ta\t1\n0\tb\t2\n", 3),
            Err(StreamError::Truncated { rows: 2 })
        );
        // Cut inside a row, or inside the end row.
        assert_eq!(
            read(b"0\ta\t1\n0\tb", 3),
            Err(StreamError::Truncated { rows: 1 })
        );
        assert_eq!(
            read(b"0\ta\t1\n1\t", 3),
            Err(StreamError::Truncated { rows: 1 })
        );
        assert_eq!(read(b"", 3), Err(StreamError::Truncated { rows: 0 }));
        // Every cut of a whole body is caught.
        let body = b"0\ta\t1\n0\tb\\n\t2\n1\t\t0\n";
        for cut in 0..body.len() {
            assert!(read(&body[..cut], 3).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn an_error_after_the_first_rows_is_a_server_error() {
        let tail = "Code: 396, e.displayText() = DB::Exception: Limit for result exceeded, max rows: 20.00 thousand, e.what() = DB::Exception\n";
        let body = format!("0\ta\t1\n{tail}");
        assert_eq!(
            read(body.as_bytes(), 3),
            Err(StreamError::Server {
                rows: 1,
                text: tail.trim().to_owned()
            })
        );
        // Modern servers' wording, and a tail without its newline.
        let body =
            "0\ta\t1\nCode: 241. DB::Exception: Memory limit exceeded. (MEMORY_LIMIT_EXCEEDED)";
        assert!(matches!(
            read(body.as_bytes(), 3),
            Err(StreamError::Server { rows: 1, .. })
        ));
        // Even right after the end row.
        let body = format!("0\ta\t1\n1\t\t0\n{tail}");
        assert!(matches!(
            read(body.as_bytes(), 3),
            Err(StreamError::Server { rows: 1, .. })
        ));
    }

    #[test]
    fn data_that_looks_like_an_error_or_an_end_is_data() {
        // A field holding a ClickHouse error text, an escaped newline then "1\t...", and a
        // field "1": all data rows of the right width that start with 0.
        let body = b"0\tCode: 396, e.displayText() = DB::Exception: x\t1\n0\tx\\n1\\t\\t0\t1\n0\t1\t1\n1\t\t0\n";
        let rows = read(body, 3).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1][1].as_deref(), Some("x\n1\t\t0"));
    }

    #[test]
    fn rows_of_the_wrong_width_or_after_the_end_are_malformed() {
        assert!(matches!(
            read(b"0\ta\n1\t\t0\n", 3),
            Err(StreamError::Malformed { rows: 0, .. })
        ));
        assert!(matches!(
            read(b"0\ta\tb\tc\n1\t\t0\n", 3),
            Err(StreamError::Malformed { rows: 0, .. })
        ));
        assert!(matches!(
            read(b"2\ta\tb\n1\t\t0\n", 3),
            Err(StreamError::Malformed { rows: 0, .. })
        ));
        assert!(matches!(
            read(b"1\t\n", 3),
            Err(StreamError::Malformed { rows: 0, .. })
        ));
        assert!(matches!(
            read(b"1\t\t0\n0\ta\t1\n", 3),
            Err(StreamError::Malformed { rows: 0, .. })
        ));
        assert!(matches!(
            read(b"1\t\t0\n\n", 3),
            Err(StreamError::Malformed { rows: 0, .. })
        ));
    }

    #[test]
    fn a_row_longer_than_the_limit_is_refused_and_a_long_one_below_it_is_read() {
        let long = "x".repeat(READ_SIZE * 3);
        let body = format!("0\t{long}\n1\t\n");
        let mut reader = RowReader::new(body.as_bytes(), 2, READ_SIZE * 4);
        assert_eq!(
            reader.next_row().unwrap().unwrap().get(1),
            Some(long.as_str())
        );
        assert!(reader.next_row().unwrap().is_none());
        let mut reader = RowReader::new(body.as_bytes(), 2, READ_SIZE * 2);
        assert_eq!(
            reader.next_row().unwrap_err(),
            StreamError::TooLong {
                limit: READ_SIZE * 2
            }
        );
    }

    #[test]
    fn read_errors_are_io_errors() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::ErrorKind::ConnectionReset.into())
            }
        }
        let mut reader = RowReader::new(Broken, 2, 1 << 20);
        assert!(matches!(reader.next_row(), Err(StreamError::Io(_))));
    }

    #[test]
    fn error_codes_and_texts() {
        assert_eq!(
            error_code("Code: 60, e.displayText() = DB::Exception: x"),
            Some(60)
        );
        assert_eq!(error_code("Code: 516. DB::Exception: x"), Some(516));
        assert_eq!(error_code("no code"), None);
        assert_eq!(server_error("Code: x"), None);
        assert_eq!(
            server_error("junk Code: 1. y\n").as_deref(),
            Some("Code: 1. y")
        );
    }
}
