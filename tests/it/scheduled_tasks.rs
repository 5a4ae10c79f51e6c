//! `/v1/tasks/scheduled`: every route, its status codes and its validation messages.

use serde_json::{Value, json};

use crate::harness::fixtures::{connection, task, task_body};
use crate::harness::{ALLOWED_ENDPOINT, Daemon, Setup};

#[test]
fn create_returns_201_with_defaults_filled_in_and_enabled_false_by_default() {
    let d = Daemon::start();
    let c = d.prod();
    let conn = connection(&c);
    let body = json!({"connection_id": conn, "entity_type": "invoice", "interval": "daily",
                      "job_config": {"bucket": "exports", "region": "us-east-1", "key_prefix": "/a//b/"}});
    let t = c.post("/v1/tasks/scheduled", body).ok(201);
    assert!(t["id"].as_str().unwrap().starts_with("schtask_"), "{t}");
    assert_eq!(t["enabled"], false);
    assert_eq!(t["status"], "published");
    assert_eq!(
        (t["tenant_id"].as_str(), t["environment_id"].as_str()),
        (Some("acme"), Some("prod"))
    );
    assert_eq!(t["connection_id"], conn.as_str());
    let job = &t["job_config"];
    assert_eq!(job["key_prefix"], "a/b");
    assert_eq!(job["compression"], "none");
    assert_eq!(job["encryption"], "AES256");
    assert_eq!(job["use_path_style"], false);
    assert_eq!(job["window_field"], "updated_at");
    assert_eq!(t["watermark"], Value::Null);
    // What GET returns is what POST returned.
    let got = c
        .get(&format!(
            "/v1/tasks/scheduled/{}",
            t["id"].as_str().unwrap()
        ))
        .ok(200);
    assert_eq!(got, t);
}

#[test]
fn create_validation_names_each_field() {
    let d = Daemon::start();
    let c = d.prod();
    let conn = connection(&c);
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut b = task_body(&conn);
        edit(&mut b);
        c.post("/v1/tasks/scheduled", b)
    };
    let drop = |k: &'static str| {
        move |b: &mut Value| {
            b.as_object_mut().unwrap().remove(k);
        }
    };
    with(&drop("connection_id")).invalid("connection_id", "connection_id is required");
    with(&drop("entity_type")).invalid("entity_type", "entity_type is required");
    with(&drop("interval")).invalid("interval", "interval is required");
    with(&drop("job_config")).invalid("job_config", "job_config is required");
    with(&|b| b["interval"] = json!("weekly")).invalid(
        "interval",
        "Interval must be one of: 15MIN, 30MIN, hourly, daily",
    );
    with(&|b| b["interval"] = json!("custom")).invalid(
        "interval",
        "Interval must be one of: 15MIN, 30MIN, hourly, daily",
    );
    with(&|b| b["entity_type"] = json!("prices")).invalid(
        "entity_type",
        "Entity type must be one of: events, invoice, credit_topups, credit_usage, usage_analytics",
    );
    with(&|b| b["job_config"]["bucket"] = json!(""))
        .invalid("job_config.bucket", "S3 bucket name is required");
    with(&|b| b["job_config"]["bucket"] = json!("My_Bucket"))
        .invalid("job_config.bucket", "lowercase letters");
    with(&|b| b["job_config"]["region"] = json!(""))
        .invalid("job_config.region", "AWS region is required");
    with(&|b| b["job_config"]["compression"] = json!("xz"))
        .invalid("job_config.compression", "none, gzip, zstd");
    with(&|b| b["job_config"]["encryption"] = json!("SSE-C")).invalid(
        "job_config.encryption",
        "AES256, aws:kms, aws:kms:dsse, none",
    );
    with(&|b| b["job_config"]["buckett"] = json!("x"))
        .invalid("job_config.buckett", "not a known field");
    with(&|b| {
        b["job_config"]["export_metadata_fields"] =
            json!([{"entity_type": "customer", "field_key": "a"}])
    })
    .invalid(
        "job_config.export_metadata_fields",
        "not supported for events",
    );
    with(&|b| {
        b["entity_type"] = json!("credit_usage");
        b["job_config"]["export_metadata_fields"] = json!([{"entity_type": "customer"}]);
    })
    .invalid(
        "job_config.export_metadata_fields[0].field_key",
        "export_metadata_fields[0] is missing field_key",
    );
    with(&|b| b["job_config"]["provider"] = json!("gcs"))
        .invalid("job_config.provider", "S3-compatible storage only");
    // Unknown connection: 404 with Flexprice's message.
    let v = with(&|b| b["connection_id"] = json!("conn_missing")).error(404);
    assert_eq!(
        v["message"],
        "Connection with ID conn_missing was not found"
    );
    // Nothing was stored by any of these.
    assert_eq!(
        c.get("/v1/tasks/scheduled").ok(200)["pagination"]["total"],
        0
    );
}

