//! exportd-bench: the benchmark behind `scripts/bench.sh` (SPEC 9). It drives the real
//! `exportd` binary and prints each figure as the median of several runs, with min and max:
//!
//! - export: N generated events as one window, gzip level 6 and zstd level 3, to a local
//!   SeaweedFS and to the directory destination, against `sqlite3 -csv | gzip -6 | aws s3 cp -`
//!   on the same rows and server, and against `gzip -6`, `pigz -6 -p 2` and `zstd -3` of the
//!   same CSV (the compression floors);
//! - ingest: events/s through `POST /v1/events/bulk`, 1000 events per request;
//! - API: `GET /v1/tasks/scheduled/{id}` closed-loop requests/s, and p99 at a fixed rate;
//! - idle: the daemon's CPU over a minute with 10,000 enabled tasks.
//!
//! It is a measuring tool, not part of the daemon: every failure ends it with a message.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use exportd::store::{Store, StoreError};
use serde_json::{Value, json};

type Res<T> = Result<T, String>;

/// Adds what was being done to an error.
trait Context<T> {
    fn ctx(self, what: &str) -> Res<T>;
}

impl<T, E: std::fmt::Display> Context<T> for Result<T, E> {
    fn ctx(self, what: &str) -> Res<T> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

const KEY: &str = "exd_bench_key_0123456789abcdefghijklmnop";
const TENANT: &str = "bench";
const ENVIRONMENT: &str = "prod";
const BUCKET: &str = "exportd-bench";
const REGION: &str = "us-east-1";
/// The exported window: one day, starting 2025-10-16T00:00:00Z.
const WINDOW_START: i64 = 1_760_572_800_000;
const WINDOW_END: i64 = WINDOW_START + 86_400_000;
const CUSTOMERS: u64 = 10_000;
const EVENTS_PER_REQUEST: usize = 1000;
const IDLE_TASKS: usize = 10_000;
const API_RATE: u64 = 2000;

const USAGE: &str = "\
usage: exportd-bench [--rows N] [--runs K] [--only export,ingest,api,idle] [--idle-seconds S]
                     --exportd PATH --test-python PATH --aws PATH [--sqlite3 PATH] [--work DIR] [--out FILE]
Normally run through scripts/bench.sh, which builds exportd and installs the tools.";

struct Opts {
    rows: u64,
    runs: usize,
    only: Vec<String>,
    idle_seconds: u64,
    exportd: PathBuf,
    test_python: PathBuf,
    aws: PathBuf,
    sqlite3: PathBuf,
    work: PathBuf,
    out: PathBuf,
}

fn parse_args() -> Res<Opts> {
    use lexopt::prelude::*;
    let mut o = Opts {
        rows: 1_000_000,
        runs: 3,
        only: vec![
            "export".into(),
            "ingest".into(),
            "api".into(),
            "idle".into(),
        ],
        idle_seconds: 60,
        exportd: "target/release/exportd".into(),
        test_python: ".ci/venv/bin/python".into(),
        aws: ".ci/bench-venv/bin/aws".into(),
        sqlite3: "sqlite3".into(),
        work: "target/bench/work".into(),
        out: "target/bench/results.md".into(),
    };
    let mut p = lexopt::Parser::from_env();
    let number = |v: std::ffi::OsString, name: &str| -> Res<u64> {
        let text = v.string().map_err(|e| e.to_string())?.replace('_', "");
        text.parse()
            .map_err(|_| format!("--{name} needs a whole number, got {text:?}"))
    };
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        let value = |p: &mut lexopt::Parser| p.value().map_err(|e| e.to_string());
        match arg {
            Long("rows") => o.rows = number(value(&mut p)?, "rows")?.max(1),
            Long("runs") => o.runs = number(value(&mut p)?, "runs")?.max(1) as usize,
            Long("idle-seconds") => o.idle_seconds = number(value(&mut p)?, "idle-seconds")?.max(1),
            Long("only") => {
                o.only = value(&mut p)?
                    .string()
                    .map_err(|e| e.to_string())?
                    .split(',')
                    .map(str::to_owned)
                    .collect()
            }
            Long("exportd") => o.exportd = value(&mut p)?.into(),
            Long("test-python") => o.test_python = value(&mut p)?.into(),
            Long("aws") => o.aws = value(&mut p)?.into(),
            Long("sqlite3") => o.sqlite3 = value(&mut p)?.into(),
            Long("work") => o.work = value(&mut p)?.into(),
            Long("out") => o.out = value(&mut p)?.into(),
            Long("help") | Short('h') => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("{}\n{USAGE}", other.unexpected())),
        }
    }
    Ok(o)
}

fn main() {
    if let Err(e) = parse_args().and_then(|o| run(&o)) {
        eprintln!("exportd-bench: {e}");
        std::process::exit(1);
    }
}

/// One figure: its runs and how to show it.
struct Figure {
    name: String,
    unit: Unit,
    values: Vec<f64>,
    target: String,
}

