//! Stored secrets never appear in a response, a log line or the database file in plain text.

use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use crate::harness::fixtures::{
    SECRET_ACCESS_KEY, SECRET_KEY_ID, SESSION_TOKEN, connection_body, task_body,
};
use crate::harness::{Daemon, KEY_PROD, KEY_STAGING};

#[test]
fn secrets_stay_out_of_responses_logs_and_the_database_file() {
    let d = Daemon::start();
    let c = d.prod();
    let mut seen = Vec::new();
    let mut keep = |r: crate::harness::Response| {
        seen.push(r.text());
        r
    };
    let conn = keep(c.post("/v1/connections", connection_body())).ok(201);
    let id = conn["id"].as_str().unwrap();
    let rotated = "rotated-secret-that-must-never-leak-0002";
    keep(c.put(
        &format!("/v1/connections/{id}"),
        json!({"encrypted_secret_data": {"aws_access_key_id": SECRET_KEY_ID, "aws_secret_access_key": rotated}}),
    ))
    .ok(200);
    keep(c.get(&format!("/v1/connections/{id}"))).ok(200);
    keep(c.get("/v1/connections")).ok(200);
    let task = keep(c.post("/v1/tasks/scheduled", task_body(id))).ok(201);
    let task_id = task["id"].as_str().unwrap();
    keep(c.get(&format!("/v1/tasks/scheduled/{task_id}"))).ok(200);
    keep(c.get("/v1/tasks/scheduled")).ok(200);
    keep(c.post(&format!("/v1/tasks/scheduled/{task_id}/run"), json!({}))).ok(200);
    keep(c.get("/v1/tasks")).ok(200);
    // Errors that involve the secret-bearing body must not echo it either.
    let mut bad = connection_body();
    bad["encrypted_secret_data"]["extra"] = json!(SECRET_ACCESS_KEY);
    keep(c.post("/v1/connections", bad)).error(400);
    keep(d.client(Some(SECRET_ACCESS_KEY)).get("/v1/connections")).error(401);

    let (status, log, dir) = d.terminate();
    assert!(status.success(), "{log}");
    let secrets = [
        SECRET_KEY_ID,
        SECRET_ACCESS_KEY,
        SESSION_TOKEN,
        rotated,
        KEY_PROD,
        KEY_STAGING,
    ];
    for text in seen.iter().chain(std::iter::once(&log)) {
        for secret in secrets {
            assert!(!text.contains(secret), "{secret:?} leaked into:\n{text}");
        }
    }
    assert!(
        log.lines().count() > 10,
        "the log should have a line per request:\n{log}"
    );

    let data = dir.path().join("data");
    for file in ["exportd.db", "exportd.db-wal"] {
        if let Ok(bytes) = std::fs::read(data.join(file)) {
            for secret in [SECRET_ACCESS_KEY, SESSION_TOKEN, rotated] {
                let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
                assert!(!found, "{secret:?} is stored in plain text in {file}");
            }
        }
    }
    let mode = std::fs::metadata(data.join("secret.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the key file must be private");
}
