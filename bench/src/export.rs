//! Export: N events as one window, to SeaweedFS and to a directory, beside the shell pipeline
//! a user would write and the compressors alone.

use std::io::{BufReader, Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use exportd_testkit::s3::S3Server;

use crate::*;

/// What one export run measured.
pub(crate) struct ExportRun {
    pub(crate) wall: f64,
    /// The daemon's user + system CPU, start-up included.
    pub(crate) cpu: f64,
    pub(crate) rows: f64,
    csv_bytes: f64,
    pub(crate) stored_bytes: f64,
    pub(crate) peak_rss: f64,
    /// The S3 server's user + system CPU during the export (it shares the machine's cores).
    pub(crate) server_cpu: f64,
    object_key: String,
}

/// Force-runs the window on `task` in a freshly started daemon; the daemon's peak RSS covers
/// this export only.
pub(crate) fn export_once(o: &Opts, dir: &Path, s3: &S3Server, task: &str) -> Res<ExportRun> {
    export_once_with(o, dir, s3, task, "")
}

/// The same with more config for the daemon (a `[source]` section).
pub(crate) fn export_once_with(
    o: &Opts,
    dir: &Path,
    s3: &S3Server,
    task: &str,
    extra: &str,
) -> Res<ExportRun> {
    let daemon = Daemon::start_with(o, dir, Some(s3), extra)?;
    let mut c = daemon.client();
    let body = json!({"start_time": rfc3339(WINDOW_START), "end_time": rfc3339(WINDOW_END)});
    let server_ticks = || stat_ticks(&format!("/proc/{}/stat", s3.pid), 11);
    let server_before = server_ticks()?;
    let started = Instant::now();
    let r = c.json(
        "POST",
        &format!("/v1/tasks/scheduled/{task}/run"),
        Some(body),
        200,
    )?;
    let run_id = r["workflow_id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/v1/tasks/{run_id}");
    let run = loop {
        let run = c.json("GET", &path, None, 200)?;
        match run["task_status"].as_str() {
            Some("COMPLETED") => break run,
            Some("FAILED") => return Err(format!("the export failed: {run}")),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let wall = started.elapsed().as_secs_f64();
    let server_cpu = server_ticks()?.saturating_sub(server_before) as f64 / clock_ticks()?;
    let peak_rss = daemon.peak_rss()?;
    let cpu = daemon.cpu_ticks()? as f64 / clock_ticks()?;
    let number = |v: &Value| v.as_f64().unwrap_or(0.0);
    Ok(ExportRun {
        wall,
        cpu,
        rows: number(&run["total_records"]),
        csv_bytes: number(&run["metadata"]["file_size_bytes"]),
        stored_bytes: number(&run["stored_bytes"]),
        peak_rss,
        server_cpu,
        object_key: run["object_key"].as_str().unwrap_or_default().to_owned(),
    })
}

/// The query a user would write for the same 19 columns, in the same order (empty columns are
/// NULL, which sqlite3 prints as an empty cell, as exportd does).
pub(crate) fn pipeline_sql() -> String {
    format!(
        "SELECT e.id, e.tenant_id, e.environment_id, e.external_customer_id,
                COALESCE(e.customer_id, c.id) AS customer_id,
                NULL AS subscription_id, NULL AS sub_line_item_id, NULL AS price_id,
                NULL AS meter_id, NULL AS feature_id, e.event_name, e.source,
                strftime('%Y-%m-%dT%H:%M:%SZ', e.timestamp / 1000, 'unixepoch') AS timestamp,
                strftime('%Y-%m-%dT%H:%M:%SZ', e.ingested_at / 1000, 'unixepoch') AS ingested_at,
                NULL AS period_id, NULL AS qty_total, NULL AS provisional_usage_charges,
                e.properties, e.event_name || ':' || e.id AS unique_hash
         FROM events e
         LEFT JOIN customers c ON c.tenant_id = e.tenant_id AND c.environment_id = e.environment_id
                              AND c.external_id = e.external_customer_id
         WHERE e.tenant_id = '{TENANT}' AND e.environment_id = '{ENVIRONMENT}'
           AND e.ingested_at >= {WINDOW_START} AND e.ingested_at < {WINDOW_END}
         ORDER BY e.ingested_at, e.id;"
    )
}

/// `sqlite3 -csv -header DB "SELECT ..." | gzip -6 | aws s3 cp - s3://...`; returns its wall time.
pub(crate) fn pipeline_once(o: &Opts, db: &Path, s3: &S3Server, key: &str) -> Res<f64> {
    upload_pipeline(
        o,
        s3,
        key,
        "\"$SQLITE3\" -csv -header -newline $'\\n' \"$DB\" \"$SQL\"",
        &[
            ("SQLITE3", o.sqlite3.display().to_string()),
            ("DB", db.display().to_string()),
            ("SQL", pipeline_sql()),
        ],
    )
}

/// `<producer> | gzip -6 | aws s3 cp - s3://BUCKET/key` in bash, with `env` set for the
/// producer; returns its wall time.
pub(crate) fn upload_pipeline(
    o: &Opts,
    s3: &S3Server,
    key: &str,
    producer: &str,
    env: &[(&str, String)],
) -> Res<f64> {
    let script = format!(
        "set -euo pipefail; {producer} | gzip -6 | \"$AWS\" s3 cp --only-show-errors - \"s3://{BUCKET}/{key}\" --endpoint-url \"$ENDPOINT\""
    );
    let started = Instant::now();
    let status = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("AWS", &o.aws)
        .env("ENDPOINT", &s3.endpoint)
        .env("AWS_ACCESS_KEY_ID", &s3.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &s3.secret_key)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .status()
        .ctx("running the shell pipeline")?;
    let wall = started.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!("the shell pipeline failed: {status}"));
    }
    Ok(wall)
}

/// Hashes what passes through, and copies it to `copy` if there is one.
pub(crate) struct HashingWriter {
    hasher: sha2::Sha256,
    len: u64,
    copy: Option<std::io::BufWriter<std::fs::File>>,
}

impl Write for HashingWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        self.hasher.update(data);
        self.len += data.len() as u64;
        if let Some(copy) = &mut self.copy {
            copy.write_all(data)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.copy {
            Some(copy) => copy.flush(),
            None => Ok(()),
        }
    }
}

