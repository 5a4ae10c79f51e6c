//! The scheduler, driven through a test clock (a file the tests rewrite): windows, catch-up
//! after downtime and pauses, retries, auto-pause, crash recovery, backfill, idle cost.
//! No test sleeps through a real interval.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::fixtures::managed_connection;
use crate::harness::{Client, Daemon, LONG, S3_REGION, S3Server, Setup, set_clock_file, wait_for};

/// An enabled task writing under `prefix` of the managed directory.
fn task(c: &Client, connection: &str, interval: &str, prefix: &str) -> String {
    let body = json!({"connection_id": connection, "entity_type": "events", "interval": interval, "enabled": true,
                      "job_config": {"key_prefix": prefix}});
    c.post("/v1/tasks/scheduled", body).ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn get(c: &Client, task: &str) -> Value {
    c.get(&format!("/v1/tasks/scheduled/{task}")).ok(200)
}

/// The task's runs, oldest first.
fn runs(c: &Client, task: &str) -> Vec<Value> {
    let v = c
        .get(&format!(
            "/v1/tasks?scheduled_task_id={task}&order=asc&limit=1000"
        ))
        .ok(200);
    v["items"].as_array().unwrap().clone()
}

fn settled(c: &Client, task: &str) -> bool {
    runs(c, task)
        .iter()
        .all(|r| matches!(r["task_status"].as_str(), Some("COMPLETED" | "FAILED")))
}

/// Waits until the task's watermark is `watermark` and no run of it is pending or running.
fn wait_watermark(c: &Client, task: &str, watermark: &str) {
    wait_for(&format!("watermark {watermark}"), LONG, || {
        get(c, task)["watermark"] == watermark && settled(c, task)
    });
}

fn windows(runs: &[Value]) -> Vec<(String, String, String, String)> {
    runs.iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or("").to_owned();
            (
                s("window_start"),
                s("window_end"),
                s("trigger"),
                s("task_status"),
            )
        })
        .collect()
}

fn w(start: &str, end: &str, trigger: &str, status: &str) -> (String, String, String, String) {
    (start.into(), end.into(), trigger.into(), status.into())
}

/// The continuity check: the task's completed scheduled windows tile time, each window once,
/// with no gap and no overlap, starting at its first window.
fn assert_tiles(c: &Client, task: &str) {
    let rs = runs(c, task);
    let done: Vec<(i64, i64)> = rs
        .iter()
        .filter(|r| {
            r["task_status"] == "COMPLETED"
                && matches!(r["trigger"].as_str(), Some("scheduled" | "retry"))
        })
        .map(|r| {
            let t = |k: &str| crate::harness::timestamp(r[k].as_str().unwrap()).as_millisecond();
            (t("window_start"), t("window_end"))
        })
        .collect();
    assert!(!done.is_empty(), "no completed window");
    for pair in done.windows(2) {
        assert_eq!(
            pair[0].1,
            pair[1].0,
            "completed windows must be contiguous and in order: {:?}",
            windows(&rs)
        );
    }
    let watermark =
        crate::harness::timestamp(get(c, task)["watermark"].as_str().unwrap()).as_millisecond();
    assert_eq!(
        done.last().map(|w| w.1),
        Some(watermark),
        "the watermark is the end of the last window"
    );
}

