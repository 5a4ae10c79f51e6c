//! Compressed CSV exports read back with the commands a user has, `gzip` and `zstd` (Debian's),
//! byte for byte the uncompressed CSV export of the same window: to SeaweedFS (a gzip object
//! large enough for a multipart upload) and to the directory destination. Manifests and
//! downloads name the format; levels are checked per codec.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::exports::{check_recorded, daemon_for, key_of, now_ms, run_window, task};
use crate::harness::fetch;
use crate::harness::{Daemon, sha256_hex, skip_or_fail};

/// Whether `gzip` and `zstd` are installed (`.ci/run` installs zstd).
fn have_tools(test: &str) -> bool {
    let missing: Vec<&str> = ["gzip", "zstd"]
        .into_iter()
        .filter(|tool| {
            Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_or(true, |s| !s.success())
        })
        .collect();
    if !missing.is_empty() {
        skip_or_fail(test, &format!("{} not installed", missing.join(" and ")));
    }
    missing.is_empty()
}

/// Runs `tool args... file`; returns its standard output after checking it succeeded.
fn tool(dir: &Path, bytes: &[u8], tool: &str, args: &[&str]) -> Vec<u8> {
    let path = dir.join(format!("object-{tool}"));
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(bytes))
        .unwrap();
    let out = Command::new(tool).args(args).arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `count` events whose properties hold random hex: CSV that gzip makes only about half as
/// large, so that a few MiB of it need more than one 5 MiB part.
pub(crate) fn ingest_random(c: &crate::harness::Client, prefix: &str, count: usize) {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for batch in 0..count.div_ceil(1000) {
        let events: Vec<Value> = (batch * 1000..((batch + 1) * 1000).min(count))
            .map(|n| {
                let pad: String = (0..64)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        format!("{x:016x}")
                    })
                    .collect();
                json!({"event_id": format!("{prefix}-{n:06}"), "event_name": "bulk",
                       "external_customer_id": format!("cus_{}", n % 97), "properties": {"pad": pad}})
            })
            .collect();
        let r = c.post("/v1/events/bulk", json!({ "events": events }));
        assert_eq!(r.status, 202, "{}", r.text());
    }
}

/// The manifest written next to `key`, checked against the run.
fn manifest(bytes: &[u8], run: &Value, compression: &str, content_type: &str) -> Value {
    let m: Value = serde_json::from_slice(bytes).unwrap();
    assert_eq!(
        (&m["format"], &m["compression"], &m["content_type"]),
        (&json!("csv"), &json!(compression), &json!(content_type)),
        "{m}"
    );
    assert_eq!(m["sha256"], run["sha256"]);
    assert_eq!(m["stored_bytes"], run["stored_bytes"]);
    assert_eq!(m["uncompressed_bytes"], run["metadata"]["file_size_bytes"]);
    m
}

#[test]
fn zstd_and_multipart_gzip_exports_to_s3_hold_the_plain_csv_byte_for_byte() {
    let test = "zstd_and_multipart_gzip_exports_to_s3_hold_the_plain_csv_byte_for_byte";
    if !have_tools(test) {
        return;
    }
    let Some(server) = crate::harness::seaweedfs(test) else {
        return;
    };
    let d = daemon_for(server, "part_size = 5242880");
    let c = d.prod();
    let bucket = server.new_bucket();
    let start = now_ms() - 3_600_000;
    // About 13 MiB of CSV, 7 MiB of gzip: two parts.
    ingest_random(&c, "fmt", 12_000);
    let end = now_ms() + 1;
    let job = |compression: &str| json!({"compression": compression, "write_manifest": true});
    let plain = run_window(&c, &task(&c, server, &bucket, job("none")), start, end);
    let gzip = run_window(&c, &task(&c, server, &bucket, job("gzip")), start, end);
    let zstd = run_window(&c, &task(&c, server, &bucket, job("zstd")), start, end);

    let csv = check_recorded(server, &bucket, &plain);
    assert_eq!(plain["total_records"], 12_000);
    let tmp = tempfile::tempdir().unwrap();
    for (run, compression, extension, content_type, tool_name) in [
        (&gzip, "gzip", ".csv.gz", "application/gzip", "gzip"),
        (&zstd, "zstd", ".csv.zst", "application/zstd", "zstd"),
    ] {
        let stored = check_recorded(server, &bucket, run);
        let key = key_of(run);
        assert!(key.ends_with(extension), "{key}");
        assert_eq!(run["total_records"], 12_000);
        assert_eq!(
            run["metadata"]["file_size_bytes"],
            csv.len(),
            "{compression}"
        );
        assert!(stored.len() < csv.len(), "{compression} compresses");
        tool(tmp.path(), &stored, tool_name, &["-t"]);
        let unpacked = tool(tmp.path(), &stored, tool_name, &["-d", "-c"]);
        assert!(
            unpacked == csv,
            "{compression}: the object unpacks to the plain export's CSV"
        );
        // rust-s3's sync HeadObjectResult never has the content type: read it from a GET.
        let headers = server.bucket(&bucket).get_object(&key).unwrap().headers();
        let stored_type = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.as_str());
        assert_eq!(stored_type, Some(content_type), "{compression}");
        let head = server.bucket(&bucket).head_object(&key).unwrap().0;
        let m = server.get(&bucket, &format!("{key}.manifest.json"));
        manifest(&m, run, compression, content_type);
        if compression == "gzip" {
            assert!(stored.len() > 5 * 1024 * 1024, "{} bytes", stored.len());
            let etag = head.e_tag.unwrap_or_default();
            assert!(etag.contains('-'), "a multipart ETag, got {etag}");
        }
    }
    assert_eq!(server.open_uploads(&bucket), 0);

    // A presigned download serves the zstd object as stored.
    let got = download_zstd(&c, &zstd);
    assert_eq!(sha256_hex(&got), zstd["sha256"].as_str().unwrap());
}

