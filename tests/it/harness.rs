//! The test vocabulary: start the real `exportd` binary on a free port with a temporary data
//! directory, talk HTTP to it with a raw client (so tests can send anything, including bytes
//! no well-behaved client would), and stop it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// API key of tenant `acme`, environment `prod`.
pub(crate) const KEY_PROD: &str = "test-key-prod-0123456789abcdef";
/// API key of tenant `acme`, environment `staging`.
pub(crate) const KEY_STAGING: &str = "test-key-staging-0123456789abcdef";
/// An S3 endpoint the test config allows although it is plain http on loopback.
pub(crate) const ALLOWED_ENDPOINT: &str = "http://127.0.0.1:9";

/// Where the suite collects every daemon's log and every secret it hands out, so that
/// `suite_logs::no_log_line_of_the_suite_holds_a_secret` (run by scripts/test.sh after the
/// suite) can look for one in the other.
pub(crate) fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("suite")
}

/// Records a secret the suite uses beyond the fixed ones (a test server's key, say).
pub(crate) fn note_secret(secret: &str) {
    let dir = suite_dir();
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("secrets"))
    {
        let _ = writeln!(f, "{secret}");
    }
}

/// A file that collects logs for the suite (see [`suite_dir`]): one per daemon, one per test
/// process for the commands it runs.
fn suite_log(name: &str) -> Option<std::fs::File> {
    let dir = suite_dir().join("logs");
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.log")))
        .ok()
}

pub(crate) fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_exportd")
}

/// What `[[auth.keys]]` holds of a key: its SHA-256, in hex.
pub(crate) fn hash_hex(key: &str) -> String {
    sha256_hex(key.as_bytes())
}

/// How to start a daemon.
pub(crate) struct Setup {
    keys: bool,
    extra_config: String,
    server: String,
    storage: String,
    wrapper: Vec<String>,
    scheduler: String,
    clock: Option<String>,
    env: Vec<(String, String)>,
    dir: Option<tempfile::TempDir>,
}

impl Setup {
    /// Two keys (prod and staging of tenant acme) and the test endpoint allowlist.
    pub(crate) fn new() -> Setup {
        Setup {
            keys: true,
            extra_config: String::new(),
            server: String::new(),
            storage: String::new(),
            wrapper: Vec::new(),
            scheduler: String::new(),
            clock: None,
            env: Vec::new(),
            dir: None,
        }
    }

    /// No `[[auth.keys]]`: the daemon makes a development key.
    pub(crate) fn without_keys(mut self) -> Setup {
        self.keys = false;
        self
    }

    /// More TOML appended to the config file.
    pub(crate) fn config(mut self, toml: &str) -> Setup {
        self.extra_config.push_str(toml);
        self.extra_config.push('\n');
        self
    }

    /// More keys of the `[server]` section.
    pub(crate) fn server(mut self, keys: &str) -> Setup {
        self.server.push_str(keys);
        self.server.push('\n');
        self
    }

    /// More keys of the `[storage]` section.
    pub(crate) fn storage(mut self, keys: &str) -> Setup {
        self.storage.push_str(keys);
        self.storage.push('\n');
        self
    }

