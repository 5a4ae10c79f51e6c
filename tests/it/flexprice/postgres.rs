//! A real PostgreSQL 15 for the Flexprice source: a cluster in a temporary directory, run as
//! the `postgres` user when the tests run as root (PostgreSQL refuses root), listening on a
//! free loopback port and its own socket directory. One is shared by the test process
//! ([`PgServer::shared`]); a test that stops PostgreSQL starts its own
//! ([`PgServer::start_own`]). Each test gets its own database, copied from a template that
//! already holds the schema (and, with [`PgServer::database_with`], the data set), so a
//! database costs one `CREATE DATABASE`.
//!
//! Access: the test side talks to it with `psql` over the socket as the superuser (local
//! connections are trusted); TCP needs a password (scram-sha-256). exportd gets
//! [`PgDb::readonly_url`]: role `exportd_ro`, `SELECT` on the tables and nothing else, and
//! `default_transaction_read_only` on.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use jiff::Timestamp;
use rust_decimal::Decimal;

use super::dataset::{Change, Dataset, Map};
use super::{
    Reaper, free_port, running_as_root, spawn_server, start_on_free_ports, stop_child, temp_dir,
    unique_name, wait_for_server, write_pid,
};
use crate::harness::wait_for;

const BIN: &str = "/usr/lib/postgresql/15/bin";
/// The Flexprice schema (our own DDL).
pub(crate) const SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/flexprice/postgres_schema.sql"
);
/// The bulk invoice generator of benchmarks (psql variables).
pub(crate) const BULK_INVOICES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/flexprice/pg_bulk_invoices.sql"
);
/// The role exportd connects as.
pub(crate) const READONLY_ROLE: &str = "exportd_ro";
/// The database every test database is copied from: the schema, the role's grants, no rows.
const SCHEMA_TEMPLATE: &str = "fx_schema";

fn bin(name: &str) -> String {
    format!("{BIN}/{name}")
}

/// A command run as the `postgres` user when this process is root (as CI is).
fn as_postgres(program: &str) -> Command {
    if running_as_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn chown_to_postgres(path: &Path) {
    if running_as_root() {
        let ok = Command::new("chown")
            .arg("-R")
            .arg("postgres:postgres")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "chown postgres {}", path.display());
    }
}

fn secret() -> String {
    let password = format!("pw-{}", ulid::Ulid::new().to_string().to_lowercase());
    crate::harness::note_secret(&password);
    password
}

/// A data directory made by `initdb` once per test process, copied for every server (a copy
/// takes a tenth of initdb's time). Its reaper deletes it at the end.
fn pristine() -> Option<&'static PathBuf> {
    static PRISTINE: OnceLock<Option<(PathBuf, Reaper)>> = OnceLock::new();
    PRISTINE
        .get_or_init(|| {
            if !Path::new(&bin("postgres")).exists() {
                return None;
            }
            let dir = temp_dir("exportd-pg-pristine-");
            let reaper = Reaper::new(&dir, "KILL");
            chown_to_postgres(&dir);
            let data = dir.join("data");
            // The default collation is ICU en-US, as in a typical deployment (libc en_US is
            // not installed here): an ORDER BY id without COLLATE "C" differs from the byte
            // order the expected outputs use, and shows.
            let out = as_postgres(&bin("initdb"))
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"])
                .args(["--locale-provider=icu", "--icu-locale=en-US", "-N"])
                .current_dir(&dir)
                .output()
                .expect("run initdb");
            assert!(
                out.status.success(),
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            // Local (socket) connections are trusted: the harness loads fixtures that way.
            // TCP needs a password, as exportd's URL gives.
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
            )
            .expect("write pg_hba.conf");
            Some((data, reaper))
        })
        .as_ref()
        .map(|(data, _)| data)
}

/// A running (or stopped) PostgreSQL cluster of the tests.
pub(crate) struct PgServer {
    dir: PathBuf,
    socket_dir: PathBuf,
    pub port: u16,
    superuser_password: String,
    readonly_password: String,
    child: Mutex<Option<Child>>,
    reaper: Reaper,
    /// Data set fingerprint → template database holding it.
    templates: Mutex<BTreeMap<String, String>>,
}

