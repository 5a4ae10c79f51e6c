//! `/v1/events` and `/v1/events/bulk`: Flexprice's shapes, 202, validation, duplicates.

use serde_json::{Value, json};

use crate::harness::Daemon;

fn count(d: &Daemon, env: &str) -> i64 {
    let db = rusqlite::Connection::open(d.dir().join("data/exportd.db")).unwrap();
    db.query_row(
        "SELECT COUNT(*) FROM events WHERE environment_id = ?1",
        [env],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn single_and_bulk_ingest_answer_202_and_store_duplicates_once() {
    let d = Daemon::start();
    let c = d.prod();
    let r = c.post(
        "/v1/events",
        json!({"event_name": "api_call", "external_customer_id": "cus_1"}),
    );
    assert_eq!(r.status, 202);
    let v = r.json();
    assert_eq!(v["message"], "Event accepted for processing");
    assert!(v["event_id"].as_str().unwrap().starts_with("event_"));
    let given = json!({"event_id": "evt-1", "event_name": "api_call", "external_customer_id": "cus_1", "properties": {"a": 1}});
    assert_eq!(
        c.post("/v1/events", given.clone()).json()["event_id"],
        "evt-1"
    );
    assert_eq!(
        c.post("/v1/events", given.clone()).status,
        202,
        "a duplicate is accepted"
    );
    let events: Vec<Value> = (0..1000).map(|i| json!({"event_id": format!("b-{i}"), "event_name": "n", "external_customer_id": "c"})).collect();
    let r = c.post("/v1/events/bulk", json!({ "events": events }));
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (202, Some("Events accepted for processing"))
    );
    assert_eq!(
        c.post("/v1/events/bulk", json!({ "events": events }))
            .status,
        202,
        "the same batch again"
    );
    assert_eq!(count(&d, "prod"), 1 + 1 + 1000);
    // The same event_id in another environment is another event.
    assert_eq!(d.staging().post("/v1/events", given).status, 202);
    assert_eq!(count(&d, "staging"), 1);
}

#[test]
fn bad_events_are_400s_naming_the_field_and_nothing_is_stored() {
    let d = Daemon::start();
    let c = d.prod();
    c.post("/v1/events", json!({"external_customer_id": "c"}))
        .invalid("event_name", "event_name is required");
    c.post("/v1/events", json!({"event_name": "n"}))
        .invalid("external_customer_id", "external_customer_id is required");
    c.post(
        "/v1/events",
        json!({"event_name": "n", "external_customer_id": "c", "timestamp": "yesterday"}),
    )
    .invalid("timestamp", "RFC 3339");
    c.post(
        "/v1/events",
        json!({"event_name": "n", "external_customer_id": "c", "properties": "x"}),
    )
    .invalid("properties", "must be an object");
    c.post(
        "/v1/events",
        json!({"event_name": "n", "external_customer_id": "c", "quantity": 3}),
    )
    .invalid("quantity", "not a known field");
    c.post(
        "/v1/events",
        json!({"event_name": "n".repeat(300), "external_customer_id": "c"}),
    )
    .invalid("event_name", "at most 255 characters");
    let ok = json!({"event_name": "n", "external_customer_id": "c"});
    c.post(
        "/v1/events/bulk",
        json!({"events": [ok, {"event_name": "n"}]}),
    )
    .invalid(
        "events[1].external_customer_id",
        "events[1].external_customer_id is required",
    );
    c.post("/v1/events/bulk", json!({"events": []}))
        .invalid("events", "1 to 1000");
    let many: Vec<Value> = (0..1001).map(|_| ok.clone()).collect();
    c.post("/v1/events/bulk", json!({ "events": many }))
        .invalid("events", "at most 1000");
    c.post("/v1/events/bulk", json!({"event": [ok]}))
        .invalid("event", "not a known field");
    assert_eq!(count(&d, "prod"), 0, "an invalid batch stores nothing");
    d.client(None).post("/v1/events", ok).error(401);
}

#[test]
fn a_stored_event_reads_back_by_its_id_in_its_environment_only() {
    let d = Daemon::start();
    let c = d.prod();
    let event = json!({"event_id": "order:1 x", "event_name": "api_call", "external_customer_id": "cus_1",
                       "timestamp": "2025-10-16T10:00:00Z", "source": "web", "properties": {"b": [1], "a": "x"}});
    assert_eq!(c.post("/v1/events", event).status, 202);
    // SDKs percent-encode the id in the path.
    let v = c.get("/v1/events/order%3A1%20x").ok(200);
    let e = &v["event"];
    assert_eq!(
        (
            e["id"].as_str(),
            e["event_name"].as_str(),
            e["external_customer_id"].as_str()
        ),
        (Some("order:1 x"), Some("api_call"), Some("cus_1"))
    );
    assert_eq!(e["timestamp"], "2025-10-16T10:00:00Z");
    assert_eq!(e["properties"], json!({"a": "x", "b": [1]}));
    assert_eq!(
        (e["source"].as_str(), e["environment_id"].as_str()),
        (Some("web"), Some("prod"))
    );
    assert_eq!(e["customer_id"], Value::Null);
    assert!(e["ingested_at"].is_string(), "{v}");
    // Flexprice's processing fields are present, and null.
    for field in ["events", "status", "processed_events", "debug_tracker"] {
        assert_eq!(v.get(field), Some(&Value::Null), "{field}: {v}");
    }
    // The Python SDK's form, with the id in the query.
    let looked_up = c
        .get("/v1/events/lookup?id=order%3A1%20x&external_customer_id=cus_1")
        .ok(200);
    assert_eq!(looked_up, v);
    c.get("/v1/events/lookup?id=order%3A1%20x&external_customer_id=cus_2")
        .error(404);
    c.get("/v1/events/lookup").invalid("id", "id is required");
    let missing = c.get("/v1/events/nope").error(404);
    assert_eq!(missing["message"], "Event with ID nope was not found");
    d.staging().get("/v1/events/order%3A1%20x").error(404);
}

#[test]
fn the_sdks_event_queries_are_a_clear_not_supported() {
    let d = Daemon::start();
    let c = d.prod();
    for path in [
        "/v1/events/query",
        "/v1/events/analytics",
        "/v1/events/usage",
        "/v1/events/usage/meter",
        "/v1/events/huggingface-inference",
    ] {
        let v = c.post(path, json!({})).error(400);
        assert_eq!(v["code"], "not_supported", "{path}: {v}");
        let message = v["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("POST {path} is not supported by exportd: ")),
            "{message}"
        );
    }
    assert_eq!(
        d.client(None).post("/v1/events/query", json!({})).status,
        401
    );
}