#[test]
fn custom_interval_is_accepted_only_when_test_intervals_are_allowed() {
    let d = Setup::new()
        .scheduler("allow_test_intervals = true")
        .start();
    let c = d.prod();
    let mut body = task_body(&connection(&c));
    body["interval"] = json!("custom");
    assert_eq!(
        c.post("/v1/tasks/scheduled", body).ok(201)["interval"],
        "custom"
    );
}

#[test]
fn endpoint_urls_follow_the_allowlist_rule() {
    let d = Daemon::start();
    let c = d.prod();
    let conn = connection(&c);
    let with_endpoint = |url: &str| {
        let mut b = task_body(&conn);
        b["job_config"]["endpoint_url"] = json!(url);
        c.post("/v1/tasks/scheduled", b)
    };
    // The operator allowed this plain-http loopback origin.
    let t = with_endpoint(&format!("{ALLOWED_ENDPOINT}/")).ok(201);
    assert_eq!(
        t["job_config"]["endpoint_url"],
        format!("{ALLOWED_ENDPOINT}/")
    );
    // A public https IP needs no allowlist (and no DNS).
    with_endpoint("https://93.184.216.34").ok(201);
    // Everything else is refused with a reason.
    with_endpoint("http://127.0.0.1:9000").invalid("job_config.endpoint_url", "must use https");
    with_endpoint("https://10.0.0.5")
        .invalid("job_config.endpoint_url", "private, loopback or link-local");
    with_endpoint("https://169.254.169.254").invalid("job_config.endpoint_url", "169.254.169.254");
    with_endpoint("https://[::1]:9000")
        .invalid("job_config.endpoint_url", "private, loopback or link-local");
    with_endpoint("https://user:pw@93.184.216.34")
        .invalid("job_config.endpoint_url", "user name or password");
    with_endpoint("https://93.184.216.34/?x=1").invalid("job_config.endpoint_url", "query");
    with_endpoint("s3.amazonaws.com").invalid("job_config.endpoint_url", "absolute http(s) URL");
}

