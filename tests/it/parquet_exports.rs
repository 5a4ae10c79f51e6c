//! Parquet exports through the daemon (`job_config.format: "parquet"`), read back by pyarrow
//! and DuckDB: every entity's types, and the same values as the CSV export of the same window;
//! a multipart upload to SeaweedFS; the directory destination with its manifest, download and
//! `skip_empty`; and the API's answers to format and compression combinations.

use std::path::Path;

use serde_json::{Value, json};

use crate::entities::world;
use crate::exports::{check_recorded, daemon_for, key_of, now_ms, parse_csv, run_window, task};
use crate::formats::{events_task, ingest_random};
use crate::harness::{Daemon, fetch, sha256_hex, timestamp};
use crate::parquet::read_back;

const PARQUET: &str = "application/vnd.apache.parquet";

/// The column types each reader reports, by a letter per column: s text, m money
/// DECIMAL(29,12), u usage DECIMAL(38,15), t TIMESTAMP(MILLIS, UTC), i INT64.
fn types(letters: &str) -> (Vec<&'static str>, Vec<&'static str>) {
    letters
        .chars()
        .map(|l| match l {
            's' => ("string", "VARCHAR"),
            'm' => ("decimal128(29, 12)", "DECIMAL(29,12)"),
            'u' => ("decimal128(38, 15)", "DECIMAL(38,15)"),
            't' => ("timestamp[ms, tz=UTC]", "TIMESTAMP WITH TIME ZONE"),
            'i' => ("int64", "BIGINT"),
            other => panic!("no type {other}"),
        })
        .unzip()
}

/// A cell as the CSV export writes it: NULL empty, decimals without trailing zeros, times in
/// whole seconds. `cell` is what read_parquet.py prints (times as epoch milliseconds).
fn as_csv(cell: &Value, kind: &str) -> String {
    let Some(text) = cell.as_str() else {
        assert!(cell.is_null(), "{cell}");
        return String::new();
    };
    if kind.starts_with("decimal") {
        let trimmed = if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.')
        } else {
            text
        };
        return match trimmed {
            "-0" | "" => "0".to_owned(),
            t => t.to_owned(),
        };
    }
    if kind.starts_with("timestamp") {
        let ms: i64 = text.parse().unwrap();
        return jiff::Timestamp::from_second(ms.div_euclid(1000))
            .unwrap()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
    }
    text.to_owned()
}

