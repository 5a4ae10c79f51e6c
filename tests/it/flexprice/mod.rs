//! Test infrastructure for the Flexprice source (issues 15 and 16): a real PostgreSQL 15 and a
//! real ClickHouse 18.16 started on loopback once per test process, Flexprice's schemas
//! (tests/flexprice/*.sql, our own text), a generated data set, the CSV every export of it
//! must give (computed from the data set, not by SQL), and chdb-core to prove exportd's
//! ClickHouse SQL on a modern engine with Flexprice's DDL as written.
//!
//! A golden test (see [`golden`]):
//! ```ignore
//! use crate::flexprice::{self, Golden, dataset::Dataset, expected::{Entity, Export}};
//! const TEST: &str = "invoices_by_updated_at";
//! let ds = Dataset::standard();
//! let Some(pg) = flexprice::postgres(TEST) else { return };
//! let db = pg.database_with(&ds);              // its own database, the data set loaded
//! let setup = Setup::new().flexprice(&db, None);
//! let Some(g) = Golden::start(TEST, setup) else { return };
//! g.assert_export(&ds, &Export::new(Entity::Invoice, "acme", "prod", "10:00:00", "11:00:00"));
//! // Then the second window, after the data set's later changes:
//! let mut ds = ds;
//! flexprice::apply_changes(&mut ds, Some(&db), None);
//! g.assert_export(&ds, &Export::new(Entity::Invoice, "acme", "prod", "11:00:00", "12:00:00"));
//! ```
//! With ClickHouse: `let ch_db = ch.database_with(Variant::Dev, &ds); let proxy = ch.proxy();`,
//! `Setup::new().flexprice(&db, Some((&ch_db, Some(&proxy))))`, the daemon started with
//! `.env(CLICKHOUSE_PASSWORD_ENV, ch.readonly_password())`, `.variant(Variant::Dev)` on each
//! `Export`, and at the end `ch_db.assert_same_on_chdb(TEST, &proxy.queries())`, which
//! replays every query exportd sent on chdb-core with Flexprice's modern DDL.
//! Outages: `PgServer::start_own()` / `ChServer::start_own()` give a server of the test's
//! own to `stop()`, `start()` or `restart()`; `ChServer::LIMITED_USER` fails in mid-stream
//! with status 200; `ChProxy::cut_responses_after` truncates responses.
//!
//! Servers stop when the test process ends, however it ends: each has a small reaper process
//! (see [`Reaper`]) that waits for the end of its standard input, which only this process
//! holds.

pub(crate) mod clickhouse;
mod clickhouse_daemon;
mod clickhouse_source;
pub(crate) mod dataset;
pub(crate) mod expected;
pub(crate) mod golden;
mod golden_pg;
pub(crate) mod postgres;
mod source_pg;
mod tests;

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) use clickhouse::{ChDb, ChProxy, ChServer};
pub(crate) use golden::Golden;
pub(crate) use postgres::{PgDb, PgServer};

use crate::harness::skip_or_fail;

/// The shared PostgreSQL, or `None` (with the reason printed; a failure under `CI=true`)
/// when PostgreSQL 15 is not installed.
pub(crate) fn postgres(test: &str) -> Option<&'static PgServer> {
    let server = PgServer::shared();
    if server.is_none() {
        skip_or_fail(
            test,
            "PostgreSQL 15 is not installed (/usr/lib/postgresql/15/bin)",
        );
    }
    server
}

/// The shared ClickHouse 18.16, or `None` (with the reason printed; a failure under
/// `CI=true`) when `clickhouse-server` is not installed.
pub(crate) fn clickhouse(test: &str) -> Option<&'static ChServer> {
    let server = ChServer::shared();
    if server.is_none() {
        skip_or_fail(
            test,
            "clickhouse-server is not installed (apt-get install clickhouse-server)",
        );
    }
    server
}