#[test]
fn list_has_true_totals_pages_filters_and_hides_deleted_tasks() {
    let d = Daemon::start();
    let c = d.prod();
    let conn = connection(&c);
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut b = task_body(&conn);
        b["interval"] = json!(if i % 2 == 0 { "hourly" } else { "daily" });
        b["enabled"] = json!(i < 3);
        // Each its own files: live tasks may not share an output namespace.
        b["job_config"]["key_prefix"] = json!(format!("list-{i}"));
        ids.push(
            c.post("/v1/tasks/scheduled", b).ok(201)["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let other_conn = connection(&c);
    c.post("/v1/tasks/scheduled", task_body(&other_conn))
        .ok(201);

    let page = c.get("/v1/tasks/scheduled?limit=3&offset=0").ok(200);
    assert_eq!(
        page["pagination"],
        json!({"total": 8, "limit": 3, "offset": 0})
    );
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    let last = c.get("/v1/tasks/scheduled?limit=3&offset=6").ok(200);
    assert_eq!(last["items"].as_array().unwrap().len(), 2);
    assert_eq!(last["pagination"]["total"], 8);

    // Newest first: paging through returns every id exactly once, in reverse creation order.
    let all = c
        .get(&format!("/v1/tasks/scheduled?connection_id={conn}"))
        .ok(200);
    let listed: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.reverse();
    assert_eq!(listed, expected);

    assert_eq!(
        c.get("/v1/tasks/scheduled?interval=daily").ok(200)["pagination"]["total"],
        3
    );
    assert_eq!(
        c.get("/v1/tasks/scheduled?enabled=true").ok(200)["pagination"]["total"],
        4
    );
    assert_eq!(
        c.get("/v1/tasks/scheduled?entity_type=invoice").ok(200)["pagination"]["total"],
        0
    );
    // Any case, as SDKs may send it.
    assert_eq!(
        c.get("/v1/tasks/scheduled?entity_type=EVENTS&interval=DAILY&enabled=TRUE")
            .ok(200)["pagination"]["total"],
        1
    );

    c.delete(&format!("/v1/tasks/scheduled/{}", ids[0])).ok(200);
    c.delete(&format!("/v1/tasks/scheduled/{}", ids[1])).ok(200);
    let live = c.get("/v1/tasks/scheduled").ok(200);
    assert_eq!(live["pagination"]["total"], 6);
    assert!(
        live["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "published")
    );
    let deleted = c.get("/v1/tasks/scheduled?status=deleted").ok(200);
    assert_eq!(deleted["pagination"]["total"], 2);

    c.get("/v1/tasks/scheduled?limit=1001")
        .invalid("limit", "from 1 to 1000");
    c.get("/v1/tasks/scheduled?limit=0")
        .invalid("limit", "from 1 to 1000");
    c.get("/v1/tasks/scheduled?offset=-3")
        .invalid("offset", "whole number");
    c.get("/v1/tasks/scheduled?enabled=yes")
        .invalid("enabled", "true, false");
    c.get("/v1/tasks/scheduled?entity_type=prices")
        .invalid("entity_type", "events, invoice");
    c.get("/v1/tasks/scheduled?status=archived")
        .invalid("status", "published, deleted");
    // Unknown parameters (SDKs send some) are ignored.
    assert_eq!(
        c.get("/v1/tasks/scheduled?expand=connection").ok(200)["pagination"]["total"],
        6
    );
}

#[test]
fn get_and_update_answer_404_for_unknown_ids() {
    let d = Daemon::start();
    let c = d.prod();
    let v = c.get("/v1/tasks/scheduled/schtask_nope").error(404);
    assert_eq!(
        v["message"],
        "Scheduled task with ID schtask_nope was not found"
    );
    c.put("/v1/tasks/scheduled/schtask_nope", json!({"enabled": true}))
        .error(404);
    c.delete("/v1/tasks/scheduled/schtask_nope").error(404);
    c.post("/v1/tasks/scheduled/schtask_nope/run", json!({}))
        .error(404);
}

#[test]
fn put_pauses_and_resumes_and_needs_exactly_enabled() {
    let d = Daemon::start();
    let c = d.prod();
    let id = task(&c);
    let path = format!("/v1/tasks/scheduled/{id}");
    let before = c.get(&path).ok(200);
    let paused = c.put(&path, json!({"enabled": false})).ok(200);
    assert_eq!(paused["enabled"], false);
    assert_eq!(paused["job_config"], before["job_config"]);
    assert_eq!(c.get(&path).ok(200)["enabled"], false);
    assert_eq!(
        c.put(&path, json!({"enabled": true})).ok(200)["enabled"],
        true
    );
    // Same value again: unchanged, still 200.
    assert_eq!(
        c.put(&path, json!({"enabled": true})).ok(200)["enabled"],
        true
    );

    c.put(&path, json!({}))
        .invalid("enabled", "Please provide enabled field (true or false)");
    c.put(&path, json!({"enabled": "false"}))
        .invalid("enabled", "must be a boolean");
    c.put(&path, json!({"enabled": true, "interval": "daily"}))
        .invalid("interval", "not a known field");
    assert_eq!(c.get(&path).ok(200)["interval"], "hourly");
}

#[test]
fn delete_is_soft_idempotent_and_final() {
    let d = Daemon::start();
    let c = d.prod();
    let id = task(&c);
    let path = format!("/v1/tasks/scheduled/{id}");
    let body = c.delete(&path).ok(200);
    assert_eq!(
        body,
        json!({"message": "Scheduled task archived successfully", "id": id, "status": "archived"})
    );
    assert_eq!(
        c.delete(&path).ok(200),
        body,
        "a second delete answers the same"
    );
    let t = c.get(&path).ok(200);
    assert_eq!(
        (t["status"].as_str(), t["enabled"].as_bool()),
        (Some("deleted"), Some(false))
    );
    let v = c.put(&path, json!({"enabled": true})).error(400);
    assert_eq!(v["code"], "invalid_operation");
    assert_eq!(
        c.get(&path).ok(200)["enabled"],
        false,
        "a deleted task is never re-enabled"
    );
    let v = c.post(&format!("{path}/run"), json!({})).error(400);
    assert_eq!(v["code"], "invalid_operation");
}

#[test]
fn speakeasy_sdks_get_204_on_delete() {
    let d = Daemon::start();
    let mut c = d.prod();
    let id = task(&c);
    c.user_agent = "speakeasy-sdk/python 2.1.43 2.948.4 1.0 flexprice".into();
    let r = c.delete(&format!("/v1/tasks/scheduled/{id}"));
    assert_eq!((r.status, r.body.len()), (204, 0));
    assert_eq!(
        d.prod().get(&format!("/v1/tasks/scheduled/{id}")).ok(200)["status"],
        "deleted"
    );
}

#[test]
fn billing_job_routes_enable_their_job_once_and_need_a_key() {
    let d = Daemon::start();
    let c = d.prod();
    for (path, name, message) in [
        (
            "/v1/tasks/scheduled/schedule-update-billing-period",
            "update_billing_period",
            "Triggered update billing period workflow successfully",
        ),
        (
            "/v1/tasks/scheduled/schedule-draft-finalization",
            "draft_finalization",
            "Triggered draft finalization schedule successfully",
        ),
        (
            "/v1/subscriptions/temporal/schedule-update-billing-period",
            "update_billing_period",
            "Triggered update billing period workflow successfully",
        ),
        (
            "/v1/subscriptions/temporal/schedule-draft-finalization",
            "draft_finalization",
            "Triggered draft finalization schedule successfully",
        ),
    ] {
        let v = c.post(path, json!({})).ok(200);
        assert_eq!(v, json!({"message": message}));
        d.client(None).post(path, json!({})).error(401);
        let listed = c.get("/v1/tasks/scheduled/system").ok(200);
        let named: Vec<_> = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["name"] == name)
            .collect();
        assert_eq!(named.len(), 1, "{listed}");
        assert_eq!(named[0]["enabled"], true);
    }
    // `system` is not a task id.
    let listed = c.get("/v1/tasks/scheduled/system").ok(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");
    assert!(listed.get("id").is_none());
}