/// Checks what both readers saw of a Parquet export against the CSV export of the same
/// window: the column names, the types, and every value. Returns pyarrow's rows.
fn same_as_csv(seen: &Value, csv: &[u8], letters: &str, what: &str) -> Vec<Value> {
    let (header, records) = parse_csv(csv);
    let pa = &seen["pyarrow"];
    // Field `i` of each column a reader described.
    let field = |reader: &str, i: usize| -> Vec<String> {
        let columns = seen[reader]["columns"].as_array().unwrap();
        columns
            .iter()
            .map(|c| c[i].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(field("pyarrow", 0), header, "{what}");
    let (arrow, duck) = types(letters);
    assert_eq!(field("pyarrow", 1), arrow, "{what}: pyarrow's types");
    assert_eq!(field("duckdb", 1), duck, "{what}: DuckDB's types");
    assert_eq!(pa["num_rows"], records.len(), "{what}");
    for reader in ["pyarrow", "duckdb"] {
        let rows = seen[reader]["rows"].as_array().unwrap();
        assert_eq!(rows.len(), records.len(), "{what} {reader}");
        for (row, record) in rows.iter().zip(&records) {
            let cells: Vec<String> = header
                .iter()
                .zip(&arrow)
                .map(|(name, kind)| as_csv(&row[name.as_str()], kind))
                .collect();
            assert_eq!(&cells, record, "{what} {reader}");
        }
    }
    pa["rows"].as_array().unwrap().clone()
}

/// Writes `bytes` to a file and reads it with both readers (None: skipped without them).
fn read_bytes(test: &str, dir: &Path, name: &str, bytes: &[u8], summary: bool) -> Option<Value> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    read_back(test, &path, summary)
}

#[test]
fn every_entity_exports_typed_parquet_with_the_values_of_its_csv_export() {
    let test = "every_entity_exports_typed_parquet_with_the_values_of_its_csv_export";
    let Some(w) = world(test) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let metadata = |fields: Value| json!({"export_metadata_fields": fields});
    let customer_fields = metadata(json!([
        {"entity_type": "customer", "field_key": "tier", "column_name": "Tier"},
        {"entity_type": "customer", "field_key": "missing_key"}]));
    let wallet_fields = metadata(json!([
        {"entity_type": "wallet", "field_key": "cost_center", "column_name": "Cost center"},
        {"entity_type": "customer", "field_key": "tier"}]));
    let entities = [
        ("events", json!({}), "ssssssssssssttsuuss"),
        (
            "invoice",
            json!({}),
            "ssssssssssmmmmmmmmmisttttsttssssissstt",
        ),
        ("credit_topups", json!({}), "ssssmmmsst"),
        ("credit_usage", wallet_fields, "sssmmiss"),
        ("usage_analytics", customer_fields, "sssttssssisuussss"),
    ];
    let mut nulls = 0;
    for (entity, job, letters) in entities {
        let csv_task = w.task(entity, job.clone());
        let mut parquet_job = job;
        parquet_job["format"] = json!("parquet");
        parquet_job["key_prefix"] = json!(format!("parquet-{entity}"));
        parquet_job["write_manifest"] = json!(true);
        let parquet_task = w.task(entity, parquet_job);
        let csv_run = w.export_run(&csv_task, "10:00:00", "11:00:00");
        let csv = check_recorded(w.server, &w.bucket, &csv_run);
        let run = w.export_run(&parquet_task, "10:00:00", "11:00:00");
        let stored = check_recorded(w.server, &w.bucket, &run);
        let key = key_of(&run);
        assert!(
            key.ends_with(&format!("{entity}-251016100000-251016110000.parquet")),
            "{key}"
        );
        assert_eq!(run["total_records"], csv_run["total_records"], "{entity}");
        assert!(run["total_records"].as_u64().unwrap() > 0, "{entity}");
        // The file is the stored object: nothing compresses around it.
        assert_eq!(run["metadata"]["file_size_bytes"], stored.len(), "{entity}");
        assert_eq!(&stored[..4], b"PAR1");
        let manifest: Value =
            serde_json::from_slice(&w.server.get(&w.bucket, &format!("{key}.manifest.json")))
                .unwrap();
        assert_eq!(
            (
                &manifest["format"],
                &manifest["compression"],
                &manifest["content_type"]
            ),
            (&json!("parquet"), &json!("zstd"), &json!(PARQUET)),
            "{manifest}"
        );
        assert_eq!(manifest["sha256"], run["sha256"]);
        let Some(seen) = read_bytes(
            test,
            tmp.path(),
            &format!("{entity}.parquet"),
            &stored,
            false,
        ) else {
            return;
        };
        assert_eq!(seen["pyarrow"]["compression"], json!(["ZSTD"]), "{entity}");
        let rows = same_as_csv(&seen, &csv, letters, entity);
        nulls += rows
            .iter()
            .flat_map(|r| r.as_object().unwrap().values())
            .filter(|v| v.is_null())
            .count();
        // Required columns are REQUIRED in the file, nullable ones OPTIONAL.
        let nullable = |name: &str| {
            seen["pyarrow"]["columns"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c[0] == name)
                .unwrap()[2]
                .clone()
        };
        match entity {
            "events" => {
                assert_eq!(
                    (nullable("id"), nullable("customer_id")),
                    (json!(false), json!(true))
                );
                // Times keep their milliseconds (the CSV shows whole seconds).
                let e1 = rows
                    .iter()
                    .find(|r| {
                        r["properties"]
                            .as_str()
                            .is_some_and(|p| p.contains("/v1/a,b"))
                    })
                    .unwrap();
                let ms = timestamp("2025-10-16T10:04:59.900Z").as_millisecond();
                assert_eq!(e1["timestamp"], json!(ms.to_string()));
            }
            "invoice" => {
                // An exact decimal at the column's scale.
                assert!(
                    rows.iter()
                        .any(|r| r["amount_due"] == json!("120.500000000000")),
                    "{rows:?}"
                );
                assert_eq!(nullable("amount_due"), json!(false));
            }
            _ => {}
        }
    }
    // Missing values are NULL, not empty strings.
    assert!(nulls > 20, "{nulls} NULL cells");
}

#[test]
fn a_large_parquet_export_streams_to_s3_in_parts() {
    let test = "a_large_parquet_export_streams_to_s3_in_parts";
    let Some(server) = crate::harness::seaweedfs(test) else {
        return;
    };
    let d = daemon_for(server, "part_size = 5242880");
    let c = d.prod();
    let bucket = server.new_bucket();
    let start = now_ms() - 3_600_000;
    // About 13 MiB of random hex in the cells: more than one 5 MiB part once compressed.
    ingest_random(&c, "pq", 12_000);
    let end = now_ms() + 1;
    let csv_run = run_window(&c, &task(&c, server, &bucket, json!({})), start, end);
    let csv = check_recorded(server, &bucket, &csv_run);
    let job = json!({"format": "parquet", "compression": "snappy", "key_prefix": "pq"});
    let run = run_window(&c, &task(&c, server, &bucket, job), start, end);
    let stored = check_recorded(server, &bucket, &run);
    assert_eq!(run["total_records"], 12_000);
    assert!(stored.len() > 5 * 1024 * 1024, "{} bytes", stored.len());
    let key = key_of(&run);
    let etag = server
        .bucket(&bucket)
        .head_object(&key)
        .unwrap()
        .0
        .e_tag
        .unwrap_or_default();
    assert!(etag.contains('-'), "a multipart ETag, got {etag}");
    let headers = server.bucket(&bucket).get_object(&key).unwrap().headers();
    let stored_type = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.as_str());
    assert_eq!(stored_type, Some(PARQUET));
    assert_eq!(server.open_uploads(&bucket), 0);
    let tmp = tempfile::tempdir().unwrap();
    let Some(seen) = read_bytes(test, tmp.path(), "large.parquet", &stored, false) else {
        return;
    };
    let pa = &seen["pyarrow"];
    assert_eq!(pa["compression"], json!(["SNAPPY"]));
    // Row groups are bounded in bytes: 13 MiB of cells make more than one.
    assert!(
        pa["row_groups"].as_array().unwrap().len() >= 2,
        "{}",
        pa["row_groups"]
    );
    same_as_csv(&seen, &csv, "ssssssssssssttsuuss", "large events");
}