    /// Starts the daemon through a command that execs it (`prlimit ... --`, `sh -c ...`), so
    /// its pid is the daemon's.
    pub(crate) fn wrapped(mut self, command: &[&str]) -> Setup {
        self.wrapper = command.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Keys of the `[scheduler]` section.
    pub(crate) fn scheduler(mut self, keys: &str) -> Setup {
        self.scheduler.push_str(keys);
        self.scheduler.push('\n');
        self
    }

    /// Runs on a test clock (`clock.txt` in the test directory) that starts at `time`, unless
    /// the directory already has one (a restart keeps the time where the test left it).
    pub(crate) fn clock(mut self, time: &str) -> Setup {
        self.clock = Some(time.to_owned());
        self
    }

    /// Runs on the test clock the directory (given with [`Setup::in_dir`]) already has.
    pub(crate) fn clock_from_dir(mut self) -> Setup {
        self.clock = Some(String::new());
        self
    }

    pub(crate) fn env(mut self, key: &str, value: &str) -> Setup {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Reuse a data directory (to restart a daemon on the same database).
    pub(crate) fn in_dir(mut self, dir: tempfile::TempDir) -> Setup {
        self.dir = Some(dir);
        self
    }

    fn write_config(&self, dir: &Path) -> PathBuf {
        let mut toml = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nthreads = 4\n{}\n[storage]\ndata_dir = {:?}\n{}\n",
            self.server,
            dir.join("data"),
            self.storage
        );
        if let Some(start) = &self.clock {
            let path = dir.join("clock.txt");
            if !path.exists() {
                assert!(
                    !start.is_empty(),
                    "clock_from_dir needs a directory with a clock"
                );
                set_clock_file(dir, start);
            }
            toml.push_str(&format!(
                "[scheduler]\ntest_clock = {path:?}\n{}\n",
                self.scheduler
            ));
        } else if !self.scheduler.is_empty() {
            toml.push_str(&format!("[scheduler]\n{}\n", self.scheduler));
        }
        if !self.extra_config.contains("[s3]") {
            toml.push_str(&format!(
                "[s3]\nallowed_endpoints = [\"{ALLOWED_ENDPOINT}\"]\n\n"
            ));
        }
        if self.keys {
            for (name, env, key) in [
                ("prod", "prod", KEY_PROD),
                ("staging", "staging", KEY_STAGING),
            ] {
                toml.push_str(&format!(
                    "[[auth.keys]]\nname = \"{name}\"\ntenant_id = \"acme\"\nenvironment_id = \"{env}\"\nkey_sha256 = \"{}\"\n\n",
                    hash_hex(key)
                ));
            }
        }
        toml.push_str(&self.extra_config);
        let path = dir.join("exportd.toml");
        std::fs::write(&path, toml).expect("write config");
        path
    }

    /// Runs `exportd <args> --config <the config>` to completion in a new directory.
    pub(crate) fn run(&self, args: &[&str]) -> (ExitStatus, String, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        self.run_in(dir.path(), args)
    }

    /// The same in `dir`, a daemon's directory (see [`Daemon::terminate`]), so the command
    /// works on that daemon's state.
    pub(crate) fn run_in(&self, dir: &Path, args: &[&str]) -> (ExitStatus, String, String) {
        let config = self.write_config(dir);
        let child = Command::new(exe())
            .args(args)
            .arg("--config")
            .arg(&config)
            .envs(self.env.iter().cloned())
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run exportd");
        // A command that should end but serves instead (a `serve` that should be refused)
        // fails the test rather than hanging it.
        let pid = child.id();
        let (done, ended) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if ended.recv_timeout(LONG).is_err() {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
            }
        });
        let out = child.wait_with_output().expect("run exportd");
        let _ = done.send(());
        assert!(
            out.status.code().is_some(),
            "exportd {args:?} did not end within {LONG:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        // The command's log joins the suite's, like a daemon's. Its stdout is what was asked
        // for (a generated key, say), not a log.
        if let Some(mut f) = suite_log(&format!("cli-{}", std::process::id())) {
            let _ = f.write_all(stderr.as_bytes());
        }
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
        )
    }

    /// Starts `exportd serve` and waits until it listens.
    pub(crate) fn start(mut self) -> Daemon {
        let dir = self
            .dir
            .take()
            .unwrap_or_else(|| tempfile::tempdir().expect("tempdir"));
        let config = self.write_config(dir.path());
        let mut command = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(exe());
                c
            }
            None => Command::new(exe()),
        };
        command
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .envs(self.env.iter().cloned())
            .env_remove("EXPORTD_CONFIG")
            .current_dir(dir.path());
        let mut kept = suite_log(&format!("serve-{}", ulid::Ulid::new()));
        let each_line = move |line: &str| {
            if let Some(f) = kept.as_mut() {
                let _ = writeln!(f, "{line}");
            }
        };
        let process =
            exportd_testkit::daemon::Daemon::spawn(command, each_line, Duration::from_secs(20))
                .unwrap_or_else(|e| panic!("{e}"));
        Daemon {
            addr: process.addr,
            process,
            dir: Some(dir),
        }
    }
}

