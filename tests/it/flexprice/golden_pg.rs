//! The Flexprice source of issue 15 through the real daemon: `[source] kind = "flexprice"` on
//! the fixture's PostgreSQL as the SELECT-only role, objects in SeaweedFS compared byte for
//! byte with `expected::csv` (computed from the data set, not from exportd's SQL); tenancy from
//! the API key; half-open windows; the routes a Flexprice source closes; an outage that fails a
//! run and a retry that completes it; `check-config` and `exportd export --task`.

use std::time::Duration;

use serde_json::{Value, json};

use super::dataset::{Dataset, SCOPES, at};
use super::expected::{Entity, Export, WindowField};
use super::golden::Golden;
use super::{PG_URL_ENV, PgServer, apply_changes, postgres};
use crate::harness::{Setup, wait_for};

/// The PostgreSQL entities' exports of one scope and window: both window fields of invoice
/// and credit_topups, and credit_usage with customer and wallet metadata columns.
fn exports(tenant: &str, env: &str, start: &str, end: &str) -> Vec<Export> {
    let new = |entity| Export::new(entity, tenant, env, start, end);
    vec![
        new(Entity::Invoice),
        new(Entity::Invoice).window_field(WindowField::CreatedAt),
        new(Entity::CreditTopups),
        new(Entity::CreditTopups).window_field(WindowField::UpdatedAt),
        new(Entity::CreditUsage),
        new(Entity::CreditUsage)
            .metadata("customer", "tier", Some("Tier"))
            .metadata("wallet", "cost_center", None)
            .metadata("wallet", "absent", Some("Nothing")),
    ]
}

/// The first column of each data row (a row's id for invoice and credit_topups).
fn ids(csv: &str) -> Vec<String> {
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    r.records().map(|rec| rec.unwrap()[0].to_owned()).collect()
}

#[test]
fn flexprice_daemon_exports_each_entity_of_each_key_byte_for_byte() {
    const T: &str = "flexprice_daemon_exports_each_entity_of_each_key_byte_for_byte";
    let Some(pg) = postgres(T) else { return };
    let mut ds = Dataset::standard();
    let db = pg.database_with(&ds);
    let Some(g) = Golden::start(T, Setup::new().flexprice(&db, None)) else {
        return;
    };
    for (tenant, env) in SCOPES {
        for (start, end) in [("10:00:00", "11:00:00"), ("11:00:00", "12:00:00")] {
            for export in exports(tenant, env, start, end) {
                g.assert_export(&ds, &export);
            }
        }
    }
    // Isolation: every invoice row is of the key's tenant and environment (the data set puts
    // rows of other tenants, of a NULL and an empty environment, beside them).
    let mut seen = 0;
    for (tenant, env) in SCOPES {
        let csv = g.export(&Export::new(
            Entity::Invoice,
            tenant,
            env,
            "00:00:00",
            "23:59:59",
        ));
        let mut r = csv::Reader::from_reader(csv.as_bytes());
        for rec in r.records() {
            let rec = rec.unwrap();
            assert_eq!((&rec[1], &rec[2]), (tenant, env), "{rec:?}");
            seen += 1;
        }
    }
    assert!(seen > 40, "{seen} invoices");

    // Boundary rows: an invoice updated exactly at 11:00:00 is in the 11:00 window only.
    let (tenant, env) = ("acme", "prod");
    let first = ids(&g.export(&Export::new(
        Entity::Invoice,
        tenant,
        env,
        "10:00:00",
        "11:00:00",
    )));
    let second = ids(&g.export(&Export::new(
        Entity::Invoice,
        tenant,
        env,
        "11:00:00",
        "12:00:00",
    )));
    let on_boundary: Vec<&str> = ds
        .invoices
        .iter()
        .filter(|i| {
            i.base.in_scope(tenant, env)
                && i.base.published()
                && i.base.updated_at == at("11:00:00")
        })
        .map(|i| i.base.id.as_str())
        .collect();
    assert!(
        !on_boundary.is_empty(),
        "the data set has a boundary invoice"
    );
    for id in on_boundary {
        assert!(!first.iter().any(|x| x == id), "{id} in 10:00-11:00");
        assert_eq!(second.iter().filter(|x| *x == id).count(), 1, "{id}");
    }
    assert!(first.iter().all(|id| !second.contains(id)));

    // Flexprice finalizes an invoice at 11:10 after its first export (in the 10:00 window, as
    // a DRAFT): the 11:00 window exports it again with its new state; the 10:00 window no
    // longer holds it.
    let finalized = "inv_acme_prod_12";
    let before = g.export(&Export::new(
        Entity::Invoice,
        tenant,
        env,
        "10:00:00",
        "11:00:00",
    ));
    assert!(
        before
            .lines()
            .any(|l| l.starts_with(finalized) && l.contains(",DRAFT,"))
    );
    apply_changes(&mut ds, Some(&db), None);
    let later = Export::new(Entity::Invoice, tenant, env, "11:00:00", "12:00:00");
    g.assert_export(&ds, &later);
    let row = g.export(&later);
    let row = row
        .lines()
        .find(|l| l.starts_with(finalized))
        .expect("re-exported");
    assert!(row.contains(",FINALIZED,"), "{row}");
    for export in exports(tenant, env, "10:00:00", "11:00:00")
        .into_iter()
        .chain(exports(tenant, env, "11:00:00", "12:00:00"))
    {
        g.assert_export(&ds, &export);
    }
}