#[test]
fn parquet_to_a_directory_has_its_manifest_download_and_skip_empty() {
    let test = "parquet_to_a_directory_has_its_manifest_download_and_skip_empty";
    let d = Daemon::start();
    let c = d.prod();
    let start = now_ms() - 3_600_000;
    ingest_random(&c, "dir", 1_500);
    let end = now_ms() + 1;
    let conn = c
        .post("/v1/connections", json!({"name": "managed", "provider_type": "s3", "sync_config": {"s3": {"is_flexprice_managed": true}}}))
        .ok(201);
    let task_of = |job: Value| {
        let body = json!({"connection_id": conn["id"], "entity_type": "events", "interval": "hourly", "job_config": job});
        c.post("/v1/tasks/scheduled", body).ok(201)["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let csv_run = run_window(&c, &task_of(json!({"key_prefix": "csv"})), start, end);
    let csv = std::fs::read(d.dir().join("data/exports").join(key_of(&csv_run))).unwrap();
    let parquet = task_of(
        json!({"key_prefix": "pq", "format": "parquet", "compression": "none", "write_manifest": true, "skip_empty": true}),
    );
    let run = run_window(&c, &parquet, start, end);
    assert_eq!(run["task_status"], "COMPLETED", "{run}");
    let key = key_of(&run);
    assert!(key.ends_with(".parquet"), "{key}");
    assert_eq!(
        (&run["file_type"], &csv_run["file_type"]),
        (&json!("PARQUET"), &json!("CSV"))
    );
    assert_eq!(run["file_name"], json!(key.rsplit('/').next().unwrap()));
    let file = std::fs::read(d.dir().join("data/exports").join(&key)).unwrap();
    assert_eq!(run["sha256"], sha256_hex(&file));
    assert_eq!(run["stored_bytes"], file.len());
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(
            d.dir()
                .join("data/exports")
                .join(format!("{key}.manifest.json")),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            &manifest["format"],
            &manifest["compression"],
            &manifest["row_count"]
        ),
        (&json!("parquet"), &json!("none"), &json!(1_500))
    );

    let link = c
        .get(&format!(
            "/v1/tasks/{}/download",
            run["id"].as_str().unwrap()
        ))
        .ok(200);
    let got = fetch(link["download_url"].as_str().unwrap());
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.header("content-type"), Some(PARQUET));
    let file_name = key.rsplit('/').next().unwrap();
    assert_eq!(
        got.header("content-disposition"),
        Some(format!("attachment; filename=\"{file_name}\"").as_str())
    );
    assert!(got.body == file);

    let tmp = tempfile::tempdir().unwrap();
    if let Some(seen) = read_bytes(test, tmp.path(), "dir.parquet", &file, false) {
        assert_eq!(seen["pyarrow"]["compression"], json!(["UNCOMPRESSED"]));
        same_as_csv(&seen, &csv, "ssssssssssssttsuuss", "directory events");
    }

    // An empty window with skip_empty stores nothing.
    let empty = run_window(&c, &parquet, start - 7_200_000, start - 3_600_000);
    assert_eq!(empty["task_status"], "COMPLETED", "{empty}");
    assert_eq!(empty["total_records"], 0);
    assert!(empty["object_key"].is_null(), "{empty}");
}

