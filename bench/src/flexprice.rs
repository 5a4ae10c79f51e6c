//! Flexprice as the source (issue 15): N invoices in a PostgreSQL 15 of the benchmark's own,
//! exported as one window (CSV+gzip-6) by a daemon with `[source] kind = "flexprice"` to
//! SeaweedFS, beside the pipeline a user would write instead:
//! `psql -c "\copy (SELECT ...) TO STDOUT CSV HEADER" | gzip -6 | aws s3 cp -`, on the same rows
//! and server. Also the daemon's peak RSS at N and at 5×N invoices (flat is the target).
//!
//! The schema and the bulk rows are the test fixture's (`tests/flexprice/*.sql`); the index on
//! `(tenant_id, environment_id, updated_at, id)` is the one the README tells operators to add.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::json;

use exportd_testkit::s3::S3Server;

use crate::*;

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const DATABASE: &str = "flexprice";
const ROLE: &str = "exportd_ro";

/// A PostgreSQL cluster in the work directory (trusting local connections: it is the
/// benchmark's), stopped when dropped.
struct Pg {
    data: PathBuf,
    socket: PathBuf,
    port: u16,
}

/// Runs a PostgreSQL program, as the `postgres` user when we are root (it refuses root).
fn pg_command(program: &str) -> Command {
    let path = format!("{PG_BIN}/{program}");
    // The effective user, from the Uid line of /proc/self/status.
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        .unwrap_or(false);
    if root {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            &path,
        ]);
        c
    } else {
        Command::new(path)
    }
}