#[derive(Clone, Copy)]
enum Unit {
    Seconds,
    PerSecond,
    MegabytesPerSecond,
    Mebibytes,
    Millis,
    Percent,
    Ratio,
}

impl Unit {
    fn show(self, v: f64) -> String {
        match self {
            Unit::Seconds => format!("{v:.2} s"),
            Unit::PerSecond => format!("{} /s", thousands(v.round() as u64)),
            Unit::MegabytesPerSecond => format!("{v:.1} MB/s"),
            Unit::Mebibytes => format!("{:.1} MiB", v / 1_048_576.0),
            Unit::Millis => format!("{v:.2} ms"),
            Unit::Percent => format!("{v:.2} %"),
            Unit::Ratio => format!("{v:.2}×"),
        }
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[derive(Default)]
struct Results {
    figures: Vec<Figure>,
    /// Rows of the side-by-side table: a label and each run's wall time, CPU-seconds, stored
    /// bytes and peak RSS (NaN where it does not apply).
    sides: Vec<(String, Vec<[f64; 4]>)>,
    notes: Vec<String>,
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

impl Results {
    fn add(&mut self, name: &str, unit: Unit, value: f64, target: &str) {
        if let Some(f) = self.figures.iter_mut().find(|f| f.name == name) {
            f.values.push(value);
            return;
        }
        self.figures.push(Figure {
            name: name.to_owned(),
            unit,
            values: vec![value],
            target: target.to_owned(),
        });
    }

    fn side(&mut self, label: &str, run: [f64; 4]) {
        match self.sides.iter_mut().find(|(l, _)| l == label) {
            Some((_, runs)) => runs.push(run),
            None => self.sides.push((label.to_owned(), vec![run])),
        }
    }

    /// The side-by-side table of exports and the tools beside them (medians).
    fn side_table(&self) -> String {
        let mut t = String::from(
            "| medians | wall time | CPU-seconds | stored bytes | peak RSS |\n|---|---|---|---|---|\n",
        );
        for (label, runs) in &self.sides {
            let show = |i: usize, unit: Unit| {
                let values: Vec<f64> = runs.iter().map(|r| r[i]).collect();
                let m = median(&values);
                if m.is_nan() {
                    String::new()
                } else {
                    unit.show(m)
                }
            };
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {} |",
                label.replace('|', "\\|"),
                show(0, Unit::Seconds),
                show(1, Unit::Seconds),
                show(2, Unit::Mebibytes),
                show(3, Unit::Mebibytes)
            );
        }
        t
    }

    fn table(&self) -> String {
        let mut t =
            String::from("| measure | median | min | max | target |\n|---|---|---|---|---|\n");
        for f in &self.figures {
            let mut v = f.values.clone();
            v.sort_by(f64::total_cmp);
            let median = median(&v);
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {} |",
                f.name,
                f.unit.show(median),
                f.unit.show(v[0]),
                f.unit.show(v[v.len() - 1]),
                f.target
            );
        }
        t
    }
}

fn run(o: &Opts) -> Res<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&o.work).ctx("creating the work directory")?;
    let work = o.work.canonicalize().ctx("work directory")?;
    let mut results = Results::default();
    let machine = machine();
    eprintln!("exportd-bench: {machine}");
    if o.only.iter().any(|s| s == "export") {
        export_bench(o, &work, &mut results)?;
    }
    if o.only.iter().any(|s| s == "ingest") {
        ingest_bench(o, &work, &mut results)?;
    }
    if o.only.iter().any(|s| s == "api") {
        api_bench(o, &work, &mut results)?;
    }
    if o.only.iter().any(|s| s == "idle") {
        idle_bench(o, &work, &mut results)?;
    }
    let mut report = format!(
        "exportd benchmark: {} rows, {} run(s) per figure (median, min, max), {} ({:.0} s in all)\n\n",
        thousands(o.rows),
        o.runs,
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(report, "Machine: {machine}\n");
    report.push_str(&results.table());
    if !results.sides.is_empty() {
        report.push('\n');
        report.push_str(&results.side_table());
    }
    if !results.notes.is_empty() {
        report.push('\n');
        for n in &results.notes {
            let _ = writeln!(report, "- {n}");
        }
    }
    println!("\n{report}");
    if let Some(dir) = o.out.parent() {
        std::fs::create_dir_all(dir).ctx("creating the results directory")?;
    }
    std::fs::write(&o.out, &report).ctx("writing the results")?;
    let per_rows = o.out.with_file_name(format!("results-{}-rows.md", o.rows));
    std::fs::write(&per_rows, &report).ctx("writing the results")?;
    eprintln!(
        "exportd-bench: wrote {} and {}",
        o.out.display(),
        per_rows.display()
    );
    Ok(())
}

/// `nproc`, the CPU model and the memory, for the results.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cores} cores (nproc), {model}, {:.1} GiB memory",
        mem_kb / 1_048_576.0
    )
}

// ---------------------------------------------------------------------------------------------
// Processes: the S3 server supervisor and the daemon.

