use super::*;
use rust_decimal::Decimal;
use std::str::FromStr;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

#[test]
fn decimals_are_exact_or_refused() {
    assert_eq!(unscaled(dec("12.5"), 10, 2), Ok(1250));
    assert_eq!(unscaled(dec("-0.01"), 3, 2), Ok(-1));
    assert_eq!(
        unscaled(dec("7.100"), 4, 1),
        Ok(71),
        "trailing zeros are not digits"
    );
    assert_eq!(unscaled(dec("0"), 1, 0), Ok(0));
    assert!(
        unscaled(dec("1.25"), 10, 1)
            .unwrap_err()
            .contains("not rounded")
    );
    assert!(
        unscaled(dec("100.0"), 4, 2)
            .unwrap_err()
            .contains("does not fit")
    );
    assert_eq!(unscaled(dec("99.99"), 4, 2), Ok(9999));
    let max = dec("79228162514264337593543950335");
    assert_eq!(
        unscaled(max, 38, 0),
        Ok(79_228_162_514_264_337_593_543_950_335)
    );
    assert!(
        unscaled(max, 38, 10).is_err(),
        "overflow is refused, not wrapped"
    );
}

#[test]
fn decimal_widths_follow_the_spec_table() {
    // parquet-format LogicalTypes.md: digits held by n bytes.
    for (precision, width) in [
        (1, 1),
        (2, 1),
        (3, 2),
        (4, 2),
        (19, 9),
        (20, 9),
        (21, 9),
        (22, 10),
        (38, 16),
    ] {
        assert_eq!(decimal_width(precision), width, "{precision}");
    }
}

fn columns() -> Vec<Column> {
    vec![
        Column::new("id", ColumnType::Text, false),
        Column::new(
            "amount",
            ColumnType::Decimal {
                precision: 20,
                scale: 8,
            },
            true,
        ),
        Column::new("at", ColumnType::TimestampMillisUtc, true),
    ]
}

#[test]
fn a_refused_row_leaves_nothing_behind() {
    let mut w = ParquetWriter::new(Vec::new(), &columns(), &ParquetOptions::default()).unwrap();
    w.write_row(&[
        Value::Text("a"),
        Value::Decimal(dec("1.5")),
        Value::TimeMs(1),
    ])
    .unwrap();
    let before = (w.buffered_bytes(), w.rows());
    let err = w
        .write_row(&[
            Value::Text("b"),
            Value::Decimal(dec("1.5")),
            Value::Text("x"),
        ])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "column at: a text value in a TimestampMillisUtc column"
    );
    let err = w
        .write_row(&[Value::Null, Value::Null, Value::Null])
        .unwrap_err();
    assert!(err.to_string().starts_with("column id: NULL"), "{err}");
    let err = w.write_row(&[Value::Text("c")]).unwrap_err();
    assert!(matches!(
        err,
        ParquetError::Width {
            got: 1,
            expected: 3
        }
    ));
    assert_eq!((w.buffered_bytes(), w.rows()), before);
    w.write_row(&[Value::Text("d"), Value::Null, Value::Null])
        .unwrap();
    let b = &w.buffers;
    assert_eq!((b[0].ends.len(), b[0].text.as_slice()), (2, &b"ad"[..]));
    assert_eq!((b[1].levels.as_slice(), b[1].wide.len()), (&[1, 0][..], 1));
    let bytes = w.finish().unwrap();
    assert_eq!(&bytes[..4], b"PAR1");
    assert_eq!(&bytes[bytes.len() - 4..], b"PAR1");
}

#[test]
fn bad_schemas_and_options_are_refused() {
    let bad = [Column::new(
        "x",
        ColumnType::Decimal {
            precision: 39,
            scale: 0,
        },
        false,
    )];
    let err = ParquetWriter::new(Vec::new(), &bad, &ParquetOptions::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("column x"), "{err}");
    let options = ParquetOptions {
        compression: ParquetCompression::Zstd(23),
        ..ParquetOptions::default()
    };
    let err = ParquetWriter::new(Vec::new(), &columns(), &options)
        .err()
        .unwrap();
    assert!(matches!(err, ParquetError::Options(_)), "{err}");
}

#[test]
fn numerics_are_stored_as_their_decimal_or_refused() {
    let mut w = ParquetWriter::new(Vec::new(), &columns(), &ParquetOptions::default()).unwrap();
    // 1.5 as PostgreSQL sends it (digits 1 and 5000), then 10^80.
    let one_and_a_half = [0, 1, 0x13, 0x88];
    let n = crate::formats::Numeric::new(false, 0, 1, &one_and_a_half).unwrap();
    w.write_row(&[Value::Text("a"), Value::Numeric(n), Value::Null])
        .unwrap();
    assert_eq!(w.buffers[1].wide, [150_000_000]);
    let huge = crate::formats::Numeric::new(false, 20, 0, &[0, 1]).unwrap();
    let err = w
        .write_row(&[Value::Text("b"), Value::Numeric(huge), Value::Null])
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("column amount: 1{} does not fit", "0".repeat(80))),
        "{err}"
    );
    assert_eq!(w.rows(), 1);
}

/// Takes `room` bytes, then fails every write; shares what it took with the test.
struct Failing {
    taken: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    room: usize,
}

impl std::io::Write for Failing {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut taken = self.taken.lock().unwrap();
        if taken.len() + data.len() > self.room {
            return Err(std::io::Error::other("disk full"));
        }
        taken.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn rows_into(w: &mut ParquetWriter<Failing>, rows: usize) -> Result<(), ParquetError> {
    for i in 0..rows {
        let id = format!("row-{i}");
        w.write_row(&[Value::Text(&id), Value::Null, Value::TimeMs(i as i64)])?;
    }
    Ok(())
}

#[test]
fn a_write_failing_on_the_encoding_thread_reaches_the_writer() {
    let taken = std::sync::Arc::default();
    let out = Failing {
        taken: std::sync::Arc::clone(&taken),
        room: 10_000,
    };
    let options = ParquetOptions {
        // A row group every other batch: the file is written while rows come.
        max_row_group_rows: 2 * BATCH,
        ..ParquetOptions::default()
    };
    let mut w = ParquetWriter::new(out, &columns(), &options).unwrap();
    let err = rows_into(&mut w, 100 * BATCH).unwrap_err();
    assert!(matches!(err, ParquetError::Write(_)), "{err:?}");
    assert!(err.to_string().contains("disk full"), "{err}");
    // The writer stays refused, with the same cause, and finishing does not panic.
    let again = rows_into(&mut w, 2 * BATCH).unwrap_err();
    assert!(matches!(again, ParquetError::Write(_)), "{again:?}");
    assert!(w.finish().is_err());
    assert!(taken.lock().unwrap().len() <= 10_000);
}

#[test]
fn a_file_given_up_gets_no_footer() {
    let taken = std::sync::Arc::default();
    let out = Failing {
        taken: std::sync::Arc::clone(&taken),
        room: usize::MAX,
    };
    let options = ParquetOptions {
        max_row_group_rows: BATCH,
        ..ParquetOptions::default()
    };
    let mut w = ParquetWriter::new(out, &columns(), &options).unwrap();
    rows_into(&mut w, 3 * BATCH + 5).unwrap();
    drop(w);
    // Dropping waits for the encoding thread: what it wrote is final, and ends with a
    // row group, not with the footer's magic.
    let written = taken.lock().unwrap().clone();
    assert_eq!(&written[..4], b"PAR1");
    assert!(written.len() > 4, "the full row groups were written");
    assert_ne!(&written[written.len() - 4..], b"PAR1");
}