/// A running `exportd serve` (see [`exportd_testkit::daemon`]); killed when dropped.
pub(crate) struct Daemon {
    process: exportd_testkit::daemon::Daemon,
    pub addr: SocketAddr,
    dir: Option<tempfile::TempDir>,
}

impl Daemon {
    pub(crate) fn start() -> Daemon {
        Setup::new().start()
    }

    /// A client that sends the prod key.
    pub(crate) fn prod(&self) -> Client {
        Client::new(self.addr, Some(KEY_PROD))
    }

    /// A client that sends the staging key.
    pub(crate) fn staging(&self) -> Client {
        Client::new(self.addr, Some(KEY_STAGING))
    }

    pub(crate) fn client(&self, key: Option<&str>) -> Client {
        Client::new(self.addr, key)
    }

    /// Everything the daemon wrote to stderr so far.
    pub(crate) fn log(&self) -> String {
        self.process.log()
    }

    /// Passes the scheduler loop has begun (`exportd_scheduler_passes_total` in /metrics).
    pub(crate) fn scheduler_passes(&self) -> u64 {
        let metrics = self.client(None).get("/metrics").text();
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("exportd_scheduler_passes_total "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no exportd_scheduler_passes_total in /metrics:\n{metrics}"))
    }

    /// Waits until the scheduler has made a whole pass that began after this call: whatever
    /// it would do about the state of now (a moved clock, a paused task) has then been done and
    /// is visible. What a negative check waits on, instead of sleeping.
    pub(crate) fn wait_scheduler_pass(&self) {
        let start = self.scheduler_passes();
        wait_for("a whole scheduler pass", Duration::from_secs(60), || {
            self.scheduler_passes() >= start + 2
        });
    }

    /// Moves the test clock (see [`Setup::clock`]).
    pub(crate) fn set_clock(&self, time: &str) {
        set_clock_file(self.dir(), time);
    }

    pub(crate) fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub(crate) fn dir(&self) -> &Path {
        self.dir.as_ref().expect("dir").path()
    }

    /// Sends SIGTERM and waits for the exit; returns the status, the whole log and the data
    /// directory (to restart on it).
    pub(crate) fn terminate(mut self) -> (ExitStatus, String, tempfile::TempDir) {
        let status = self
            .process
            .terminate(Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("{e}"));
        (status, self.log(), self.dir.take().expect("dir"))
    }
}

/// How long tests wait for what takes a daemon a while (runs, billing jobs) on a busy machine.
pub(crate) const LONG: Duration = Duration::from_secs(120);

/// Polls `probe` every 20 ms until it answers `Ok`, and returns that answer. After `limit` it
/// fails, saying what was awaited and the last `Err` the probe gave (the state it saw).
pub(crate) fn eventually<T, E: std::fmt::Display>(
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> Result<T, E>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match probe() {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("timed out after {limit:?} waiting for {what}; last seen: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// [`eventually`] for a condition.
pub(crate) fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    eventually(what, limit, || if done() { Ok(()) } else { Err("not yet") });
}

/// Lower-case hex SHA-256, as runs record it.
pub(crate) use exportd_testkit::sha256_hex;

/// Writes the test clock of a test directory, atomically (the daemon reads it at any time).
pub(crate) fn set_clock_file(dir: &Path, time: &str) {
    let temp = dir.join("clock.txt.new");
    std::fs::write(&temp, time).expect("write the clock");
    std::fs::rename(&temp, dir.join("clock.txt")).expect("move the clock");
}

pub(crate) fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill -{name} {pid} failed");
}

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response {} is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the status and that the body is the JSON error shape; returns the body.
    pub fn error(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        let v = self.json();
        assert_eq!(v["http_status_code"], status, "{v}");
        assert!(v["code"].is_string() && v["message"].is_string(), "{v}");
        // Flexprice's envelope, which the JavaScript SDK reads, says the same.
        assert_eq!(v["success"], false, "{v}");
        assert_eq!(v["error"]["message"], v["message"], "{v}");
        v
    }

    /// Asserts a 400 validation error naming `field`, whose message contains `text`.
    pub fn invalid(&self, field: &str, text: &str) -> Value {
        let v = self.error(400);
        assert_eq!(v["code"], "validation_error", "{v}");
        assert_eq!(v["details"]["field"], field, "{v}");
        let message = v["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(text),
            "message {message:?} should contain {text:?}"
        );
        v
    }

    pub fn ok(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        self.json()
    }
}

/// A raw HTTP/1.1 client, one connection per request.
#[derive(Clone)]
pub struct Client {
    addr: SocketAddr,
    key: Option<String>,
    pub user_agent: String,
}

impl Client {
    pub fn new(addr: SocketAddr, key: Option<&str>) -> Client {
        Client {
            addr,
            key: key.map(str::to_owned),
            user_agent: "exportd-tests".into(),
        }
    }

