//! The ClickHouse entities of the Flexprice source through the real daemon: tasks created
//! with the API, runs forced or scheduled, objects read back from SeaweedFS and compared byte
//! for byte with [`expected::csv`]; every query the daemon sent is replayed on chdb-core.

use serde_json::Value;

use super::clickhouse_source::{BULK, bulk_database, exports};
use super::dataset::{Dataset, Variant, at};
use super::expected::{Entity, Export, WindowField};
use super::golden::{Golden, assert_same_csv};
use super::{CLICKHOUSE_PASSWORD_ENV, ChDb, ChProxy, ChServer, PgDb, clickhouse, postgres};
use crate::harness::{LONG, Setup, wait_for};

/// A daemon reading `pg` and `ch` (through `proxy`), as `user`.
fn golden(test: &str, pg: &PgDb<'_>, ch: &ChDb<'_>, proxy: &ChProxy, user: &str) -> Option<Golden> {
    let toml = super::source_toml(Some((ch, Some(proxy)))).replace(
        &format!("clickhouse_user = \"{}\"", ChServer::READONLY_USER),
        &format!("clickhouse_user = \"{user}\""),
    );
    let setup = Setup::new()
        .config(&toml)
        .env(super::PG_URL_ENV, &pg.readonly_url())
        .env(CLICKHOUSE_PASSWORD_ENV, ch.server.readonly_password());
    Golden::start(test, setup)
}

/// Both entities, every scope, both window fields, on both `meter_usage` variants: the
/// objects equal the expected CSV, and the daemon's queries give the same rows on chdb.
#[test]
fn flexprice_ch_the_daemon_exports_both_entities_byte_for_byte() {
    let test = "flexprice_ch_the_daemon_exports_both_entities_byte_for_byte";
    let (Some(pg), Some(server)) = (postgres(test), clickhouse(test)) else {
        return;
    };
    let ds = Dataset::standard();
    let pg_db = pg.database_with(&ds);
    for variant in Variant::ALL {
        let ch_db = server.database_with(variant, &ds);
        let proxy = server.proxy();
        let Some(g) = golden(test, &pg_db, &ch_db, &proxy, ChServer::READONLY_USER) else {
            return;
        };
        let mut rows = 0;
        for entity in [Entity::Events, Entity::UsageAnalytics] {
            for mut export in exports(entity, variant) {
                // The API takes only customer metadata for usage_analytics (the reader's
                // tests also ask for a wallet column, which stays empty).
                export.metadata.retain(|m| m.entity_type == "customer");
                g.assert_export(&ds, &export);
                rows += super::expected::rows(&ds, &export).len();
            }
        }
        assert!(rows > 100, "{rows} rows only");
        let replayed = ch_db.assert_same_on_chdb(test, &proxy.queries());
        if let Some(replayed) = replayed {
            assert!(replayed >= 2, "{replayed} queries replayed");
        }
    }
}

/// The objects of a bucket under a prefix.
fn objects(g: &Golden, prefix: &str) -> Vec<String> {
    let mut keys = g.server.keys(&g.bucket);
    keys.retain(|k| k.starts_with(prefix));
    keys
}