static SHARED: OnceLock<Option<PgServer>> = OnceLock::new();

impl PgServer {
    /// The server shared by every test of this process; `None` when PostgreSQL 15 is not
    /// installed (see `flexprice::postgres`, which reports that).
    pub(crate) fn shared() -> Option<&'static PgServer> {
        SHARED.get_or_init(PgServer::start_own).as_ref()
    }

    /// A cluster of the test's own (to stop and start it); stopped and deleted when dropped.
    pub(crate) fn start_own() -> Option<PgServer> {
        let pristine = pristine()?;
        let dir = temp_dir("exportd-pg-");
        let reaper = Reaper::new(&dir, "QUIT");
        let ok = Command::new("cp")
            .arg("-a")
            .arg(pristine)
            .arg(dir.join("data"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "copy the pristine cluster");
        let socket_dir = dir.join("socket");
        std::fs::create_dir(&socket_dir).expect("socket dir");
        chown_to_postgres(&dir);
        let server = PgServer {
            dir,
            socket_dir,
            port: free_port(),
            superuser_password: secret(),
            readonly_password: secret(),
            child: Mutex::new(None),
            reaper,
            templates: Mutex::new(BTreeMap::new()),
        };
        let server = std::cell::RefCell::new(server);
        start_on_free_ports(
            || server.borrow_mut().port = free_port(),
            || server.borrow().try_start(),
        );
        let server = server.into_inner();
        server.setup();
        Some(server)
    }

    /// Starts the (stopped) server on its port with its data, and waits until it accepts
    /// connections.
    pub(crate) fn start(&self) {
        if let Err(e) = self.try_start() {
            panic!("{e}");
        }
    }

    fn try_start(&self) -> Result<(), String> {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        assert!(child.is_none(), "PostgreSQL is already running");
        let mut command = as_postgres(&bin("postgres"));
        command
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.socket_dir)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=64MB",
                "-c",
                "log_min_messages=warning",
            ])
            .current_dir(&self.dir);
        let started = spawn_server(command, &self.dir.join("postgres.log"));
        write_pid(&self.dir, Some(started.id()));
        *child = Some(started);
        drop(child);
        wait_for_server(
            "PostgreSQL",
            &self.child,
            || self.log(),
            || {
                Command::new(bin("pg_isready"))
                    .arg("-q")
                    .arg("-h")
                    .arg(&self.socket_dir)
                    .arg("-p")
                    .arg(self.port.to_string())
                    .status()
                    .is_ok_and(|s| s.success())
            },
        )
    }

    /// Stops the server (fast shutdown: sessions are cut, as when a database goes away).
    /// Its data stays for [`PgServer::start`].
    pub(crate) fn stop(&self) {
        let taken = self.child.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut child) = taken {
            stop_child(&mut child, "INT", Duration::from_secs(30));
            write_pid(&self.dir, None);
        }
    }

    pub(crate) fn is_running(&self) -> bool {
        self.child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// The server's log so far (to explain a failure).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
    }

    /// Roles and the schema template.
    fn setup(&self) {
        let schema = std::fs::read_to_string(SCHEMA).expect("read the PostgreSQL schema");
        self.execute(
            "postgres",
            &format!(
                "ALTER ROLE postgres PASSWORD '{}';
                 CREATE ROLE {READONLY_ROLE} LOGIN PASSWORD '{}';
                 ALTER ROLE {READONLY_ROLE} SET default_transaction_read_only = on;
                 CREATE DATABASE {SCHEMA_TEMPLATE};",
                self.superuser_password, self.readonly_password
            ),
        );
        self.execute(
            SCHEMA_TEMPLATE,
            &format!(
                "{schema}
                 GRANT USAGE ON SCHEMA public TO {READONLY_ROLE};
                 GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READONLY_ROLE};"
            ),
        );
    }

    fn psql(&self, database: &str) -> Command {
        let mut c = Command::new(bin("psql"));
        c.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", "postgres", "-d", database]);
        c
    }

    /// Runs SQL (any number of statements, each in its own transaction unless the text
    /// says BEGIN) as the superuser; panics with PostgreSQL's message on an error.
    pub(crate) fn execute(&self, database: &str, sql: &str) {
        if let Err(e) = run_psql(self.psql(database), sql) {
            panic!("PostgreSQL ({database}): {e}");
        }
    }

    /// Rows of a query run as the superuser; NULL is `\N`.
    pub(crate) fn query(&self, database: &str, sql: &str) -> Vec<Vec<String>> {
        let mut c = self.psql(database);
        c.args(["-A", "-t", "-F", "\u{1f}", "-R", "\u{1e}", "-P", "null=\\N"]);
        match run_psql(c, sql) {
            Ok(out) => rows(&out),
            Err(e) => panic!("PostgreSQL ({database}): {e}"),
        }
    }

    /// A new, empty database with the schema.
    pub(crate) fn database(&self) -> PgDb<'_> {
        self.copy_of(SCHEMA_TEMPLATE)
    }

    /// A new database with the schema and `ds` loaded (before its changes). The first call
    /// for a data set builds a template; later ones copy it.
    pub(crate) fn database_with(&self, ds: &Dataset) -> PgDb<'_> {
        let sql = insert_sql(ds);
        let key = crate::harness::sha256_hex(sql.as_bytes())[..16].to_owned();
        let template = {
            let mut templates = self.templates.lock().unwrap_or_else(|e| e.into_inner());
            templates
                .entry(key.clone())
                .or_insert_with(|| {
                    let name = format!("fx_data_{key}");
                    self.create_database(&name, SCHEMA_TEMPLATE);
                    self.execute(&name, &sql);
                    name
                })
                .clone()
        };
        self.copy_of(&template)
    }

    fn copy_of(&self, template: &str) -> PgDb<'_> {
        let name = unique_name("fx");
        self.create_database(&name, template);
        PgDb { server: self, name }
    }

    fn create_database(&self, name: &str, template: &str) {
        // Another test copying the same template at that instant makes PostgreSQL refuse
        // ("source database is being accessed by other users"): try again.
        let sql = format!("CREATE DATABASE {name} TEMPLATE {template}");
        for attempt in 0.. {
            match run_psql(self.psql("postgres"), &sql) {
                Ok(_) => return,
                Err(e) if e.contains("being accessed by other users") && attempt < 50 => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("PostgreSQL: {e}"),
            }
        }
    }

    /// `postgres://<role>:<password>@127.0.0.1:<port>/<database>?sslmode=disable`.
    fn url(&self, role: &str, password: &str, database: &str) -> String {
        format!(
            "postgres://{role}:{password}@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    pub(crate) fn readonly_password(&self) -> &str {
        &self.readonly_password
    }

    /// Turns TLS on (PostgreSQL reloads its ssl settings without a restart) with this
    /// certificate chain and key (PEM files), copied into the data directory as PostgreSQL
    /// wants them (owned by its user, the key private). Connections may then use TLS;
    /// pg_hba.conf still accepts both.
    pub(crate) fn enable_tls(&self, cert: &Path, key: &Path) {
        let data = self.dir.join("data");
        for (from, name) in [(cert, "server.crt"), (key, "server.key")] {
            let to = data.join(name);
            std::fs::copy(from, &to).expect("copy the TLS files");
            let ok = Command::new("chmod")
                .arg("600")
                .arg(&to)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chmod {}", to.display());
            chown_to_postgres(&to);
        }
        self.execute("postgres", "ALTER SYSTEM SET ssl_cert_file = 'server.crt'");
        self.execute("postgres", "ALTER SYSTEM SET ssl_key_file = 'server.key'");
        self.execute("postgres", "ALTER SYSTEM SET ssl = on");
        self.execute("postgres", "SELECT pg_reload_conf()");
        // The reload is asynchronous: wait until the setting is in force.
        for _ in 0..100 {
            if self.query("postgres", "SHOW ssl") == [vec!["on".to_owned()]] {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("PostgreSQL did not turn TLS on; its log:\n{}", self.log());
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
        self.reaper.finish();
    }
}

fn run_psql(mut command: Command, sql: &str) -> Result<String, String> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("run psql: {e}"))?;
    let mut stdin = child.stdin.take().expect("stdin");
    let text = sql.to_owned();
    // Large data sets: write on a thread while this one reads the output.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(text.as_bytes());
    });
    let out = child.wait_with_output().map_err(|e| format!("psql: {e}"))?;
    let _ = writer.join();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Records end with U+001E, fields with U+001F (values may hold newlines); psql ends the
