//! Webhooks: a receiver on 127.0.0.1 (plain HTTP answered by hand) gets signed events, and
//! gets them again after it failed the first delivery.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};

use crate::harness::fixtures::task as failing_task;
use crate::harness::{ALLOWED_ENDPOINT, Client, Setup};
use crate::runs::wait_run;

pub const SECRET: &str = "whsec-test-secret-must-never-leak-0001";

/// One request the receiver got, and the status it answered.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    status: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// Answers 500 to the first delivery of each event id and 200 to the others.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start() -> Receiver {
        Receiver::start_on(0)
    }

    fn start_on(port: u16) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::<Received>::new()));
        let sink = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some((path, headers, body)) = read_request(&mut stream) else {
                    continue;
                };
                let mut got = sink.lock().unwrap();
                let id = headers.get("x-exportd-delivery").cloned();
                let seen = got
                    .iter()
                    .any(|r| r.headers.get("x-exportd-delivery") == id.as_ref());
                let status = if seen { 200 } else { 500 };
                got.push(Received {
                    path,
                    headers,
                    body,
                    status,
                });
                drop(got);
                let reason = if status == 200 { "OK" } else { "Oops" };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        Receiver { port, got }
    }

    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request whose body is event `type` about `field` = `value` of its data.
    fn about(&self, kind: &str, field: &str, value: &str) -> Vec<Received> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| {
                let v = r.json();
                v["type"] == kind && v["data"][field] == value
            })
            .cloned()
            .collect()
    }

    /// Waits until an event was accepted (after its first delivery failed) and returns its
    /// requests in order.
    fn wait_accepted(&self, kind: &str, field: &str, value: &str) -> Vec<Received> {
        let what = format!("an accepted {kind} for {value}");
        crate::harness::eventually(&what, Duration::from_secs(60), || {
            let got = self.about(kind, field, value);
            if got.iter().any(|r| r.status == 200) {
                Ok(got)
            } else {
                Err(format!("{got:?}"))
            }
        })
    }
}

fn read_request(
    stream: &mut std::net::TcpStream,
) -> Option<(String, BTreeMap<String, String>, Vec<u8>)> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let len: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some((path, headers, body))
}

fn signature(body: &[u8]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// The requests of one event: all signed, all the same event, the first refused and a later
/// one accepted. Returns the event.
fn redelivered_and_signed(requests: &[Received], kind: &str) -> Value {
    assert!(requests.len() >= 2, "{requests:?}");
    assert_eq!(requests[0].status, 500, "the first delivery was refused");
    let event = requests[0].json();
    let id = event["id"].as_str().unwrap();
    assert!(id.starts_with("evt_"), "{event}");
    for r in requests {
        assert_eq!(r.path, "/hooks/exportd");
        assert_eq!(
            r.headers.get("x-exportd-signature"),
            Some(&signature(&r.body)),
            "valid signature"
        );
        assert_eq!(
            r.headers.get("x-exportd-event").map(String::as_str),
            Some(kind)
        );
        assert_eq!(
            r.headers.get("x-exportd-delivery").map(String::as_str),
            Some(id)
        );
        assert_eq!(
            r.headers.get("content-type").map(String::as_str),
            Some("application/json")
        );
        assert_eq!(r.body, requests[0].body, "a redelivery is the same event");
    }
    assert_eq!(event["type"], kind);
    assert_eq!(
        (
            event["tenant_id"].as_str(),
            event["environment_id"].as_str()
        ),
        (Some("acme"), Some("prod"))
    );
    assert!(
        event["created_at"].as_str().unwrap().ends_with('Z'),
        "{event}"
    );
    event
}

fn managed_task(c: &Client) -> String {
    let conn = c
        .post("/v1/connections", json!({"name": "local", "provider_type": "s3", "sync_config": {"s3": {"is_flexprice_managed": true}}}))
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"connection_id": conn, "entity_type": "events", "interval": "hourly", "enabled": false,
                      "job_config": {"key_prefix": "hooks"}});
    c.post("/v1/tasks/scheduled", body).ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn force_run(c: &Client, task: &str) -> String {
    let r = c
        .post(&format!("/v1/tasks/scheduled/{task}/run"), json!({}))
        .ok(200);
    r["workflow_id"].as_str().unwrap().to_owned()
}

