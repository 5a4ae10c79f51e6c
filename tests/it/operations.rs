//! Probes and metrics: `/healthz`, `/readyz` and `/metrics` answer without an API key, and the
//! counters move by exactly what the daemon did.

use std::collections::BTreeMap;

use serde_json::json;

use crate::harness::fixtures::task;
use crate::harness::{Client, Daemon};
use crate::runs::wait_run;

/// `name{labels}` → value of every sample in a Prometheus text exposition.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a sample line");
            (series.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

fn scrape(d: &Daemon) -> BTreeMap<String, f64> {
    let r = d.client(None).get("/metrics");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    samples(&r.text())
}

fn value(m: &BTreeMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

/// Force-runs the last hour of `task` and waits for the run to end.
fn force_run(c: &Client, task: &str) -> serde_json::Value {
    let now = jiff::Timestamp::now();
    let start = now - jiff::SignedDuration::from_hours(1);
    let r = c
        .post(
            &format!("/v1/tasks/scheduled/{task}/run"),
            json!({"start_time": start.to_string(), "end_time": now.to_string()}),
        )
        .ok(200);
    wait_run(c, r["workflow_id"].as_str().unwrap())
}

#[test]
fn probes_answer_without_a_key() {
    let d = Daemon::start();
    let anonymous = d.client(None);
    assert_eq!(anonymous.get("/healthz").ok(200)["status"], "ok");
    let ready = anonymous.get("/readyz").ok(200);
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["scheduler"], "running");
    let doc = anonymous.get("/openapi.json").ok(200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    assert_eq!(anonymous.post("/readyz", json!({})).status, 405);
}

#[test]
fn metrics_count_runs_rows_ingest_and_requests() {
    let d = Daemon::start();
    let c = d.prod();
    let before = scrape(&d);
    assert_eq!(value(&before, "exportd_events_received_total"), 0.0);

    // Three events accepted, one of them a repeat: stored twice.
    let events = json!({"events": [
        {"event_id": "m-1", "event_name": "api_call", "external_customer_id": "c1"},
        {"event_id": "m-2", "event_name": "api_call", "external_customer_id": "c1"},
        {"event_id": "m-1", "event_name": "api_call", "external_customer_id": "c1"},
    ]});
    assert_eq!(c.post("/v1/events/bulk", events).status, 202);

    // One run that completes (managed directory) and one that fails (no server listens).
    let conn = c
        .post("/v1/connections", json!({"name": "managed", "provider_type": "s3", "sync_config": {"s3": {"is_flexprice_managed": true}}}))
        .ok(201);
    let body = json!({"connection_id": conn["id"], "entity_type": "events", "interval": "hourly", "enabled": false, "job_config": {"key_prefix": "ops"}});
    let good = c.post("/v1/tasks/scheduled", body).ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = force_run(&c, &good);
    assert_eq!(done["task_status"], "COMPLETED", "{done}");
    let failed = force_run(&c, &task(&c));
    assert_eq!(failed["task_status"], "FAILED", "{failed}");

    let after = scrape(&d);
    let moved = |series: &str| value(&after, series) - value(&before, series);
    assert_eq!(moved("exportd_events_received_total"), 3.0);
    assert_eq!(moved("exportd_events_stored_total"), 2.0);
    assert_eq!(
        moved(r#"exportd_runs_total{entity_type="events",status="completed"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"exportd_runs_total{entity_type="events",status="failed"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"exportd_exported_rows_total{entity_type="events"}"#),
        2.0
    );
    assert_eq!(
        moved(r#"exportd_exported_bytes_total{entity_type="events"}"#),
        done["stored_bytes"].as_f64().unwrap()
    );
    assert_eq!(
        moved(r#"exportd_export_duration_seconds_count{entity_type="events",status="completed"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"exportd_http_requests_total{method="POST",route="/v1/events/bulk",status="202"}"#),
        1.0
    );
    // The first scrape was counted once it was answered.
    assert_eq!(
        value(
            &after,
            r#"exportd_http_requests_total{method="GET",route="/metrics",status="200"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            r#"exportd_scheduled_tasks{entity_type="events",enabled="false"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            r#"exportd_scheduled_tasks{entity_type="events",enabled="true"}"#
        ),
        1.0
    );
    assert_eq!(value(&after, "exportd_runs_in_flight"), 0.0);
    assert_eq!(value(&after, "exportd_scheduler_lag_seconds"), 0.0);
}