    pub fn get(&self, path: &str) -> Response {
        self.send("GET", path, None)
    }

    pub fn delete(&self, path: &str) -> Response {
        self.send("DELETE", path, None)
    }

    pub fn post(&self, path: &str, body: Value) -> Response {
        self.send("POST", path, Some(body.to_string().as_bytes()))
    }

    pub fn put(&self, path: &str, body: Value) -> Response {
        self.send("PUT", path, Some(body.to_string().as_bytes()))
    }

    pub fn send(&self, method: &str, path: &str, body: Option<&[u8]>) -> Response {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: {}\r\n",
            self.addr, self.user_agent
        );
        if let Some(key) = &self.key {
            head.push_str(&format!("x-api-key: {key}\r\n"));
        }
        if let Some(body) = body {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        let mut raw = head.into_bytes();
        raw.extend_from_slice(body.unwrap_or_default());
        self.raw(&raw)
    }

    /// Sends bytes as they are and reads the response.
    pub fn raw(&self, request: &[u8]) -> Response {
        let mut stream = self.connect();
        // The server may answer (and stop reading) before a big body is sent; keep going so the
        // answer can still be read.
        let _ = stream.write_all(request);
        read_response(&mut stream)
    }

    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        stream
    }
}

/// GETs a plain `http://host:port/path` URL (a download link exportd signs) without a key.
pub(crate) fn fetch(url: &str) -> Response {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr: SocketAddr = host.parse().expect("host:port");
    Client::new(addr, None).get(if path.is_empty() { "/" } else { path })
}

/// Reads a whole response from a connection the server will close.
pub(crate) fn read_response(stream: &mut TcpStream) -> Response {
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no complete response head in {:?}",
                String::from_utf8_lossy(&raw)
            )
        });
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16)
            .expect("chunk size");
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

/// Ids and bodies used across tests.
pub(crate) mod fixtures {
    use super::*;
    use serde_json::json;

    pub(crate) const SECRET_KEY_ID: &str = "AKIAEXPORTDTEST0001";
    pub(crate) const SECRET_ACCESS_KEY: &str = "s3cr3t-Acc3ss-K3y-that-must-never-leak-0001";
    pub(crate) const SESSION_TOKEN: &str = "session-token-that-must-never-leak-0001";

    pub(crate) fn connection_body() -> Value {
        json!({
            "name": "Prod exports",
            "provider_type": "s3",
            "encrypted_secret_data": {
                "aws_access_key_id": SECRET_KEY_ID,
                "aws_secret_access_key": SECRET_ACCESS_KEY,
                "aws_session_token": SESSION_TOKEN,
            },
            "metadata": {"team": "billing"},
        })
    }