/// ClickHouse fails in mid-stream (HTTP 200, rows already sent, then a `Code:` tail): the run
/// is FAILED and retryable with a summary that says so, no object is left, and once the
/// operator lifts the limit the same window is COMPLETED with every row.
#[test]
fn flexprice_ch_an_error_in_mid_stream_fails_the_run_and_a_retry_completes() {
    let test = "flexprice_ch_an_error_in_mid_stream_fails_the_run_and_a_retry_completes";
    let (Some(pg), Some(_)) = (postgres(test), clickhouse(test)) else {
        return;
    };
    // A server of its own: the test raises its limited user's limit.
    let own = ChServer::start_own().expect("clickhouse-server");
    let ch_db = bulk_database(&own);
    let pg_db = pg.database();
    let proxy = own.proxy();
    let Some(g) = golden(test, &pg_db, &ch_db, &proxy, ChServer::LIMITED_USER) else {
        return;
    };
    let export = Export::new(Entity::Events, "acme", "prod", "10:00:00", "11:01:00");
    let task = g.task(&export);
    let failed = g.run(&task, &export);
    assert_eq!(failed["task_status"], "FAILED", "{failed}");
    let summary = failed["error_summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("mid-stream") && summary.contains("code 396"),
        "{summary}"
    );
    assert!(!summary.contains("SELECT"), "no SQL in {summary}");
    let prefix = "acme/prod/events";
    assert_eq!(objects(&g, prefix), Vec::<String>::new(), "no object left");

    own.set_limited_rows(BULK * 2);
    let done = g.run(&task, &export);
    assert_eq!(done["task_status"], "COMPLETED", "{done}");
    assert_eq!(done["total_records"].as_u64(), Some(BULK), "{done}");
    let object = g.object(&done);
    assert_eq!(object.lines().count() as u64, BULK + 1);
    assert_eq!(objects(&g, prefix).len(), 1);
}

/// The runs of a scheduled task, oldest first.
fn runs(g: &Golden, task: &str) -> Vec<Value> {
    let v = g
        .client("acme", "prod")
        .get(&format!(
            "/v1/tasks?scheduled_task_id={task}&order=asc&limit=1000"
        ))
        .ok(200);
    v["items"].as_array().cloned().unwrap_or_default()
}

