//! Runs that export: events ingested through the API, a force run, and the object read back
//! from a real S3 server (SeaweedFS and moto, both with signature checking) byte by byte.

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Client, Daemon, S3_REGION, S3Server, Setup, fetch, s3_servers};

const HEADER: &str = "id,tenant_id,environment_id,external_customer_id,customer_id,subscription_id,sub_line_item_id,price_id,meter_id,feature_id,event_name,source,timestamp,ingested_at,period_id,qty_total,provisional_usage_charges,properties,unique_hash";

/// A daemon that may use `server`; `s3_keys` are more keys of its `[s3]` section.
pub(crate) fn daemon_for(server: &S3Server, s3_keys: &str) -> Daemon {
    Setup::new()
        .config(&format!("{}{s3_keys}\n", server.allow()))
        .start()
}

fn connection(c: &Client, server: &S3Server, secret: &str) -> String {
    let body = json!({"name": format!("{} exports", server.kind), "provider_type": "s3",
        "encrypted_secret_data": {"aws_access_key_id": server.access_key, "aws_secret_access_key": secret}});
    c.post("/v1/connections", body).ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A task on a new connection to `server`, writing to `bucket`, with `job` merged in.
pub(crate) fn task(c: &Client, server: &S3Server, bucket: &str, job: Value) -> String {
    task_with_secret(c, server, bucket, job, &server.secret_key)
}

fn task_with_secret(
    c: &Client,
    server: &S3Server,
    bucket: &str,
    job: Value,
    secret: &str,
) -> String {
    let conn = connection(c, server, secret);
    let mut job_config = json!({"bucket": bucket, "region": S3_REGION, "endpoint_url": server.endpoint,
        "use_path_style": true, "key_prefix": "flexprice-exports"});
    for (k, v) in job.as_object().unwrap() {
        job_config[k] = v.clone();
    }
    let body = json!({"connection_id": conn, "entity_type": "events", "interval": "hourly", "job_config": job_config});
    c.post("/v1/tasks/scheduled", body).ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(crate) fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn ts(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

/// Force-runs `[start, end)` and waits for the run to end; returns the run.
pub(crate) fn run_window(c: &Client, task: &str, start: i64, end: i64) -> Value {
    let r = c
        .post(
            &format!("/v1/tasks/scheduled/{task}/run"),
            json!({"start_time": ts(start), "end_time": ts(end)}),
        )
        .ok(200);
    wait_run(c, r["workflow_id"].as_str().unwrap())
}

/// Force-runs a window that covers everything ingested so far (the last hour up to now).
fn run_recent(c: &Client, task: &str) -> Value {
    let end = now_ms();
    run_window(c, task, end - 3_600_000, end)
}

use crate::runs::wait_run;

fn ingest(c: &Client, event: Value) {
    let r = c.post("/v1/events", event);
    assert_eq!(r.status, 202, "{}", r.text());
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

pub(crate) fn parse_csv(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes);
    let mut records = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect::<Vec<_>>());
    let header = records.next().expect("a header row");
    (header, records.collect())
}

use crate::harness::sha256_hex as hex_sha256;

pub(crate) fn key_of(run: &Value) -> String {
    run["object_key"]
        .as_str()
        .unwrap_or_else(|| panic!("no object key: {run}"))
        .to_owned()
}

/// Asserts that the stored object matches what the run recorded, and returns it.
pub(crate) fn check_recorded(server: &S3Server, bucket: &str, run: &Value) -> Vec<u8> {
    assert_eq!(run["task_status"], "COMPLETED", "{run}");
    let key = key_of(run);
    assert_eq!(run["file_url"], format!("s3://{bucket}/{key}"));
    let stored = server.get(bucket, &key);
    assert_eq!(run["stored_bytes"], stored.len(), "{}", server.kind);
    assert_eq!(run["sha256"], hex_sha256(&stored), "{}", server.kind);
    stored
}

#[test]
fn exported_events_read_back_exactly_as_ingested() {
    for server in s3_servers("exported_events_read_back_exactly_as_ingested") {
        let d = daemon_for(server, "");
        let c = d.prod();
        let bucket = server.new_bucket();
        let t = task(
            &c,
            server,
            &bucket,
            json!({"compression": "gzip", "compression_level": 9}),
        );
        let events = [
            json!({"event_id": "evt-001", "event_name": "api_call", "external_customer_id": "cus_1", "customer_id": "cust_1",
                   "source": "sdk", "timestamp": "2025-10-16T10:00:00.750Z",
                   "properties": {"zeta": 1, "alpha": {"b": 2, "a": "x"}, "path": "/v1, \"quoted\"\nline", "n": 1.5}}),
            json!({"event_id": "evt-002", "event_name": "storage", "external_customer_id": "cus_2", "properties": {"gb": "12.5"}}),
            json!({"event_id": "evt-003", "event_name": "ünïcödé ✓", "external_customer_id": "cus,3", "timestamp": "2025-10-16T12:00:00+02:00"}),
        ];
        for e in &events {
            ingest(&c, e.clone());
        }
        // A repeated event_id is accepted and stored once; another environment's events stay out.
        ingest(&c, events[1].clone());
        ingest(
            &d.staging(),
            json!({"event_id": "evt-foreign", "event_name": "x", "external_customer_id": "y"}),
        );

        let run = run_recent(&c, &t);
        let stored = check_recorded(server, &bucket, &run);
        assert!(
            key_of(&run).starts_with("flexprice-exports/events/events-")
                && key_of(&run).ends_with(".csv.gz")
        );
        let csv = gunzip(&stored);
        assert_eq!(
            run["metadata"]["file_size_bytes"],
            csv.len(),
            "uncompressed size"
        );
        assert_eq!(
            (
                run["total_records"].as_i64(),
                run["successful_records"].as_i64()
            ),
            (Some(3), Some(3))
        );
        assert!(
            csv.starts_with(format!("{HEADER}\n").as_bytes()),
            "exact header, \\n line ends"
        );
        assert!(!csv.starts_with(b"\xef\xbb\xbf"), "no BOM");

        let (header, rows) = parse_csv(&csv);
        assert_eq!(header.join(","), HEADER);
        assert_eq!(rows.len(), 3, "{}: {rows:?}", server.kind);
        let ids: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(ids, ["evt-001", "evt-002", "evt-003"], "ingestion order");
        let first = &rows[0];
        assert_eq!(&first[1..5], ["acme", "prod", "cus_1", "cust_1"]);
        assert!(
            first[5..10].iter().all(String::is_empty),
            "meter columns are empty without meters"
        );
        assert_eq!(
            (first[10].as_str(), first[11].as_str(), first[12].as_str()),
            ("api_call", "sdk", "2025-10-16T10:00:00Z")
        );
        assert_eq!(
            first[17],
            r#"{"alpha":{"a":"x","b":2},"n":1.5,"path":"/v1, \"quoted\"\nline","zeta":1}"#
        );
        assert_eq!(first[18], "api_call:evt-001");
        for row in &rows {
            assert_eq!(row.len(), 19);
            assert_eq!(row[13].len(), 20, "second precision: {}", row[13]);
            assert!(row[13].ends_with('Z') && row[13].as_bytes()[10] == b'T');
        }
        assert_eq!(rows[1][17], r#"{"gb":"12.5"}"#);
        assert_eq!(
            (
                rows[2][3].as_str(),
                rows[2][10].as_str(),
                rows[2][12].as_str()
            ),
            ("cus,3", "ünïcödé ✓", "2025-10-16T10:00:00Z")
        );
        assert_eq!(rows[2][17], "", "no properties is an empty cell");
        assert_eq!(server.open_uploads(&bucket), 0);
    }
}

#[test]
fn a_window_of_more_than_four_parts_goes_up_as_multipart_and_reads_back_intact() {
    for server in
        s3_servers("a_window_of_more_than_four_parts_goes_up_as_multipart_and_reads_back_intact")
    {
        let d = daemon_for(server, "part_size = 5242880");
        let c = d.prod();
        let bucket = server.new_bucket();
        let t = task(
            &c,
            server,
            &bucket,
            json!({"compression": "none", "encryption": "AES256"}),
        );
        // About 27 MiB of CSV: five full 5 MiB parts and a tail.
        let total = 24_000;
        crate::harness::fixtures::ingest_big(&c, "big", total);
        let run = run_recent(&c, &t);
        let stored = check_recorded(server, &bucket, &run);
        assert!(
            stored.len() > 5 * 5 * 1024 * 1024,
            "more than four parts: {} bytes",
            stored.len()
        );
        let head = server.bucket(&bucket).head_object(key_of(&run)).unwrap().0;
        let etag = head.e_tag.unwrap_or_default();
        assert!(
            etag.contains('-'),
            "{}: a multipart ETag, got {etag}",
            server.kind
        );
        assert_eq!(
            head.server_side_encryption.as_deref().unwrap_or("AES256"),
            "AES256"
        );
        let (header, rows) = parse_csv(&stored);
        assert_eq!(header.len(), 19);
        assert_eq!(rows.len(), total);
        assert_eq!(rows.first().map(|r| r[0].as_str()), Some("big-000000"));
        assert_eq!(rows.last().map(|r| r[0].as_str()), Some("big-023999"));
        assert!(
            rows.windows(2).all(|w| w[0][0] < w[1][0]),
            "(time, id) order"
        );
        assert_eq!(run["total_records"], total);
        assert_eq!(server.open_uploads(&bucket), 0);
    }
}

#[test]
fn failed_runs_say_what_to_fix_and_leave_nothing_open() {
    for server in s3_servers("failed_runs_say_what_to_fix_and_leave_nothing_open") {
        let d = daemon_for(server, "request_timeout = \"3s\"\nretries = 0");
        let c = d.prod();
        let bucket = server.new_bucket();
        ingest(&c, json!({"event_name": "e", "external_customer_id": "c"}));

        let wrong = task_with_secret(&c, server, &bucket, json!({}), "not-the-secret-key-at-all");
        let run = run_recent(&c, &wrong);
        assert_eq!(run["task_status"], "FAILED", "{run}");
        let summary = run["error_summary"].as_str().unwrap();
        assert!(
            summary.contains("access denied") && summary.contains("check the connection's keys"),
            "{}: {summary}",
            server.kind
        );
        assert!(!summary.contains('<'), "never raw XML: {summary}");
        assert!(run["failed_at"].is_string() && run["file_url"] == "");

        let missing = task(&c, server, "no-such-bucket-here", json!({}));
        let run = run_recent(&c, &missing);
        assert_eq!(run["task_status"], "FAILED", "{run}");
        let summary = run["error_summary"].as_str().unwrap();
        assert!(
            summary.contains("bucket 'no-such-bucket-here' does not exist"),
            "{}: {summary}",
            server.kind
        );

        let kms = task(
            &c,
            server,
            &bucket,
            json!({"encryption": "aws:kms", "kms_key_id": "alias/exports"}),
        );
        let run = run_recent(&c, &kms);
        if server.kind == "seaweedfs" {
            // SeaweedFS has no KMS and refuses SSE-KMS writes.
            assert_eq!(run["task_status"], "FAILED", "{run}");
            let summary = run["error_summary"].as_str().unwrap();
            assert!(
                summary.contains("encryption aws:kms") && summary.contains("job_config.encryption"),
                "{summary}"
            );
        } else {
            check_recorded(server, &bucket, &run);
            let head = server.bucket(&bucket).head_object(key_of(&run)).unwrap().0;
            assert_eq!(head.server_side_encryption.as_deref(), Some("aws:kms"));
            assert_eq!(
                head.ssekms_key_id
                    .as_deref()
                    .map(|k| k.ends_with("alias/exports")),
                Some(true),
                "{head:?}"
            );
        }
        assert_eq!(server.open_uploads(&bucket), 0, "{}", server.kind);
        assert_eq!(d.client(None).get("/healthz").status, 200, "still serving");
    }
}

#[test]
fn a_stopped_or_silent_server_fails_the_run_within_the_timeout() {
    let Some(server) = S3Server::start("moto") else {
        crate::harness::skip_or_fail(
            "a_stopped_or_silent_server_fails_the_run_within_the_timeout",
            "moto is not installed",
        );
        return;
    };
    // A server that accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming() {
            held.push(conn);
        }
    });
    let allow = format!(
        "[s3]\nallowed_endpoints = [\"{}\", \"{silent_url}\"]\nrequest_timeout = \"2s\"\nretries = 0",
        server.endpoint
    );
    let d = Setup::new().config(&allow).start();
    let c = d.prod();
    let bucket = server.new_bucket();
    ingest(&c, json!({"event_name": "e", "external_customer_id": "c"}));
    let t = task(&c, &server, &bucket, json!({}));
    assert_eq!(run_recent(&c, &t)["task_status"], "COMPLETED");

    server.stop();
    let run = run_recent(&c, &t);
    assert_eq!(run["task_status"], "FAILED", "{run}");
    let summary = run["error_summary"].as_str().unwrap();
    assert!(summary.contains("connection refused"), "{summary}");

    let conn = connection(&c, &server, &server.secret_key);
    let body = json!({"connection_id": conn, "entity_type": "events", "interval": "hourly",
        "job_config": {"bucket": bucket, "region": S3_REGION, "endpoint_url": silent_url, "use_path_style": true}});
    let hung = c.post("/v1/tasks/scheduled", body).ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = Instant::now();
    let run = run_recent(&c, &hung);
    assert_eq!(run["task_status"], "FAILED", "{run}");
    let summary = run["error_summary"].as_str().unwrap();
    assert!(summary.contains("did not answer within 2s"), "{summary}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "bounded by the request timeout, not hanging"
    );
    assert_eq!(d.client(None).get("/healthz").status, 200, "still serving");
}