    /// Creates a managed connection (files under the daemon's `data/exports`); returns its id.
    pub(crate) fn managed_connection(c: &Client) -> String {
        let body = json!({"name": "local", "provider_type": "s3", "sync_config": {"s3": {"is_flexprice_managed": true}}});
        let v = c.post("/v1/connections", body).ok(201);
        v["id"].as_str().expect("id").to_owned()
    }

    /// Creates a connection and returns its id.
    pub(crate) fn connection(c: &Client) -> String {
        let v = c.post("/v1/connections", connection_body()).ok(201);
        v["id"].as_str().expect("id").to_owned()
    }

    pub(crate) fn task_body(connection_id: &str) -> Value {
        json!({
            "connection_id": connection_id,
            "entity_type": "events",
            "interval": "hourly",
            "enabled": true,
            // No server listens there: runs of these tasks fail fast ("connection refused").
            "job_config": {"bucket": "exports", "region": "us-east-1", "key_prefix": "flexprice-exports/", "compression": "gzip",
                           "endpoint_url": ALLOWED_ENDPOINT, "use_path_style": true},
        })
    }

    /// Ingests `count` events of about 1.2 KB of CSV each (`<prefix>-000000`...), in batches of
    /// 1000: enough bytes for uploads of many parts.
    pub(crate) fn ingest_big(c: &Client, prefix: &str, count: usize) {
        for batch in 0..count.div_ceil(1000) {
            let events: Vec<Value> = (batch * 1000..((batch + 1) * 1000).min(count))
                .map(|n| {
                    let pad: String = (0..1100).map(|j| char::from(b'a' + ((n * 7 + j) % 26) as u8)).collect();
                    json!({"event_id": format!("{prefix}-{n:06}"), "event_name": "bulk",
                           "external_customer_id": format!("cus_{}", n % 97), "properties": {"pad": pad, "n": n}})
                })
                .collect();
            let r = c.post("/v1/events/bulk", json!({ "events": events }));
            assert_eq!(r.status, 202, "{}", r.text());
        }
    }

    /// Creates a scheduled task on a new connection and returns the task id.
    pub(crate) fn task(c: &Client) -> String {
        let conn = connection(c);
        let v = c.post("/v1/tasks/scheduled", task_body(&conn)).ok(201);
        v["id"].as_str().expect("id").to_owned()
    }
}

/// The Python of the test virtualenv (`EXPORTD_TEST_VENV`, else `.ci/venv`), when it has the
/// test tools installed.
pub(crate) fn venv_python(module: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("EXPORTD_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/venv")));
    let python = venv.join("bin/python");
    let ok = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(python)
}

/// Fails under `CI=true`, otherwise prints why the test is skipped.
pub(crate) fn skip_or_fail(test: &str, reason: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but {reason}"
    );
    eprintln!("SKIPPED {test}: {reason}");
}

/// Region of every test bucket (moto refuses a LocationConstraint of us-east-1).
pub(crate) const S3_REGION: &str = "us-west-2";

/// A local S3 server (SeaweedFS or moto) run by `tests/s3/serve.py` (see
/// [`exportd_testkit::s3`]); the shared ones stop when this process exits and the supervisor's
/// stdin closes. What it can do beyond the testkit's, and its failures, are the tests'.
pub(crate) struct S3Server(exportd_testkit::s3::S3Server);

impl std::ops::Deref for S3Server {
    type Target = exportd_testkit::s3::S3Server;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

static SEAWEEDFS: std::sync::OnceLock<Option<S3Server>> = std::sync::OnceLock::new();
static MOTO: std::sync::OnceLock<Option<S3Server>> = std::sync::OnceLock::new();

impl S3Server {
    /// Starts a new server of this kind (not shared), or `None` without the test tools.
    pub(crate) fn start(kind: &'static str) -> Option<S3Server> {
        let python = venv_python("boto3")?;
        let server = exportd_testkit::s3::S3Server::start(&python, kind, S3_REGION)
            .unwrap_or_else(|e| panic!("{e}"));
        note_secret(&server.secret_key);
        Some(S3Server(server))
    }