/// Files of a managed export prefix, sorted.
fn files(d: &Daemon, prefix: &str) -> Vec<String> {
    let dir = d
        .dir()
        .join("data/exports/acme/prod")
        .join(prefix)
        .join("events");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn ingest(c: &Client, id: &str) {
    let r = c.post(
        "/v1/events",
        json!({"event_id": id, "event_name": "e", "external_customer_id": "c"}),
    );
    assert_eq!(r.status, 202);
}

/// Event ids in every exported file of a prefix, file by file.
fn exported_ids(d: &Daemon, prefix: &str) -> Vec<Vec<String>> {
    files(d, prefix)
        .iter()
        .map(|f| {
            let path = d
                .dir()
                .join("data/exports/acme/prod")
                .join(prefix)
                .join("events")
                .join(f);
            let text = std::fs::read_to_string(path).unwrap();
            text.lines()
                .skip(1)
                .map(|l| l.split(',').next().unwrap().to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn an_hourly_task_created_at_10_40_exports_10_to_11_first_at_11_15() {
    let d = Setup::new().clock("2025-10-16T10:40:00Z").start();
    let c = d.prod();
    let conn = managed_connection(&c);
    let t = task(&c, &conn, "hourly", "h");
    ingest(&c, "at-10-40");
    let v = get(&c, &t);
    assert_eq!(v["next_run_at"], "2025-10-16T11:15:00Z");
    assert_eq!(v["watermark"], Value::Null);

    d.set_clock("2025-10-16T11:14:59Z");
    d.wait_scheduler_pass();
    assert!(
        runs(&c, &t).is_empty(),
        "nothing runs before the window is due"
    );

    d.set_clock("2025-10-16T11:15:00Z");
    wait_watermark(&c, &t, "2025-10-16T11:00:00Z");
    let rs = runs(&c, &t);
    assert_eq!(
        windows(&rs),
        [w(
            "2025-10-16T10:00:00Z",
            "2025-10-16T11:00:00Z",
            "scheduled",
            "COMPLETED"
        )]
    );
    assert_eq!(rs[0]["attempt"], 1);
    let v = get(&c, &t);
    assert_eq!(v["next_run_at"], "2025-10-16T12:15:00Z");
    assert_eq!(
        (v["last_run_status"].as_str(), v["last_run_at"].as_str()),
        (Some("COMPLETED"), Some("2025-10-16T11:15:00Z"))
    );
    assert_eq!(files(&d, "h"), ["events-251016100000-251016110000.csv"]);
    assert_eq!(exported_ids(&d, "h"), [vec!["at-10-40".to_owned()]]);
}

#[test]
fn fifteen_and_thirty_minute_windows_are_their_own_length() {
    let d = Setup::new().clock("2025-10-16T10:40:00Z").start();
    let c = d.prod();
    let conn = managed_connection(&c);
    let t15 = task(&c, &conn, "15MIN", "m15");
    let t30 = task(&c, &conn, "30MIN", "m30");
    assert_eq!(get(&c, &t15)["next_run_at"], "2025-10-16T11:00:00Z");
    assert_eq!(get(&c, &t30)["next_run_at"], "2025-10-16T11:15:00Z");
    d.set_clock("2025-10-16T11:30:00Z");
    wait_watermark(&c, &t15, "2025-10-16T11:15:00Z");
    wait_watermark(&c, &t30, "2025-10-16T11:00:00Z");
    assert_eq!(
        windows(&runs(&c, &t15)),
        [
            w(
                "2025-10-16T10:30:00Z",
                "2025-10-16T10:45:00Z",
                "scheduled",
                "COMPLETED"
            ),
            w(
                "2025-10-16T10:45:00Z",
                "2025-10-16T11:00:00Z",
                "scheduled",
                "COMPLETED"
            ),
            w(
                "2025-10-16T11:00:00Z",
                "2025-10-16T11:15:00Z",
                "scheduled",
                "COMPLETED"
            ),
        ]
    );
    assert_eq!(
        windows(&runs(&c, &t30)),
        [w(
            "2025-10-16T10:30:00Z",
            "2025-10-16T11:00:00Z",
            "scheduled",
            "COMPLETED"
        )]
    );
    assert_eq!(files(&d, "m15").len(), 3);
    assert_eq!(files(&d, "m30"), ["events-251016103000-251016110000.csv"]);
}

#[test]
fn six_hours_of_downtime_are_caught_up_window_by_window_in_order() {
    let d = Setup::new().clock("2025-10-16T10:40:00Z").start();
    let c = d.prod();
    let conn = managed_connection(&c);
    let t = task(&c, &conn, "hourly", "down");
    ingest(&c, "before-10-40");
    d.set_clock("2025-10-16T11:15:00Z");
    wait_watermark(&c, &t, "2025-10-16T11:00:00Z");
    d.set_clock("2025-10-16T11:30:00Z");
    ingest(&c, "at-11-30");
    let (status, _, dir) = d.terminate();
    assert!(status.success());

    // Six hours pass with exportd stopped.
    set_clock_file(dir.path(), "2025-10-16T17:20:00Z");
    let d = Setup::new().clock_from_dir().in_dir(dir).start();
    let c = d.prod();
    wait_watermark(&c, &t, "2025-10-16T17:00:00Z");
    let expected: Vec<_> = std::iter::once(w(
        "2025-10-16T10:00:00Z",
        "2025-10-16T11:00:00Z",
        "scheduled",
        "COMPLETED",
    ))
    .chain((11..17).map(|h| {
        w(
            &format!("2025-10-16T{h}:00:00Z"),
            &format!("2025-10-16T{}:00:00Z", h + 1),
            "scheduled",
            "COMPLETED",
        )
    }))
    .collect();
    assert_eq!(
        windows(&runs(&c, &t)),
        expected,
        "exactly the six missed windows, oldest first"
    );
    assert_tiles(&c, &t);
    assert_eq!(files(&d, "down").len(), 7, "one file per window");
    let ids: Vec<Vec<String>> = exported_ids(&d, "down");
    assert_eq!(
        ids.concat(),
        ["before-10-40", "at-11-30"],
        "every event in exactly one file"
    );
    assert_eq!(ids[1], ["at-11-30"], "late data in its own window");
    assert_eq!(get(&c, &t)["next_run_at"], "2025-10-16T18:15:00Z");
}

#[test]
fn a_paused_task_catches_up_when_resumed_and_deleted_tasks_stop() {
    let d = Setup::new().clock("2025-10-16T10:40:00Z").start();
    let c = d.prod();
    let conn = managed_connection(&c);
    let t = task(&c, &conn, "hourly", "pause");
    d.set_clock("2025-10-16T11:15:00Z");
    wait_watermark(&c, &t, "2025-10-16T11:00:00Z");
    let paused = c
        .put(
            &format!("/v1/tasks/scheduled/{t}"),
            json!({"enabled": false}),
        )
        .ok(200);
    assert_eq!(paused["next_run_at"], Value::Null);
    d.set_clock("2025-10-16T14:20:00Z");
    d.wait_scheduler_pass();
    assert_eq!(runs(&c, &t).len(), 1, "a paused task does not run");
    // A force run of the paused task neither resumes it nor moves its watermark.
    let forced = c
        .post(&format!("/v1/tasks/scheduled/{t}/run"), json!({}))
        .ok(200);
    wait_for("the force run", LONG, || settled(&c, &t));
    assert_eq!(forced["mode"], "force run");
    let v = get(&c, &t);
    assert_eq!(
        (v["enabled"].as_bool(), v["watermark"].as_str()),
        (Some(false), Some("2025-10-16T11:00:00Z"))
    );

    let resumed = c
        .put(
            &format!("/v1/tasks/scheduled/{t}"),
            json!({"enabled": true}),
        )
        .ok(200);
    assert_eq!(
        resumed["next_run_at"], "2025-10-16T12:15:00Z",
        "due in the past: caught up now"
    );
    wait_watermark(&c, &t, "2025-10-16T14:00:00Z");
    let scheduled: Vec<_> = runs(&c, &t)
        .into_iter()
        .filter(|r| r["trigger"] == "scheduled")
        .collect();
    let starts: Vec<&str> = scheduled
        .iter()
        .map(|r| r["window_start"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            "2025-10-16T10:00:00Z",
            "2025-10-16T11:00:00Z",
            "2025-10-16T12:00:00Z",
            "2025-10-16T13:00:00Z"
        ]
    );

    c.delete(&format!("/v1/tasks/scheduled/{t}")).ok(200);
    let before = runs(&c, &t).len();
    d.set_clock("2025-10-16T20:00:00Z");
    d.wait_scheduler_pass();
    assert_eq!(
        runs(&c, &t).len(),
        before,
        "a deleted task never runs again"
    );
    assert_eq!(get(&c, &t)["next_run_at"], Value::Null);
}

/// A daemon and an hourly task on SeaweedFS writing to `bucket` (which may not exist yet).
fn s3_task(server: &S3Server, bucket: &str, scheduler: &str) -> (Daemon, Client, String) {
    s3_task_with(
        server,
        bucket,
        scheduler,
        "request_timeout = \"2s\"\nretries = 0",
    )
}

/// The same, with more keys of the `[s3]` section.
fn s3_task_with(
    server: &S3Server,
    bucket: &str,
    scheduler: &str,
    s3_keys: &str,
) -> (Daemon, Client, String) {
    let d = Setup::new()
        .clock("2025-10-16T10:40:00Z")
        .scheduler(scheduler)
        .config(&format!("{}{s3_keys}\n", server.allow()))
        .start();
    let c = d.prod();
    let conn = c
        .post("/v1/connections", json!({"name": "s3", "provider_type": "s3",
            "encrypted_secret_data": {"aws_access_key_id": server.access_key, "aws_secret_access_key": server.secret_key}}))
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"connection_id": conn, "entity_type": "events", "interval": "hourly", "enabled": true,
        "job_config": {"bucket": bucket, "region": S3_REGION, "endpoint_url": server.endpoint, "use_path_style": true}});
    let t = c.post("/v1/tasks/scheduled", body).ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (d, c, t)
}

/// Waits until nothing of the task is running and its next run is scheduled.
fn wait_quiet(c: &Client, t: &str) {
    wait_for("the task to be quiet", LONG, || {
        settled(c, t) && get(c, t)["next_run_at"].is_string()
    });
}

/// Moves the clock to the task's next run and waits for that run to end.
fn run_next(d: &Daemon, c: &Client, t: &str) {
    wait_quiet(c, t);
    let next = get(c, t)["next_run_at"]
        .as_str()
        .expect("a next run")
        .to_owned();
    let before = runs(c, t).len();
    d.set_clock(&next);
    wait_for("the next run", LONG, || {
        runs(c, t).len() > before && settled(c, t)
    });
}

#[test]
fn a_window_that_fails_three_times_then_succeeds_yields_one_object_in_order() {
    let Some(server) = crate::harness::seaweedfs(
        "a_window_that_fails_three_times_then_succeeds_yields_one_object_in_order",
    ) else {
        return;
    };
    let bucket = format!("t-late-{}", ulid::Ulid::new().to_string().to_lowercase());
    let (d, c, t) = s3_task(server, &bucket, "retry_base = \"1m\"\nretry_cap = \"5m\"");
    ingest(&c, "e-10-40");
    // The bucket does not exist yet: three attempts fail.
    d.set_clock("2025-10-16T11:15:00Z");
    wait_for("attempt 1", LONG, || {
        runs(&c, &t).len() == 1 && settled(&c, &t)
    });
    // Time passes beyond the next window's due time: it must wait for this one.
    d.set_clock("2025-10-16T12:30:00Z");
    wait_for("attempt 2", LONG, || {
        runs(&c, &t).len() == 2 && settled(&c, &t)
    });
    run_next(&d, &c, &t);
    let v = get(&c, &t);
    assert_eq!(
        (
            v["consecutive_failures"].as_i64(),
            v["last_run_status"].as_str()
        ),
        (Some(3), Some("FAILED"))
    );
    assert_eq!(
        v["watermark"],
        Value::Null,
        "the watermark never skips a failed window"
    );
    let summary = runs(&c, &t)[2]["error_summary"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(summary.contains("does not exist"), "{summary}");

    // The bucket appears; the fourth attempt succeeds and the blocked window follows.
    server.create_bucket(&bucket);
    run_next(&d, &c, &t);
    wait_watermark(&c, &t, "2025-10-16T12:00:00Z");
    let rs = runs(&c, &t);
    let tried: Vec<(String, i64, String)> = rs
        .iter()
        .map(|r| {
            (
                r["window_start"].as_str().unwrap().to_owned(),
                r["attempt"].as_i64().unwrap(),
                r["trigger"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let ten = "2025-10-16T10:00:00Z".to_owned();
    assert_eq!(
        tried,
        [
            (ten.clone(), 1, "scheduled".to_owned()),
            (ten.clone(), 2, "retry".to_owned()),
            (ten.clone(), 3, "retry".to_owned()),
            (ten, 4, "retry".to_owned()),
            ("2025-10-16T11:00:00Z".to_owned(), 1, "scheduled".to_owned()),
        ]
    );
    assert_tiles(&c, &t);
    let statuses: Vec<&str> = rs
        .iter()
        .map(|r| r["task_status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["FAILED", "FAILED", "FAILED", "COMPLETED", "COMPLETED"]
    );
    let mut keys = server.keys(&bucket);
    keys.sort();
    assert_eq!(
        keys,
        [
            "events/events-251016100000-251016110000.csv",
            "events/events-251016110000-251016120000.csv"
        ]
    );
    assert_eq!(get(&c, &t)["consecutive_failures"], 0);
}

#[test]
fn too_many_failures_in_a_row_pause_the_task_and_keep_the_watermark() {
    let Some(server) = crate::harness::seaweedfs(
        "too_many_failures_in_a_row_pause_the_task_and_keep_the_watermark",
    ) else {
        return;
    };
    let (d, c, t) = s3_task(
        server,
        "no-such-bucket-ever",
        "retry_base = \"1m\"\nretry_cap = \"2m\"\nmax_consecutive_failures = 3",
    );
    d.set_clock("2025-10-16T11:15:00Z");
    wait_for("attempt 1", LONG, || {
        runs(&c, &t).len() == 1 && settled(&c, &t)
    });
    run_next(&d, &c, &t);
    run_next(&d, &c, &t);
    let v = get(&c, &t);
    assert_eq!(v["enabled"], false, "{v}");
    assert_eq!(
        (v["last_run_status"].as_str(), v["watermark"].as_str()),
        (Some("FAILED"), None)
    );
    assert_eq!(v["next_run_at"], Value::Null);
    let reason = v["paused_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("paused after 3 failed attempts in a row")
            && reason.contains("does not exist"),
        "{reason}"
    );
    assert!(d.log().contains(reason), "the reason is logged");
    d.set_clock("2025-10-17T00:00:00Z");
    d.wait_scheduler_pass();
    assert_eq!(runs(&c, &t).len(), 3, "a paused task stays paused");
    // Resuming retries the same window afresh.
    let resumed = c
        .put(
            &format!("/v1/tasks/scheduled/{t}"),
            json!({"enabled": true}),
        )
        .ok(200);
    assert_eq!(
        (
            resumed["consecutive_failures"].as_i64(),
            resumed["paused_reason"].as_str()
        ),
        (Some(0), None)
    );
    wait_for("the retry after resume", LONG, || {
        runs(&c, &t).len() == 4 && settled(&c, &t)
    });
    assert_eq!(runs(&c, &t)[3]["window_start"], "2025-10-16T10:00:00Z");
}

#[test]
fn an_s3_outage_over_several_windows_is_caught_up_in_order_once() {
    let Some(server) = S3Server::start("seaweedfs") else {
        crate::harness::skip_or_fail(
            "an_s3_outage_over_several_windows_is_caught_up_in_order_once",
            "SeaweedFS is not installed",
        );
        return;
    };
    let bucket = server.new_bucket();
    let (d, c, t) = s3_task(&server, &bucket, "retry_base = \"1m\"\nretry_cap = \"10m\"");
    ingest(&c, "before-outage");
    server.pause();
    d.set_clock("2025-10-16T11:15:00Z");
    wait_for("attempt 1", LONG, || {
        runs(&c, &t).len() == 1 && settled(&c, &t)
    });
    let summary = runs(&c, &t)[0]["error_summary"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(summary.contains("connection refused"), "{summary}");
    // Three more windows come due while the server is down.
    d.set_clock("2025-10-16T14:20:00Z");
    wait_for("attempt 2", LONG, || {
        runs(&c, &t).len() == 2 && settled(&c, &t)
    });
    assert!(
        runs(&c, &t)
            .iter()
            .all(|r| r["window_start"] == "2025-10-16T10:00:00Z"),
        "later windows wait"
    );
    server.resume();
    // Retry as the task asks until the outage is caught up (a server just back may fail a
    // first write or two).
    for _ in 0..10 {
        wait_quiet(&c, &t);
        if get(&c, &t)["watermark"] == "2025-10-16T14:00:00Z" {
            break;
        }
        run_next(&d, &c, &t);
    }
    wait_watermark(&c, &t, "2025-10-16T14:00:00Z");
    let done: Vec<String> = runs(&c, &t)
        .iter()
        .filter(|r| r["task_status"] == "COMPLETED")
        .map(|r| r["window_start"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        done,
        [
            "2025-10-16T10:00:00Z",
            "2025-10-16T11:00:00Z",
            "2025-10-16T12:00:00Z",
            "2025-10-16T13:00:00Z"
        ]
    );
    let mut keys = server.keys(&bucket);
    keys.sort();
    assert_eq!(keys.len(), 4, "one object per window: {keys:?}");
    assert_tiles(&c, &t);
    assert!(
        keys[0].ends_with("events-251016100000-251016110000.csv")
            && keys[3].ends_with("events-251016130000-251016140000.csv")
    );
    server.stop();
}

#[test]
fn kill_9_during_an_upload_then_restart_exports_the_window_again_once() {
    let Some(server) = crate::harness::seaweedfs(
        "kill_9_during_an_upload_then_restart_exports_the_window_again_once",
    ) else {
        return;
    };
    let bucket = server.new_bucket();
    let (d, c, t) = s3_task_with(server, &bucket, "", "part_size = 5242880");
    // About 55 MB of CSV in the first window: an upload of many parts.
    crate::harness::fixtures::ingest_big(&c, "k", 48_000);
    d.set_clock("2025-10-16T11:15:00Z");
    let db_path = d.dir().join("data/exportd.db");
    wait_for("the upload to start", LONG, || {
        let db = rusqlite::Connection::open(&db_path).unwrap();
        db.busy_timeout(Duration::from_secs(5)).unwrap();
        db.query_row(
            "SELECT COUNT(*) FROM runs WHERE upload_id IS NOT NULL",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
            > 0
    });
    crate::harness::signal(d.pid(), "KILL");
    let (_, _, dir) = d.terminate();
    assert!(
        server.open_uploads(&bucket) > 0,
        "the kill left an open upload behind"
    );

    let d = Setup::new()
        .clock_from_dir()
        .config(&format!("{}part_size = 5242880\n", server.allow()))
        .in_dir(dir)
        .start();
    let c = d.prod();
    wait_watermark(&c, &t, "2025-10-16T11:00:00Z");
    let rs = runs(&c, &t);
    assert_eq!(rs.len(), 2, "{rs:?}");
    assert_eq!(
        (
            rs[0]["task_status"].as_str(),
            rs[0]["error_summary"].as_str()
        ),
        (
            Some("FAILED"),
            Some("interrupted: exportd stopped during this export")
        )
    );
    assert_eq!(rs[1]["task_status"], "COMPLETED");
    assert_eq!(
        (
            rs[0]["window_start"].as_str(),
            rs[1]["window_start"].as_str()
        ),
        (rs[1]["window_start"].as_str(), Some("2025-10-16T10:00:00Z"))
    );
    assert_tiles(&c, &t);
    wait_for("the interrupted upload to be aborted", LONG, || {
        server.open_uploads(&bucket) == 0
    });
    let keys = server.keys(&bucket);
    assert_eq!(
        keys,
        ["events/events-251016100000-251016110000.csv"],
        "one object, no duplicate"
    );
    let object = server.get(&bucket, &keys[0]);
    assert_eq!(rs[1]["sha256"], crate::harness::sha256_hex(&object));
    assert_eq!(
        object.iter().filter(|b| **b == b'\n').count(),
        48_001,
        "every event, once"
    );
}

#[test]
fn backfill_queues_aligned_windows_without_moving_the_watermark() {
    let d = Setup::new().clock("2025-10-16T10:40:00Z").start();
    let c = d.prod();
    let conn = managed_connection(&c);
    let t = task(&c, &conn, "hourly", "bf");
    d.set_clock("2025-10-16T11:15:00Z");
    wait_watermark(&c, &t, "2025-10-16T11:00:00Z");
    c.put(
        &format!("/v1/tasks/scheduled/{t}"),
        json!({"enabled": false}),
    )
    .ok(200);
    d.set_clock("2025-10-16T15:30:00Z");
    let path = format!("/v1/tasks/scheduled/{t}/backfill");
    let r = c
        .post(
            &path,
            json!({"start_time": "2025-10-16T11:30:00Z", "end_time": "2025-10-16T14:00:00Z"}),
        )
        .ok(200);
    assert_eq!(r["count"], 3);
    let starts: Vec<&str> = r["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["start_time"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            "2025-10-16T11:00:00Z",
            "2025-10-16T12:00:00Z",
            "2025-10-16T13:00:00Z"
        ]
    );
    wait_for("the backfill", LONG, || settled(&c, &t));
    let backfilled: Vec<_> = runs(&c, &t)
        .into_iter()
        .filter(|r| r["trigger"] == "backfill")
        .collect();
    assert_eq!(backfilled.len(), 3);
    assert!(backfilled.iter().all(|r| r["task_status"] == "COMPLETED"));
    assert_eq!(files(&d, "bf").len(), 4);
    let v = get(&c, &t);
    assert_eq!(
        (v["watermark"].as_str(), v["enabled"].as_bool()),
        (Some("2025-10-16T11:00:00Z"), Some(false)),
        "backfill moves nothing"
    );

    c.post(
        &path,
        json!({"start_time": "2025-10-16T15:00:00Z", "end_time": "2025-10-16T16:00:00Z"}),
    )
    .invalid("end_time", "no complete window");
    c.post(
        &path,
        json!({"start_time": "2025-01-01T00:00:00Z", "end_time": "2025-10-16T00:00:00Z"}),
    )
    .invalid("end_time", "at most 1000");
    c.post(&path, json!({"start_time": "2025-10-16T12:00:00Z"}))
        .invalid("end_time", "end_time is required");
    c.post(
        &path,
        json!({"start_time": "2025-10-16T12:00:00Z", "end_time": "2025-10-16T11:00:00Z"}),
    )
    .invalid("end_time", "End time must be after start time");
    c.post(
        &path,
        json!({"start_time": "x", "end_time": "2025-10-16T11:00:00Z"}),
    )
    .invalid("start_time", "RFC 3339");
    c.post(
        "/v1/tasks/scheduled/schtask_nope/backfill",
        json!({"start_time": "2025-10-16T11:00:00Z", "end_time": "2025-10-16T12:00:00Z"}),
    )
    .error(404);
    c.delete(&format!("/v1/tasks/scheduled/{t}")).ok(200);
    let v = c
        .post(
            &path,
            json!({"start_time": "2025-10-16T11:00:00Z", "end_time": "2025-10-16T12:00:00Z"}),
        )
        .error(400);
    assert_eq!(v["code"], "invalid_operation");
}

#[test]
fn ten_thousand_idle_tasks_cost_no_scheduler_wakeups() {
    let d = Setup::new().start();
    let c = d.prod();
    let conn = managed_connection(&c);
    task(&c, &conn, "hourly", "idle");
    let (status, _, dir) = d.terminate();
    assert!(status.success());
    // 9,999 more enabled tasks, each next due an hour or more from now.
    let db = rusqlite::Connection::open(dir.path().join("data/exportd.db")).unwrap();
    let due = jiff::Timestamp::now().as_millisecond() + 3_600_000;
    db.execute_batch("BEGIN").unwrap();
    {
        let columns = "tenant_id, environment_id, connection_id, entity_type, interval, enabled, job_config, status, \
                       created_at, updated_at, created_by, updated_by, consecutive_failures";
        let mut copy = db
            .prepare(&format!(
                "INSERT INTO scheduled_tasks (id, {columns}, next_run_at) SELECT ?1, {columns}, ?2 FROM scheduled_tasks LIMIT 1"
            ))
            .unwrap();
        for i in 0..9_999 {
            copy.execute(rusqlite::params![format!("schtask_idle{i:05}"), due + i])
                .unwrap();
        }
    }
    db.execute_batch("COMMIT").unwrap();
    drop(db);
    let d = Setup::new()
        .config("[log]\nlevel = \"debug\"")
        .in_dir(dir)
        .start();
    assert_eq!(
        d.prod().get("/v1/tasks/scheduled?limit=1").ok(200)["pagination"]["total"],
        10_000
    );
    std::thread::sleep(Duration::from_secs(3));
    let wakeups = d.log().matches("scheduler: woke").count();
    assert!(
        (1..=2).contains(&wakeups),
        "the scheduler slept while nothing was due: {wakeups} wake-ups"
    );
}