#[test]
fn flexprice_daemon_closes_the_ledger_and_refuses_clickhouse_entities() {
    const T: &str = "flexprice_daemon_closes_the_ledger_and_refuses_clickhouse_entities";
    let Some(pg) = postgres(T) else { return };
    let db = pg.database();
    let d = Setup::new().flexprice(&db, None).start();
    let c = d.prod();
    for (path, body) in [
        (
            "/v1/events",
            json!({"event_name": "x", "external_customer_id": "c"}),
        ),
        ("/v1/customers", json!({"external_id": "c", "name": "C"})),
        ("/v1/invoices", json!({})),
        ("/v1/tasks/scheduled/schedule-draft-finalization", json!({})),
        (
            "/v1/subscriptions/temporal/schedule-update-billing-period",
            json!({}),
        ),
    ] {
        let e = c.post(path, body).error(400);
        assert_eq!(e["code"], "invalid_operation", "{e}");
        let message = e["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("billing runs in Flexprice") && message.contains(path),
            "{path}: {message}"
        );
    }
    let connection = crate::harness::fixtures::connection(&c);
    for entity in ["events", "usage_analytics"] {
        let mut body = crate::harness::fixtures::task_body(&connection);
        body["entity_type"] = json!(entity);
        c.post("/v1/tasks/scheduled", body).invalid(
            "entity_type",
            &format!("entity_type {entity} is read from Flexprice's ClickHouse"),
        );
    }
    // What still works: tasks of the PostgreSQL entities, runs, connections.
    let mut body = crate::harness::fixtures::task_body(&connection);
    body["entity_type"] = json!("invoice");
    body["enabled"] = json!(false);
    c.post("/v1/tasks/scheduled", body).ok(201);
    c.get("/v1/tasks").ok(200);
    c.get("/v1/connections").ok(200);
}

/// The runs of `task`, oldest first.
fn runs_of(g: &Golden, export: &Export, task: &str) -> Vec<Value> {
    crate::hardening::runs_of(&g.client(&export.tenant, &export.env), task)
}

#[test]
fn flexprice_daemon_fails_a_run_while_postgres_is_down_and_completes_it_after() {
    const T: &str = "flexprice_daemon_fails_a_run_while_postgres_is_down_and_completes_it_after";
    let summary = outage_fails_the_run_and_the_retry_completes(T, |pg, _, backfill| {
        pg.stop();
        backfill();
    });
    if let Some(summary) = summary {
        assert!(summary.contains("refused the connection"), "{summary}");
        assert!(summary.contains("postgres_url"), "{summary}");
    }
}