/// output with a newline.
fn rows(out: &str) -> Vec<Vec<String>> {
    let out = out.strip_suffix('\n').unwrap_or(out);
    out.split('\u{1e}')
        .filter(|r| !r.is_empty())
        .map(|r| r.split('\u{1f}').map(str::to_owned).collect())
        .collect()
}

/// One test's database on a [`PgServer`]; dropped with it.
pub(crate) struct PgDb<'s> {
    pub server: &'s PgServer,
    pub name: String,
}

impl PgDb<'_> {
    /// What exportd gets: the SELECT-only, read-only role, over TCP with a password.
    pub(crate) fn readonly_url(&self) -> String {
        self.server
            .url(READONLY_ROLE, &self.server.readonly_password, &self.name)
    }

    /// The superuser over TCP (to load or change data from a client of the test's choice).
    pub(crate) fn superuser_url(&self) -> String {
        self.server
            .url("postgres", &self.server.superuser_password, &self.name)
    }

    pub(crate) fn execute(&self, sql: &str) {
        self.server.execute(&self.name, sql);
    }

    pub(crate) fn query(&self, sql: &str) -> Vec<Vec<String>> {
        self.server.query(&self.name, sql)
    }

    /// Takes `table`'s ACCESS EXCLUSIVE lock in a superuser session that keeps it (and sleeps)
    /// until the server stops or the returned psql is killed: a reader of the table then waits
    /// inside its query, which pins a run in mid-flight. Returns once the lock is held.
    pub(crate) fn hold_lock(&self, table: &str) -> Child {
        let mut c = self.server.psql(&self.name);
        c.arg("-c")
            .arg(format!(
                "LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3600)"
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let holder = c.spawn().unwrap();
        let held = format!(
            "SELECT count(*) FROM pg_locks WHERE relation = '{table}'::regclass \
             AND mode = 'AccessExclusiveLock' AND granted"
        );
        wait_for("the test's lock", Duration::from_secs(30), || {
            self.query(&held) == [["1"]]
        });
        holder
    }

    /// Sessions of exportd (by its `application_name`) waiting for a lock.
    pub(crate) fn exportd_waiting_for_a_lock(&self) -> bool {
        self.query(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'exportd' \
             AND wait_event_type = 'Lock'",
        ) != [["0"]]
    }

    /// Runs SQL as the read-only role over TCP, as exportd connects; the error text on
    /// failure.
    pub(crate) fn query_as_readonly(&self, sql: &str) -> Result<Vec<Vec<String>>, String> {
        let mut c = Command::new(bin("psql"));
        c.arg(self.readonly_url())
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-A", "-t"])
            .args(["-F", "\u{1f}", "-R", "\u{1e}", "-P", "null=\\N"]);
        run_psql(c, sql).map(|out| rows(&out))
    }

    /// Loads a data set (before its changes) into this (empty) database.
    pub(crate) fn load(&self, ds: &Dataset) {
        self.execute(&insert_sql(ds));
    }

    /// Makes the database match `ds` for the rows `change` touched (`ds` already has the
    /// change applied: see `flexprice::apply_changes`).
    pub(crate) fn apply(&self, ds: &Dataset, change: &Change) {
        let mut sql = String::from("BEGIN;\n");
        let mut rewrite = |table: &str, id: &str| {
            sql.push_str(&format!("DELETE FROM {table} WHERE id = {};\n", text(id)));
            sql.push_str(&insert_sql_where(ds, table, id));
        };
        match change {
            Change::CompleteTransaction { id, .. } => {
                rewrite("wallet_transactions", id);
                let wallet = ds
                    .transactions
                    .iter()
                    .find(|t| &t.base.id == id)
                    .map(|t| t.wallet_id.clone())
                    .unwrap_or_default();
                rewrite("wallets", &wallet);
            }
            Change::FinalizeInvoice { id, .. } | Change::VoidInvoice { id, .. } => {
                rewrite("invoices", id)
            }
            Change::MeterUsage(_) => return,
        }
        sql.push_str("COMMIT;\n");
        self.execute(&sql);
    }

    /// `n` more invoices of `tenant`/`env` with `created_at = updated_at` spread evenly over
    /// `[from, to)`, made inside PostgreSQL (tests/flexprice/pg_bulk_invoices.sql, which
    /// scripts can run with psql as well). Ids start with `inv_<tag>_`.
    pub(crate) fn bulk_invoices(
        &self,
        tag: &str,
        tenant: &str,
        env: &str,
        n: u64,
        from: Timestamp,
        to: Timestamp,
    ) {
        let mut c = self.server.psql(&self.name);
        for (k, v) in [
            ("tag", tag.to_owned()),
            ("tenant", tenant.to_owned()),
            ("env", env.to_owned()),
            ("n", n.to_string()),
            ("from", from.to_string()),
            ("to", to.to_string()),
        ] {
            c.arg("-v").arg(format!("{k}={v}"));
        }
        let sql = std::fs::read_to_string(BULK_INVOICES).expect("read the bulk SQL");
        if let Err(e) = run_psql(c, &sql) {
            panic!("bulk invoices: {e}");
        }
    }
}

impl Drop for PgDb<'_> {
    fn drop(&mut self) {
        if self.server.is_running() {
            let _ = run_psql(
                self.server.psql("postgres"),
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            );
        }
    }
}

