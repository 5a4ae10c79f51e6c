//! The Flexprice PostgreSQL readers of issue 15 (src/sources/flexprice), called through the
//! library against the fixture's real PostgreSQL as the SELECT-only role: every window of the
//! data set, each cell rendered by the oracle's own functions, byte for byte as `expected::csv`
//! (the daemon's CSV writer is checked by the golden tests in `golden_pg.rs`); windows that tile the
//! day give every row once; the run's snapshot; streaming across fetches; what each failure
//! says.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use exportd::flexprice::postgres::{DEFAULT_STATEMENT_TIMEOUT, FETCH_ROWS, Postgres, Snapshot};
use exportd::flexprice::{
    self as job_config, Cell, ExportError, Failure, MetadataEntity, MetadataField, Request,
    catalog, cells, check, credit_topups, credit_usage, invoices,
};
use jiff::Timestamp;

use super::dataset::{Dataset, SCOPES, Size, at, on};
use super::expected::{self, Entity, Export, WindowField};
use super::golden::assert_same_csv;
use super::{PgDb, PgServer, apply_changes, postgres};

fn source(db: &PgDb<'_>) -> Postgres {
    Postgres::new(&db.readonly_url(), DEFAULT_STATEMENT_TIMEOUT).unwrap()
}

fn field(f: WindowField) -> job_config::WindowField {
    match f {
        WindowField::CreatedAt => job_config::WindowField::CreatedAt,
        WindowField::UpdatedAt => job_config::WindowField::UpdatedAt,
        WindowField::IngestedAt => job_config::WindowField::IngestedAt,
        WindowField::Timestamp => job_config::WindowField::Timestamp,
    }
}

pub(super) fn metadata(export: &Export) -> Vec<MetadataField> {
    export
        .metadata
        .iter()
        .map(|m| MetadataField {
            entity_type: if m.entity_type == "wallet" {
                MetadataEntity::Wallet
            } else {
                MetadataEntity::Customer
            },
            field_key: m.field_key.clone(),
            column_name: m.column_name.clone(),
        })
        .collect()
}