/// SeaweedFS started by `tests/s3/serve.py`; it stops when its standard input closes.
struct S3Server {
    child: Child,
    stdin: Option<ChildStdin>,
    endpoint: String,
    access_key: String,
    secret_key: String,
}

impl S3Server {
    fn start(python: &Path) -> Res<S3Server> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/s3/serve.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg("seaweedfs")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .ctx("starting tests/s3/serve.py")?;
        let stdin = child.stdin.take();
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out)
                .read_line(&mut line)
                .ctx("reading the S3 server's address")?;
        }
        let v: Value = serde_json::from_str(&line)
            .map_err(|e| format!("SeaweedFS did not start ({e}): {line:?}"))?;
        let field = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        Ok(S3Server {
            child,
            stdin,
            endpoint: field("endpoint"),
            access_key: field("access_key"),
            secret_key: field("secret_key"),
        })
    }

    fn region_and_credentials(&self) -> Res<(s3::Region, s3::creds::Credentials)> {
        let region = s3::Region::Custom {
            region: REGION.into(),
            endpoint: self.endpoint.clone(),
        };
        let creds = s3::creds::Credentials::new(
            Some(&self.access_key),
            Some(&self.secret_key),
            None,
            None,
            None,
        )
        .ctx("S3 credentials")?;
        Ok((region, creds))
    }

    fn bucket(&self, name: &str) -> Res<Box<s3::Bucket>> {
        let (region, creds) = self.region_and_credentials()?;
        Ok(s3::Bucket::new(name, region, creds)
            .ctx("S3 bucket")?
            .with_path_style())
    }

    fn create_bucket(&self, name: &str) -> Res<()> {
        let (region, creds) = self.region_and_credentials()?;
        let config = s3::BucketConfiguration::default();
        s3::Bucket::create_with_path_style(name, region, creds, config)
            .ctx("creating the bench bucket")?;
        Ok(())
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// A running `exportd serve` on a data directory.
struct Daemon {
    child: Child,
    addr: SocketAddr,
}

fn free_port() -> Res<u16> {
    let l = TcpListener::bind("127.0.0.1:0").ctx("finding a free port")?;
    Ok(l.local_addr().ctx("finding a free port")?.port())
}

impl Daemon {
    /// Writes the config and starts the daemon; returns once `/healthz` answers.
    fn start(o: &Opts, dir: &Path, s3: Option<&S3Server>) -> Res<Daemon> {
        std::fs::create_dir_all(dir.join("data")).ctx("creating the data directory")?;
        let port = free_port()?;
        let allowed = s3
            .map(|s| format!("\"{}\"", s.endpoint))
            .unwrap_or_default();
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[storage]\ndata_dir = {:?}\n\n\
             [s3]\nallowed_endpoints = [{allowed}]\n\n\
             [[auth.keys]]\nname = \"bench\"\ntenant_id = \"{TENANT}\"\nenvironment_id = \"{ENVIRONMENT}\"\nkey_sha256 = \"{}\"\n",
            dir.join("data"),
            exportd::secrets::to_hex(&exportd::auth::hash_key(KEY)),
        );
        let config_path = dir.join("exportd.toml");
        std::fs::write(&config_path, config).ctx("writing the config")?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("daemon.log"))
            .ctx("opening the daemon log")?;
        let child = Command::new(&o.exportd)
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .ctx(&format!("starting {}", o.exportd.display()))?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut d = Daemon { child, addr };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = d.child.try_wait() {
                return Err(format!(
                    "exportd exited at start ({status}); see {}",
                    dir.join("daemon.log").display()
                ));
            }
            if let Ok((200, _)) = Http::new(addr).request("GET", "/healthz", None) {
                return Ok(d);
            }
            if Instant::now() > deadline {
                d.stop();
                return Err("exportd did not answer /healthz within 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn client(&self) -> Http {
        Http::new(self.addr)
    }

    /// Peak resident memory so far (VmHWM), in bytes.
    fn peak_rss(&self) -> Res<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .ctx("reading /proc/<pid>/status")?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kb| kb * 1024.0)
            .ok_or_else(|| "no VmHWM in /proc/<pid>/status".into())
    }

    /// utime + stime so far, in clock ticks.
    fn cpu_ticks(&self) -> Res<u64> {
        // utime and stime are fields 14 and 15, so 11 and 12 after the state.
        stat_ticks(&format!("/proc/{}/stat", self.pid()), 11)
    }

    /// SIGTERM, then wait for the exit.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A small keep-alive HTTP/1.1 client (the daemon always answers with Content-Length).

struct Http {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
    request: Vec<u8>,
}

impl Http {
    fn new(addr: SocketAddr) -> Http {
        Http {
            addr,
            conn: None,
            request: Vec::with_capacity(1024),
        }
    }