// SQL literals. Strings double their quotes (standard_conforming_strings is on).

fn text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn opt_text(s: Option<&str>) -> String {
    s.map_or_else(|| "NULL".to_owned(), text)
}

fn num(d: Decimal) -> String {
    d.to_string()
}

fn opt_num(d: Option<Decimal>) -> String {
    d.map_or_else(|| "NULL".to_owned(), num)
}

fn time(t: Timestamp) -> String {
    format!("'{t}'")
}

fn opt_time(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "NULL".to_owned(), time)
}

fn json(m: Option<&Map>) -> String {
    m.map_or_else(
        || "NULL".to_owned(),
        |m| format!("{}::jsonb", text(&serde_json::to_string(m).expect("json"))),
    )
}

fn raw_json(j: Option<&str>) -> String {
    j.map_or_else(|| "NULL".to_owned(), |j| format!("{}::jsonb", text(j)))
}

const BASE: [&str; 8] = [
    "id",
    "tenant_id",
    "environment_id",
    "status",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
];

fn base(b: &super::dataset::Base) -> Vec<String> {
    vec![
        text(&b.id),
        text(&b.tenant_id),
        opt_text(b.environment_id.as_deref()),
        text(&b.status),
        time(b.created_at),
        time(b.updated_at),
        opt_text(b.created_by.as_deref()),
        opt_text(b.updated_by.as_deref()),
    ]
}

