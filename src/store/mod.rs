//! The SQLite store: one writer connection behind a mutex (every write is one transaction),
//! a small pool of read-only connections, WAL, `busy_timeout`, foreign keys, and embedded
//! migrations applied at start in one transaction.

pub(crate) mod audit;
pub(crate) mod record;

pub(crate) use audit::Audit;
pub(crate) use record::{Filter, Page};

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};

/// Migrations in order; the number is the schema version each one produces.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_events.sql")),
    (3, include_str!("migrations/0003_scheduler.sql")),
    (4, include_str!("migrations/0004_ledger.sql")),
    (5, include_str!("migrations/0005_billing.sql")),
    (
        6,
        include_str!("migrations/0006_events_in_export_order.sql"),
    ),
    (7, include_str!("migrations/0007_webhooks.sql")),
    (8, include_str!("migrations/0008_readiness_probe.sql")),
    (9, include_str!("migrations/0009_durable_runs.sql")),
    (10, include_str!("migrations/0010_superseded_runs.sql")),
];

/// How long a statement waits for a lock held by another connection before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Read connections kept open for reuse.
const MAX_IDLE_READERS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("the database is busy")]
    Busy,
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error(
        "the database schema is version {found}, newer than this exportd understands ({supported}): run a newer exportd"
    )]
    TooNew { found: i64, supported: i64 },
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot create database {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy,
            _ => StoreError::Sqlite(e),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(format!("JSON column: {e}"))
    }
}

pub(crate) type Result<T> = std::result::Result<T, StoreError>;

/// Why the database does not take writes now (see [`Store::check_writes`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct NotWritable(String);

/// The tenant and environment a query is limited to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scope {
    pub tenant_id: String,
    pub environment_id: String,
}

pub(crate) struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// The last [`Store::check_writes`] and when it ran.
    probe: Mutex<Option<(std::time::Instant, std::result::Result<(), NotWritable>)>>,
}