#[test]
fn manifests_empty_windows_partitions_and_encryption_headers() {
    for server in s3_servers("manifests_empty_windows_partitions_and_encryption_headers") {
        let d = daemon_for(server, "");
        let c = d.prod();
        let bucket = server.new_bucket();
        let (start, end) = (1_760_000_400_000, 1_760_004_000_000); // a past hour with no events

        // No rows: a header-only file, with a manifest and a dt= partition.
        let t = task(
            &c,
            server,
            &bucket,
            json!({"write_manifest": true, "key_layout": "partitioned", "encryption": "none"}),
        );
        let run = run_window(&c, &t, start, end);
        let stored = check_recorded(server, &bucket, &run);
        assert_eq!(stored, format!("{HEADER}\n").as_bytes());
        assert_eq!(run["total_records"], 0);
        let key = key_of(&run);
        assert_eq!(
            key,
            "flexprice-exports/events/dt=2025-10-09/events-251009090000-251009100000.csv"
        );
        let manifest: Value =
            serde_json::from_slice(&server.get(&bucket, &format!("{key}.manifest.json"))).unwrap();
        assert_eq!(manifest["run_id"], run["id"]);
        assert_eq!(manifest["row_count"], 0);
        assert_eq!(manifest["sha256"], run["sha256"]);
        assert_eq!(manifest["stored_bytes"], run["stored_bytes"]);
        assert_eq!(manifest["columns"].as_array().unwrap().len(), 19);
        assert_eq!(manifest["window_start"], "2025-10-09T09:00:00Z");
        let head = server.bucket(&bucket).head_object(&key).unwrap().0;
        assert_eq!(
            head.server_side_encryption, None,
            "encryption none sends no SSE header"
        );

        // skip_empty: no object at all, and the run still records 0 rows.
        let skip = task(
            &c,
            server,
            &bucket,
            json!({"skip_empty": true, "key_prefix": "skipped"}),
        );
        let run = run_window(&c, &skip, start, end);
        assert_eq!(
            (run["task_status"].as_str(), run["total_records"].as_i64()),
            (Some("COMPLETED"), Some(0)),
            "{run}"
        );
        assert_eq!(run["file_url"], "");
        assert!(
            !server
                .keys(&bucket)
                .iter()
                .any(|k| k.starts_with("skipped/"))
        );

        // Default encryption AES256 is sent (moto echoes it; SeaweedFS accepts it).
        let aes = task(&c, server, &bucket, json!({"key_prefix": "aes"}));
        let run = run_window(&c, &aes, start, end);
        check_recorded(server, &bucket, &run);
        if server.kind == "moto" {
            let head = server.bucket(&bucket).head_object(key_of(&run)).unwrap().0;
            assert_eq!(head.server_side_encryption.as_deref(), Some("AES256"));
        }
    }
}