/// An hourly task on the Flexprice source exports consecutive windows while ClickHouse
/// restarts: the window that meets the stopped server fails, is retried once it is back, and
/// every row of `meter_usage` lands in exactly one object.
#[test]
fn flexprice_ch_a_scheduled_task_exports_every_row_once_across_a_clickhouse_restart() {
    let test = "flexprice_ch_a_scheduled_task_exports_every_row_once_across_a_clickhouse_restart";
    let (Some(pg), Some(_)) = (postgres(test), clickhouse(test)) else {
        return;
    };
    let own = ChServer::start_own().expect("clickhouse-server");
    let ds = Dataset::standard();
    let ch_db = own.database_with(Variant::Prod, &ds);
    let pg_db = pg.database_with(&ds);
    let proxy = own.proxy();
    let setup = Setup::new()
        .clock("2025-10-16T10:20:00Z")
        .scheduler("delay = \"5m\"\nretry_base = \"1m\"\nretry_cap = \"1m\"")
        .flexprice(&pg_db, Some((&ch_db, Some(&proxy))))
        .env(CLICKHOUSE_PASSWORD_ENV, own.readonly_password());
    let Some(g) = Golden::start(test, setup) else {
        return;
    };
    let c = g.client("acme", "prod");
    let hour = Export::new(Entity::Events, "acme", "prod", "10:00:00", "11:00:00")
        .window_field(WindowField::IngestedAt);
    let task = g.task(&hour);
    c.put(
        &format!("/v1/tasks/scheduled/{task}"),
        serde_json::json!({"enabled": true}),
    )
    .ok(200);
    let settled = |n: usize| {
        let rs = runs(&g, &task);
        rs.len() >= n
            && rs
                .iter()
                .all(|r| matches!(r["task_status"].as_str(), Some("COMPLETED" | "FAILED")))
    };
    // 10:00-11:00 runs at 11:05 with the server up.
    g.daemon.set_clock("2025-10-16T11:05:00Z");
    wait_for("the first window", LONG, || settled(1));
    // The server is down when 11:00-12:00 is due: that run fails, retryable.
    own.stop();
    g.daemon.set_clock("2025-10-16T12:05:00Z");
    wait_for("the second window's first attempt", LONG, || settled(2));
    own.start();
    // Its retry, then 12:00-13:00, 13:00-14:00.
    for (n, time) in [(3, "12:07:00"), (4, "13:05:00"), (5, "14:05:00")] {
        g.daemon.set_clock(&format!("2025-10-16T{time}Z"));
        wait_for(&format!("run {n}"), LONG, || settled(n));
    }
    let rs = runs(&g, &task);
    let statuses: Vec<&str> = rs
        .iter()
        .map(|r| r["task_status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        statuses,
        ["COMPLETED", "FAILED", "COMPLETED", "COMPLETED", "COMPLETED"],
        "{rs:?}"
    );
    assert!(
        rs[1]["error_summary"]
            .as_str()
            .is_some_and(|s| s.contains("ClickHouse")),
        "{}",
        rs[1]
    );
    // Each completed window's object is exactly the expected file, and together they hold
    // every row of the four hours once.
    let mut exported = 0;
    for (run, (start, end)) in rs.iter().filter(|r| r["task_status"] == "COMPLETED").zip([
        ("10:00:00", "11:00:00"),
        ("11:00:00", "12:00:00"),
        ("12:00:00", "13:00:00"),
        ("13:00:00", "14:00:00"),
    ]) {
        let window = Export::new(Entity::Events, "acme", "prod", start, end)
            .window_field(WindowField::IngestedAt)
            .variant(Variant::Prod);
        assert_same_csv(&super::expected::csv(&ds, &window), &g.object(run), &window);
        exported += super::expected::rows(&ds, &window).len();
    }
    let all = Export::window(
        Entity::Events,
        "acme",
        "prod",
        at("10:00:00"),
        at("14:00:00"),
    )
    .window_field(WindowField::IngestedAt)
    .variant(Variant::Prod);
    assert_eq!(exported, super::expected::rows(&ds, &all).len());
    assert!(exported > 0);
}

/// `check-config` reports ClickHouse's version and the `meter_usage` variant it found, says
/// what to fix when the password's variable is unset or the login is refused, and never
/// prints the password; the keys' `EXPORTD_SOURCE_*` twins work; without ClickHouse the
/// two entities are refused at task creation.
#[test]
fn flexprice_ch_check_config_reports_the_server_and_the_schema_variant() {
    let test = "flexprice_ch_check_config_reports_the_server_and_the_schema_variant";
    let (Some(pg), Some(server)) = (postgres(test), clickhouse(test)) else {
        return;
    };
    let pg_db = pg.database();
    let password = server.readonly_password();
    for (variant, says) in [
        (Variant::Dev, "Decimal(25, 15)"),
        (Variant::Prod, "Decimal(18, 8)"),
    ] {
        let ch_db = server.database(variant);
        let (status, stdout, stderr) = Setup::new()
            .flexprice(&pg_db, Some((&ch_db, None)))
            .env(CLICKHOUSE_PASSWORD_ENV, password)
            .run(&["check-config"]);
        assert!(status.success(), "{stdout}{stderr}");
        let version = server.version();
        assert!(
            stdout.contains(&format!("ClickHouse {version}")) && stdout.contains(says),
            "{variant:?}: {stdout}"
        );
        assert!(!stdout.contains(password) && !stderr.contains(password));
    }
    let ch_db = server.database(Variant::Prod);
    let setup = || Setup::new().flexprice(&pg_db, Some((&ch_db, None)));
    // The password's variable is not set: the key is named.
    let (status, _, stderr) = setup().run(&["check-config"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("source.clickhouse_password_env")
            && stderr.contains(CLICKHOUSE_PASSWORD_ENV),
        "{stderr}"
    );
    // A wrong password: refused, said so.
    let (status, _, stderr) = setup()
        .env(CLICKHOUSE_PASSWORD_ENV, "not-the-password")
        .run(&["check-config"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ClickHouse"), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "{stderr}");
    // The twins: the URL and the database from the environment.
    let (status, stdout, stderr) = Setup::new()
        .flexprice(&pg_db, None)
        .env("EXPORTD_SOURCE_CLICKHOUSE_URL", &server.url())
        .env("EXPORTD_SOURCE_CLICKHOUSE_DATABASE", &ch_db.name)
        .env("EXPORTD_SOURCE_CLICKHOUSE_USER", ChServer::READONLY_USER)
        .env(
            "EXPORTD_SOURCE_CLICKHOUSE_PASSWORD_ENV",
            CLICKHOUSE_PASSWORD_ENV,
        )
        .env("EXPORTD_SOURCE_CLICKHOUSE_MAX_EXECUTION_TIME", "60")
        .env(CLICKHOUSE_PASSWORD_ENV, password)
        .run(&["check-config"]);
    assert!(status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("Decimal(18, 8)"), "{stdout}");
    // Without ClickHouse, a task of either entity is a 400 naming entity_type.
    let d = Setup::new().flexprice(&pg_db, None).start();
    for entity in ["events", "usage_analytics"] {
        let conn = crate::harness::fixtures::connection(&d.prod());
        let mut body = crate::harness::fixtures::task_body(&conn);
        body["entity_type"] = Value::from(entity);
        let v = d.prod().post("/v1/tasks/scheduled", body).error(400);
        assert!(v.to_string().contains("ClickHouse"), "{v}");
    }
}

/// `clickhouse_url = "https://..."`: the server's certificate is verified against the system
/// CA store (here `SSL_CERT_FILE`, a test CA) and its host name; an untrusted certificate or
/// another name stops `check-config`, saying TLS failed; trusted, the export is the same
/// byte for byte as over http.
#[test]
fn flexprice_ch_over_https_verifies_the_certificate_and_exports_the_same() {
    const T: &str = "flexprice_ch_over_https_verifies_the_certificate_and_exports_the_same";
    let (Some(pg), Some(_)) = (postgres(T), clickhouse(T)) else {
        return;
    };
    let Some(own) = ChServer::start_own() else {
        return;
    };
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = super::source_pg::test_certificates(certs.path());
    let https = own.enable_tls(&cert, &key);
    let ds = Dataset::standard();
    let (pg_db, ch_db) = (pg.database_with(&ds), own.database_with(Variant::Dev, &ds));
    // The URL names `host`; SSL_CERT_FILE trusts the test CA when `trusted`.
    let setup = |host: &str, trusted: bool| {
        let toml = super::source_toml(Some((&ch_db, None)))
            .replace(&own.url(), &format!("https://{host}:{https}"));
        let setup = Setup::new()
            .config(&toml)
            .env(super::PG_URL_ENV, &pg_db.readonly_url())
            .env(CLICKHOUSE_PASSWORD_ENV, own.readonly_password());
        if trusted {
            setup.env("SSL_CERT_FILE", &ca)
        } else {
            setup
        }
    };
    let (status, stdout, stderr) = setup("localhost", true).run(&["check-config"]);
    assert!(status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("ClickHouse {}", own.version())),
        "{stdout}"
    );
    for (host, trusted) in [("localhost", false), ("127.0.0.1", true)] {
        let (status, stdout, stderr) = setup(host, trusted).run(&["check-config"]);
        assert_eq!(
            status.code(),
            Some(2),
            "{host}, trusted {trusted}: {stdout}{stderr}"
        );
        assert!(
            stderr.contains("TLS connection to ClickHouse"),
            "{host}, trusted {trusted}: {stderr}"
        );
        assert!(!stderr.contains(own.readonly_password()), "{stderr}");
    }
    let Some(g) = Golden::start(T, setup("localhost", true)) else {
        return;
    };
    for entity in [Entity::Events, Entity::UsageAnalytics] {
        let export =
            Export::new(entity, "acme", "prod", "10:00:00", "11:00:00").variant(Variant::Dev);
        g.assert_export(&ds, &export);
    }
}