/// The WAL size [`Store::open`] starts with (`storage.max_wal_bytes`'s default).
pub(crate) const DEFAULT_WAL_LIMIT: u64 = 64 << 20;
/// What [`Store::check_writes`] writes beside the database: less free space than this is not
/// ready.
const PROBE_BYTES: usize = 1 << 20;
/// How long an answer of [`Store::check_writes`] is reused.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Creates the database file with mode 0600 if it does not exist, so that SQLite never
/// creates it under the umask.
fn private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => tighten_exactly(path),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Mode 0600 (the umask may have taken bits from it at creation).
fn tighten_exactly(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

/// Takes group and other permissions away from a database file that has them.
fn tighten(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
        && let Err(e) = tighten_exactly(path)
    {
        log::warn!("cannot make {} private (mode 0600): {e}", path.display());
    }
}

impl Store {
    /// Opens (creating if needed) the database and brings its schema up to date.
    pub(crate) fn open(path: &Path) -> Result<Store> {
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        private_file(path).map_err(|source| StoreError::Create {
            path: path.to_owned(),
            source,
        })?;
        let mut writer = Connection::open(path).map_err(open_err)?;
        writer.busy_timeout(BUSY_TIMEOUT)?;
        // WAL lets readers run beside the writer; FULL makes a commit durable on power loss.
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!(
                "cannot switch {} to WAL mode (got {mode})",
                path.display()
            )));
        }
        writer.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        migrate(&mut writer)?;
        // The WAL and shared-memory files take the database file's mode (SQLite copies it),
        // but files an older exportd made under a loose umask are tightened too.
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            tighten(Path::new(&name));
        }
        let store = Store {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            probe: Mutex::new(None),
        };
        store.limit_wal(DEFAULT_WAL_LIMIT)?;
        Ok(store)
    }

    /// Keeps the WAL near `bytes`: a checkpoint starts once it holds that much (at a commit),
    /// and a WAL that grew past it (while long reads held back the checkpoint) is truncated
    /// back to it afterwards.
    ///
    /// Larger is faster for ingest of events with random `event_id`s: each dirties a page of
    /// the id index, and a page written again before the checkpoint is copied to the database
    /// once rather than at every commit (SQLite's 4 MiB made such ingest 1.6x slower than 80
    /// MiB, see README "Benchmark"). Smaller suits small volumes.
    pub(crate) fn limit_wal(&self, bytes: u64) -> Result<()> {
        let writer = lock(&self.writer);
        let page: i64 = writer.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let pages = (bytes as i64 / page.max(512)).max(1);
        writer.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint = {pages}; PRAGMA journal_size_limit = {bytes};"
        ))?;
        Ok(())
    }

    /// Whether writes work now: a small file is written (not synced) beside the database,
    /// which fails when the volume is full or read-only, and a row is committed. Probes run
    /// one at a time, and at most once a second (an unauthenticated client calling /readyz
    /// in a loop gets the last answer, not a synced commit each time). The error says what
    /// failed.
    pub(crate) fn check_writes(&self, now: i64) -> std::result::Result<(), NotWritable> {
        let mut last = lock(&self.probe);
        if let Some((at, result)) = last.as_ref()
            && at.elapsed() < PROBE_EVERY
        {
            return result.clone();
        }
        let result = self.probe_writes(now).map_err(NotWritable);
        *last = Some((std::time::Instant::now(), result.clone()));
        result
    }

    fn probe_writes(&self, now: i64) -> std::result::Result<(), String> {
        let mut name = self.path.as_os_str().to_owned();
        name.push("-probe");
        let probe = PathBuf::from(name);
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&probe)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &[0u8; PROBE_BYTES]));
        let _ = std::fs::remove_file(&probe);
        written.map_err(|e| {
            format!(
                "cannot write {PROBE_BYTES} bytes beside the database in {}: {e}",
                self.path.parent().unwrap_or(Path::new(".")).display()
            )
        })?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO readiness_probe (id, checked_at) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                [now],
            )?;
            Ok::<_, StoreError>(())
        })
        .map_err(|e| format!("the database refuses writes: {e}"))
    }

    /// Runs `f` in one IMMEDIATE transaction on the writer; commits only if `f` succeeds.
    pub(crate) fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        transaction(&mut lock(&self.writer), TransactionBehavior::Immediate, f)
    }

    /// Runs `f` on a read-only connection from the pool, in one read transaction so that
    /// a page and its total come from the same snapshot.
    pub(crate) fn read<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let mut conn = match lock(&self.readers).pop() {
            Some(conn) => conn,
            None => self.open_reader()?,
        };
        let out = transaction(&mut conn, TransactionBehavior::Deferred, f);
        let mut idle = lock(&self.readers);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        out
    }

    fn open_reader(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(&self.path, flags).map_err(|source| StoreError::Open {
                path: self.path.clone(),
                source,
            })?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(conn)
    }

    /// Checkpoints the WAL into the main file and closes every connection.
    pub(crate) fn close(self) -> Result<()> {
        lock(&self.readers).clear();
        let writer = self.writer.into_inner().unwrap_or_else(|e| e.into_inner());
        writer.execute_batch("PRAGMA optimize; PRAGMA wal_checkpoint(TRUNCATE);")?;
        writer.close().map_err(|(_, e)| StoreError::from(e))
    }

    /// The schema version the database is at.
    pub(crate) fn schema_version(&self) -> Result<i64> {
        self.read(|tx| current_version(tx))
    }
}

