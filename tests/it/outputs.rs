//! No silent overwrite: two live tasks may not write the same objects unless one opts in, and
//! a run whose object a later run replaced says so on its record and in its download.

use serde_json::{Value, json};

use crate::harness::fixtures::{connection, managed_connection, task_body};
use crate::harness::{Client, Daemon, Setup, fetch, sha256_hex};
use crate::runs::wait_run;

fn create(c: &Client, body: Value) -> crate::harness::Response {
    c.post("/v1/tasks/scheduled", body)
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// Asserts a 409 that names `other` as the task already writing there.
fn assert_conflict_with(r: &crate::harness::Response, other: &str) {
    let v = r.error(409);
    assert_eq!(v["code"], "already_exists", "{v}");
    assert_eq!(v["details"]["scheduled_task_id"], other, "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(
        message.contains(other) && message.contains("allow_shared_output"),
        "{message}"
    );
}

#[test]
fn a_task_writing_where_a_live_task_writes_is_refused_unless_it_opts_in() {
    let d = Daemon::start();
    let c = d.prod();
    let body = task_body(&connection(&c));
    let first = id(&create(&c, body.clone()).ok(201));

    // The same store, prefix, entity, compression and layout, through another connection with
    // other credentials and another region: the same objects.
    let mut same = task_body(&connection(&c));
    same["job_config"]["region"] = json!("eu-west-1");
    same["job_config"]["key_prefix"] = json!("/flexprice-exports//");
    assert_conflict_with(&create(&c, same.clone()), &first);
    // Created disabled it would still overwrite the live task's files once resumed.
    let mut disabled = same.clone();
    disabled["enabled"] = json!(false);
    assert_conflict_with(&create(&c, disabled), &first);
    // Refused means not created.
    let listed = c.get("/v1/tasks/scheduled").ok(200);
    assert_eq!(listed["pagination"]["total"], 1, "{listed}");

    // Any part of the key that differs keeps the files apart.
    for (field, value) in [
        ("key_prefix", json!("other")),
        ("compression", json!("none")),
        ("key_layout", json!("partitioned")),
        ("bucket", json!("another-bucket")),
    ] {
        let mut apart = body.clone();
        apart["job_config"][field] = value;
        apart["enabled"] = json!(false);
        create(&c, apart).ok(201);
    }
    let mut invoices = body.clone();
    invoices["entity_type"] = json!("invoice");
    create(&c, invoices).ok(201);

    // The explicit opt-in, echoed back.
    let mut shared = same.clone();
    shared["job_config"]["allow_shared_output"] = json!(true);
    let sharing = create(&c, shared).ok(201);
    assert_eq!(sharing["job_config"]["allow_shared_output"], true);
    let unchanged = c.get(&format!("/v1/tasks/scheduled/{first}")).ok(200);
    assert_eq!(unchanged["job_config"]["allow_shared_output"], false);

    // Another environment's tasks are its own business (and are never named to this one).
    d.staging()
        .post("/v1/tasks/scheduled", task_body(&connection(&d.staging())))
        .ok(201);
}

#[test]
fn resuming_a_task_whose_output_another_live_task_took_is_refused() {
    let d = Daemon::start();
    let c = d.prod();
    let first = id(&create(&c, task_body(&connection(&c))).ok(201));
    let path = |t: &str| format!("/v1/tasks/scheduled/{t}");
    c.put(&path(&first), json!({"enabled": false})).ok(200);
    // Paused, it is not live: a new task may take its place...
    let second = id(&create(&c, task_body(&connection(&c))).ok(201));
    // ...and then the first cannot come back while the second is live.
    assert_conflict_with(&c.put(&path(&first), json!({"enabled": true})), &second);
    let still = c.get(&path(&first)).ok(200);
    assert_eq!(still["enabled"], false, "a refused resume changes nothing");
    // Pausing needs no check, and once the second is deleted the first resumes.
    c.put(&path(&second), json!({"enabled": false})).ok(200);
    c.delete(&path(&second)).ok(200);
    let resumed = c.put(&path(&first), json!({"enabled": true})).ok(200);
    assert_eq!(resumed["enabled"], true);
}

#[test]
fn a_run_whose_object_a_later_run_replaced_is_marked_superseded() {
    // The documented case: a force run of a window, then the scheduler exports that window
    // again (with an event that arrived in between) to the same key.
    let d = Setup::new().clock("2025-10-16T10:05:00Z").start();
    let c = d.prod();
    let conn = managed_connection(&c);
    let body = json!({"connection_id": conn, "entity_type": "events", "interval": "hourly", "enabled": true,
                      "job_config": {"key_prefix": "replaced", "window_field": "timestamp"}});
    let task = id(&create(&c, body).ok(201));
    let event = |id: &str, at: &str| {
        let e = json!({"event_id": id, "event_name": "e", "external_customer_id": "c", "timestamp": at});
        assert_eq!(c.post("/v1/events", e).status, 202);
    };

    d.set_clock("2025-10-16T11:05:00Z");
    event("first", "2025-10-16T10:10:00Z");
    let forced = c
        .post(
            &format!("/v1/tasks/scheduled/{task}/run"),
            json!({"start_time": "2025-10-16T10:00:00Z", "end_time": "2025-10-16T11:00:00Z"}),
        )
        .ok(200)["workflow_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = wait_run(&c, &forced);
    assert_eq!(
        (
            before["task_status"].as_str(),
            before["total_records"].as_i64()
        ),
        (Some("COMPLETED"), Some(1)),
        "{before}"
    );
    assert_eq!(before["superseded_at"], Value::Null);
    assert_eq!(before["superseded_by"], Value::Null);
    let file_name = before["file_name"].as_str().unwrap();
    assert!(
        file_name.starts_with("events-") && file_name.ends_with(".csv"),
        "{before}"
    );
    assert!(before["object_key"].as_str().unwrap().ends_with(file_name));

    // A late event of the same window, then the window's scheduled run (due at 11:15).
    event("late", "2025-10-16T10:20:00Z");
    d.set_clock("2025-10-16T11:16:00Z");
    let scheduled = wait_for_scheduled_run(&c, &task);
    assert_eq!(scheduled["task_status"], "COMPLETED", "{scheduled}");
    assert_eq!(scheduled["total_records"], 2);
    assert_eq!(
        scheduled["object_key"], before["object_key"],
        "the same key"
    );
    let scheduled_id = scheduled["id"].as_str().unwrap();

    // The forced run's record keeps what it wrote and says that it is gone.
    let after = c.get(&format!("/v1/tasks/{forced}")).ok(200);
    assert_eq!(after["superseded_by"], scheduled_id, "{after}");
    assert!(after["superseded_at"].is_string(), "{after}");
    assert_eq!(
        (&after["sha256"], &after["total_records"]),
        (&before["sha256"], &before["total_records"])
    );
    let refused = c.get(&format!("/v1/tasks/{forced}/download")).error(404);
    assert_eq!(refused["code"], "superseded", "{refused}");
    assert_eq!(refused["details"]["superseded_by"], scheduled_id);
    assert!(
        refused["message"].as_str().unwrap().contains(scheduled_id),
        "{refused}"
    );

    // The stored bytes are the scheduled run's, and its record and link say so.
    let key = scheduled["object_key"].as_str().unwrap();
    let stored = std::fs::read(d.dir().join("data/exports").join(key)).unwrap();
    assert_eq!(scheduled["sha256"], sha256_hex(&stored));
    assert_ne!(before["sha256"], scheduled["sha256"]);
    assert_eq!(scheduled["superseded_at"], Value::Null);
    let link = c.get(&format!("/v1/tasks/{scheduled_id}/download")).ok(200);
    let got = fetch(link["download_url"].as_str().unwrap());
    assert_eq!(got.status, 200);
    assert_eq!(got.body, stored);
}

/// Waits for the task's first scheduled run to end and returns it.
fn wait_for_scheduled_run(c: &Client, task: &str) -> Value {
    let run = crate::harness::eventually(
        &format!("a scheduled run of {task}"),
        crate::harness::LONG,
        || {
            let runs = c
                .get(&format!("/v1/tasks?scheduled_task_id={task}&limit=100"))
                .ok(200);
            let scheduled = runs["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["trigger"] == "scheduled")
                .cloned();
            scheduled.ok_or(runs)
        },
    );
    wait_run(c, run["id"].as_str().unwrap())
}