    fn request(&mut self, method: &str, path: &str, body: Option<&[u8]>) -> Res<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        let status = self.send(method, path, body, &mut out)?;
        Ok((status, out))
    }

    /// Sends one request with the bench key, reading the answer's body into `out`; retries
    /// once on a fresh connection when a kept-alive one was closed.
    fn send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        out: &mut Vec<u8>,
    ) -> Res<u16> {
        let fresh = self.conn.is_none();
        match self.try_send(method, path, body, out) {
            Ok(status) => Ok(status),
            Err(_) if !fresh => {
                self.conn = None;
                self.try_send(method, path, body, out)
                    .ctx(&format!("{method} {path}"))
            }
            Err(e) => {
                self.conn = None;
                Err(format!("{method} {path}: {e}"))
            }
        }
    }

    fn try_send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        out: &mut Vec<u8>,
    ) -> std::io::Result<u16> {
        if self.conn.is_none() {
            let s = TcpStream::connect(self.addr)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(600)))?;
            self.conn = Some(BufReader::with_capacity(64 * 1024, s));
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(std::io::Error::other("no connection"));
        };
        self.request.clear();
        let body = body.unwrap_or_default();
        let _ = write!(
            self.request,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nx-api-key: {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        let stream = conn.get_mut();
        if body.len() < 16 * 1024 {
            self.request.extend_from_slice(body);
            stream.write_all(&self.request)?;
        } else {
            stream.write_all(&self.request)?;
            stream.write_all(body)?;
        }
        let mut line = String::new();
        if conn.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut length = 0usize;
        let mut close = false;
        loop {
            line.clear();
            conn.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("connection")
                    && value.trim().eq_ignore_ascii_case("close")
                {
                    close = true;
                }
            }
        }
        out.clear();
        out.resize(length, 0);
        conn.read_exact(out)?;
        if close {
            self.conn = None;
        }
        Ok(status)
    }

    /// A JSON request that must answer `want`.
    fn json(&mut self, method: &str, path: &str, body: Option<Value>, want: u16) -> Res<Value> {
        let bytes = body.map(|b| b.to_string().into_bytes());
        let (status, out) = self.request(method, path, bytes.as_deref())?;
        let text = String::from_utf8_lossy(&out);
        if status != want {
            return Err(format!("{method} {path}: HTTP {status} {text}"));
        }
        serde_json::from_slice(&out).ctx(&format!("{method} {path}: not JSON"))
    }

    /// POSTs `body` to `path`, which must answer 201; returns the new object's id.
    fn create(&mut self, path: &str, body: Value) -> Res<String> {
        id_of(&self.json("POST", path, Some(body), 201)?)
    }

    /// A connection to the managed (directory) destination; returns its id.
    fn managed_connection(&mut self) -> Res<String> {
        self.create(
            "/v1/connections",
            json!({"name": "bench directory", "provider_type": "s3",
                "sync_config": {"s3": {"is_flexprice_managed": true}}}),
        )
    }
}

fn id_of(v: &Value) -> Res<String> {
    v["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no id in {v}"))
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Data: realistic events, written straight into a fresh store.

/// xorshift64*: fast, seedable, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const EVENT_NAMES: [(&str, u64); 5] = [
    ("api_call", 50),
    ("compute_seconds", 15),
    ("llm_tokens", 20),
    ("storage_gb", 10),
    ("email_sent", 5),
];
const REGIONS: [&str; 4] = ["us-east-1", "us-west-2", "eu-west-1", "ap-south-1"];
const SOURCES: [Option<&str>; 3] = [Some("sdk"), Some("api"), None];

/// One event's fields, written into reused buffers: (id, name, customer, source, timestamp
/// offset, properties).
struct GenEvent {
    id: String,
    name: &'static str,
    customer: String,
    source: Option<&'static str>,
    lateness_ms: i64,
    properties: String,
}

impl GenEvent {
    fn new() -> GenEvent {
        GenEvent {
            id: String::with_capacity(40),
            name: "",
            customer: String::with_capacity(16),
            source: None,
            lateness_ms: 0,
            properties: String::with_capacity(128),
        }
    }

