//! Force runs and `/v1/tasks` (the run records).

use serde_json::{Value, json};

use crate::harness::Daemon;
use crate::harness::fixtures::{connection, task, task_body};

/// Waits until a run has ended (COMPLETED or FAILED) and returns it.
pub fn wait_run(c: &crate::harness::Client, run: &str) -> Value {
    crate::harness::eventually(
        &format!("run {run} to finish"),
        crate::harness::LONG,
        || {
            let r = c.get(&format!("/v1/tasks/{run}")).ok(200);
            match r["task_status"].as_str() {
                Some("COMPLETED" | "FAILED") => Ok(r),
                _ => Err(r),
            }
        },
    )
}

fn run_path(id: &str) -> String {
    format!("/v1/tasks/scheduled/{id}/run")
}

#[test]
fn a_force_run_records_a_pending_run_before_answering() {
    let d = Daemon::start();
    let c = d.prod();
    let id = task(&c);
    let r = c.post(&run_path(&id), json!({})).ok(200);
    assert_eq!(r["message"], "Force run triggered successfully");
    assert_eq!(r["mode"], "force run");
    let run_id = r["workflow_id"].as_str().unwrap();
    assert!(run_id.starts_with("task_"), "{r}");

    // Automatic mode: the current hour.
    let start = crate::harness::timestamp(r["start_time"].as_str().unwrap());
    let end = crate::harness::timestamp(r["end_time"].as_str().unwrap());
    assert_eq!(end.as_second() - start.as_second(), 3600);
    assert_eq!(start.as_second() % 3600, 0);

    let run = c.get(&format!("/v1/tasks/{run_id}")).ok(200);
    assert_eq!(run["id"], run_id);
    assert_eq!(run["workflow_id"], run_id);
    assert_eq!(run["scheduled_task_id"], id.as_str());
    assert_eq!(run["task_type"], "EXPORT");
    assert_eq!(run["entity_type"], "events");
    assert_eq!(run["file_type"], "CSV");
    // Workers take the run at once; it exists in one of its states from the moment of the answer.
    assert!(
        ["PENDING", "PROCESSING", "FAILED"].contains(&run["task_status"].as_str().unwrap()),
        "{run}"
    );
    assert_eq!(run["trigger"], "manual");
    assert_eq!(run["attempt"], 1);
    assert_eq!(run["file_url"], "");
    assert_eq!(run["total_records"], Value::Null);
    // The fixture's endpoint has no server: the run ends FAILED, saying so.
    let done = wait_run(&c, run_id);
    assert_eq!(done["task_status"], "FAILED");
    assert!(
        done["error_summary"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{done}"
    );
    assert_eq!(run["window_start"], r["start_time"]);
    assert_eq!(run["window_end"], r["end_time"]);
    assert_eq!(
        run["metadata"],
        json!({"start_time": r["start_time"], "end_time": r["end_time"]})
    );

    // No body at all is automatic too.
    let r2 = c.send("POST", &run_path(&id), None);
    assert_eq!(r2.status, 200, "{}", r2.text());
}

#[test]
fn a_custom_force_run_keeps_its_window_in_utc() {
    let d = Daemon::start();
    let c = d.prod();
    let id = task(&c);
    let r = c
        .post(
            &run_path(&id),
            json!({"start_time": "2025-10-16T12:00:00+02:00", "end_time": "2025-10-16T11:00:00Z"}),
        )
        .ok(200);
    assert_eq!(r["mode"], "custom");
    assert_eq!(r["start_time"], "2025-10-16T10:00:00Z");
    assert_eq!(r["end_time"], "2025-10-16T11:00:00Z");
}

#[test]
fn a_paused_task_can_be_force_run_and_stays_paused() {
    let d = Daemon::start();
    let c = d.prod();
    let id = task(&c);
    c.put(
        &format!("/v1/tasks/scheduled/{id}"),
        json!({"enabled": false}),
    )
    .ok(200);
    c.post(&run_path(&id), json!({})).ok(200);
    assert_eq!(
        c.get(&format!("/v1/tasks/scheduled/{id}")).ok(200)["enabled"],
        false
    );
}

#[test]
fn force_run_bodies_are_checked_and_never_silently_automatic() {
    let d = Daemon::start();
    let c = d.prod();
    let id = task(&c);
    let path = run_path(&id);
    let both = "Please provide both start_time and end_time, or neither for automatic calculation";
    c.post(&path, json!({"start_time": "2025-10-16T10:00:00Z"}))
        .invalid("end_time", both);
    c.post(&path, json!({"end_time": "2025-10-16T10:00:00Z"}))
        .invalid("start_time", both);
    c.post(
        &path,
        json!({"start_time": "2025-10-16T10:00:00Z", "end_time": "2025-10-16T09:00:00Z"}),
    )
    .invalid("end_time", "End time must be after start time");
    c.post(
        &path,
        json!({"start_time": "2025-10-16T10:00:00Z", "end_time": "2025-10-16T10:00:00Z"}),
    )
    .invalid("end_time", "End time must be after start time");
    c.post(
        &path,
        json!({"start_time": "2025-10-16T10:00:00Z", "end_time": "2999-01-01T00:00:00Z"}),
    )
    .invalid("end_time", "End time must be in the past or present");
    c.post(
        &path,
        json!({"start_time": "2023-01-01T00:00:00Z", "end_time": "2024-01-03T00:00:00Z"}),
    )
    .invalid("end_time", "Maximum allowed time range is 366 days");
    c.post(
        &path,
        json!({"start_time": "yesterday", "end_time": "2025-10-16T10:00:00Z"}),
    )
    .invalid("start_time", "RFC 3339");
    c.post(
        &path,
        json!({"start_time": "2025-10-16T10:00:00", "end_time": "2025-10-16T11:00:00"}),
    )
    .invalid("start_time", "RFC 3339");
    c.post(&path, json!({"start": "2025-10-16T10:00:00Z"}))
        .invalid("start", "not a known field");
    for malformed in [&b"{"[..], b"{\"start_time\":", b"[]", b"null", b"\"x\""] {
        let v = c.send("POST", &path, Some(malformed)).error(400);
        assert_eq!(
            v["code"],
            "validation_error",
            "{}",
            String::from_utf8_lossy(malformed)
        );
    }
    // None of these made a run.
    let runs = c.get(&format!("/v1/tasks?scheduled_task_id={id}")).ok(200);
    assert_eq!(runs["pagination"]["total"], 0, "{runs}");
}

#[test]
fn run_lists_filter_sort_and_count_truly() {
    let d = Daemon::start();
    let c = d.prod();
    let a = task(&c);
    let mut body = task_body(&connection(&c));
    body["job_config"]["key_prefix"] = json!("b");
    let b = c.post("/v1/tasks/scheduled", body).ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut a_runs = Vec::new();
    for _ in 0..5 {
        a_runs.push(
            c.post(&run_path(&a), json!({})).ok(200)["workflow_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for _ in 0..2 {
        c.post(&run_path(&b), json!({})).ok(200);
    }
    let all = c.get("/v1/tasks?limit=2").ok(200);
    assert_eq!(
        all["pagination"],
        json!({"total": 7, "limit": 2, "offset": 0})
    );
    assert_eq!(all["items"].as_array().unwrap().len(), 2);

    let of_a = c
        .get(&format!("/v1/tasks?scheduled_task_id={a}&order=asc"))
        .ok(200);
    assert_eq!(of_a["pagination"]["total"], 5);
    let listed: Vec<&str> = of_a["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        a_runs.iter().map(String::as_str).collect::<Vec<_>>(),
        "ascending creation order"
    );

    for id in &a_runs {
        wait_run(&c, id);
    }
    let b_runs = c.get(&format!("/v1/tasks?scheduled_task_id={b}")).ok(200);
    for r in b_runs["items"].as_array().unwrap() {
        wait_run(&c, r["id"].as_str().unwrap());
    }
    assert_eq!(
        c.get("/v1/tasks?task_status=FAILED").ok(200)["pagination"]["total"],
        7
    );
    assert_eq!(
        c.get("/v1/tasks?task_status=PENDING").ok(200)["pagination"]["total"],
        0
    );
    assert_eq!(
        c.get("/v1/tasks?task_status=COMPLETED").ok(200)["pagination"]["total"],
        0
    );
    assert_eq!(
        c.get("/v1/tasks?task_type=IMPORT").ok(200)["pagination"]["total"],
        0
    );
    assert_eq!(
        c.get("/v1/tasks?entity_type=events&sort=updated_at")
            .ok(200)["pagination"]["total"],
        7
    );
    // The SDKs' spellings: upper-case entity types (the import ones match nothing), any case.
    let total = |q: &str| c.get(&format!("/v1/tasks?{q}")).ok(200)["pagination"]["total"].clone();
    assert_eq!(total("entity_type=EVENTS&task_status=failed&order=DESC"), 7);
    assert_eq!(total("entity_type=CUSTOMERS"), 0);
    assert_eq!(total("task_type=export"), 7);
    // Runs are never deleted; created_by is the key's name.
    assert_eq!(total("status=published"), 7);
    assert_eq!(total("status=ARCHIVED"), 0);
    assert_eq!(total("created_by=prod"), 7);
    assert_eq!(total("created_by=scheduler"), 0);
    c.get("/v1/tasks?entity_type=PLANS")
        .invalid("entity_type", "PRICES, CUSTOMERS, FEATURES");
    assert_eq!(
        c.get("/v1/tasks?start_time=2999-01-01T00:00:00Z").ok(200)["pagination"]["total"],
        0
    );
    assert_eq!(
        c.get("/v1/tasks?end_time=2000-01-01T00:00:00Z").ok(200)["pagination"]["total"],
        0
    );

    c.get("/v1/tasks?task_status=DONE")
        .invalid("task_status", "PENDING, PROCESSING, COMPLETED, FAILED");
    c.get("/v1/tasks?sort=id")
        .invalid("sort", "created_at, updated_at");
    c.get("/v1/tasks?order=up").invalid("order", "asc, desc");
    c.get("/v1/tasks?start_time=now")
        .invalid("start_time", "RFC 3339");
    c.get("/v1/tasks?limit=5000")
        .invalid("limit", "from 1 to 1000");
    let v = c.get("/v1/tasks/task_nope").error(404);
    assert_eq!(v["message"], "Task with ID task_nope was not found");
}

#[test]
fn downloads_wait_for_completion() {
    let d = Daemon::start();
    let c = d.prod();
    let id = task(&c);
    let run = c.post(&run_path(&id), json!({})).ok(200)["workflow_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The fixture's endpoint has no server, so the run fails: there is nothing to download.
    assert_eq!(wait_run(&c, &run)["task_status"], "FAILED");
    let v = c.get(&format!("/v1/tasks/{run}/download")).error(404);
    assert_eq!(v["message"], "Task export has not completed yet or failed");
    c.get("/v1/tasks/task_nope/download").error(404);
}

#[test]
fn the_sdks_task_routes_exportd_does_not_serve_say_so() {
    let d = Daemon::start();
    let c = d.prod();
    // The JS SDK's getTaskResult: never a run named "result".
    let v = c.get("/v1/tasks/result?workflow_id=task_x").error(400);
    assert_eq!(v["code"], "not_supported", "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(
        message.starts_with("GET /v1/tasks/result is not supported by exportd")
            && message.contains("GET /v1/tasks/{workflow_id}"),
        "{message}"
    );
    let v = c
        .put("/v1/tasks/task_x/status", json!({"task_status": "FAILED"}))
        .error(400);
    assert_eq!(v["code"], "not_supported");
    let v = c
        .post("/v1/tasks", json!({"task_type": "IMPORT"}))
        .error(400);
    assert_eq!(v["code"], "not_supported");
    assert_eq!(
        c.delete("/v1/tasks").error(405)["code"],
        "method_not_allowed"
    );
}