#[test]
fn flexprice_daemon_fails_a_run_when_postgres_stops_mid_run_and_completes_it_after() {
    const T: &str =
        "flexprice_daemon_fails_a_run_when_postgres_stops_mid_run_and_completes_it_after";
    let summary = outage_fails_the_run_and_the_retry_completes(T, |pg, db, backfill| {
        // The run's snapshot is open and its query waits on the test's lock when the server
        // goes: stopped in mid-run, not before it.
        let mut holder = db.hold_lock("invoices");
        backfill();
        wait_for(
            "the run to wait inside its query",
            Duration::from_secs(60),
            || db.exportd_waiting_for_a_lock(),
        );
        pg.stop();
        let _ = holder.kill();
        let _ = holder.wait();
    });
    if let Some(summary) = summary {
        assert!(
            summary.contains("lost during the run") || summary.contains("shutting down"),
            "{summary}"
        );
    }
}

#[test]
fn flexprice_daemon_stopped_while_its_query_waits_on_a_lock_exits_and_keeps_the_run() {
    const T: &str =
        "flexprice_daemon_stopped_while_its_query_waits_on_a_lock_exits_and_keeps_the_run";
    let Some(pg) = postgres(T) else {
        return;
    };
    let db = pg.database_with(&Dataset::standard());
    let setup = Setup::new()
        .flexprice(&db, None)
        .clock("2025-10-16T15:30:00Z")
        .scheduler("shutdown_timeout = \"0s\"");
    let Some(g) = Golden::start(T, setup) else {
        return;
    };
    let export = Export::new(Entity::Invoice, "globex", "prod", "10:00:00", "11:00:00");
    let task = g.task(&export);
    // The run's query waits on the test's lock, up to the 5-minute statement timeout.
    let mut holder = db.hold_lock("invoices");
    g.client(&export.tenant, &export.env)
        .post(
            &format!("/v1/tasks/scheduled/{task}/backfill"),
            json!({"start_time": "2025-10-16T10:00:00Z", "end_time": "2025-10-16T11:00:00Z"}),
        )
        .ok(200);
    wait_for(
        "the run to wait inside its query",
        Duration::from_secs(60),
        || db.exportd_waiting_for_a_lock(),
    );
    // SIGTERM: the query is cancelled on the server, so the daemon exits within the harness's
    // 20 seconds instead of waiting out the statement timeout.
    let (status, log, dir) = g.daemon.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(!db.exportd_waiting_for_a_lock(), "the query was cancelled");
    let runs: Vec<(String, String, Option<String>)> = crate::hardening::db(dir.path())
        .prepare("SELECT id, task_status, error_summary FROM runs ORDER BY created_at, id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // Not lost: interrupted (which never counts as a failure) and queued again.
    let again = runs.get(1).map(|r| r.0.clone()).unwrap_or_default();
    let states: Vec<(&str, Option<&str>)> = runs
        .iter()
        .map(|(_, status, summary)| (status.as_str(), summary.as_deref()))
        .collect();
    let summary = format!("interrupted by shutdown; run again as {again}");
    assert_eq!(
        states,
        [("FAILED", Some(summary.as_str())), ("PENDING", None)],
        "{log}"
    );
    db.query(
        "SELECT pg_terminate_backend(pid) FROM pg_locks \
         WHERE relation = 'invoices'::regclass AND mode = 'AccessExclusiveLock'",
    );
    let _ = holder.kill();
    let _ = holder.wait();
}

/// A globex invoice window backfilled through `interrupt`, which stops `pg` before or during
/// the run (`backfill` asks for it): the run FAILED with a summary free of SQL and password,
/// its retry PENDING; with PostgreSQL back the retry COMPLETED with the expected object. The
/// failed run's summary, or `None` when PostgreSQL is not installed.
fn outage_fails_the_run_and_the_retry_completes(
    test: &str,
    interrupt: impl FnOnce(&PgServer, &super::PgDb<'_>, &dyn Fn()),
) -> Option<String> {
    postgres(test)?;
    let pg = PgServer::start_own()?;
    let ds = Dataset::standard();
    let db = pg.database_with(&ds);
    let setup = Setup::new()
        .flexprice(&db, None)
        .clock("2025-10-16T15:30:00Z")
        .scheduler("retry_base = \"1m\"\nretry_cap = \"10m\"\nmax_consecutive_failures = 5");
    let g = Golden::start(test, setup)?;
    let export = Export::new(Entity::Invoice, "globex", "prod", "10:00:00", "11:00:00");
    let task = g.task(&export);
    let backfill = || {
        g.client(&export.tenant, &export.env)
            .post(
                &format!("/v1/tasks/scheduled/{task}/backfill"),
                json!({"start_time": "2025-10-16T10:00:00Z", "end_time": "2025-10-16T11:00:00Z"}),
            )
            .ok(200);
    };
    interrupt(&pg, &db, &backfill);
    wait_for("the first attempt to fail", Duration::from_secs(60), || {
        runs_of(&g, &export, &task)
            .first()
            .is_some_and(|r| r["task_status"] == "FAILED")
    });
    let runs = runs_of(&g, &export, &task);
    let summary = runs[0]["error_summary"].as_str().unwrap().to_owned();
    assert!(summary.contains("Flexprice's PostgreSQL"), "{summary}");
    assert!(!summary.contains(pg.readonly_password()), "{summary}");
    assert!(
        !summary.to_ascii_uppercase().contains("SELECT"),
        "{summary}"
    );
    assert_eq!(runs[1]["task_status"], "PENDING", "{:?}", runs[1]);
    // Back up: the retry, after its backoff, completes the window with the expected object.
    pg.start();
    g.daemon.set_clock("2025-10-16T15:32:01Z");
    wait_for("the retry to complete", Duration::from_secs(60), || {
        runs_of(&g, &export, &task)
            .get(1)
            .is_some_and(|r| r["task_status"] == "COMPLETED")
    });
    let runs = runs_of(&g, &export, &task);
    super::golden::assert_same_csv(
        &super::expected::csv(&ds, &export),
        &g.object(&runs[1]),
        &export,
    );
    Some(summary)
}

#[test]
fn flexprice_check_config_and_the_export_command_read_postgres() {
    const T: &str = "flexprice_check_config_and_the_export_command_read_postgres";
    let Some(pg) = postgres(T) else { return };
    let ds = Dataset::standard();
    let db = pg.database_with(&ds);
    let setup = || Setup::new().flexprice(&db, None);
    let (status, stdout, stderr) = setup()
        .config(&super::globex_keys_toml())
        .run(&["check-config"]);
    assert!(status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("tables: all 10 present and readable"),
        "{stdout}"
    );
    assert!(!stdout.contains(pg.readonly_password()), "{stdout}");
    assert!(!stderr.contains(pg.readonly_password()), "{stderr}");
    for (tenant, env) in SCOPES {
        let invoices = ds
            .invoices
            .iter()
            .filter(|i| i.base.in_scope(tenant, env) && i.base.published())
            .count();
        assert!(
            stdout.contains(&format!("{tenant}/{env}: invoice {invoices} rows")),
            "{tenant}/{env} {invoices}: {stdout}"
        );
    }
    // A wrong password: check-config fails and says what to fix, without the URL's password.
    let wrong = db
        .readonly_url()
        .replace(pg.readonly_password(), "not-the-password");
    let (status, stdout, stderr) = setup().env(PG_URL_ENV, &wrong).run(&["check-config"]);
    assert_eq!(status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("refused exportd's login"), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "{stderr}");

    // `exportd export --task` in the state a server made, reading Flexprice.
    let Some(g) = Golden::start(T, setup()) else {
        return;
    };
    let export = Export::new(
        Entity::CreditTopups,
        "globex",
        "staging",
        "10:00:00",
        "11:00:00",
    );
    let task = g.task(&export);
    let (status, log, dir) = g.daemon.terminate();
    assert!(status.success(), "{log}");
    let setup = setup()
        .config(&super::globex_keys_toml())
        .config(&g.server.allow());
    let (status, stdout, stderr) = setup.run_in(
        dir.path(),
        &[
            "export",
            "--task",
            &task,
            "--start",
            "2025-10-16T10:00:00Z",
            "--end",
            "2025-10-16T11:00:00Z",
        ],
    );
    assert!(status.success(), "{stdout}{stderr}");
    let run: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(run["task_status"], "COMPLETED", "{run}");
    let key = run["file_url"]
        .as_str()
        .unwrap()
        .split_once(&format!("{}/", g.bucket))
        .unwrap()
        .1;
    super::golden::assert_same_csv(
        &super::expected::csv(&ds, &export),
        &String::from_utf8(g.server.get(&g.bucket, key)).unwrap(),
        &export,
    );
}