/// A poisoned lock only means another thread panicked while holding it; the connection's own
/// transaction was rolled back when that thread unwound, so it is safe to go on.
/// Runs `f` in one transaction of this kind: an IMMEDIATE one is committed if `f` succeeds; a
/// DEFERRED (read) one is only ended.
fn transaction<T, E: From<StoreError>>(
    conn: &mut Connection,
    behavior: TransactionBehavior,
    f: impl FnOnce(&Transaction<'_>) -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    let tx = conn
        .transaction_with_behavior(behavior)
        .map_err(StoreError::from)?;
    let out = f(&tx)?;
    match behavior {
        TransactionBehavior::Immediate => tx.commit(),
        _ => tx.finish(),
    }
    .map_err(StoreError::from)?;
    Ok(out)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn current_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_version",
        [],
        |r| r.get(0),
    )?)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version    INTEGER PRIMARY KEY,
             applied_at INTEGER NOT NULL
         );",
    )?;
    let found = current_version(&tx)?;
    let supported = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    if found > supported {
        return Err(StoreError::TooNew { found, supported });
    }
    let now = crate::clock::to_ms(jiff::Timestamp::now());
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)",
            (version, now),
        )?;
        log::info!("database schema migrated to version {version}");
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A fresh store in a temporary directory (kept alive by the returned guard).
    pub(crate) fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("t.db")).expect("open");
        (dir, store)
    }

    /// How many rows `table` holds.
    pub(crate) fn count(store: &Store, table: &str) -> i64 {
        store
            .read(|tx| {
                Ok::<_, StoreError>(tx.query_row(
                    &format!("SELECT COUNT(*) FROM {table}"),
                    [],
                    |r| r.get(0),
                )?)
            })
            .expect("count")
    }

    /// Tenant `t`, environment `env`.
    pub(crate) fn scope(env: &str) -> Scope {
        Scope {
            tenant_id: "t".into(),
            environment_id: env.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn migrates_once_and_reopens_at_the_same_version() {
        let (dir, store) = temp_store();
        let latest = MIGRATIONS.len() as i64;
        assert_eq!(store.schema_version().expect("version"), latest);
        store.close().expect("close");
        let again = Store::open(&dir.path().join("t.db")).expect("reopen");
        assert_eq!(again.schema_version().expect("version"), latest);
        assert_eq!(count(&again, "schema_version"), latest);
    }

    #[test]
    fn refuses_a_database_from_a_newer_exportd() {
        let (dir, store) = temp_store();
        store
            .write(|tx| {
                Ok::<_, StoreError>(tx.execute("INSERT INTO schema_version VALUES (99, 0)", [])?)
            })
            .expect("insert");
        store.close().expect("close");
        match Store::open(&dir.path().join("t.db")) {
            Err(StoreError::TooNew {
                found: 99,
                supported,
            }) if supported == MIGRATIONS.len() as i64 => {}
            other => panic!("expected TooNew, got {:?}", other.err()),
        }
    }

    #[test]
    fn a_failed_write_rolls_back() {
        let (_dir, store) = temp_store();
        let result: Result<()> = store.write(|tx| {
            tx.execute(
                "INSERT INTO generated_api_keys VALUES ('h', 't', 'e', 0)",
                [],
            )?;
            Err(StoreError::Corrupt("stop".into()))
        });
        assert!(result.is_err());
        assert_eq!(count(&store, "generated_api_keys"), 0);
    }

    #[test]
    fn database_files_are_private_and_the_probe_writes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        let path = dir.path().join("t.db");
        let store = Store::open(&path).expect("open");
        store.check_writes(1).expect("writable");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("t.db-wal")), 0o600);
        assert!(
            !dir.path().join("t.db-probe").exists(),
            "the probe file is removed"
        );
        store.close().expect("close");
        // A database an older exportd left world-readable is tightened.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let store = Store::open(&path).expect("reopen");
        assert_eq!(mode(&path), 0o600);
        drop(store);
    }

    #[test]
    fn readers_cannot_write() {
        let (_dir, store) = temp_store();
        let result = store.read(|tx| Ok::<_, StoreError>(tx.execute("DELETE FROM runs", [])?));
        assert!(result.is_err());
    }
}