fn checked(mut c: Command, what: &str) -> Res<String> {
    let out = c.stdin(Stdio::null()).output().ctx(what)?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Pg {
    /// CPU-seconds of the server so far: the postmaster, its children that ended (their time
    /// joins the postmaster's once reaped) and those still running (backends, workers).
    fn cpu_seconds(&self) -> Res<f64> {
        let pid_file = self.data.join("postmaster.pid");
        let pids = std::fs::read_to_string(&pid_file).ctx("reading postmaster.pid")?;
        let postmaster = pids.lines().next().unwrap_or_default().trim().to_owned();
        let own = format!("/proc/{postmaster}/stat");
        // utime+stime are fields 14-15, cutime+cstime 16-17: 11 and 13 after the state.
        let mut ticks = stat_ticks(&own, 11)? + stat_ticks(&own, 13)?;
        for entry in std::fs::read_dir("/proc").ctx("reading /proc")?.flatten() {
            let stat = entry.path().join("stat");
            let Ok(text) = std::fs::read_to_string(&stat) else {
                continue;
            };
            let parent = text
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(1));
            if parent == Some(postmaster.as_str()) {
                ticks += stat_ticks(&stat.display().to_string(), 11).unwrap_or(0);
            }
        }
        Ok(ticks as f64 / clock_ticks()?)
    }

    fn start(dir: &Path) -> Res<Pg> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).ctx("creating the PostgreSQL directory")?;
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir)
            .status();
        let data = dir.join("data");
        let socket = dir.join("socket");
        std::fs::create_dir_all(&socket).ctx("socket dir")?;
        let _ = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&socket)
            .status();
        let mut initdb = pg_command("initdb");
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "-N",
        ]);
        checked(initdb, "initdb")?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .ctx("a free port")?
            .port();
        let mut ctl = pg_command("pg_ctl");
        ctl.arg("-D").arg(&data).arg("-l").arg(dir.join("postgres.log")).args([
            "-w",
            "-o",
            &format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=256MB -c max_wal_size=4GB",
                socket.display()
            ),
            "start",
        ]);
        checked(ctl, "pg_ctl start")?;
        let pg = Pg { data, socket, port };
        pg.psql("postgres", &format!("CREATE DATABASE {DATABASE}"))?;
        let schema =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/flexprice/postgres_schema.sql");
        pg.psql_file(DATABASE, &schema, &[])?;
        pg.psql(
            DATABASE,
            &format!(
                "CREATE ROLE {ROLE} LOGIN; GRANT USAGE ON SCHEMA public TO {ROLE};
                 GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ROLE};
                 CREATE INDEX invoices_exportd_updated_at ON invoices
                   (tenant_id, environment_id, updated_at, id COLLATE \"C\") WHERE status = 'published';"
            ),
        )?;
        Ok(pg)
    }

    fn psql_base(&self, database: &str) -> Command {
        let mut c = pg_command("psql");
        c.arg("-X")
            .arg("-q")
            .arg("-v")
            .arg("ON_ERROR_STOP=1")
            .arg("-h")
            .arg(&self.socket)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-U")
            .arg("postgres")
            .arg("-d")
            .arg(database);
        c
    }

    fn psql(&self, database: &str, sql: &str) -> Res<String> {
        let mut c = self.psql_base(database);
        c.arg("-c").arg(sql);
        checked(c, "psql")
    }

    fn psql_file(&self, database: &str, file: &Path, vars: &[(&str, String)]) -> Res<String> {
        let mut c = self.psql_base(database);
        for (k, v) in vars {
            c.arg("-v").arg(format!("{k}={v}"));
        }
        c.arg("-f").arg(file);
        checked(c, &format!("psql -f {}", file.display()))
    }

    /// Adds `n` invoices of the benchmark's scope, spread over the window, then ANALYZE.
    fn add_invoices(&self, tag: &str, n: u64) -> Res<()> {
        let bulk =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/flexprice/pg_bulk_invoices.sql");
        self.psql_file(
            DATABASE,
            &bulk,
            &[
                ("tag", tag.to_owned()),
                ("tenant", TENANT.to_owned()),
                ("env", ENVIRONMENT.to_owned()),
                ("n", n.to_string()),
                ("from", rfc3339(WINDOW_START)),
                ("to", rfc3339(WINDOW_END)),
            ],
        )?;
        self.psql(DATABASE, "VACUUM ANALYZE invoices")?;
        Ok(())
    }

    /// What exportd and the pipeline connect with: the SELECT-only role, over TCP.
    fn url(&self) -> String {
        format!(
            "postgres://{ROLE}@127.0.0.1:{}/{DATABASE}?sslmode=disable",
            self.port
        )
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let mut ctl = pg_command("pg_ctl");
        ctl.arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"]);
        let _ = ctl
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The query a user would write for the invoice export's 38 columns: times as RFC 3339
/// seconds and numerics with trailing zeros trimmed, as exportd writes them (jsonb keeps
/// PostgreSQL's key order, which exportd sorts).
fn pipeline_sql() -> String {
    let time =
        |c: &str| format!("to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
    let num = |c: &str| format!("trim_scale({c})");
    let columns = [
        "id".to_owned(),
        "tenant_id".into(),
        "environment_id".into(),
        "customer_id".into(),
        "subscription_id".into(),
        "invoice_number".into(),
        "invoice_type".into(),
        "invoice_status".into(),
        "payment_status".into(),
        "currency".into(),
        num("amount_due"),
        num("amount_paid"),
        num("amount_remaining"),
        num("subtotal"),
        num("total"),
        num("total_discount"),
        num("total_tax"),
        num("adjustment_amount"),
        num("refunded_amount"),
        "billing_sequence".into(),
        "description".into(),
        time("due_date"),
        time("paid_at"),
        time("voided_at"),
        time("finalized_at"),
        "billing_period".into(),
        time("period_start"),
        time("period_end"),
        "invoice_pdf_url".into(),
        "billing_reason".into(),
        "metadata".into(),
        "idempotency_key".into(),
        "version".into(),
        "status".into(),
        "created_by".into(),
        "updated_by".into(),
        time("created_at"),
        time("updated_at"),
    ];
    format!(
        "SELECT {} FROM invoices WHERE tenant_id = '{TENANT}' AND environment_id = '{ENVIRONMENT}' AND status = 'published' AND updated_at >= '{}' AND updated_at < '{}' ORDER BY updated_at, id COLLATE \"C\"",
        columns.join(", "),
        rfc3339(WINDOW_START),
        rfc3339(WINDOW_END)
    )
}

/// `psql -c "\copy (...) TO STDOUT CSV HEADER" | gzip -6 | aws s3 cp -`; returns its wall time.
fn pipeline_once(o: &Opts, pg: &Pg, s3: &S3Server, key: &str) -> Res<f64> {
    upload_pipeline(
        o,
        s3,
        key,
        "\"$PSQL\" -X -q \"$URL\" -c \"\\copy ($SQL) TO STDOUT CSV HEADER\"",
        &[
            ("PSQL", format!("{PG_BIN}/psql")),
            ("URL", pg.url()),
            ("SQL", pipeline_sql()),
        ],
    )
}

pub(crate) fn flexprice_bench(o: &Opts, work: &Path, results: &mut Results) -> Res<()> {
    let dir = work.join("flexprice");
    let pg = Pg::start(&dir.join("pg"))?;
    eprintln!(
        "exportd-bench: flexprice: {} invoices into PostgreSQL",
        thousands(o.rows)
    );
    pg.add_invoices("a", o.rows)?;
    let s3 = S3Server::start(&o.test_python, "seaweedfs", REGION)?;
    s3.create_bucket(BUCKET)?;
    let source = format!(
        "[source]\nkind = \"flexprice\"\npostgres_url = \"{}\"\n",
        pg.url()
    );
    let daemon_dir = dir.join("daemon");
    let _ = std::fs::remove_dir_all(&daemon_dir);
    let task = {
        let daemon = Daemon::start_with(o, &daemon_dir, Some(&s3), &source)?;
        let mut c = daemon.client();
        let conn = c.create(
            "/v1/connections",
            json!({"name": "bench SeaweedFS", "provider_type": "s3",
                "encrypted_secret_data": {"aws_access_key_id": s3.access_key,
                    "aws_secret_access_key": s3.secret_key}}),
        )?;
        c.create(
            "/v1/tasks/scheduled",
            json!({"connection_id": conn, "entity_type": "invoice", "interval": "daily",
                "job_config": {"bucket": BUCKET, "region": REGION, "endpoint_url": s3.endpoint,
                    "use_path_style": true, "key_prefix": "flexprice", "compression": "gzip",
                    "compression_level": 6, "encryption": "none"}}),
        )?
    };
    let n = thousands(o.rows);
    let mut rss_first = Vec::new();
    for i in 0..o.runs {
        eprintln!("exportd-bench: flexprice run {} of {}", i + 1, o.runs);
        let before = pg.cpu_seconds()?;
        let r = export_once_with(o, &daemon_dir, &s3, &task, &source)?;
        if r.rows != o.rows as f64 {
            return Err(format!(
                "the invoice export wrote {} rows, expected {}",
                r.rows, o.rows
            ));
        }
        let between = pg.cpu_seconds()?;
        let pipe = pipeline_once(o, &pg, &s3, "pipeline/invoice.csv.gz")?;
        let after = pg.cpu_seconds()?;
        // What the server spent on each side: is exportd waiting for it?
        results.add(
            "PostgreSQL CPU-seconds during exportd's export",
            Unit::Seconds,
            between - before,
            "",
        );
        results.add(
            "PostgreSQL CPU-seconds during the psql pipeline",
            Unit::Seconds,
            after - between,
            "",
        );
        eprintln!(
            "exportd-bench: flexprice invoices: exportd {:.2} s ({:.1} MiB peak), psql pipeline {pipe:.2} s",
            r.wall,
            r.peak_rss / 1_048_576.0
        );
        rss_first.push(r.peak_rss);
        let what =
            format!("Flexprice invoice export, {n} rows from PostgreSQL, CSV+gzip-6 to SeaweedFS");
        results.add(&format!("{what}: wall time"), Unit::Seconds, r.wall, "");
        results.add(
            &format!("psql \\copy \\| gzip -6 \\| aws s3 cp, same {n} invoices: wall time"),
            Unit::Seconds,
            pipe,
            "",
        );
        results.add(
            "ratio exportd Flexprice invoice export / psql pipeline",
            Unit::Ratio,
            r.wall / pipe,
            "≤ 0.75×",
        );
        results.add(
            &format!("{what}: daemon peak RSS"),
            Unit::Mebibytes,
            r.peak_rss,
            "< 64 MiB",
        );
        results.side(
            &format!("exportd: {n} Flexprice invoices, CSV+gzip-6 to SeaweedFS"),
            [r.wall, r.cpu, r.stored_bytes, r.peak_rss],
        );
        results.side(
            "psql \\copy | gzip -6 | aws s3 cp",
            [pipe, f64::NAN, f64::NAN, f64::NAN],
        );
    }
    // Five times the rows in the same window: memory must not follow them.
    eprintln!(
        "exportd-bench: flexprice: {} more invoices",
        thousands(4 * o.rows)
    );
    pg.add_invoices("b", 4 * o.rows)?;
    let r = export_once_with(o, &daemon_dir, &s3, &task, &source)?;
    if r.rows != 5.0 * o.rows as f64 {
        return Err(format!(
            "the invoice export wrote {} rows, expected {}",
            r.rows,
            5 * o.rows
        ));
    }
    results.add(
        &format!(
            "Flexprice invoice export, {} rows: daemon peak RSS (1 run)",
            thousands(5 * o.rows)
        ),
        Unit::Mebibytes,
        r.peak_rss,
        "< 64 MiB, flat",
    );
    results.add(
        &format!(
            "Flexprice invoice export, {} rows: wall time (1 run)",
            thousands(5 * o.rows)
        ),
        Unit::Seconds,
        r.wall,
        "",
    );
    results.notes.push(format!(
        "Flexprice: peak RSS {:.1} MiB at {} invoices (median) and {:.1} MiB at {}; the psql pipeline's CSV has the same rows and columns but jsonb's own key order.",
        median(&rss_first) / 1_048_576.0,
        n,
        r.peak_rss / 1_048_576.0,
        thousands(5 * o.rows)
    ));
    // Gigabytes of PostgreSQL data: stopped, then removed (the machine's disk is shared).
    drop(pg);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
