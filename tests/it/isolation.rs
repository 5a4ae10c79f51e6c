//! Two keys of two environments: neither can see, change or run the other's objects, and a
//! foreign id looks exactly like a missing one (404).

use serde_json::json;

use crate::harness::Daemon;
use crate::harness::fixtures::{connection, task_body};

#[test]
fn environments_cannot_reach_each_others_tasks_connections_or_runs() {
    let d = Daemon::start();
    let prod = d.prod();
    let staging = d.staging();
    let conn = connection(&prod);
    let task = prod.post("/v1/tasks/scheduled", task_body(&conn)).ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = prod
        .post(&format!("/v1/tasks/scheduled/{task}/run"), json!({}))
        .ok(200)["workflow_id"]
        .as_str()
        .unwrap()
        .to_owned();
    crate::runs::wait_run(&prod, &run);
    let before = (
        prod.get(&format!("/v1/tasks/scheduled/{task}")).ok(200),
        prod.get(&format!("/v1/connections/{conn}")).ok(200),
        prod.get(&format!("/v1/tasks/{run}")).ok(200),
    );

    // Reads.
    for path in [
        format!("/v1/tasks/scheduled/{task}"),
        format!("/v1/connections/{conn}"),
        format!("/v1/tasks/{run}"),
    ] {
        let foreign = staging.get(&path).error(404);
        let missing = staging.get(&path.replace("_01", "_99")).error(404);
        assert_eq!(foreign["code"], missing["code"]);
    }
    assert_eq!(
        staging.get("/v1/tasks/scheduled").ok(200)["pagination"]["total"],
        0
    );
    assert_eq!(
        staging
            .get(&format!("/v1/tasks/scheduled?connection_id={conn}"))
            .ok(200)["pagination"]["total"],
        0
    );
    assert_eq!(staging.get("/v1/connections").ok(200)["total"], 0);
    assert_eq!(staging.get("/v1/tasks").ok(200)["pagination"]["total"], 0);
    assert_eq!(
        staging
            .get(&format!("/v1/tasks?scheduled_task_id={task}"))
            .ok(200)["pagination"]["total"],
        0
    );

    // Writes and runs.
    staging
        .put(
            &format!("/v1/tasks/scheduled/{task}"),
            json!({"enabled": false}),
        )
        .error(404);
    staging
        .post(&format!("/v1/tasks/scheduled/{task}/run"), json!({}))
        .error(404);
    staging
        .delete(&format!("/v1/tasks/scheduled/{task}"))
        .error(404);
    staging
        .put(
            &format!("/v1/connections/{conn}"),
            json!({"name": "stolen"}),
        )
        .error(404);
    staging
        .delete(&format!("/v1/connections/{conn}"))
        .error(404);
    let v = staging
        .post("/v1/tasks/scheduled", task_body(&conn))
        .error(404);
    assert_eq!(
        v["message"],
        format!("Connection with ID {conn} was not found")
    );

    // Nothing of prod's changed, and prod made only the one run.
    let after = (
        prod.get(&format!("/v1/tasks/scheduled/{task}")).ok(200),
        prod.get(&format!("/v1/connections/{conn}")).ok(200),
        prod.get(&format!("/v1/tasks/{run}")).ok(200),
    );
    assert_eq!(before, after);
    assert_eq!(prod.get("/v1/tasks").ok(200)["pagination"]["total"], 1);

    // And the other way round: staging's objects are invisible to prod.
    let s_conn = connection(&staging);
    assert_eq!(prod.get(&format!("/v1/connections/{s_conn}")).status, 404);
    assert_eq!(prod.get("/v1/connections").ok(200)["total"], 1);
}

#[test]
fn missing_and_wrong_keys_get_401_json_on_every_v1_route() {
    let d = Daemon::start();
    for key in [None, Some("wrong-key"), Some("")] {
        let c = d.client(key);
        for route in exportd::routes() {
            // Only the probes, the metrics, the OpenAPI document and signed downloads are open.
            assert_eq!(
                route.needs_key(),
                route.pattern.starts_with("/v1/"),
                "{}",
                route.pattern
            );
            if !route.needs_key() {
                continue;
            }
            let (method, path) = (route.method, route.pattern.replace("{id}", "x_x"));
            let path = path.as_str();
            let v = c.send(method, path, Some(b"{}")).error(401);
            assert_eq!(v["code"], "unauthorized", "{method} {path}");
        }
    }
    assert_eq!(d.client(None).get("/healthz").ok(200)["status"], "ok");
}