/// GETs an absolute http URL with a plain client (no API key, no signing of our own).
#[test]
fn download_links_fetch_the_object_with_a_plain_http_client() {
    // SeaweedFS checks the presigned signature; moto 5.2.5 with auth on cannot serve presigned
    // GETs at all (its IAM check reads an Authorization header they do not have: KeyError, 500).
    for server in s3_servers("download_links_fetch_the_object_with_a_plain_http_client")
        .into_iter()
        .filter(|s| s.kind == "seaweedfs")
    {
        let d = daemon_for(server, "");
        let c = d.prod();
        let bucket = server.new_bucket();
        ingest(&c, json!({"event_name": "e", "external_customer_id": "c"}));
        let t = task(&c, server, &bucket, json!({"compression": "gzip"}));
        let run = run_recent(&c, &t);
        let stored = check_recorded(server, &bucket, &run);
        let link = c
            .get(&format!(
                "/v1/tasks/{}/download",
                run["id"].as_str().unwrap()
            ))
            .ok(200);
        let url = link["download_url"].as_str().unwrap();
        assert!(
            url.starts_with(&server.endpoint),
            "uses the task's endpoint: {url}"
        );
        assert!(url.contains(&format!("/{bucket}/")), "path style: {url}");
        let expires = crate::harness::timestamp(link["expires_at"].as_str().unwrap());
        let left = expires.as_second() - jiff::Timestamp::now().as_second();
        assert!((1790..=1800).contains(&left), "valid 30 minutes: {left}s");
        let got = fetch(url);
        assert_eq!(got.status, 200, "{}: {url}: {}", server.kind, got.text());
        assert_eq!(got.body, stored);
    }
}