/// The SHA-256 and length of the CSV inside a stored gzip or zstd object, streamed (so a 10M-row
/// export needs no memory of its size); with `keep`, the CSV is also written there.
pub(crate) fn csv_digest(
    s3: &S3Server,
    key: &str,
    work: &Path,
    keep: Option<&Path>,
) -> Res<(String, u64)> {
    use sha2::Digest;
    let gz_path = work.join("download");
    {
        let mut file = std::fs::File::create(&gz_path).ctx("creating the download file")?;
        s3.bucket(BUCKET)?
            .get_object_to_writer(key, &mut file)
            .ctx(&format!("reading {key}"))?;
    }
    let copy = match keep {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).ctx("creating the CSV file")?,
        )),
        None => None,
    };
    let mut out = HashingWriter {
        hasher: sha2::Sha256::new(),
        len: 0,
        copy,
    };
    let file = std::fs::File::open(&gz_path).ctx("opening the download")?;
    let mut decoded: Box<dyn Read> = if key.ends_with(".zst") {
        Box::new(zstd::stream::read::Decoder::new(file).ctx("zstd")?)
    } else {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
    };
    std::io::copy(&mut decoded, &mut out).ctx("decompressing")?;
    out.flush().ctx("writing the CSV file")?;
    let _ = std::fs::remove_file(&gz_path);
    let digest: String = out
        .hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((digest, out.len))
}

/// The exports measured: (format, compression, level, destination). Uncompressed CSV to a
/// directory shows what reading and formatting alone take, the floor under the others.
pub(crate) const EXPORTS: [(&str, &str, u32, &str); 6] = [
    ("csv", "gzip", 6, "SeaweedFS"),
    ("csv", "zstd", 3, "SeaweedFS"),
    ("csv", "gzip", 6, "directory"),
    ("csv", "zstd", 3, "directory"),
    ("csv", "none", 6, "directory"),
    ("parquet", "zstd", 1, "SeaweedFS"),
];

/// "CSV+gzip-6", "CSV" without compression, or "Parquet (zstd-1)".
pub(crate) fn format_label(format: &str, compression: &str, level: u32) -> String {
    match (format, compression) {
        ("parquet", _) => format!("Parquet ({compression}-{level})"),
        (_, "none") => "CSV".into(),
        _ => format!("CSV+{compression}-{level}"),
    }
}