#[test]
fn receivers_get_signed_events_again_after_a_failed_delivery() {
    let receiver = Receiver::start();
    let d = Setup::new()
        .clock("2025-10-16T10:40:00Z")
        .scheduler("max_consecutive_failures = 1")
        .env("TEST_WEBHOOK_SECRET", SECRET)
        .config(&webhook_config(&receiver.origin()))
        .start();
    let c = d.prod();

    let ok_task = managed_task(&c);
    let ok_run = force_run(&c, &ok_task);
    assert_eq!(wait_run(&c, &ok_run)["task_status"], "COMPLETED");
    // The fixture task's endpoint has no server: its runs fail.
    let bad_task = failing_task(&c);
    let bad_run = force_run(&c, &bad_task);
    assert_eq!(wait_run(&c, &bad_run)["task_status"], "FAILED");

    let completed = receiver.wait_accepted("run.completed", "run_id", &ok_run);
    let event = redelivered_and_signed(&completed, "run.completed");
    let data = &event["data"];
    assert_eq!(data["scheduled_task_id"], ok_task.as_str());
    assert_eq!(
        (
            data["task_status"].as_str(),
            data["entity_type"].as_str(),
            data["trigger"].as_str()
        ),
        (Some("COMPLETED"), Some("events"), Some("manual"))
    );
    assert_eq!(data["total_records"], 0);
    assert!(
        data["window_start"]
            .as_str()
            .unwrap()
            .starts_with("2025-10-16T10:00:00"),
        "{data}"
    );
    assert!(data["file_url"].is_string(), "{data}");

    let failed = receiver.wait_accepted("run.failed", "run_id", &bad_run);
    let event = redelivered_and_signed(&failed, "run.failed");
    assert_eq!(event["data"]["task_status"], "FAILED");
    assert!(
        event["data"]["error_summary"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{event}"
    );

    // The scheduled window of the failing task fails once and, with
    // max_consecutive_failures = 1, pauses the task.
    d.set_clock("2025-10-16T11:15:00Z");
    let paused = receiver.wait_accepted("task.auto_paused", "scheduled_task_id", &bad_task);
    let event = redelivered_and_signed(&paused, "task.auto_paused");
    assert!(
        event["data"]["paused_reason"]
            .as_str()
            .unwrap()
            .starts_with("paused after 1 failed attempts in a row"),
        "{event}"
    );
    assert_eq!(event["data"]["window_start"], "2025-10-16T10:00:00Z");

    let (_, log, _) = d.terminate();
    assert!(log.contains("attempt 1 failed: HTTP 500"), "{log}");
    assert!(!log.contains(SECRET), "the secret is never logged");
}

#[test]
fn a_webhook_url_outside_the_allowlist_fails_check_config() {
    let (status, _, stderr) = Setup::new()
        .config("[[webhooks]]\nurl = \"http://127.0.0.1:1/hook\"\nsecret = \"0123456789abcdef-secret\"\n")
        .run(&["check-config"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("webhooks[0].url") && stderr.contains("allowed_endpoints"),
        "{stderr}"
    );
    assert!(!stderr.contains("0123456789abcdef-secret"), "{stderr}");
    let (status, _, stderr) = Setup::new()
        .config(&format!(
            "[[webhooks]]\nurl = \"{ALLOWED_ENDPOINT}/hook\"\nsecret_env = \"NOPE_NOT_SET\"\n"
        ))
        .run(&["check-config"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("webhooks[0].secret_env"), "{stderr}");
}

/// The config of a daemon with one webhook to `origin`.
fn webhook_config(origin: &str) -> String {
    format!(
        "[s3]\nallowed_endpoints = [\"{ALLOWED_ENDPOINT}\", \"{origin}\"]\n\n\
         [[webhooks]]\nurl = \"{origin}/hooks/exportd\"\nsecret_env = \"TEST_WEBHOOK_SECRET\"\n\n\
         [webhook_delivery]\nretry_base = \"1s\"\ntimeout = \"5s\"\n"
    )
}

#[test]
fn an_event_not_yet_delivered_survives_a_crash() {
    // A port nobody listens on yet: the first attempts are refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let origin = format!("http://127.0.0.1:{port}");
    let d = Setup::new()
        .env("TEST_WEBHOOK_SECRET", SECRET)
        .config(&webhook_config(&origin))
        .start();
    let c = d.prod();
    let run = force_run(&c, &managed_task(&c));
    assert_eq!(wait_run(&c, &run)["task_status"], "COMPLETED");
    crate::harness::wait_for("a failed attempt", Duration::from_secs(30), || {
        d.log().contains("attempt 1 failed")
    });
    crate::harness::signal(d.pid(), "KILL");
    let (_, _, dir) = d.terminate();

    let receiver = Receiver::start_on(port);
    let _d = Setup::new()
        .in_dir(dir)
        .env("TEST_WEBHOOK_SECRET", SECRET)
        .config(&webhook_config(&origin))
        .start();
    let got = receiver.wait_accepted("run.completed", "run_id", &run);
    redelivered_and_signed(&got, "run.completed");
}