/// Fetches a run's download link with a plain client; the object must come as zstd.
fn download_zstd(c: &crate::harness::Client, run: &Value) -> Vec<u8> {
    let link = c
        .get(&format!(
            "/v1/tasks/{}/download",
            run["id"].as_str().unwrap()
        ))
        .ok(200);
    let got = fetch(link["download_url"].as_str().unwrap());
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.header("content-type"), Some("application/zstd"));
    got.body
}

#[test]
fn zstd_exports_to_a_directory_unpack_to_the_plain_export_and_download_as_zstd() {
    let test = "zstd_exports_to_a_directory_unpack_to_the_plain_export_and_download_as_zstd";
    if !have_tools(test) {
        return;
    }
    let d = Daemon::start();
    let c = d.prod();
    let start = now_ms() - 3_600_000;
    ingest_random(&c, "dir", 2_500);
    let end = now_ms() + 1;
    let conn = c
        .post("/v1/connections", json!({"name": "managed", "provider_type": "s3", "sync_config": {"s3": {"is_flexprice_managed": true}}}))
        .ok(201);
    let run = |job: Value| {
        let body = json!({"connection_id": conn["id"], "entity_type": "events", "interval": "hourly", "job_config": job});
        let t = c.post("/v1/tasks/scheduled", body).ok(201);
        let run = run_window(&c, t["id"].as_str().unwrap(), start, end);
        assert_eq!(run["task_status"], "COMPLETED", "{run}");
        let file = std::fs::read(d.dir().join("data/exports").join(key_of(&run))).unwrap();
        assert_eq!(run["sha256"], sha256_hex(&file));
        (run, file)
    };
    let (_, csv) = run(json!({"key_prefix": "plain"}));
    let (zstd, stored) = run(
        json!({"key_prefix": "zstd", "compression": "zstd", "compression_level": 19, "write_manifest": true}),
    );
    assert!(key_of(&zstd).ends_with(".csv.zst"));
    let tmp = tempfile::tempdir().unwrap();
    tool(tmp.path(), &stored, "zstd", &["-t"]);
    assert!(tool(tmp.path(), &stored, "zstd", &["-d", "-c"]) == csv);
    let m = std::fs::read(
        d.dir()
            .join("data/exports")
            .join(format!("{}.manifest.json", key_of(&zstd))),
    )
    .unwrap();
    manifest(&m, &zstd, "zstd", "application/zstd");

    assert!(download_zstd(&c, &zstd) == stored);
}

/// A new hourly events task on `conn` (to bucket `exports`) with these job_config fields.
pub(crate) fn events_task(conn: &str, job: Value) -> Value {
    let mut job_config = json!({"bucket": "exports", "region": "us-east-1"});
    for (k, v) in job.as_object().unwrap() {
        job_config[k] = v.clone();
    }
    json!({"connection_id": conn, "entity_type": "events", "interval": "hourly", "job_config": job_config})
}

#[test]
fn compression_levels_are_checked_per_codec_and_echoed() {
    let d = Daemon::start();
    let c = d.prod();
    let conn = crate::harness::fixtures::connection(&c);
    let body = |job: Value| events_task(&conn, job);
    c.post(
        "/v1/tasks/scheduled",
        body(json!({"compression": "zstd", "compression_level": 20})),
    )
    .invalid("job_config.compression_level", "from 1 to 19 for zstd");
    c.post(
        "/v1/tasks/scheduled",
        body(json!({"compression": "gzip", "compression_level": 12})),
    )
    .invalid("job_config.compression_level", "from 1 to 9 for gzip");
    c.post("/v1/tasks/scheduled", body(json!({"compression": "xz"})))
        .invalid("job_config.compression", "none, gzip, zstd");
    let t = c
        .post("/v1/tasks/scheduled", body(json!({"compression": "zstd"})))
        .ok(201);
    assert_eq!(
        (
            &t["job_config"]["compression"],
            &t["job_config"]["compression_level"]
        ),
        (&json!("zstd"), &json!(3))
    );
    let t = c
        .post(
            "/v1/tasks/scheduled",
            body(json!({"compression": "zstd", "compression_level": 12})),
        )
        .ok(201);
    assert_eq!(t["job_config"]["compression_level"], 12);
}