    /// A client-chosen event id (a random UUID), a customer, and properties of a few keys
    /// that depend on the event name (sorted keys, compact, as ingest stores them).
    fn fill(&mut self, r: &mut Rng) {
        let (a, b) = (r.next(), r.next());
        self.id.clear();
        let _ = write!(
            self.id,
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        );
        let mut pick = r.below(100);
        self.name = EVENT_NAMES
            .iter()
            .find(|(_, weight)| {
                if pick < *weight {
                    true
                } else {
                    pick -= weight;
                    false
                }
            })
            .map_or("api_call", |(n, _)| n);
        self.customer.clear();
        // A few customers send most events.
        let c = r.below(CUSTOMERS).min(r.below(CUSTOMERS));
        let _ = write!(self.customer, "cus_{c:05}");
        self.source = SOURCES[r.below(3) as usize];
        self.lateness_ms = r.below(120_000) as i64;
        let region = REGIONS[r.below(4) as usize];
        self.properties.clear();
        let p = &mut self.properties;
        let _ = match self.name {
            "api_call" => write!(
                p,
                r#"{{"method":"{}","path":"/v1/orders/{}","region":"{region}","status":{}}}"#,
                ["GET", "POST", "PUT"][r.below(3) as usize],
                r.below(1_000_000),
                [200, 200, 200, 201, 404, 500][r.below(6) as usize]
            ),
            "compute_seconds" => write!(
                p,
                r#"{{"instance":"{}","region":"{region}","seconds":{}}}"#,
                ["m5.large", "c6g.xlarge", "t3.micro"][r.below(3) as usize],
                r.below(3600)
            ),
            "llm_tokens" => write!(
                p,
                r#"{{"input_tokens":{},"model":"{}","output_tokens":{}}}"#,
                r.below(8000),
                ["gpt-4o-mini", "claude-haiku", "llama-3-70b"][r.below(3) as usize],
                r.below(2000)
            ),
            "storage_gb" => write!(
                p,
                r#"{{"bucket":"assets-{}","gb":{}.{},"region":"{region}"}}"#,
                r.below(100),
                r.below(500),
                r.below(10)
            ),
            _ => write!(
                p,
                r#"{{"campaign":"onboarding-{}","recipients":{},"template":"welcome"}}"#,
                r.below(10),
                1 + r.below(5)
            ),
        };
    }
}

/// Fills a fresh store with `rows` events spread over the window (plus the customers most of
/// them name, so the export's customer lookup finds something).
fn generate(db: &Path, rows: u64) -> Res<()> {
    let store = Store::open(db).ctx("opening the bench store")?;
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    store
        .write(|tx| {
            tx.execute_batch("PRAGMA cache_size = -1048576")?;
            let mut stmt = tx.prepare(
                "INSERT INTO customers (id, tenant_id, environment_id, external_id, name, email,
                     created_at, updated_at, created_by, updated_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 'bench', 'bench')",
            )?;
            // 80% of the customers that send events exist in the ledger.
            for c in 0..CUSTOMERS * 8 / 10 {
                stmt.execute(rusqlite::params![
                    format!("cust_{:016x}{:010x}", r.next(), c),
                    TENANT,
                    ENVIRONMENT,
                    format!("cus_{c:05}"),
                    format!("Customer {c}"),
                    format!("billing+{c}@example.com"),
                    WINDOW_START - 86_400_000,
                ])?;
            }
            Ok::<_, StoreError>(())
        })
        .ctx("inserting customers")?;
    let started = Instant::now();
    let mut e = GenEvent::new();
    let span = (WINDOW_END - WINDOW_START) as u64;
    let mut done = 0u64;
    while done < rows {
        let batch = (rows - done).min(200_000);
        store
            .write(|tx| {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO events (tenant_id, environment_id, id, event_name,
                         external_customer_id, customer_id, source, timestamp, ingested_at, properties)
                     VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7, ?8, ?9)",
                )?;
                for i in done..done + batch {
                    e.fill(&mut r);
                    // Events arrive in order over the window (the ingest clock is monotonic).
                    let ingested_at = WINDOW_START + (i as u128 * span as u128 / rows as u128) as i64;
                    stmt.execute(rusqlite::params![
                        TENANT,
                        ENVIRONMENT,
                        e.id,
                        e.name,
                        e.customer,
                        e.source,
                        ingested_at - e.lateness_ms,
                        ingested_at,
                        e.properties,
                    ])?;
                }
                Ok::<_, StoreError>(())
            })
            .ctx("inserting events")?;
        done += batch;
        eprint!(
            "\rexportd-bench: generated {} of {} events ({:.0} s)",
            thousands(done),
            thousands(rows),
            started.elapsed().as_secs_f64()
        );
    }
    eprintln!();
    store.close().ctx("closing the bench store")?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Export.

/// What one export run measured.
struct ExportRun {
    wall: f64,
    /// The daemon's user + system CPU, start-up included.
    cpu: f64,
    rows: f64,
    csv_bytes: f64,
    stored_bytes: f64,
    peak_rss: f64,
    object_key: String,
}

/// Force-runs the window on `task` in a freshly started daemon; the daemon's peak RSS covers
/// this export only.
fn export_once(o: &Opts, dir: &Path, s3: &S3Server, task: &str) -> Res<ExportRun> {
    let daemon = Daemon::start(o, dir, Some(s3))?;
    let mut c = daemon.client();
    let body = json!({"start_time": rfc3339(WINDOW_START), "end_time": rfc3339(WINDOW_END)});
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
        object_key: run["object_key"].as_str().unwrap_or_default().to_owned(),
    })
}