#[test]
fn format_and_compression_combinations_are_checked_and_echoed() {
    let d = Daemon::start();
    let c = d.prod();
    let conn = crate::harness::fixtures::connection(&c);
    let post = |job: Value| c.post("/v1/tasks/scheduled", events_task(&conn, job));
    post(json!({"format": "xml"})).invalid("job_config.format", "csv, parquet");
    post(json!({"format": 1})).invalid("job_config.format", "string");
    post(json!({"format": "parquet", "compression": "gzip"})).invalid(
        "job_config.compression",
        "not available with format parquet",
    );
    post(json!({"format": "parquet", "compression": "xz"}))
        .invalid("job_config.compression", "zstd, snappy, none");
    post(json!({"compression": "snappy"}))
        .invalid("job_config.compression", "only for format parquet");
    post(json!({"format": "parquet", "compression_level": 20}))
        .invalid("job_config.compression_level", "from 1 to 19 for zstd");

    let echoed = |job: Value| {
        let t = post(job).ok(201);
        let j = &t["job_config"];
        (
            j["format"].clone(),
            j["compression"].clone(),
            j["compression_level"].clone(),
        )
    };
    assert_eq!(echoed(json!({})), (json!("csv"), json!("none"), json!(6)));
    assert_eq!(
        echoed(json!({"format": "parquet", "key_prefix": "a"})),
        (json!("parquet"), json!("zstd"), json!(1))
    );
    assert_eq!(
        echoed(json!({"format": "parquet", "compression": "snappy", "key_prefix": "b"})),
        (json!("parquet"), json!("snappy"), json!(6))
    );
    assert_eq!(
        echoed(
            json!({"format": "parquet", "compression": "zstd", "compression_level": 9, "key_prefix": "c"})
        ),
        (json!("parquet"), json!("zstd"), json!(9))
    );
}