/// Calls the entity's reader on `snap` for `export`, each row handed to `each`.
fn read(
    snap: &mut Snapshot<'_>,
    export: &Export,
    each: impl FnMut(&[Cell<'_>]) -> Result<(), ExportError>,
) -> Result<u64, ExportError> {
    read_until(snap, export, &AtomicBool::new(false), each)
}

/// [`read`], stopped when `cancel` is set.
fn read_until(
    snap: &mut Snapshot<'_>,
    export: &Export,
    cancel: &AtomicBool,
    mut each: impl FnMut(&[Cell<'_>]) -> Result<(), ExportError>,
) -> Result<u64, ExportError> {
    let fields = metadata(export);
    let req = Request {
        tenant_id: &export.tenant,
        environment_id: &export.env,
        window: (export.start.as_millisecond(), export.end.as_millisecond()),
        window_field: export.window_field.map(field),
        metadata: &fields,
        cancel,
    };
    match export.entity {
        Entity::Invoice => invoices::export(snap, &req, &mut each),
        Entity::CreditTopups => credit_topups::export(snap, &req, &mut each),
        Entity::CreditUsage => credit_usage::export(snap, &req, &mut each),
        other => panic!("{other:?} is not read from PostgreSQL"),
    }
}

/// The CSV object of `export` as exportd renders it, from one snapshot of `snap`.
fn csv_of(snap: &mut Snapshot<'_>, export: &Export) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(expected::header(export)).unwrap();
    let rows = read(snap, export, |cells| {
        w.write_record(render(cells)).unwrap();
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{export:?}: {e}"));
    let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
    assert_eq!(
        rows as usize,
        text.lines().count() - 1 - embedded_newlines(&text)
    );
    text
}

/// A row's cells as the oracle writes them.
fn render(cells: &[Cell<'_>]) -> Vec<String> {
    cells
        .iter()
        .map(|cell| match *cell {
            Cell::Null => String::new(),
            Cell::Text(t) => t.to_owned(),
            Cell::Decimal(d) => expected::decimal(d),
            Cell::Numeric(n) => expected::decimal(n.to_decimal().unwrap()),
            Cell::TimeMs(ms) => expected::time(Timestamp::from_millisecond(ms).unwrap()),
            Cell::Int(n) => n.to_string(),
        })
        .collect()
}

/// Newlines inside quoted cells (the data set has a name on two lines).
fn embedded_newlines(text: &str) -> usize {
    let mut quoted = false;
    let mut n = 0;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '\n' if quoted => n += 1,
            _ => {}
        }
    }
    n
}

/// Compares an export with what the data set says it must be.
fn assert_expected(ds: &Dataset, export: &Export, csv: &str) {
    assert_same_csv(&expected::csv(ds, export), csv, export);
}

fn export_csv(pg: &Postgres, export: &Export) -> String {
    let mut session = pg.connect().unwrap();
    let mut snap = session.snapshot().unwrap();
    csv_of(&mut snap, export)
}

/// Hourly windows from 22:00 the day before to 14:00, and one window around both days.
fn windows() -> Vec<(Timestamp, Timestamp)> {
    let mut out: Vec<(Timestamp, Timestamp)> = (0..16)
        .map(|h| {
            let start = on("2025-10-15", "22:00:00")
                .checked_add(jiff::SignedDuration::from_hours(h))
                .unwrap();
            (
                start,
                start
                    .checked_add(jiff::SignedDuration::from_hours(1))
                    .unwrap(),
            )
        })
        .collect();
    out.push((on("2025-10-15", "00:00:00"), on("2025-10-17", "00:00:00")));
    out
}

/// Every export of the PostgreSQL entities that the tests compare: each scope, window, window
/// field, and metadata columns of both kinds (one of a key no row has).
fn exports() -> Vec<Export> {
    let mut all = Vec::new();
    for (tenant, env) in SCOPES {
        for (start, end) in windows() {
            let new = |entity| Export::window(entity, tenant, env, start, end);
            all.push(new(Entity::Invoice));
            all.push(new(Entity::Invoice).window_field(WindowField::CreatedAt));
            all.push(new(Entity::CreditTopups));
            all.push(new(Entity::CreditTopups).window_field(WindowField::UpdatedAt));
            all.push(new(Entity::CreditUsage));
            all.push(
                new(Entity::CreditUsage)
                    .metadata("customer", "tier", Some("Tier"))
                    .metadata("wallet", "cost_center", None)
                    .metadata("customer", "region", Some("Region"))
                    .metadata("wallet", "absent", Some("Nothing")),
            );
        }
    }
    all
}

#[test]
fn flexprice_pg_every_window_of_the_data_set_gives_the_expected_csv() {
    let Some(pg) = postgres("flexprice_pg_every_window_of_the_data_set_gives_the_expected_csv")
    else {
        return;
    };
    let mut ds = Dataset::standard();
    let db = pg.database_with(&ds);
    let source = source(&db);
    let mut session = source.connect().unwrap();
    let mut nonempty = 0;
    {
        let mut snap = session.snapshot().unwrap();
        for export in exports() {
            let csv = csv_of(&mut snap, &export);
            assert_expected(&ds, &export, &csv);
            nonempty += usize::from(csv.lines().count() > 1);
        }
    }
    assert!(nonempty > 100, "only {nonempty} exports had rows");
    // After the later changes (a pending top-up completed, invoices finalized and voided),
    // every window again: the changed rows move to the window of their change.
    apply_changes(&mut ds, Some(&db), None);
    let mut snap = session.snapshot().unwrap();
    for export in exports() {
        assert_expected(&ds, &export, &csv_of(&mut snap, &export));
    }
}

#[test]
fn flexprice_pg_windows_that_tile_the_day_hold_every_row_once() {
    let Some(pg) = postgres("flexprice_pg_windows_that_tile_the_day_hold_every_row_once") else {
        return;
    };
    let ds = Dataset::standard();
    let db = pg.database_with(&ds);
    let source = source(&db);
    let mut session = source.connect().unwrap();
    let mut snap = session.snapshot().unwrap();
    let rows = |snap: &mut Snapshot<'_>, export: &Export| -> Vec<String> {
        let text = csv_of(snap, export);
        let mut r = csv::Reader::from_reader(text.as_bytes());
        r.records()
            .map(|rec| rec.unwrap().iter().collect::<Vec<_>>().join("\u{1f}"))
            .collect()
    };
    let (first, last) = (on("2025-10-15", "22:00:00"), at("14:00:00"));
    for (tenant, env) in SCOPES {
        for (entity, fields) in [
            (
                Entity::Invoice,
                [WindowField::UpdatedAt, WindowField::CreatedAt],
            ),
            (
                Entity::CreditTopups,
                [WindowField::CreatedAt, WindowField::UpdatedAt],
            ),
        ] {
            for f in fields {
                let whole = rows(
                    &mut snap,
                    &Export::window(entity, tenant, env, first, last).window_field(f),
                );
                let mut tiled = Vec::new();
                for (start, end) in windows().into_iter().take(16) {
                    tiled.extend(rows(
                        &mut snap,
                        &Export::window(entity, tenant, env, start, end).window_field(f),
                    ));
                }
                assert!(!whole.is_empty(), "{tenant}/{env} {entity:?}");
                assert_eq!(tiled, whole, "{tenant}/{env} {entity:?} {f:?}");
            }
        }
    }
    // The boundary rows of the data set are there: 11:00:00 exactly is in the 11:00 window.
    let at_eleven = ds
        .invoices
        .iter()
        .filter(|i| i.base.updated_at == at("11:00:00") && i.base.published())
        .count();
    assert!(
        at_eleven > 0,
        "the data set has invoices updated exactly at 11:00"
    );
}

#[test]
fn flexprice_pg_a_run_reads_one_snapshot_while_flexprice_writes() {
    let Some(pg) = postgres("flexprice_pg_a_run_reads_one_snapshot_while_flexprice_writes") else {
        return;
    };
    let mut ds = Dataset::standard();
    let before = ds.clone();
    let db = pg.database_with(&ds);
    let source = source(&db);
    let mut session = source.connect().unwrap();
    let mut snap = session.snapshot().unwrap();
    let first = Export::new(Entity::Invoice, "acme", "prod", "11:00:00", "13:00:00");
    assert_expected(&before, &first, &csv_of(&mut snap, &first));
    // Flexprice finalizes and voids invoices (and completes a top-up) during the run.
    apply_changes(&mut ds, Some(&db), None);
    assert_ne!(expected::csv(&ds, &first), expected::csv(&before, &first));
    for export in [
        first.clone(),
        Export::new(Entity::CreditTopups, "acme", "prod", "11:00:00", "13:00:00")
            .window_field(WindowField::UpdatedAt),
        Export::new(Entity::CreditUsage, "acme", "prod", "00:00:00", "13:00:00"),
    ] {
        assert_expected(&before, &export, &csv_of(&mut snap, &export));
    }
    drop(snap);
    // The next run sees the changes.
    assert_expected(&ds, &first, &export_csv(&source, &first));
}

#[test]
fn flexprice_pg_streams_windows_larger_than_a_fetch_in_order() {
    let Some(pg) = postgres("flexprice_pg_streams_windows_larger_than_a_fetch_in_order") else {
        return;
    };
    let size = Size {
        invoices: FETCH_ROWS as usize + 2_500,
        ..Size::STANDARD
    };
    let ds = Dataset::generate(7, size);
    let db = pg.database_with(&ds);
    let source = source(&db);
    for field in [WindowField::UpdatedAt, WindowField::CreatedAt] {
        let export = Export::new(Entity::Invoice, "globex", "staging", "09:00:00", "14:00:00")
            .window_field(field);
        let rows = expected::rows(&ds, &export).len();
        assert!(rows > FETCH_ROWS as usize + 1000, "{rows} rows");
        assert_expected(&ds, &export, &export_csv(&source, &export));
    }
}

#[test]
fn flexprice_pg_catalog_answers_what_the_clickhouse_entities_need() {
    let Some(pg) = postgres("flexprice_pg_catalog_answers_what_the_clickhouse_entities_need")
    else {
        return;
    };
    let ds = Dataset::standard();
    let db = pg.database_with(&ds);
    let source = source(&db);
    let mut session = source.connect().unwrap();
    let mut snap = session.snapshot().unwrap();
    for (tenant, env) in SCOPES {
        let scope = catalog::Scope {
            tenant_id: tenant,
            environment_id: env,
        };
        let in_scope = |b: &super::dataset::Base| b.in_scope(tenant, env);
        // Customers: every external id of the data set (and one nobody has).
        let mut external: Vec<&str> = ds
            .customers
            .iter()
            .map(|c| c.external_id.as_str())
            .collect();
        external.push("nobody");
        let customers = catalog::customers_by_external_id(&mut snap, scope, &external).unwrap();
        let want: Vec<_> = ds
            .customers
            .iter()
            .filter(|c| in_scope(&c.base) && c.base.published() && !c.external_id.is_empty())
            .collect();
        assert_eq!(customers.len(), want.len(), "{tenant}/{env}");
        for c in want {
            let got = &customers[&c.external_id];
            assert_eq!(
                (&got.id, &got.name),
                (&c.base.id, &c.name),
                "{tenant}/{env}"
            );
            let meta: std::collections::BTreeMap<String, String> = got
                .metadata
                .as_deref()
                .map(|m| serde_json::from_str(m).unwrap())
                .unwrap_or_default();
            assert_eq!(Some(meta), c.metadata.clone().or(Some(Default::default())));
        }
        // Meters (whatever their status), their features and groups.
        let meter_ids: Vec<&str> = ds.meters.iter().map(|m| m.base.id.as_str()).collect();
        let meters = catalog::meters(&mut snap, scope, &meter_ids).unwrap();
        let scoped: Vec<_> = ds.meters.iter().filter(|m| in_scope(&m.base)).collect();
        assert_eq!(meters.len(), scoped.len());
        for m in scoped {
            let got = &meters[&m.base.id];
            assert_eq!(
                (
                    &got.event_name,
                    &got.aggregation_type,
                    &got.aggregation_field,
                    &got.status
                ),
                (&m.event_name, &m.aggregation, &m.field, &m.base.status)
            );
        }
        let features = catalog::features_by_meter(&mut snap, scope, &meter_ids).unwrap();
        for m in ds.meters.iter().filter(|m| in_scope(&m.base)) {
            let want = ds
                .features
                .iter()
                .filter(|f| {
                    in_scope(&f.base)
                        && f.base.published()
                        && f.meter_id.as_deref() == Some(m.base.id.as_str())
                })
                .min_by(|a, b| a.base.id.cmp(&b.base.id));
            let got = features.get(&m.base.id);
            assert_eq!(
                got.map(|f| &f.id),
                want.map(|f| &f.base.id),
                "{}",
                m.base.id
            );
            if let (Some(got), Some(want)) = (got, want) {
                let group = want.group_id.as_deref().and_then(|g| {
                    ds.groups
                        .iter()
                        .find(|x| x.base.id == g && x.base.published() && in_scope(&x.base))
                });
                assert_eq!(got.group_name.as_ref(), group.map(|g| &g.name));
                assert_eq!(got.name, want.name);
            }
        }
        // Prices: each customer × meter with a line item on an active subscription.
        let customer_ids: Vec<&str> = ds.customers.iter().map(|c| c.base.id.as_str()).collect();
        let prices = catalog::prices(&mut snap, scope, &customer_ids, &meter_ids).unwrap();
        let mut expected_pairs = 0;
        for c in ds.customers.iter().filter(|c| in_scope(&c.base)) {
            for m in ds.meters.iter().filter(|m| in_scope(&m.base)) {
                let item = expected::line_item(&ds, tenant, env, &c.base.id, &m.base.id);
                let got = prices.get(&(c.base.id.clone(), m.base.id.clone()));
                let Some(item) = item else {
                    assert!(got.is_none(), "{} {}", c.base.id, m.base.id);
                    continue;
                };
                expected_pairs += 1;
                let got = got.unwrap_or_else(|| panic!("a price for {} {}", c.base.id, m.base.id));
                let price = ds
                    .prices
                    .iter()
                    .find(|p| p.base.id == item.price_id)
                    .unwrap();
                assert_eq!(got.line_item_id, item.base.id);
                assert_eq!(got.amount, price.amount);
                let flat = price.kind == "USAGE"
                    && price.billing_model == "FLAT_FEE"
                    && item.commitment_amount.is_none();
                assert_eq!(
                    got.unit_price(),
                    flat.then_some(price.amount),
                    "{}",
                    item.base.id
                );
            }
        }
        assert_eq!(prices.len(), expected_pairs, "{tenant}/{env}");
        assert!(expected_pairs > 0, "{tenant}/{env} has priced line items");
    }
    // Batches larger than one query are split, and ids are deduplicated.
    let many: Vec<String> = (0..2 * catalog::MAX_IDS + 7)
        .map(|i| format!("cust-{i:03}"))
        .collect();
    let many: Vec<&str> = many
        .iter()
        .map(String::as_str)
        .chain(["cust-001"; 3])
        .collect();
    let scope = catalog::Scope {
        tenant_id: "acme",
        environment_id: "prod",
    };
    let found = catalog::customers_by_external_id(&mut snap, scope, &many).unwrap();
    assert!(found.contains_key("cust-001") && found.contains_key("cust-004"));
}

/// The error of connecting to (and reading from) `url` with `timeout`.
fn failure(url: &str, timeout: Duration, export: &Export) -> ExportError {
    let source = Postgres::new(url, timeout).unwrap();
    let mut session = match source.connect() {
        Ok(s) => s,
        Err(e) => return e,
    };
    let mut snap = match session.snapshot() {
        Ok(s) => s,
        Err(e) => return e,
    };
    read(&mut snap, export, |_| Ok(())).expect_err("the read fails")
}

fn assert_summary(e: &ExportError, kind: Failure, words: &str, secret: &str) {
    assert_eq!(e.kind, kind, "{e}");
    assert!(
        e.summary.contains(words),
        "{words:?} not in {:?} ({})",
        e.summary,
        e.detail
    );
    for leak in [secret, "WHERE", "ORDER BY", "COLLATE", "$1"] {
        assert!(!e.summary.contains(leak), "{leak:?} in {:?}", e.summary);
    }
}

#[test]
fn flexprice_pg_failures_say_what_to_fix_without_sql_or_password() {
    let Some(pg) = postgres("flexprice_pg_failures_say_what_to_fix_without_sql_or_password") else {
        return;
    };
    let ds = Dataset::standard();
    let db = pg.database_with(&ds);
    let url = db.readonly_url();
    let password = pg.readonly_password().to_owned();
    let invoices = Export::new(Entity::Invoice, "acme", "prod", "10:00:00", "11:00:00");
    let t = DEFAULT_STATEMENT_TIMEOUT;

    // Nothing listens there.
    let port = super::free_port();
    let refused = failure(
        &url.replace(&format!(":{}/", pg.port), &format!(":{port}/")),
        t,
        &invoices,
    );
    assert_summary(
        &refused,
        Failure::Retryable,
        "refused the connection",
        &password,
    );
    assert!(refused.summary.contains(&format!("127.0.0.1:{port}")));

    let wrong = url.replace(&password, "not-the-password");
    let auth = failure(&wrong, t, &invoices);
    assert_summary(
        &auth,
        Failure::Terminal,
        "refused exportd's login",
        &password,
    );
    assert!(
        !auth.summary.contains("not-the-password") && !auth.detail.contains("not-the-password")
    );

    let no_db = failure(
        &url.replace(&format!("/{}?", db.name), "/no_such_db?"),
        t,
        &invoices,
    );
    assert_summary(&no_db, Failure::Terminal, "does not exist", &password);

    // A database without Flexprice's tables (the read-only role may connect to `postgres`).
    let no_table = failure(
        &url.replace(&format!("/{}?", db.name), "/postgres?"),
        t,
        &invoices,
    );
    assert_summary(
        &no_table,
        Failure::Terminal,
        "lacks a table or column",
        &password,
    );
    assert!(
        no_table.summary.contains("\"invoices\""),
        "{}",
        no_table.summary
    );

    // A column renamed by another Flexprice version.
    let other = pg.database_with(&ds);
    other.execute("ALTER TABLE wallet_transactions RENAME COLUMN credit_balance_after TO cba");
    let topups = Export::new(Entity::CreditTopups, "acme", "prod", "10:00:00", "11:00:00");
    let no_column = failure(&other.readonly_url(), t, &topups);
    assert_summary(
        &no_column,
        Failure::Terminal,
        "lacks a table or column",
        &password,
    );

    // A role without SELECT on a table.
    other.execute("REVOKE SELECT ON invoices FROM exportd_ro");
    let denied = failure(&other.readonly_url(), t, &invoices);
    assert_summary(&denied, Failure::Terminal, "GRANT SELECT", &password);

    // A window too big for the statement timeout.
    let big = pg.database();
    big.bulk_invoices(
        "slow",
        "acme",
        "prod",
        60_000,
        at("10:00:00"),
        at("11:00:00"),
    );
    let timeout = failure(&big.readonly_url(), Duration::from_millis(1), &invoices);
    assert_summary(&timeout, Failure::Retryable, "statement_timeout", &password);

    // TLS asked of a server without it.
    let tls = failure(
        &url.replace("sslmode=disable", "sslmode=require"),
        t,
        &invoices,
    );
    assert_summary(&tls, Failure::Terminal, "does not offer TLS", &password);
}

#[test]
fn flexprice_pg_a_server_stopped_mid_stream_is_a_retryable_failure() {
    let Some(own) = PgServer::start_own() else {
        postgres("flexprice_pg_a_server_stopped_mid_stream_is_a_retryable_failure");
        return;
    };
    let db = own.database();
    db.bulk_invoices(
        "mid",
        "acme",
        "prod",
        3 * FETCH_ROWS as u64,
        at("10:00:00"),
        at("11:00:00"),
    );
    let source = source(&db);
    let mut session = source.connect().unwrap();
    let mut snap = session.snapshot().unwrap();
    let mut seen = 0u64;
    let export = Export::new(Entity::Invoice, "acme", "prod", "10:00:00", "11:00:00");
    let err = read(&mut snap, &export, |_| {
        seen += 1;
        if seen == 5 {
            own.stop();
        }
        Ok(())
    })
    .expect_err("the server went away");
    assert!(seen >= 5 && seen < 3 * FETCH_ROWS as u64, "{seen} rows");
    assert_eq!(err.kind, Failure::Retryable, "{err}");
    assert!(
        err.summary.contains("lost during the run") || err.summary.contains("shutting down"),
        "{}",
        err.summary
    );
    drop(snap);
    drop(session);
    // Back again: the next attempt reads the whole window.
    own.start();
    let again = export_csv(&source, &export);
    assert_eq!(again.lines().count(), 1 + 3 * FETCH_ROWS as usize);
}

#[test]
fn flexprice_pg_a_shutdown_cancels_a_query_that_waits_on_a_lock() {
    let Some(pg) = postgres("flexprice_pg_a_shutdown_cancels_a_query_that_waits_on_a_lock") else {
        return;
    };
    let db = pg.database();
    db.bulk_invoices("lock", "acme", "prod", 10, at("10:00:00"), at("11:00:00"));
    // Without a cancel on the server the read would end only at the statement timeout, as a
    // retryable failure.
    let source = Postgres::new(&db.readonly_url(), Duration::from_secs(60)).unwrap();
    let mut session = source.connect().unwrap();
    let mut snap = session.snapshot().unwrap();
    let mut holder = db.hold_lock("invoices");
    let export = Export::new(Entity::Invoice, "acme", "prod", "10:00:00", "11:00:00");
    let cancel = AtomicBool::new(false);
    let read = std::thread::scope(|s| {
        let reader = s.spawn(|| read_until(&mut snap, &export, &cancel, |_| Ok(())));
        crate::harness::wait_for(
            "the read to wait on the lock",
            Duration::from_secs(30),
            || db.exportd_waiting_for_a_lock(),
        );
        cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        reader.join().unwrap()
    });
    let err = read.expect_err("a shutdown stops the read");
    assert_eq!(err.kind, Failure::Interrupted, "{err}");
    assert!(
        !db.exportd_waiting_for_a_lock(),
        "the query no longer runs on the server"
    );
    drop(snap);
    drop(session);
    // The holder's server session sleeps on after its psql is gone: end it, and the lock.
    db.query(
        "SELECT pg_terminate_backend(pid) FROM pg_locks \
         WHERE relation = 'invoices'::regclass AND mode = 'AccessExclusiveLock'",
    );
    let _ = holder.kill();
    let _ = holder.wait();
    // The lock gone, the same window reads whole.
    let again = export_csv(&source, &export);
    assert_eq!(again.lines().count(), 1 + 10);
}

/// A CA and a server certificate it signed for `localhost` only (PEM files in `dir`):
/// `(ca.crt, server.crt, server.key)`.
pub(super) fn test_certificates(
    dir: &std::path::Path,
) -> (String, std::path::PathBuf, std::path::PathBuf) {
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=exportd test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat(),
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    (
        dir.join("ca.crt").display().to_string(),
        dir.join("server.crt"),
        dir.join("server.key"),
    )
}

#[test]
fn flexprice_pg_tls_verifies_the_server_certificate_and_its_host_name() {
    const TEST: &str = "flexprice_pg_tls_verifies_the_server_certificate_and_its_host_name";
    let Some(own) = PgServer::start_own() else {
        postgres(TEST);
        return;
    };
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_certificates(certs.path());
    own.enable_tls(&cert, &key);
    let ds = Dataset::standard();
    let db = own.database_with(&ds);
    let url = db.readonly_url();
    let password = own.readonly_password().to_owned();
    let with = |host: &str, params: &str| {
        url.replace("127.0.0.1", host)
            .replace("sslmode=disable", params)
    };
    let export = Export::new(Entity::Invoice, "acme", "prod", "10:00:00", "11:00:00");
    // Whether the session of `url` runs over TLS, and the export through it.
    let read_over = |url: &str| -> Result<(bool, String), ExportError> {
        let source = Postgres::new(url, DEFAULT_STATEMENT_TIMEOUT).unwrap();
        let mut session = source.connect()?;
        let mut snap = session.snapshot()?;
        let mut tls = false;
        snap.rows(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
            |row| {
                tls = row.get(0)?;
                Ok(())
            },
        )?;
        Ok((tls, csv_of(&mut snap, &export)))
    };
    let root = format!("sslrootcert={ca}");
    for params in [
        format!("sslmode=require&{root}"),
        format!("sslmode=verify-full&{root}"),
        format!("sslmode=verify-ca&{root}"),
        format!("sslmode=prefer&{root}"),
    ] {
        let (tls, csv) = read_over(&with("localhost", &params)).unwrap();
        assert!(tls, "{params}: TLS");
        assert_expected(&ds, &export, &csv);
    }
    let (tls, _) = read_over(&with("localhost", "sslmode=disable")).unwrap();
    assert!(!tls, "sslmode=disable: plain TCP");
    // Not trusted: the CA is in neither the system store nor sslrootcert; and with prefer
    // too, since the server offers TLS (libpq's prefer and require would not verify).
    for params in ["sslmode=require", "sslmode=prefer"] {
        let e = read_over(&with("localhost", params)).unwrap_err();
        assert_summary(
            &e,
            Failure::Terminal,
            "its certificate is not trusted",
            &password,
        );
    }
    // Trusted, but for another name: require verifies the host name (libpq's verify-full).
    let e = read_over(&with("127.0.0.1", &format!("sslmode=require&{root}"))).unwrap_err();
    assert_summary(&e, Failure::Terminal, "not for the host name", &password);
}

#[test]
fn flexprice_pg_check_reports_tables_rows_per_scope_and_index_advice() {
    let Some(pg) = postgres("flexprice_pg_check_reports_tables_rows_per_scope_and_index_advice")
    else {
        return;
    };
    let ds = Dataset::standard();
    let db = pg.database_with(&ds);
    let scopes: Vec<(String, String)> = SCOPES
        .iter()
        .map(|(t, e)| ((*t).to_owned(), (*e).to_owned()))
        .chain([("nobody".to_owned(), "prod".to_owned())])
        .collect();
    let report = check::check(&source(&db), &scopes).unwrap();
    assert!(report.ok(), "{report}");
    assert_eq!(report.user, "exportd_ro");
    assert!(
        report.server_version.starts_with("15."),
        "{}",
        report.server_version
    );
    assert!(
        report
            .tables
            .iter()
            .all(|t| t.present && t.readable && !t.writable)
    );
    assert!(!report.updated_at_index);
    for (s, (tenant, env)) in report.scopes.iter().zip(&scopes) {
        let count = |n: usize| n as i64;
        let published = |b: &super::dataset::Base| b.in_scope(tenant, env) && b.published();
        assert_eq!(
            s.invoices,
            count(ds.invoices.iter().filter(|i| published(&i.base)).count())
        );
        assert_eq!(
            s.credit_topups,
            count(
                ds.transactions
                    .iter()
                    .filter(|t| published(&t.base)
                        && t.kind == "credit"
                        && t.transaction_status == "completed")
                    .count()
            )
        );
        assert_eq!(
            s.customers,
            count(ds.customers.iter().filter(|c| published(&c.base)).count())
        );
    }
    assert_eq!(report.scopes.last().map(|s| s.invoices), Some(0));
    let text = report.to_string();
    assert!(
        text.contains("tables: all 10 present and readable"),
        "{text}"
    );
    assert!(text.contains("no index on invoices"), "{text}");
    assert!(!text.contains(pg.readonly_password()), "{text}");

    // The index the README recommends silences the advice.
    db.execute(
        "CREATE INDEX invoices_exportd_updated_at ON invoices
           (tenant_id, environment_id, updated_at, id COLLATE \"C\") WHERE status = 'published'",
    );
    assert!(
        check::check(&source(&db), &scopes)
            .unwrap()
            .updated_at_index
    );

    // A missing table, a revoked privilege and a renamed column are named.
    let other = pg.database_with(&ds);
    other.execute("DROP TABLE groups; REVOKE SELECT ON prices FROM exportd_ro");
    let report = check::check(&source(&other), &scopes).unwrap();
    assert!(!report.ok());
    let text = report.to_string();
    assert!(text.contains("tables missing: groups"), "{text}");
    assert!(
        text.contains("tables without SELECT for exportd_ro: prices"),
        "{text}"
    );
    let renamed = pg.database_with(&ds);
    renamed.execute("ALTER TABLE invoices RENAME COLUMN billing_reason TO reason");
    let report = check::check(&source(&renamed), &scopes).unwrap();
    assert_eq!(report.refused.len(), 1, "{report}");
    assert!(report.to_string().contains("invoice: refused:"), "{report}");
    assert!(report.scopes.is_empty());
    // A superuser may write: said, not refused.
    let su = Postgres::new(&db.superuser_url(), DEFAULT_STATEMENT_TIMEOUT).unwrap();
    let report = check::check(&su, &scopes).unwrap();
    assert!(report.ok() && report.tables.iter().all(|t| t.writable));
    assert!(report.to_string().contains("may write"));
}

/// How fast invoices stream into CSV (not a timed assertion: it prints the rates beside
/// `psql \copy` of the same rows). Run it by hand:
/// `cargo test --release --test it flexprice_pg_read_rate -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, run by hand"]
fn flexprice_pg_read_rate() {
    let Some(pg) = postgres("flexprice_pg_read_rate") else {
        return;
    };
    let n = 300_000u64;
    let db = pg.database();
    db.bulk_invoices("rate", "acme", "prod", n, at("00:00:00"), at("23:00:00"));
    db.execute("VACUUM ANALYZE invoices");
    let export = Export::new(Entity::Invoice, "acme", "prod", "00:00:00", "23:00:00");
    let source = source(&db);
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let cpu = || {
            let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
            let f: Vec<&str> = stat
                .rsplit_once(')')
                .unwrap()
                .1
                .split_whitespace()
                .collect();
            (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
        };
        let cpu0 = cpu();
        let mut session = source.connect().unwrap();
        let mut snap = session.snapshot().unwrap();
        let mut w = csv::Writer::from_writer(std::io::sink());
        let rows = read(&mut snap, &export, |cells| {
            w.write_record(render(cells)).unwrap();
            Ok(())
        })
        .unwrap();
        let s = started.elapsed().as_secs_f64();
        eprintln!(
            "exportd reader: {rows} rows in {s:.2} s, {:.0} rows/s, {:.2} CPU-s in exportd",
            rows as f64 / s,
            cpu() - cpu0
        );
        let started = std::time::Instant::now();
        let out = std::process::Command::new("/usr/lib/postgresql/15/bin/psql")
            .arg(db.readonly_url())
            .args(["-X", "-q", "-c"])
            .arg(format!(
                "\\copy ({}) TO '/dev/null' CSV HEADER",
                invoices::sql(None)
                    .replace("$1", "'acme'")
                    .replace("$2", "'prod'")
                    .replace("$3", &format!("'{}'", export.start))
                    .replace("$4", &format!("'{}'", export.end))
                    .replace('\n', " ")
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s = started.elapsed().as_secs_f64();
        eprintln!(
            "psql \\copy: {n} rows in {s:.2} s, {:.0} rows/s",
            n as f64 / s
        );
    }
}

#[test]
fn flexprice_pg_the_readme_index_serves_invoice_windows() {
    let Some(pg) = postgres("flexprice_pg_the_readme_index_serves_invoice_windows") else {
        return;
    };
    let db = pg.database();
    db.bulk_invoices(
        "idx",
        "acme",
        "prod",
        50_000,
        at("00:00:00"),
        at("23:00:00"),
    );
    db.execute("ANALYZE invoices");
    let source = source(&db);
    let export = Export::new(Entity::Invoice, "acme", "prod", "10:00:00", "11:00:00");
    let plan = |field: Option<job_config::WindowField>| {
        let mut session = source.connect().unwrap();
        let mut snap = session.snapshot().unwrap();
        let (start, end) = (
            cells::PgTime(export.start.as_millisecond()),
            cells::PgTime(export.end.as_millisecond()),
        );
        let mut plan = String::new();
        snap.rows(
            &format!("EXPLAIN {}", invoices::sql(field)),
            &[&"acme", &"prod", &start, &end],
            |row| {
                plan.push_str(row.get::<&str>(0)?);
                plan.push('\n');
                Ok(())
            },
        )
        .unwrap();
        plan
    };
    let fields = [
        (None, "invoices_exportd_updated_at"),
        (
            Some(job_config::WindowField::CreatedAt),
            "invoices_exportd_created_at",
        ),
    ];
    // Flexprice's own indexes do not serve a window: the environment's invoices are scanned.
    for (field, _) in fields {
        let plan = plan(field);
        assert!(plan.contains("Seq Scan on invoices"), "{plan}");
    }
    // As in the README.
    db.execute(
        "CREATE INDEX invoices_exportd_updated_at ON invoices
           (tenant_id, environment_id, updated_at, id COLLATE \"C\") WHERE status = 'published';
         CREATE INDEX invoices_exportd_created_at ON invoices
           (tenant_id, environment_id, created_at, id COLLATE \"C\") WHERE status = 'published';
         ANALYZE invoices",
    );
    for (field, index) in fields {
        let plan = plan(field);
        // An index scan in order, or a bitmap scan and a sort of the window's rows: either
        // way only the window is read.
        assert!(
            plan.contains(&format!("Index Scan using {index}"))
                || plan.contains(&format!("Bitmap Index Scan on {index}")),
            "{plan}"
        );
        assert!(!plan.contains("Seq Scan"), "{plan}");
    }
}