/// The query a user would write for the same 19 columns, in the same order (empty columns are
/// NULL, which sqlite3 prints as an empty cell, as exportd does).
fn pipeline_sql() -> String {
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
fn pipeline_once(o: &Opts, db: &Path, s3: &S3Server, key: &str) -> Res<f64> {
    let script = format!(
        "set -euo pipefail; \"$SQLITE3\" -csv -header -newline $'\\n' \"$DB\" \"$SQL\" | gzip -6 | \"$AWS\" s3 cp --only-show-errors - \"s3://{BUCKET}/{key}\" --endpoint-url \"$ENDPOINT\""
    );
    let started = Instant::now();
    let status = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("SQLITE3", &o.sqlite3)
        .env("DB", db)
        .env("SQL", pipeline_sql())
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
struct HashingWriter {
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
fn csv_digest(s3: &S3Server, key: &str, work: &Path, keep: Option<&Path>) -> Res<(String, u64)> {
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
    Ok((exportd::secrets::to_hex(&out.hasher.finalize()), out.len))
}

/// The exports measured: (compression, level, destination). Uncompressed CSV to a directory
/// shows what reading and formatting alone take, the floor under the others.
const EXPORTS: [(&str, u32, &str); 5] = [
    ("gzip", 6, "SeaweedFS"),
    ("zstd", 3, "SeaweedFS"),
    ("gzip", 6, "directory"),
    ("zstd", 3, "directory"),
    ("none", 6, "directory"),
];

/// "CSV+gzip-6", or "CSV" without compression.
fn format_label(compression: &str, level: u32) -> String {
    if compression == "none" {
        "CSV".into()
    } else {
        format!("CSV+{compression}-{level}")
    }
}

fn export_bench(o: &Opts, work: &Path, results: &mut Results) -> Res<()> {
    let dir = work.join("export");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).ctx("creating the export data directory")?;
    let db = dir.join("data/exportd.db");
    generate(&db, o.rows)?;

    let s3 = S3Server::start(&o.test_python)?;
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
        for (compression, level, dest) in EXPORTS {
            let prefix = format!("exportd-{compression}");
            let body = if dest == "SeaweedFS" {
                json!({"connection_id": conn, "entity_type": "events", "interval": "daily",
                    "job_config": {"bucket": BUCKET, "region": REGION, "endpoint_url": s3.endpoint,
                        "use_path_style": true, "key_prefix": prefix, "compression": compression,
                        "compression_level": level, "encryption": "none"}})
            } else {
                json!({"connection_id": managed, "entity_type": "events", "interval": "daily",
                    "job_config": {"key_prefix": prefix, "compression": compression,
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
        for ((compression, level, dest), task) in EXPORTS.iter().zip(&tasks) {
            let r = export_once(o, &dir, &s3, task)?;
            if r.rows != rows {
                return Err(format!("the export wrote {} rows, expected {rows}", r.rows));
            }
            eprintln!(
                "exportd-bench: {} to {dest}: {:.2} s, {:.2} CPU-s, {:.1} MiB stored, {:.1} MiB peak",
                format_label(compression, *level),
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
        for ((compression, level, dest), r) in EXPORTS.iter().zip(&runs) {
            let format = format_label(compression, *level);
            let what = format!("export {n} rows, {format}, to {dest}");
            let target = if *dest == "SeaweedFS" && *compression == "gzip" {
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
        }
        let (gzip, zstd) = (&runs[0], &runs[1]);
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
    }
    if let Some(path) = csv_path {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Runs a compression floor, `command` on the CSV at `$CSV` in bash, its output counted by
/// `wc -c`; returns its wall time, CPU-seconds and output bytes.
fn floor(command: &str, csv: &Path) -> Res<(f64, f64, f64)> {
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
fn children_cpu() -> Res<f64> {
    // cutime and cstime are fields 16 and 17, so 13 and 14 after the state.
    Ok(stat_ticks("/proc/self/stat", 13)? as f64 / clock_ticks()?)
}

/// The sum of two neighbouring tick counts of a `/proc/<pid>/stat`, the first at `index`
/// counting from the state (field 3).
fn stat_ticks(path: &str, index: usize) -> Res<u64> {
    let stat = std::fs::read_to_string(path).ctx(&format!("reading {path}"))?;
    // The command name (field 2) may hold spaces: count after its closing parenthesis.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> Res<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("bad {path}"))
    };
    Ok(field(index)? + field(index + 1)?)
}

// ---------------------------------------------------------------------------------------------
// Ingest.

/// Request bodies of 1000 events each: with `client_ids`, each event carries its own random
/// `event_id` (a UUID) and a `timestamp` up to two minutes before it is sent; without, the
/// events name neither, and exportd gives them time-ordered ids and the time of arrival.
fn bulk_bodies(count: usize, client_ids: bool) -> Vec<Vec<u8>> {
    let mut r = Rng(0x5151_5151_0000_0001);
    let mut e = GenEvent::new();
    let base = jiff::Timestamp::now().as_millisecond() - 3_600_000;
    (0..count)
        .map(|_| {
            let mut body = String::with_capacity(EVENTS_PER_REQUEST * 300);
            body.push_str("{\"events\":[");
            for i in 0..EVENTS_PER_REQUEST {
                e.fill(&mut r);
                if i > 0 {
                    body.push(',');
                }
                let source = e
                    .source
                    .map(|s| format!(",\"source\":\"{s}\""))
                    .unwrap_or_default();
                let client = if client_ids {
                    format!(
                        r#""event_id":"{}","timestamp":"{}","#,
                        e.id,
                        rfc3339(base - e.lateness_ms)
                    )
                } else {
                    String::new()
                };
                let _ = write!(
                    body,
                    r#"{{{client}"event_name":"{}","external_customer_id":"{}"{source},"properties":{}}}"#,
                    e.name, e.customer, e.properties
                );
            }
            body.push_str("]}");
            body.into_bytes()
        })
        .collect()
}

fn ingest_bench(o: &Opts, work: &Path, results: &mut Results) -> Res<()> {
    for client_ids in [true, false] {
        ingest_runs(o, work, results, client_ids)?;
    }
    Ok(())
}

fn ingest_runs(o: &Opts, work: &Path, results: &mut Results, client_ids: bool) -> Res<()> {
    const REQUESTS: usize = 300;
    const CONNECTIONS: usize = 4;
    let bodies = Arc::new(bulk_bodies(REQUESTS, client_ids));
    let kind = if client_ids {
        "events with their own random event_id and timestamp"
    } else {
        "events without event_id or timestamp"
    };
    for i in 0..o.runs {
        let dir = work.join("ingest");
        let _ = std::fs::remove_dir_all(&dir);
        let daemon = Daemon::start(o, &dir, None)?;
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let threads: Vec<_> = (0..CONNECTIONS)
            .map(|_| {
                let (bodies, next, addr) = (bodies.clone(), next.clone(), daemon.addr);
                std::thread::spawn(move || -> Res<()> {
                    let mut c = Http::new(addr);
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(body) = bodies.get(i) else {
                            return Ok(());
                        };
                        let status = c.send("POST", "/v1/events/bulk", Some(body), &mut out)?;
                        if status != 202 {
                            return Err(format!(
                                "bulk ingest: HTTP {status} {}",
                                String::from_utf8_lossy(&out)
                            ));
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().map_err(|_| "an ingest thread panicked")??;
        }
        let secs = started.elapsed().as_secs_f64();
        let events = (REQUESTS * EVENTS_PER_REQUEST) as f64;
        eprintln!(
            "exportd-bench: ingest run {} of {} ({kind}): {:.0} events/s",
            i + 1,
            o.runs,
            events / secs
        );
        results.add(
            &format!(
                "ingest: events/s via POST /v1/events/bulk ({EVENTS_PER_REQUEST} per request, {CONNECTIONS} connections), {kind}"
            ),
            Unit::PerSecond,
            events / secs,
            "≥ 100,000 /s",
        );
        drop(daemon);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// API.

/// Latency percentile of sorted microseconds, in milliseconds.
fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

/// `connections` clients, each with a request answered, opened one after another, so that
/// connection setup (a thread per connection) is not part of what is measured.
fn connected(addr: SocketAddr, path: &str, connections: usize) -> Res<Vec<Http>> {
    (0..connections)
        .map(|_| {
            let mut c = Http::new(addr);
            let (status, _) = c.request("GET", path, None)?;
            if status != 200 {
                return Err(format!("GET {path}: HTTP {status}"));
            }
            Ok(c)
        })
        .collect()
}

/// Closed loop: `connections` clients each send the next request as soon as the last one is
/// answered, for `duration`; returns requests/s.
fn closed_loop(addr: SocketAddr, path: &str, connections: usize, duration: Duration) -> Res<f64> {
    let clients = connected(addr, path, connections)?;
    let started = Instant::now();
    let threads: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            let path = path.to_owned();
            std::thread::spawn(move || -> Res<u64> {
                let mut out = Vec::new();
                let mut n = 0;
                while started.elapsed() < duration {
                    let status = c.send("GET", &path, None, &mut out)?;
                    if status != 200 {
                        return Err(format!("GET {path}: HTTP {status}"));
                    }
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    let mut total = 0;
    for t in threads {
        total += t.join().map_err(|_| "a load thread panicked")??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// Open loop at a fixed total rate over `connections` clients; each latency is measured from
/// when the request was due, so a stall counts for every request it delays. Returns the
/// sorted latencies in microseconds and the rate achieved.
fn fixed_rate(
    addr: SocketAddr,
    path: &str,
    connections: usize,
    rate: u64,
    duration: Duration,
) -> Res<(Vec<u64>, f64)> {
    let per_conn = Duration::from_nanos(1_000_000_000 * connections as u64 / rate);
    let count = (duration.as_secs_f64() * rate as f64 / connections as f64) as u64;
    let clients = connected(addr, path, connections)?;
    let started = Instant::now() + Duration::from_millis(50);
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(k, mut c)| {
            let path = path.to_owned();
            std::thread::spawn(move || -> Res<Vec<u64>> {
                let mut out = Vec::new();
                let offset = per_conn * k as u32 / connections as u32;
                let mut latencies = Vec::with_capacity(count as usize);
                for i in 0..count {
                    let due = started + offset + per_conn * i as u32;
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    let status = c.send("GET", &path, None, &mut out)?;
                    if status != 200 {
                        return Err(format!("GET {path}: HTTP {status}"));
                    }
                    latencies.push(due.elapsed().as_micros() as u64);
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        all.extend(t.join().map_err(|_| "a load thread panicked")??);
    }
    let achieved = all.len() as f64 / (Instant::now() - started).as_secs_f64();
    all.sort_unstable();
    Ok((all, achieved))
}

fn api_bench(o: &Opts, work: &Path, results: &mut Results) -> Res<()> {
    let dir = work.join("api");
    let _ = std::fs::remove_dir_all(&dir);
    let daemon = Daemon::start(o, &dir, None)?;
    let mut c = daemon.client();
    let conn = c.managed_connection()?;
    let task = c.create(
        "/v1/tasks/scheduled",
        json!({"connection_id": conn, "entity_type": "events", "interval": "hourly",
            "enabled": true, "job_config": {"key_prefix": "api", "compression": "gzip"}}),
    )?;
    let path = format!("/v1/tasks/scheduled/{task}");
    // Warm up connections and caches.
    closed_loop(daemon.addr, &path, 4, Duration::from_secs(1))?;
    for i in 0..o.runs {
        let rps = closed_loop(daemon.addr, &path, 8, Duration::from_secs(5))?;
        let (lat, achieved) = fixed_rate(daemon.addr, &path, 8, API_RATE, Duration::from_secs(10))?;
        let (p50, p99, max) = (
            percentile_ms(&lat, 0.50),
            percentile_ms(&lat, 0.99),
            percentile_ms(&lat, 1.0),
        );
        eprintln!(
            "exportd-bench: API run {} of {}: {rps:.0} req/s closed loop; at {achieved:.0} req/s p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms",
            i + 1,
            o.runs
        );
        results.add(
            "API: GET /v1/tasks/scheduled/{id} requests/s (8 connections, closed loop)",
            Unit::PerSecond,
            rps,
            "",
        );
        results.add(
            "API: p50 latency at 2,000 req/s (8 connections, open loop)",
            Unit::Millis,
            p50,
            "",
        );
        results.add(
            "API: p99 latency at 2,000 req/s (8 connections, open loop)",
            Unit::Millis,
            p99,
            "< 5 ms",
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Idle.

fn clock_ticks() -> Res<f64> {
    let out = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ctx("getconf CLK_TCK")?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .ctx("getconf CLK_TCK")
}

fn idle_bench(o: &Opts, work: &Path, results: &mut Results) -> Res<()> {
    let dir = work.join("idle");
    let _ = std::fs::remove_dir_all(&dir);
    let daemon = Daemon::start(o, &dir, None)?;
    let mut c = daemon.client();
    let conn = c.managed_connection()?;
    // Daily tasks: the first window of each ends at the next midnight UTC, so none is due
    // during the measurement.
    // Identical tasks, which never run during the measurement: they share their output
    // knowingly (without the opt-in the second would be refused with a 409).
    let body = json!({"connection_id": conn, "entity_type": "events", "interval": "daily",
        "enabled": true, "job_config": {"key_prefix": "idle", "compression": "gzip",
            "allow_shared_output": true}})
    .to_string();
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (next, addr, body) = (next.clone(), daemon.addr, body.clone());
            std::thread::spawn(move || -> Res<()> {
                let mut c = Http::new(addr);
                let mut out = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < IDLE_TASKS {
                    let status = c.send(
                        "POST",
                        "/v1/tasks/scheduled",
                        Some(body.as_bytes()),
                        &mut out,
                    )?;
                    if status != 201 {
                        return Err(format!(
                            "creating a task: HTTP {status} {}",
                            String::from_utf8_lossy(&out)
                        ));
                    }
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "a task thread panicked")??;
    }
    eprintln!(
        "exportd-bench: created {} enabled tasks in {:.1} s",
        thousands(IDLE_TASKS as u64),
        started.elapsed().as_secs_f64()
    );
    drop(c);
    std::thread::sleep(Duration::from_secs(5));
    let hz = clock_ticks()?;
    let seconds = o.idle_seconds;
    for i in 0..o.runs {
        let before = daemon.cpu_ticks()?;
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_secs(seconds));
        let ticks = daemon.cpu_ticks()? - before;
        let percent = ticks as f64 / hz / t0.elapsed().as_secs_f64() * 100.0;
        eprintln!(
            "exportd-bench: idle run {} of {}: {ticks} ticks in {seconds} s = {percent:.2} % of one core",
            i + 1,
            o.runs
        );
        results.add(
            &format!(
                "idle CPU with {} enabled tasks (utime+stime over {seconds} s, % of one core)",
                thousands(IDLE_TASKS as u64)
            ),
            Unit::Percent,
            percent,
            "< 1 %",
        );
    }
    Ok(())
}
