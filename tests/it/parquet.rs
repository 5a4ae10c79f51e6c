//! The Parquet writer (`exportd::parquet`) read back by two independent readers,
//! pyarrow and DuckDB (`tests/parquet/read_parquet.py`, in the test virtualenv): schema types,
//! row counts, row groups, every value exactly (decimals, NULLs, timestamps, text), and memory
//! that stays within the writer's promise over millions of rows.

use std::io::BufWriter;
use std::path::Path;
use std::process::Command;
use std::str::FromStr;

use exportd::parquet::{
    Column, ColumnType, ParquetCompression, ParquetOptions, ParquetWriter, Value,
};
use rust_decimal::Decimal;
use serde_json::{Value as Json, json};

use crate::harness::{skip_or_fail, venv_python};

/// What the readers saw, or None (skipped) without pyarrow and DuckDB.
pub(crate) fn read_back(test: &str, path: &Path, summary: bool) -> Option<Json> {
    let Some(python) = venv_python("pyarrow, duckdb") else {
        skip_or_fail(
            test,
            "pyarrow and duckdb are not installed (run scripts/test.sh, or set EXPORTD_TEST_VENV)",
        );
        return None;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/parquet/read_parquet.py");
    let mut cmd = Command::new(python);
    cmd.arg(script).arg(path);
    if summary {
        cmd.arg("--summary");
    }
    let out = cmd.output().expect("run python");
    assert!(
        out.status.success(),
        "read_parquet.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("JSON from read_parquet.py"))
}

fn columns() -> Vec<Column> {
    vec![
        Column::new("id", ColumnType::Text, false),
        Column::new("customer", ColumnType::Text, true),
        Column::new(
            "amount",
            ColumnType::Decimal {
                precision: 20,
                scale: 8,
            },
            true,
        ),
        Column::new(
            "qty",
            ColumnType::Decimal {
                precision: 18,
                scale: 6,
            },
            false,
        ),
        Column::new(
            "small",
            ColumnType::Decimal {
                precision: 5,
                scale: 2,
            },
            true,
        ),
        Column::new("at", ColumnType::TimestampMillisUtc, false),
        Column::new("n", ColumnType::Int64, true),
        Column::new("properties", ColumnType::Json, true),
    ]
}

/// Row `i` of the value tests: every type, NULLs in every nullable column, the edges.
struct Row {
    id: String,
    customer: Option<String>,
    amount: Option<Decimal>,
    qty: Decimal,
    small: Option<Decimal>,
    at: i64,
    n: Option<i64>,
    properties: Option<String>,
}

fn row(i: i64) -> Row {
    let amount = match i {
        1 => Some(Decimal::from_str("999999999999.99999999").unwrap()),
        2 => Some(Decimal::from_str("-999999999999.99999999").unwrap()),
        3 => Some(Decimal::from_str("0.00000001").unwrap()),
        4 => Some(Decimal::ZERO),
        // Trailing zeros beyond the scale are not digits.
        6 => Some(Decimal::from_str("12.5000000000").unwrap()),
        _ if i % 5 == 0 => None,
        _ => Some(Decimal::new(
            i * 123_456_789 * if i % 2 == 0 { 1 } else { -1 },
            8,
        )),
    };
    Row {
        id: format!("row-{i:05}"),
        customer: match i % 7 {
            0 => None,
            1 => Some(format!("cus, \"{i}\"\nünïcödé ✓")),
            _ => Some(format!("cus_{}", i % 97)),
        },
        amount,
        qty: Decimal::new(i * 1_000_001, 6),
        small: (i % 3 != 0).then(|| Decimal::new(i % 100_000 - 50_000, 2)),
        at: 1_760_572_800_000 + i * 1_234 - if i == 7 { 1_760_572_800_000 * 2 } else { 0 },
        n: match i {
            8 => Some(i64::MIN),
            9 => Some(i64::MAX),
            _ if i % 11 == 0 => None,
            _ => Some(i * i - 1_000),
        },
        properties: (i % 4 != 0).then(|| format!(r#"{{"k":{i},"s":"a,b"}}"#)),
    }
}

fn text(t: &Option<String>) -> Value<'_> {
    t.as_deref().map_or(Value::Null, Value::Text)
}

fn values(r: &Row) -> [Value<'_>; 8] {
    [
        Value::Text(&r.id),
        text(&r.customer),
        r.amount.map_or(Value::Null, Value::Decimal),
        Value::Decimal(r.qty),
        r.small.map_or(Value::Null, Value::Decimal),
        Value::TimeMs(r.at),
        r.n.map_or(Value::Null, Value::Int),
        text(&r.properties),
    ]
}

/// The row as both readers print it: decimals with all the scale's digits, times as epoch
/// milliseconds, NULL as null.
fn expected(r: &Row) -> Json {
    let dec = |d: Option<Decimal>, scale: u32| {
        d.map(|mut d| {
            d.rescale(scale);
            d.to_string()
        })
    };
    json!({
        "id": r.id,
        "customer": r.customer,
        "amount": dec(r.amount, 8),
        "qty": dec(Some(r.qty), 6),
        "small": dec(r.small, 2),
        "at": r.at.to_string(),
        "n": r.n.map(|n| n.to_string()),
        "properties": r.properties,
    })
}

fn write_file(path: &Path, rows: i64, options: &ParquetOptions) -> (u64, usize) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = ParquetWriter::new(BufWriter::new(file), &columns(), options).unwrap();
    for i in 0..rows {
        let r = row(i);
        w.write_row(&values(&r)).unwrap();
    }
    let (written, groups) = (w.rows(), w.row_groups());
    let out = w.finish().unwrap();
    out.into_inner().unwrap().sync_all().unwrap();
    let groups_after = if written % options.max_row_group_rows as u64 == 0 {
        groups
    } else {
        groups + 1
    };
    (written, groups_after)
}

#[test]
fn pyarrow_and_duckdb_read_every_type_and_value_back_exactly() {
    let test = "pyarrow_and_duckdb_read_every_type_and_value_back_exactly";
    let dir = tempfile::tempdir().unwrap();
    let rows = 2_345;
    for (compression, codec_name) in [
        (ParquetCompression::Zstd(3), "ZSTD"),
        (ParquetCompression::Snappy, "SNAPPY"),
        (ParquetCompression::None, "UNCOMPRESSED"),
    ] {
        let path = dir.path().join(format!("events-{codec_name}.parquet"));
        let options = ParquetOptions {
            compression,
            max_row_group_rows: 100,
            ..ParquetOptions::default()
        };
        let (written, groups) = write_file(&path, rows, &options);
        assert_eq!((written, groups), (rows as u64, 24));
        let Some(seen) = read_back(test, &path, false) else {
            return;
        };
        let pa = &seen["pyarrow"];
        assert_eq!(
            pa["columns"],
            json!([
                ["id", "string", false],
                ["customer", "string", true],
                ["amount", "decimal128(20, 8)", true],
                ["qty", "decimal128(18, 6)", false],
                ["small", "decimal128(5, 2)", true],
                ["at", "timestamp[ms, tz=UTC]", false],
                ["n", "int64", true],
                ["properties", "string", true],
            ]),
            "{codec_name}"
        );
        let physical: Vec<&str> = pa["parquet_types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c[1].as_str().unwrap())
            .collect();
        assert_eq!(
            physical,
            [
                "BYTE_ARRAY",
                "BYTE_ARRAY",
                "FIXED_LEN_BYTE_ARRAY",
                "INT64",
                "INT32",
                "INT64",
                "INT64",
                "BYTE_ARRAY"
            ]
        );
        let logical = |i: usize| pa["parquet_types"][i][2].as_str().unwrap().to_owned();
        assert!(logical(0).starts_with("String"), "{}", logical(0));
        assert!(
            logical(2).contains("precision=20, scale=8"),
            "{}",
            logical(2)
        );
        assert!(
            logical(5).contains("isAdjustedToUTC=true") && logical(5).contains("milliseconds"),
            "{}",
            logical(5)
        );
        assert_eq!(pa["num_rows"], rows);
        let groups: Vec<u64> = pa["row_groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_u64().unwrap())
            .collect();
        assert_eq!(groups.len(), 24);
        assert!(groups[..23].iter().all(|g| *g == 100) && groups[23] == 45);
        assert_eq!(pa["compression"], json!([codec_name]));
        assert!(pa["created_by"].as_str().unwrap().starts_with("exportd "));

        let duck = &seen["duckdb"];
        assert_eq!(
            duck["columns"],
            json!([
                ["id", "VARCHAR"],
                ["customer", "VARCHAR"],
                ["amount", "DECIMAL(20,8)"],
                ["qty", "DECIMAL(18,6)"],
                ["small", "DECIMAL(5,2)"],
                ["at", "TIMESTAMP WITH TIME ZONE"],
                ["n", "BIGINT"],
                ["properties", "VARCHAR"],
            ])
        );
        for reader in ["pyarrow", "duckdb"] {
            let got = seen[reader]["rows"].as_array().unwrap();
            assert_eq!(got.len(), rows as usize, "{reader}");
            for (i, got) in got.iter().enumerate() {
                assert_eq!(
                    got,
                    &expected(&row(i as i64)),
                    "{reader} {codec_name} row {i}"
                );
            }
        }
    }
}

#[test]
fn an_empty_file_has_the_schema_and_no_rows() {
    let test = "an_empty_file_has_the_schema_and_no_rows";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.parquet");
    let (written, groups) = write_file(&path, 0, &ParquetOptions::default());
    assert_eq!((written, groups), (0, 0));
    let Some(seen) = read_back(test, &path, false) else {
        return;
    };
    assert_eq!(seen["pyarrow"]["num_rows"], 0);
    assert_eq!(seen["pyarrow"]["columns"].as_array().unwrap().len(), 8);
    assert_eq!(seen["duckdb"]["rows"], json!([]));
    assert_eq!(
        seen["duckdb"]["columns"][2],
        json!(["amount", "DECIMAL(20,8)"])
    );
}

#[test]
fn millions_of_rows_stay_within_the_buffer_bound() {
    let test = "millions_of_rows_stay_within_the_buffer_bound";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.parquet");
    let bound = 2 * 1024 * 1024;
    // Uncompressed pages, so that the repeated rows fill row groups by their bytes.
    let options = ParquetOptions {
        max_row_group_bytes: bound,
        compression: ParquetCompression::None,
        ..ParquetOptions::default()
    };
    let file = std::fs::File::create(&path).unwrap();
    let mut w = ParquetWriter::new(BufWriter::new(file), &columns(), &options).unwrap();
    let rows = 3_000_000;
    let (mut most_buffered, mut most_allocated) = (0, 0);
    // Rows vary in size (text up to ~60 bytes), so groups end on the byte bound.
    let templates: Vec<Row> = (0..1000).map(row).collect();
    let mut id = String::new();
    for i in 0..rows {
        let r = &templates[i % templates.len()];
        id.clear();
        id.push_str(&format!("big-{i:08}"));
        let mut cells = values(r);
        cells[0] = Value::Text(&id);
        w.write_row(&cells).unwrap();
        most_buffered = most_buffered.max(w.buffered_bytes());
        most_allocated = most_allocated.max(w.allocated_bytes());
    }
    let groups = w.row_groups() + 1;
    assert_eq!(w.rows(), rows as u64);
    w.finish()
        .unwrap()
        .into_inner()
        .unwrap()
        .sync_all()
        .unwrap();
    assert!(
        most_buffered <= bound && most_buffered > bound * 9 / 10,
        "buffered at most {most_buffered} bytes, bound {bound}"
    );
    assert!(
        most_allocated <= 2 * bound + 64 * 1024,
        "allocated at most {most_allocated} bytes, bound {bound}"
    );
    // The row bound alone would make 3 groups: the byte bound ends them.
    assert!(groups >= 10, "{groups} row groups");
    let Some(seen) = read_back(test, &path, true) else {
        return;
    };
    let pa = &seen["pyarrow"];
    assert_eq!(pa["num_rows"], rows);
    let per_group: Vec<u64> = pa["row_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_u64().unwrap())
        .collect();
    assert_eq!(per_group.len(), groups);
    assert_eq!(per_group.iter().sum::<u64>(), rows as u64);
    // Every column: rows, then each column's non-NULL count, as DuckDB counts them.
    let non_null = |is_null: &dyn Fn(&Row) -> bool| {
        let per = templates.iter().filter(|r| is_null(r)).count();
        (rows / templates.len() * (templates.len() - per)).to_string()
    };
    let all = rows.to_string();
    assert_eq!(
        seen["duckdb"]["counts"],
        json!([
            all,
            all,
            non_null(&|r| r.customer.is_none()),
            non_null(&|r| r.amount.is_none()),
            all,
            non_null(&|r| r.small.is_none()),
            all,
            non_null(&|r| r.n.is_none()),
            non_null(&|r| r.properties.is_none()),
        ])
    );
}