/// The `[source]` section that points exportd at these databases, read-only, as issues 15
/// and 16 name its keys. ClickHouse is reached through `proxy` when one is given (so that
/// the test can replay exportd's queries on chdb).
/// The URL with its password is not in the file (exportd refuses that): the daemon gets it
/// through [`PG_URL_ENV`], as [`Setup::flexprice`] sets it.
pub(crate) fn source_toml(ch: Option<(&ChDb<'_>, Option<&ChProxy>)>) -> String {
    let mut toml = format!("[source]\nkind = \"flexprice\"\npostgres_url_env = \"{PG_URL_ENV}\"\n");
    if let Some((db, proxy)) = ch {
        let url = proxy.map_or_else(|| db.server.url(), ChProxy::url);
        toml.push_str(&format!(
            "clickhouse_url = \"{url}\"\nclickhouse_database = \"{}\"\nclickhouse_user = \"{}\"\nclickhouse_password_env = \"{}\"\n",
            db.name,
            ChServer::READONLY_USER,
            CLICKHOUSE_PASSWORD_ENV
        ));
    }
    toml.push('\n');
    toml
}

/// The environment variable [`source_toml`] names for the PostgreSQL URL (password included).
pub(crate) const PG_URL_ENV: &str = "EXPORTD_TEST_PG_URL";

impl crate::harness::Setup {
    /// A daemon reading `pg` (and `ch`) as [`source_toml`] says, the URL in [`PG_URL_ENV`].
    /// The ClickHouse password's variable is left to the test.
    pub(crate) fn flexprice(
        self,
        pg: &PgDb<'_>,
        ch: Option<(&ChDb<'_>, Option<&ChProxy>)>,
    ) -> crate::harness::Setup {
        self.config(&source_toml(ch))
            .env(PG_URL_ENV, &pg.readonly_url())
    }
}

/// The environment variable [`source_toml`] names for the ClickHouse password: give the
/// daemon `.env(CLICKHOUSE_PASSWORD_ENV, server.readonly_password())`.
pub(crate) const CLICKHOUSE_PASSWORD_ENV: &str = "EXPORTD_CLICKHOUSE_PASSWORD";

/// API keys for the `globex` tenant (the harness's own keys are acme's): append
/// [`globex_keys_toml`] to the config and send these.
pub(crate) const KEY_GLOBEX_PROD: &str = "test-key-globex-prod-0123456789abcdef";
pub(crate) const KEY_GLOBEX_STAGING: &str = "test-key-globex-staging-0123456789abcdef";

pub(crate) fn globex_keys_toml() -> String {
    [("globex-prod", "prod", KEY_GLOBEX_PROD), ("globex-staging", "staging", KEY_GLOBEX_STAGING)]
        .iter()
        .map(|(name, env, key)| {
            format!(
                "[[auth.keys]]\nname = \"{name}\"\ntenant_id = \"globex\"\nenvironment_id = \"{env}\"\nkey_sha256 = \"{}\"\n\n",
                crate::harness::hash_hex(key)
            )
        })
        .collect()
}

/// Loads `ds` after its changes into both databases and the structs: the state a test
/// compares its second export with.
pub(crate) fn apply_changes(
    ds: &mut dataset::Dataset,
    pg: Option<&PgDb<'_>>,
    ch: Option<&ChDb<'_>>,
) {
    for change in std::mem::take(&mut ds.changes) {
        ds.apply(&change);
        if let Some(pg) = pg {
            pg.apply(ds, &change);
        }
        if let Some(ch) = ch {
            ch.apply(&change);
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until a server started as `child` answers (`ready`); `Err` with its log if it
/// exits first (a port taken in the meantime, say); panics if it does not answer within a
/// minute.
pub(crate) fn wait_for_server(
    name: &str,
    child: &Mutex<Option<Child>>,
    log: impl Fn() -> String,
    mut ready: impl FnMut() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let exited = child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten());
        if let Some(status) = exited {
            child.lock().unwrap_or_else(|e| e.into_inner()).take();
            return Err(format!(
                "{name} exited ({status}) before it answered; its log:\n{}",
                log()
            ));
        }
        if ready() {
            return Ok(());
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not answer within a minute; its log:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts a new server, picking new free ports when one was taken between choosing it and
/// the server binding it (other tests and engineers share the machine).
pub(crate) fn start_on_free_ports(
    mut pick_ports: impl FnMut(),
    mut start: impl FnMut() -> Result<(), String>,
) {
    for attempt in 1.. {
        match start() {
            Ok(()) => return,
            Err(e) if attempt < 3 => {
                eprintln!("retrying on other ports: {e}");
                pick_ports();
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// Sends a signal with `kill` (the test crate has no libc).
pub(crate) fn kill(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether this process runs as root (then PostgreSQL runs as the `postgres` user).
pub(crate) fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// A server process of a test: its own process group (a Ctrl-C of `cargo test` reaches the
/// test process, whose end the [`Reaper`] sees, not the server), its output in `log`.
pub(crate) fn spawn_server(mut command: Command, log: &Path) -> Child {
    let out = std::fs::File::create(log).expect("server log");
    let err = out.try_clone().expect("server log");
    command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("start {command:?}: {e}"))
}

/// Stops a server and removes its directory when this test process ends, even by a panic
/// in another thread, `process::exit` or SIGKILL: a `sh` that waits for the end of its
/// standard input (held only by this process), then signals the pid in `<dir>/pid` and
/// deletes `<dir>`. [`Reaper::finish`] tells it the server was already stopped.
pub(crate) struct Reaper {
    stdin: Mutex<Option<ChildStdin>>,
    child: Mutex<Child>,
}

const REAPER: &str = r#"
trap '' INT TERM HUP
read -r line
if [ "$line" != done ] && [ -f "$1/pid" ]; then
  pid=$(cat "$1/pid")
  kill -"$2" "$pid" 2>/dev/null
  i=0
  while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  kill -KILL "$pid" 2>/dev/null
fi
rm -rf "$1"
"#;

impl Reaper {
    /// Watches `dir`; `signal` is how its server is stopped (`QUIT`, `TERM`...).
    pub(crate) fn new(dir: &Path, signal: &str) -> Reaper {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(REAPER)
            .arg("reaper")
            .arg(dir)
            .arg(signal)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start the reaper");
        Reaper {
            stdin: Mutex::new(child.stdin.take()),
            child: Mutex::new(child),
        }
    }

    /// The server is stopped: just delete the directory, now.
    pub(crate) fn finish(&self) {
        if let Some(mut stdin) = self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = writeln!(stdin, "done");
        }
        let _ = self.child.lock().unwrap_or_else(|e| e.into_inner()).wait();
    }
}

/// Records a server's pid where its [`Reaper`] looks, or forgets it (stopped).
pub(crate) fn write_pid(dir: &Path, pid: Option<u32>) {
    let path = dir.join("pid");
    match pid {
        Some(pid) => std::fs::write(&path, pid.to_string()).expect("write the pid file"),
        None => {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// A new directory under the system's temporary directory, kept (its reaper deletes it).
pub(crate) fn temp_dir(prefix: &str) -> PathBuf {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("temp dir")
        .keep()
}

/// Stops a child: `signal`, then KILL after `limit`; waits for it.
pub(crate) fn stop_child(child: &mut Child, signal: &str, limit: Duration) {
    if child.try_wait().ok().flatten().is_none() {
        kill(child.id(), signal);
        let deadline = Instant::now() + limit;
        while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// A unique, lower-case database name: `<prefix>_<ulid>`.
pub(crate) fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new().to_string().to_lowercase())
}