#[test]
fn managed_directory_exports_are_atomic_files_served_by_signed_links() {
    let d = Daemon::start();
    let c = d.prod();
    ingest(
        &c,
        json!({"event_id": "m-1", "event_name": "e", "external_customer_id": "c"}),
    );
    let conn = c
        .post("/v1/connections", json!({"name": "managed", "provider_type": "s3", "sync_config": {"s3": {"is_flexprice_managed": true}}}))
        .ok(201);
    let body = json!({"connection_id": conn["id"], "entity_type": "events", "interval": "hourly", "job_config": {"key_prefix": "daily"}});
    let t = c.post("/v1/tasks/scheduled", body).ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = run_recent(&c, &t);
    assert_eq!(run["task_status"], "COMPLETED", "{run}");
    let key = key_of(&run);
    assert!(key.starts_with("acme/prod/daily/events/events-"), "{key}");
    assert_eq!(run["file_url"], format!("s3://exportd-managed/{key}"));
    let file = std::fs::read(d.dir().join("data/exports").join(&key)).unwrap();
    assert_eq!(run["sha256"], hex_sha256(&file));
    let (_, rows) = parse_csv(&file);
    assert_eq!(
        rows.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        ["m-1"]
    );
    let leftovers: Vec<_> = std::fs::read_dir(d.dir().join("data/exports/acme/prod/daily/events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files: {leftovers:?}");

    let link = c
        .get(&format!(
            "/v1/tasks/{}/download",
            run["id"].as_str().unwrap()
        ))
        .ok(200);
    let url = link["download_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("http://{}/downloads/", d.addr)),
        "{url}"
    );
    let got = fetch(url);
    assert_eq!(got.status, 200);
    assert_eq!(got.body, file);
    assert_eq!(got.header("content-type"), Some("text/csv; charset=utf-8"));
    let tampered = url.replace("signature=", "signature=0");
    assert_eq!(fetch(&tampered).error(403)["code"], "permission_denied");
    let forged = url.replace("expires=", "expires=9");
    assert_eq!(fetch(&forged).status, 403);
    // Downloads are only for completed runs of this environment.
    d.staging()
        .get(&format!(
            "/v1/tasks/{}/download",
            run["id"].as_str().unwrap()
        ))
        .error(404);
}

#[test]
fn connection_tests_report_the_failing_step() {
    for server in s3_servers("connection_tests_report_the_failing_step") {
        let d = daemon_for(server, "");
        let c = d.prod();
        let bucket = server.new_bucket();
        let probe = |conn: &str, bucket: &str| {
            c.post(
                &format!("/v1/connections/{conn}/test"),
                json!({"bucket": bucket, "region": S3_REGION, "endpoint_url": server.endpoint, "use_path_style": true}),
            )
            .ok(200)
        };
        let good = connection(&c, server, &server.secret_key);
        let r = probe(&good, &bucket);
        assert_eq!(r["success"], true, "{r}");
        assert_eq!(r["steps"].as_array().unwrap().len(), 2);
        assert!(
            server.keys(&bucket).is_empty(),
            "the probe object was deleted"
        );

        let bad = connection(&c, server, "wrong-secret-for-the-probe");
        let r = probe(&bad, &bucket);
        assert_eq!(r["success"], false);
        assert_eq!(r["steps"][0]["step"], "write");
        assert!(
            r["message"].as_str().unwrap().contains("access denied"),
            "{r}"
        );
        let r = probe(&good, "missing-bucket-x");
        assert!(
            r["message"].as_str().unwrap().contains("does not exist"),
            "{r}"
        );
        let v = c
            .post(&format!("/v1/connections/{good}/test"), json!({"bucket": bucket, "region": S3_REGION, "endpoint_url": "http://10.9.9.9:9000"}))
            .invalid("endpoint_url", "must use https");
        assert!(v["message"].as_str().unwrap().contains("allowed_endpoints"));
        c.post(
            &format!("/v1/connections/{good}/test"),
            json!({"region": S3_REGION}),
        )
        .invalid("bucket", "S3 bucket name is required");
        c.post("/v1/connections/conn_missing/test", json!({}))
            .error(404);
    }
}

#[test]
fn the_export_command_runs_one_window_without_a_server() {
    let Some(server) =
        crate::harness::seaweedfs("the_export_command_runs_one_window_without_a_server")
    else {
        return;
    };
    let d = daemon_for(server, "");
    let c = d.prod();
    let bucket = server.new_bucket();
    ingest(
        &c,
        json!({"event_id": "cli-1", "event_name": "e", "external_customer_id": "c"}),
    );
    let t = task(&c, server, &bucket, json!({}));
    let (status, log, dir) = d.terminate();
    assert!(status.success(), "{log}");
    let end = now_ms();
    let config = dir.path().join("exportd.toml");
    let out = std::process::Command::new(crate::harness::exe())
        .args([
            "export",
            "--task",
            &t,
            "--start",
            &ts(end - 3_600_000),
            "--end",
            &ts(end),
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        (result["task_status"].as_str(), result["rows"].as_i64()),
        (Some("COMPLETED"), Some(1)),
        "{result}"
    );
    let key = result["file_url"]
        .as_str()
        .unwrap()
        .trim_start_matches(&format!("s3://{bucket}/"))
        .to_owned();
    let (_, rows) = parse_csv(&server.get(&bucket, &key));
    assert_eq!(rows[0][0], "cli-1");

    let out = std::process::Command::new(crate::harness::exe())
        .args([
            "export",
            "--task",
            "schtask_nope",
            "--start",
            "2025-01-01T00:00:00Z",
            "--end",
            "2025-01-01T01:00:00Z",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown task is a usage error"
    );
}

fn db_value(d: &Daemon, sql: &str, run: &str) -> Option<String> {
    let db = rusqlite::Connection::open(d.dir().join("data/exportd.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db.query_row(sql, [run], |r| r.get(0)).unwrap()
}

#[test]
fn an_upload_interrupted_by_shutdown_is_aborted_on_the_server() {
    let Some(server) =
        crate::harness::seaweedfs("an_upload_interrupted_by_shutdown_is_aborted_on_the_server")
    else {
        return;
    };
    let d = Setup::new()
        .config(&format!("{}part_size = 5242880\n", server.allow()))
        .scheduler("shutdown_timeout = \"0s\"")
        .start();
    let c = d.prod();
    let bucket = server.new_bucket();
    crate::harness::fixtures::ingest_big(&c, "big", 48_000);
    let t = task(&c, server, &bucket, json!({}));
    let end = now_ms();
    let run = c
        .post(
            &format!("/v1/tasks/scheduled/{t}/run"),
            json!({"start_time": ts(end - 3_600_000), "end_time": ts(end)}),
        )
        .ok(200)["workflow_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Wait until the multipart upload is open (its id is recorded on the run), then stop.
    crate::harness::wait_for("the upload to start", Duration::from_secs(60), || {
        db_value(&d, "SELECT upload_id FROM runs WHERE id = ?1", &run).is_some()
    });
    let (status, log, dir) = d.terminate();
    assert!(status.success(), "{log}");
    let db = rusqlite::Connection::open(dir.path().join("data/exportd.db")).unwrap();
    let (state, summary): (String, Option<String>) = db
        .query_row(
            "SELECT task_status, error_summary FROM runs WHERE id = ?1",
            [&run],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let next: (String, String, i64) = db
        .query_row(
            "SELECT id, task_status, attempt FROM runs WHERE id != ?1 AND trigger = 'manual'",
            [&run],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (state.as_str(), summary.as_deref()),
        (
            "FAILED",
            Some(format!("interrupted by shutdown; run again as {}", next.0).as_str())
        ),
        "{log}"
    );
    assert_eq!(
        (next.1.as_str(), next.2),
        ("PENDING", 2),
        "the window waits for the next start as attempt 2"
    );
    assert_eq!(
        server.open_uploads(&bucket),
        0,
        "the open multipart upload was aborted"
    );
    assert!(server.keys(&bucket).is_empty(), "no partial object");
}

#[test]
fn the_endpoint_rule_is_checked_again_at_run_time() {
    let Some(server) = crate::harness::seaweedfs("the_endpoint_rule_is_checked_again_at_run_time")
    else {
        return;
    };
    let d = daemon_for(server, "");
    let c = d.prod();
    let bucket = server.new_bucket();
    let t = task(&c, server, &bucket, json!({}));
    let (_, _, dir) = d.terminate();
    // The operator takes the endpoint off the allowlist: the task's runs now fail.
    let d = Setup::new().in_dir(dir).start();
    let run = run_recent(&d.prod(), &t);
    assert_eq!(run["task_status"], "FAILED", "{run}");
    let summary = run["error_summary"].as_str().unwrap();
    assert!(
        summary.starts_with("job_config.endpoint_url is not allowed")
            && summary.contains("allowed_endpoints"),
        "{summary}"
    );
    assert!(server.keys(&bucket).is_empty());
}

#[test]
fn a_managed_s3_destination_writes_under_the_tenant_with_the_operators_keys() {
    let Some(server) = crate::harness::seaweedfs(
        "a_managed_s3_destination_writes_under_the_tenant_with_the_operators_keys",
    ) else {
        return;
    };
    let bucket = server.new_bucket();
    let managed = format!(
        "[managed_destination]\nkind = \"s3\"\nbucket = \"{bucket}\"\nregion = \"{S3_REGION}\"\nendpoint_url = \"{}\"\n\
         use_path_style = true\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
        server.endpoint, server.access_key, server.secret_key
    );
    let d = Setup::new().config(&managed).start();
    let c = d.prod();
    ingest(
        &c,
        json!({"event_id": "ms-1", "event_name": "e", "external_customer_id": "c"}),
    );
    let conn = c
        .post("/v1/connections", json!({"name": "managed", "provider_type": "s3", "sync_config": {"s3": {"is_flexprice_managed": true}}}))
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let probe = c
        .post(&format!("/v1/connections/{conn}/test"), json!({}))
        .ok(200);
    assert_eq!(probe["success"], true, "{probe}");
    let body = json!({"connection_id": conn, "entity_type": "events", "interval": "daily", "job_config": {"compression": "gzip"}});
    let t = c.post("/v1/tasks/scheduled", body).ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = run_recent(&c, &t);
    let stored = check_recorded(server, &bucket, &run);
    assert!(key_of(&run).starts_with("acme/prod/events/"), "{run}");
    let (_, rows) = parse_csv(&gunzip(&stored));
    assert_eq!(rows[0][0], "ms-1");
    let link = c
        .get(&format!(
            "/v1/tasks/{}/download",
            run["id"].as_str().unwrap()
        ))
        .ok(200);
    assert_eq!(fetch(link["download_url"].as_str().unwrap()).body, stored);
}

#[test]
fn an_accepted_event_survives_kill_9() {
    let d = Daemon::start();
    let c = d.prod();
    ingest(
        &c,
        json!({"event_id": "durable-1", "event_name": "e", "external_customer_id": "c"}),
    );
    crate::harness::signal(d.pid(), "KILL");
    let (_, _, dir) = d.terminate();
    let db = rusqlite::Connection::open(dir.path().join("data/exportd.db")).unwrap();
    let n: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM events WHERE id = 'durable-1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
}
