//! Hostile input on every route: a 4xx JSON error naming the problem, never a 5xx, and the
//! daemon keeps serving with nothing stored lost or changed.

use serde_json::{Value, json};

use crate::harness::fixtures::{connection, task_body};
use crate::harness::{Client, Daemon, KEY_PROD, Response};

fn assert_client_error(r: &Response, what: &str) {
    assert!(
        (400..500).contains(&r.status),
        "{what}: status {} body {}",
        r.status,
        r.text()
    );
    assert_eq!(r.header("content-type"), Some("application/json"), "{what}");
    let v = r.json();
    assert_eq!(v["http_status_code"], r.status, "{what}: {v}");
    assert!(
        v["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {v}"
    );
}

fn chunked(c: &Client, method: &str, path: &str, total: usize) -> Response {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-api-key: {KEY_PROD}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..total / chunk.len() {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(&chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    c.raw(&req)
}

#[test]
fn every_body_route_refuses_hostile_bodies_and_the_daemon_keeps_serving() {
    let d = Daemon::start();
    let c = d.prod();
    let conn = connection(&c);
    let task = c.post("/v1/tasks/scheduled", task_body(&conn)).ok(201);
    let task_id = task["id"].as_str().unwrap().to_owned();
    let conn_before = c.get(&format!("/v1/connections/{conn}")).ok(200);
    let new_id = |path: &str, body: Value| {
        c.post(path, body).ok(201)["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let cust = new_id("/v1/customers", json!({"external_id": "cus_1"}));
    let wallet = new_id(
        "/v1/wallets",
        json!({"customer_id": cust, "currency": "USD"}),
    );
    let invoice = new_id(
        "/v1/invoices",
        json!({"customer_id": cust, "currency": "USD", "amount_due": "1"}),
    );

    let huge = "a".repeat(5 << 20);
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    let mut bodies: Vec<(&str, Vec<u8>)> = vec![
        ("null", b"null".to_vec()),
        ("array", b"[]".to_vec()),
        ("string", b"\"x\"".to_vec()),
        ("number", b"42".to_vec()),
        ("truncated", b"{\"name\":".to_vec()),
        ("invalid UTF-8", b"{\"name\":\"\xff\xfe\",\"enabled\":\"\xc3\x28\"}".to_vec()),
        ("NUL in a string", b"{\"name\":\"a\\u0000b\",\"connection_id\":\"a\\u0000b\"}".to_vec()),
        ("wrong types", json!({"name": 5, "provider_type": [], "connection_id": 1, "entity_type": {}, "interval": true,
                               "job_config": "x", "enabled": "yes", "start_time": 5, "end_time": false}).to_string().into_bytes()),
        ("unknown field", json!({"zzz": 1}).to_string().into_bytes()),
        ("huge unknown field name", format!("{{\"{}\":1}}", "z".repeat(1 << 20)).into_bytes()),
        ("duplicate keys", b"{\"enabled\":true,\"enabled\":false}".to_vec()),
        ("huge string", json!({"name": huge, "connection_id": huge, "enabled": huge, "start_time": huge}).to_string().into_bytes()),
        ("deep nesting", deep.into_bytes()),
        ("many fields", {
            let fields: serde_json::Map<String, Value> = (0..50_000).map(|i| (format!("f{i}"), json!(i))).collect();
            Value::Object(fields).to_string().into_bytes()
        }),
    ];
    bodies.push(("big but under the limit", vec![b' '; 9 << 20]));
    // Every route that reads a body, from the route table, with a real id in its path.
    let routes: Vec<(&str, String)> = exportd::routes()
        .iter()
        .filter(|r| r.body)
        .map(|r| {
            let id = match r.pattern.split('/').nth(2) {
                _ if !r.pattern.contains("{id}") => "",
                Some("tasks") => task_id.as_str(),
                Some("connections") => conn.as_str(),
                Some("customers") => cust.as_str(),
                Some("wallets") => wallet.as_str(),
                Some("invoices") => invoice.as_str(),
                _ => panic!(
                    "{} {}: give the hostile-input test an id for it",
                    r.method, r.pattern
                ),
            };
            (r.method, r.pattern.replace("{id}", id))
        })
        .collect();
    assert!(routes.len() >= 16, "{routes:?}");
    // A blank body means "automatic" for a force run, "test the defaults" for a connection
    // test and "enable the job" for the billing jobs, which are not errors.
    let blank_ok = |path: &str| {
        path.ends_with("/run")
            || path.ends_with("/schedule-update-billing-period")
            || path.ends_with("/schedule-draft-finalization")
    };
    for (method, path) in &routes {
        for (what, body) in &bodies {
            if (blank_ok(path) || path.ends_with("/test")) && *what == "big but under the limit" {
                continue;
            }
            let r = c.send(method, path, Some(body));
            assert_client_error(&r, &format!("{method} {path} with {what}"));
            assert!(
                r.body.len() < 2000,
                "{method} {path} with {what}: the answer must not echo huge input"
            );
        }
        if !blank_ok(path) {
            assert_client_error(
                &c.send(method, path, Some(b"")),
                &format!("{method} {path} with an empty body"),
            );
        }
        let r = c.send(method, path, Some(&vec![b'{'; 20 << 20]));
        assert_eq!(r.status, 413, "{method} {path} with 20 MiB: {}", r.text());
        assert_eq!(r.json()["code"], "payload_too_large");
        let r = chunked(&c, method, path, 20 << 20);
        assert_eq!(
            r.status,
            413,
            "{method} {path} with 20 MiB chunked: {}",
            r.text()
        );
    }

    // Hostile paths and queries on the read routes.
    let long_id = "x".repeat(8000);
    for path in [
        format!("/v1/tasks/scheduled/{long_id}"),
        "/v1/tasks/scheduled/%00%ff".to_owned(),
        "/v1/tasks/scheduled/..%2F..%2Fetc".to_owned(),
        format!("/v1/connections/{long_id}"),
        format!("/v1/tasks/{long_id}"),
        "/v1/tasks/scheduled?limit=%ff%fe".to_owned(),
        "/v1/tasks/scheduled?enabled=%00".to_owned(),
        format!("/v1/tasks/scheduled?connection_id={}", "c".repeat(5000)),
        "/v1/tasks?start_time=%zz".to_owned(),
        "/v1/tasks?limit=99999999999999999999999".to_owned(),
        "/v1/connections?offset=1e9".to_owned(),
        "/v1/nope".to_owned(),
        "/downloads/task_x".to_owned(),
        "/downloads/task_x?expires=abc&signature=zz".to_owned(),
        format!(
            "/downloads/{long_id}?expires=99999999999&signature={}",
            "0".repeat(64)
        ),
    ] {
        let r = c.get(&path);
        assert_client_error(&r, &format!("GET {}", &path[..path.len().min(80)]));
        assert!(r.body.len() < 1000, "the answer must not echo huge input");
    }
    for (method, path) in [
        ("DELETE", format!("/v1/tasks/scheduled/{long_id}")),
        ("DELETE", "/v1/connections/%2e%2e".to_owned()),
    ] {
        assert_client_error(&c.send(method, &path, None), "hostile delete");
    }
    let big_key = Client::new(d.addr, Some(&"k".repeat(6000)));
    assert_client_error(&big_key.get("/v1/tasks"), "huge api key");

    // Still serving, and nothing stored changed.
    assert_eq!(d.client(None).get("/healthz").ok(200)["status"], "ok");
    assert_eq!(
        c.get(&format!("/v1/tasks/scheduled/{task_id}")).ok(200),
        task
    );
    assert_eq!(
        c.get(&format!("/v1/connections/{conn}")).ok(200),
        conn_before
    );
    assert_eq!(
        c.get("/v1/tasks/scheduled").ok(200)["pagination"]["total"],
        1
    );
    assert_eq!(c.get("/v1/connections").ok(200)["total"], 1);
    assert_eq!(c.get("/v1/tasks").ok(200)["pagination"]["total"], 0);
    assert_eq!(
        c.get(&format!("/v1/wallets/{wallet}")).ok(200)["balance"],
        "0"
    );
    assert_eq!(c.get("/v1/invoices").ok(200)["pagination"]["total"], 1);
    assert!(
        !d.log().contains(" 500 "),
        "no request may end in a 500:\n{}",
        d.log()
    );
}

#[test]
fn unknown_routes_and_methods_get_json_404_and_405() {
    let d = Daemon::start();
    let c = d.prod();
    let v = c.get("/v2/whatever").error(404);
    assert_eq!(v["code"], "not_found");
    let r = c.send("PATCH", "/v1/tasks/scheduled", Some(b"{}"));
    let v = r.error(405);
    assert_eq!(v["code"], "method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET, POST"));
    assert_eq!(
        c.send("POST", "/v1/tasks/task_1", Some(b"{}")).error(405)["code"],
        "method_not_allowed"
    );
    assert_eq!(
        c.delete("/healthz").error(405)["code"],
        "method_not_allowed"
    );
}