    /// Takes the server down (connections are refused); its data stays.
    pub(crate) fn pause(&self) {
        self.0.command("stop", "stopped").unwrap();
    }

    /// Brings the server back on the same port with the same data (SeaweedFS only).
    pub(crate) fn resume(&self) {
        self.0.command("start", "started").unwrap();
    }

    pub(crate) fn shared(kind: &'static str) -> Option<&'static S3Server> {
        let cell = match kind {
            "seaweedfs" => &SEAWEEDFS,
            _ => &MOTO,
        };
        cell.get_or_init(|| S3Server::start(kind)).as_ref()
    }

    /// A rust-s3 client for one bucket, to check what the daemon wrote.
    pub(crate) fn bucket(&self, name: &str) -> Box<s3::Bucket> {
        self.0.bucket(name).unwrap()
    }

    /// A new, empty bucket.
    pub(crate) fn new_bucket(&self) -> String {
        self.0.new_bucket().unwrap()
    }

    pub(crate) fn create_bucket(&self, name: &str) {
        self.0.create_bucket(name).unwrap()
    }

    pub(crate) fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        self.0.get(bucket, key).unwrap()
    }

    /// Every key in the bucket.
    pub(crate) fn keys(&self, bucket: &str) -> Vec<String> {
        self.0.keys(bucket).unwrap()
    }

    /// Multipart uploads started and neither completed nor aborted. Listed with exportd's own
    /// signer: rust-s3 cannot parse SeaweedFS's list once it holds an upload (no StorageClass).
    pub(crate) fn open_uploads(&self, bucket: &str) -> usize {
        let url = url::Url::parse(&format!("{}/{bucket}?uploads", self.endpoint)).unwrap();
        let time = jiff::Timestamp::now()
            .strftime("%Y%m%dT%H%M%SZ")
            .to_string();
        let signer = exportd::sigv4::Signer {
            access_key: &self.access_key,
            secret_key: &self.secret_key,
            session_token: None,
            region: S3_REGION,
        };
        let mut request = attohttpc::get(url.as_str());
        for (name, value) in signer.sign("GET", &url, &[], &sha256_hex(b""), &time) {
            request = request.header(
                attohttpc::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value,
            );
        }
        let body = request.send().unwrap().text().unwrap();
        assert!(
            body.contains("ListMultipartUploadsResult"),
            "{}: {body}",
            self.kind
        );
        body.matches("<Upload>").count()
    }

    /// The config line that allows this server as an endpoint.
    pub(crate) fn allow(&self) -> String {
        format!(
            "[s3]\nallowed_endpoints = [\"{ALLOWED_ENDPOINT}\", \"{}\"]\n",
            self.endpoint
        )
    }
}

/// The shared SeaweedFS, or `None` (with the skip reason printed) when it is not installed.
pub(crate) fn seaweedfs(test: &str) -> Option<&'static S3Server> {
    let server = S3Server::shared("seaweedfs");
    if server.is_none() {
        skip_or_fail(
            test,
            "SeaweedFS is not installed (run scripts/test.sh, or set EXPORTD_TEST_VENV)",
        );
    }
    server
}

/// Parses an RFC 3339 timestamp from a response.
pub(crate) fn timestamp(text: &str) -> jiff::Timestamp {
    text.parse()
        .unwrap_or_else(|e| panic!("{text:?} is not a timestamp: {e}"))
}

/// Both shared servers, or none (with the skip reason printed) when the tools are missing.
pub(crate) fn s3_servers(test: &str) -> Vec<&'static S3Server> {
    let servers: Vec<_> = ["seaweedfs", "moto"]
        .into_iter()
        .filter_map(S3Server::shared)
        .collect();
    if servers.len() < 2 {
        skip_or_fail(
            test,
            "the S3 test servers are not installed (run scripts/test.sh, or set EXPORTD_TEST_VENV)",
        );
        return Vec::new();
    }
    servers
}