/// One table of the data set: its columns after the [`BASE`] ones, and (id, values) rows.
struct Table {
    name: &'static str,
    columns: &'static [&'static str],
    rows: Vec<(String, Vec<String>)>,
}

fn tables(ds: &Dataset) -> Vec<Table> {
    fn rows<T>(
        items: &[T],
        f: impl Fn(&T) -> (&super::dataset::Base, Vec<String>),
    ) -> Vec<(String, Vec<String>)> {
        items
            .iter()
            .map(|item| {
                let (b, rest) = f(item);
                let mut values = base(b);
                values.extend(rest);
                (b.id.clone(), values)
            })
            .collect()
    }
    vec![
        Table {
            name: "customers",
            columns: &["external_id", "name", "email", "metadata"],
            rows: rows(&ds.customers, |c| {
                (
                    &c.base,
                    vec![
                        text(&c.external_id),
                        text(&c.name),
                        opt_text(c.email.as_deref()),
                        json(c.metadata.as_ref()),
                    ],
                )
            }),
        },
        Table {
            name: "wallets",
            columns: &[
                "customer_id",
                "currency",
                "balance",
                "credit_balance",
                "conversion_rate",
                "wallet_status",
                "wallet_type",
                "name",
                "metadata",
            ],
            rows: rows(&ds.wallets, |w| {
                (
                    &w.base,
                    vec![
                        text(&w.customer_id),
                        text(&w.currency),
                        num(w.balance),
                        num(w.credit_balance),
                        num(w.conversion_rate),
                        text(&w.wallet_status),
                        text(&w.wallet_type),
                        opt_text(w.name.as_deref()),
                        json(w.metadata.as_ref()),
                    ],
                )
            }),
        },
        Table {
            name: "wallet_transactions",
            columns: &[
                "wallet_id",
                "customer_id",
                "type",
                "amount",
                "credit_amount",
                "credits_available",
                "credit_balance_before",
                "credit_balance_after",
                "balance_before",
                "balance_after",
                "transaction_status",
                "transaction_reason",
                "currency",
                "reference_type",
                "reference_id",
                "description",
                "metadata",
            ],
            rows: rows(&ds.transactions, |t| {
                (
                    &t.base,
                    vec![
                        text(&t.wallet_id),
                        opt_text(t.customer_id.as_deref()),
                        text(&t.kind),
                        num(t.amount),
                        num(t.credit_amount),
                        num(t.credits_available),
                        num(t.credit_balance_before),
                        num(t.credit_balance_after),
                        num(t.credit_balance_before),
                        num(t.credit_balance_after),
                        text(&t.transaction_status),
                        text(&t.transaction_reason),
                        text(&t.currency),
                        opt_text(t.reference_type.as_deref()),
                        opt_text(t.reference_id.as_deref()),
                        opt_text(t.description.as_deref()),
                        json(t.metadata.as_ref()),
                    ],
                )
            }),
        },
        Table {
            name: "invoices",
            columns: &[
                "customer_id",
                "subscription_id",
                "invoice_number",
                "invoice_type",
                "invoice_status",
                "payment_status",
                "currency",
                "amount_due",
                "amount_paid",
                "amount_remaining",
                "subtotal",
                "total",
                "total_discount",
                "total_tax",
                "adjustment_amount",
                "refunded_amount",
                "billing_sequence",
                "description",
                "due_date",
                "paid_at",
                "voided_at",
                "finalized_at",
                "billing_period",
                "period_start",
                "period_end",
                "invoice_pdf_url",
                "billing_reason",
                "metadata",
                "idempotency_key",
                "version",
                "overpaid_amount",
                "last_computed_at",
            ],
            rows: rows(&ds.invoices, |i| {
                (
                    &i.base,
                    vec![
                        text(&i.customer_id),
                        opt_text(i.subscription_id.as_deref()),
                        opt_text(i.invoice_number.as_deref()),
                        text(&i.invoice_type),
                        text(&i.invoice_status),
                        text(&i.payment_status),
                        text(&i.currency),
                        num(i.amount_due),
                        num(i.amount_paid),
                        num(i.amount_remaining),
                        opt_num(i.subtotal),
                        opt_num(i.total),
                        opt_num(i.total_discount),
                        opt_num(i.total_tax),
                        opt_num(i.adjustment_amount),
                        opt_num(i.refunded_amount),
                        i.billing_sequence
                            .map_or_else(|| "NULL".to_owned(), |n| n.to_string()),
                        opt_text(i.description.as_deref()),
                        opt_time(i.due_date),
                        opt_time(i.paid_at),
                        opt_time(i.voided_at),
                        opt_time(i.finalized_at),
                        opt_text(i.billing_period.as_deref()),
                        opt_time(i.period_start),
                        opt_time(i.period_end),
                        opt_text(i.invoice_pdf_url.as_deref()),
                        opt_text(i.billing_reason.as_deref()),
                        json(i.metadata.as_ref()),
                        opt_text(i.idempotency_key.as_deref()),
                        i.version.to_string(),
                        // Columns the export leaves out hold values, so that reading them by
                        // mistake shows.
                        num(Decimal::new(7, 1)),
                        time(i.base.updated_at),
                    ],
                )
            }),
        },
        Table {
            name: "meters",
            columns: &["event_name", "name", "aggregation"],
            rows: rows(&ds.meters, |m| {
                let mut aggregation = serde_json::json!({"type": m.aggregation});
                if let Some(field) = &m.field {
                    aggregation["field"] = field.as_str().into();
                }
                if let Some(multiplier) = m.multiplier {
                    aggregation["multiplier"] = multiplier.to_string().into();
                }
                (
                    &m.base,
                    vec![
                        text(&m.event_name),
                        text(&m.name),
                        raw_json(Some(&aggregation.to_string())),
                    ],
                )
            }),
        },
        Table {
            name: "groups",
            columns: &["name"],
            rows: rows(&ds.groups, |g| (&g.base, vec![text(&g.name)])),
        },
        Table {
            name: "features",
            columns: &["name", "type", "meter_id", "group_id"],
            rows: rows(&ds.features, |f| {
                (
                    &f.base,
                    vec![
                        text(&f.name),
                        text(&f.kind),
                        opt_text(f.meter_id.as_deref()),
                        opt_text(f.group_id.as_deref()),
                    ],
                )
            }),
        },
        Table {
            name: "prices",
            columns: &[
                "amount",
                "currency",
                "type",
                "billing_model",
                "tiers",
                "transform_quantity",
                "meter_id",
            ],
            rows: rows(&ds.prices, |p| {
                (
                    &p.base,
                    vec![
                        num(p.amount),
                        text(&p.currency),
                        text(&p.kind),
                        text(&p.billing_model),
                        raw_json(p.tiers.as_deref()),
                        raw_json(p.transform_quantity.as_deref()),
                        opt_text(p.meter_id.as_deref()),
                    ],
                )
            }),
        },
        Table {
            name: "subscriptions",
            columns: &[
                "customer_id",
                "plan_id",
                "subscription_status",
                "currency",
                "billing_anchor",
                "start_date",
                "current_period_start",
                "current_period_end",
            ],
            rows: rows(&ds.subscriptions, |s| {
                (
                    &s.base,
                    vec![
                        text(&s.customer_id),
                        text(&s.plan_id),
                        text(&s.subscription_status),
                        text(&s.currency),
                        time(s.start_date),
                        time(s.start_date),
                        time(s.current_period_start),
                        time(s.current_period_end),
                    ],
                )
            }),
        },
        Table {
            name: "subscription_line_items",
            columns: &[
                "subscription_id",
                "customer_id",
                "price_id",
                "meter_id",
                "currency",
                "billing_period",
                "display_name",
                "commitment_amount",
                "commitment_type",
            ],
            rows: rows(&ds.line_items, |l| {
                (
                    &l.base,
                    vec![
                        text(&l.subscription_id),
                        text(&l.customer_id),
                        text(&l.price_id),
                        opt_text(l.meter_id.as_deref()),
                        text(&l.currency),
                        text("MONTHLY"),
                        text(&l.display_name),
                        opt_num(l.commitment_amount),
                        opt_text(l.commitment_amount.map(|_| "amount")),
                    ],
                )
            }),
        },
    ]
}

fn render(table: &Table, rows: &[&(String, Vec<String>)]) -> String {
    let mut sql = String::new();
    for chunk in rows.chunks(500) {
        let columns: Vec<&str> = BASE.iter().chain(table.columns).copied().collect();
        sql.push_str(&format!(
            "INSERT INTO {} ({}) VALUES\n",
            table.name,
            columns.join(", ")
        ));
        let values: Vec<String> = chunk
            .iter()
            .map(|(_, v)| format!("({})", v.join(", ")))
            .collect();
        sql.push_str(&values.join(",\n"));
        sql.push_str(";\n");
    }
    sql
}

/// INSERT statements for every PostgreSQL row of the data set.
pub(crate) fn insert_sql(ds: &Dataset) -> String {
    tables(ds)
        .iter()
        .map(|t| render(t, &t.rows.iter().collect::<Vec<_>>()))
        .collect()
}

fn insert_sql_where(ds: &Dataset, table: &str, id: &str) -> String {
    tables(ds)
        .iter()
        .filter(|t| t.name == table)
        .map(|t| {
            render(
                t,
                &t.rows
                    .iter()
                    .filter(|(row_id, _)| row_id == id)
                    .collect::<Vec<_>>(),
            )
        })
        .collect()
}
