use super::*;

/// The CSV of `rows` after a header, as an export writes it.
fn csv_of(header: &[&str], rows: &[Vec<Cell<'_>>]) -> String {
    let mut csv = writer(Vec::new());
    if !header.is_empty() {
        csv.write_record(header).unwrap();
    }
    let mut out = csv.into_inner().unwrap();
    write_rows(&mut out, |sink| {
        rows.iter().try_for_each(|row| sink.row(row))
    })
    .unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn cells_become_text_as_flexprice_exports_show_it() {
    let d = |s: &str| Cell::Decimal(Decimal::from_str_exact(s).unwrap());
    let text = csv_of(
        &[],
        &[
            vec![
                Cell::Text("a, \"b\""),
                Cell::Null,
                Cell::TimeMs(1_760_608_800_999),
                d("1.500"),
                d("-0.000"),
                d("0.0000001"),
                Cell::Int(-42),
                Cell::Text("{\"k\":\"v\"}"),
            ],
            vec![Cell::Null, Cell::Text(""), Cell::Null, Cell::Null],
        ],
    );
    assert_eq!(
        text,
        "\"a, \"\"b\"\"\",,2025-10-16T10:00:00Z,1.5,0,0.0000001,-42,\"{\"\"k\"\":\"\"v\"\"}\"\n,,,\n"
    );
}

/// A generator of test data (xorshift: the same cases every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Text of 0 to 40 characters, often with bytes that need quotes.
    fn text(&mut self) -> String {
        const CHARS: [char; 16] = [
            'a', 'Z', '0', '_', ' ', ',', '"', '\n', '\r', '\\', '#', 'é', '\t', '-', '.', '\'',
        ];
        let plain = self.below(3) == 0;
        let len = self.below(41);
        (0..len)
            .map(|_| CHARS[self.below(if plain { 4 } else { 16 }) as usize])
            .collect()
    }
}

/// Each cell as the `csv` crate's writer is given it: how exports showed cells before rows
/// were formatted here.
fn as_text(cell: &Cell<'_>) -> String {
    match *cell {
        Cell::Null => String::new(),
        Cell::Text(t) => t.to_owned(),
        Cell::TimeMs(ms) => jiff::Timestamp::from_millisecond(ms)
            .unwrap()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
        Cell::Decimal(d) => {
            let mut s = String::new();
            write_decimal(&mut s, d);
            s
        }
        Cell::Numeric(n) => n.to_string(),
        Cell::Int(n) => n.to_string(),
    }
}

#[test]
fn rows_are_byte_for_byte_what_the_csv_crate_writes() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for width in [1usize, 2, 5, 38] {
        let texts: Vec<String> = (0..4000 * width).map(|_| rng.text()).collect();
        let mut texts = texts.iter();
        let rows: Vec<Vec<Cell<'_>>> = (0..4000)
            .map(|_| {
                (0..width)
                    .map(|_| match rng.below(8) {
                        0 => Cell::Null,
                        1 => Cell::TimeMs(rng.below(4_102_444_800_000) as i64),
                        2 => Cell::Int(rng.next() as i64 >> rng.below(64)),
                        3 => Cell::Decimal(Decimal::new(
                            rng.next() as i64 >> rng.below(64),
                            rng.below(20) as u32,
                        )),
                        _ => Cell::Text(texts.next().unwrap()),
                    })
                    .collect()
            })
            .collect();
        let header: Vec<String> = (0..width).map(|i| format!("c{i}")).collect();
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let ours = csv_of(&header, &rows);

        let mut csv = writer(Vec::new());
        csv.write_record(&header).unwrap();
        for row in &rows {
            csv.write_record(row.iter().map(as_text)).unwrap();
        }
        let theirs = String::from_utf8(csv.into_inner().unwrap()).unwrap();
        assert!(theirs.len() > 2 * CHUNK || width == 1, "{width}");
        assert_eq!(ours, theirs, "{width} columns");
    }
    // Rows of one empty field, and of none.
    assert_eq!(
        csv_of(&["h"], &[vec![Cell::Null], vec![Cell::Text("")], vec![]]),
        "h\n\"\"\n\"\"\n\"\"\n"
    );
    let mut csv = writer(Vec::new());
    csv.write_record(["h"]).unwrap();
    for _ in 0..2 {
        csv.write_record([""]).unwrap();
    }
    assert!(String::from_utf8(csv.into_inner().unwrap()).unwrap() == "h\n\"\"\n\"\"\n");
}

#[test]
fn whole_numbers() {
    for n in [0, 7, -7, 10, 1_000_000, i64::MAX, i64::MIN] {
        let mut out = Vec::new();
        write_int(&mut out, n);
        assert_eq!(out, n.to_string().as_bytes());
    }
}

#[test]
fn quotes_are_needed_for_four_bytes_anywhere() {
    for len in 0..40 {
        let plain = vec![b'a'; len];
        assert!(!needs_quotes(&plain), "{len}");
        for at in 0..len {
            for special in [b',', b'"', b'\n', b'\r'] {
                let mut field = plain.clone();
                field[at] = special;
                assert!(needs_quotes(&field), "{len} {at} {special}");
            }
            // Bytes next to the special ones, and every non-ASCII byte, are not special.
            for other in [
                b'+', b'-', b'!', b'#', b'\t', 0, 0x0b, 0x0c, 0x0e, 0x80, 0xac, 0xff,
            ] {
                let mut field = plain.clone();
                field[at] = other;
                assert!(!needs_quotes(&field), "{len} {at} {other}");
            }
        }
    }
}