pub(crate) fn export_bench(o: &Opts, work: &Path, results: &mut Results) -> Res<()> {
    let dir = work.join("export");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).ctx("creating the export data directory")?;
    let db = dir.join("data/exportd.db");
    generate(o, &dir, o.rows)?;

    let s3 = S3Server::start(&o.test_python, "seaweedfs", REGION)?;
    s3.create_bucket(BUCKET)?;
    let tasks = {
        let daemon = Daemon::start(o, &dir, Some(&s3))?;
        let mut c = daemon.client();
        let conn = c.create(
            "/v1/connections",
            json!({"name": "bench SeaweedFS", "provider_type": "s3",
                "encrypted_secret_data": {"aws_access_key_id": s3.access_key,
                    "aws_secret_access_key": s3.secret_key}}),
        )?;
        let managed = c.managed_connection()?;
        let mut tasks = Vec::new();
        for (format, compression, level, dest) in EXPORTS {
            let prefix = format!("exportd-{format}-{compression}");
            let body = if dest == "SeaweedFS" {
                json!({"connection_id": conn, "entity_type": "events", "interval": "daily",
                    "job_config": {"bucket": BUCKET, "region": REGION, "endpoint_url": s3.endpoint,
                        "use_path_style": true, "key_prefix": prefix, "format": format, "compression": compression,
                        "compression_level": level, "encryption": "none"}})
            } else {
                json!({"connection_id": managed, "entity_type": "events", "interval": "daily",
                    "job_config": {"key_prefix": prefix, "format": format, "compression": compression,
                        "compression_level": level}})
            };
            tasks.push(c.create("/v1/tasks/scheduled", body)?);
        }
        tasks
    };

    let rows = o.rows as f64;
    let n = thousands(o.rows);
    let mut csv_path = None;
    for i in 0..o.runs {
        eprintln!("exportd-bench: export run {} of {}", i + 1, o.runs);
        let mut runs = Vec::new();
        for ((format, compression, level, dest), task) in EXPORTS.iter().zip(&tasks) {
            let r = export_once(o, &dir, &s3, task)?;
            if r.rows != rows {
                return Err(format!("the export wrote {} rows, expected {rows}", r.rows));
            }
            eprintln!(
                "exportd-bench: {} to {dest}: {:.2} s, {:.2} CPU-s, {:.1} MiB stored, {:.1} MiB peak",
                format_label(format, compression, *level),
                r.wall,
                r.cpu,
                r.stored_bytes / 1_048_576.0,
                r.peak_rss / 1_048_576.0
            );
            runs.push(r);
        }
        let pipe_key = "pipeline/events.csv.gz";
        let pipe = pipeline_once(o, &db, &s3, pipe_key)?;
        if i == 0 {
            // Same rows, same bytes: the comparisons are fair only if all wrote the same CSV.
            let path = dir.join("events.csv");
            let (ours, len) = csv_digest(&s3, &runs[0].object_key, &dir, Some(&path))?;
            let (zstd, _) = csv_digest(&s3, &runs[1].object_key, &dir, None)?;
            let (theirs, _) = csv_digest(&s3, pipe_key, &dir, None)?;
            let same = |a: &str, b: &str| {
                if a == b {
                    "byte for byte the same as"
                } else {
                    "NOT the same as"
                }
            };
            results.notes.push(format!(
                "The shell pipeline's CSV is {} exportd's ({} bytes, SHA-256 {} vs {}); exportd's zstd export holds {} CSV.",
                same(&theirs, &ours),
                thousands(len),
                &ours[..16],
                &theirs[..16],
                if zstd == ours { "the same" } else { "NOT the same" },
            ));
            csv_path = Some(path);
        }
        let Some(csv) = &csv_path else {
            return Err("no CSV to compress".into());
        };
        let floors = [
            ("gzip -6", floor("gzip -6 -c \"$CSV\"", csv)?),
            ("pigz -6 -p 2", floor("pigz -6 -p 2 -c \"$CSV\"", csv)?),
            ("zstd -3", floor("zstd -3 -q -c \"$CSV\"", csv)?),
        ];
        for ((format, compression, level, dest), r) in EXPORTS.iter().zip(&runs) {
            let csv_gzip = *format == "csv" && *compression == "gzip";
            let format = format_label(format, compression, *level);
            let what = format!("export {n} rows, {format}, to {dest}");
            let target = if *dest == "SeaweedFS" && csv_gzip {
                "≤ 0.75× pipeline"
            } else {
                ""
            };
            results.add(&format!("{what}: wall time"), Unit::Seconds, r.wall, target);
            results.add(
                &format!("{what}: daemon peak RSS (VmHWM)"),
                Unit::Mebibytes,
                r.peak_rss,
                "< 64 MiB, flat",
            );
            results.side(
                &format!("exportd: {format} to {dest}"),
                [r.wall, r.cpu, r.stored_bytes, r.peak_rss],
            );
            if *dest == "SeaweedFS" {
                // The server runs on the same cores: what it spends, exportd cannot.
                results.add(
                    &format!("{what}: SeaweedFS CPU-seconds meanwhile"),
                    Unit::Seconds,
                    r.server_cpu,
                    "",
                );
            }
        }
        let (gzip, zstd, parquet) = (&runs[0], &runs[1], &runs[5]);
        let (gzip_dir, zstd_dir) = (&runs[2], &runs[3]);
        results.add(
            "export to SeaweedFS, CSV+gzip-6: rows/s",
            Unit::PerSecond,
            gzip.rows / gzip.wall,
            "",
        );
        results.add(
            "export to SeaweedFS, CSV+gzip-6: CSV MB/s",
            Unit::MegabytesPerSecond,
            gzip.csv_bytes / gzip.wall / 1e6,
            "",
        );
        results.add(
            &format!("shell pipeline (sqlite3 \\| gzip -6 \\| aws s3 cp), {n} rows: wall time"),
            Unit::Seconds,
            pipe,
            "",
        );
        results.side(
            "shell pipeline: sqlite3 | gzip -6 | aws s3 cp",
            [pipe, f64::NAN, f64::NAN, f64::NAN],
        );
        for (name, (wall, cpu, bytes)) in &floors {
            results.add(
                &format!("{name} of the same CSV (compression floor): wall time"),
                Unit::Seconds,
                *wall,
                "",
            );
            results.side(
                &format!("{name} of the same CSV, alone"),
                [*wall, *cpu, *bytes, f64::NAN],
            );
        }
        let pigz = floors[1].1;
        results.add(
            "ratio exportd CSV+gzip-6 (SeaweedFS) / shell pipeline",
            Unit::Ratio,
            gzip.wall / pipe,
            "≤ 0.75×",
        );
        results.add(
            "ratio exportd CSV+gzip-6 (SeaweedFS) / pigz -6 -p 2 of the same CSV",
            Unit::Ratio,
            gzip.wall / pigz.0,
            "≤ 1.4×",
        );
        results.add(
            "CPU-seconds: exportd CSV+gzip-6 (SeaweedFS) / pigz -6 -p 2",
            Unit::Ratio,
            gzip.cpu / pigz.1,
            "",
        );
        results.add(
            "ratio exportd CSV+zstd-3 / CSV+gzip-6 (SeaweedFS)",
            Unit::Ratio,
            zstd.wall / gzip.wall,
            "≤ 0.5×",
        );
        results.add(
            "ratio exportd CSV+zstd-3 / CSV+gzip-6 (directory, no S3 server on the cores)",
            Unit::Ratio,
            zstd_dir.wall / gzip_dir.wall,
            "",
        );
        results.add(
            "ratio exportd Parquet (zstd-1) / CSV+gzip-6 (SeaweedFS): wall time",
            Unit::Ratio,
            parquet.wall / gzip.wall,
            "≤ 1×",
        );
        results.add(
            "ratio exportd Parquet (zstd-1) / CSV+gzip-6 (SeaweedFS): stored bytes",
            Unit::Ratio,
            parquet.stored_bytes / gzip.stored_bytes,
            "< 1×",
        );
    }
    if let Some(path) = csv_path {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Runs a compression floor, `command` on the CSV at `$CSV` in bash, its output counted by
/// `wc -c`; returns its wall time, CPU-seconds and output bytes.
pub(crate) fn floor(command: &str, csv: &Path) -> Res<(f64, f64, f64)> {
    let before = children_cpu()?;
    let started = Instant::now();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -o pipefail; {command} | wc -c"))
        .env("CSV", csv)
        .output()
        .ctx(command)?;
    let wall = started.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "{command} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let bytes: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| format!("{command}: no byte count"))?;
    Ok((wall, children_cpu()? - before, bytes))
}

/// User + system CPU-seconds of this process's children that ended.
pub(crate) fn children_cpu() -> Res<f64> {
    // cutime and cstime are fields 16 and 17, so 13 and 14 after the state.
    Ok(stat_ticks("/proc/self/stat", 13)? as f64 / clock_ticks()?)
}
