//! Start-up and shutdown: the development key, refusing to run open without keys, graceful
//! SIGTERM, and data that survives a restart.

use std::io::Write;
use std::time::Duration;

use serde_json::json;

use crate::harness::fixtures::{connection, connection_body, task};
use crate::harness::{Client, KEY_PROD, Setup, read_response};

fn dev_key(log: &str) -> Option<String> {
    log.split_whitespace()
        .find(|w| w.starts_with("exd_"))
        .map(str::to_owned)
}

#[test]
fn without_keys_a_loopback_daemon_makes_one_development_key_and_reuses_it() {
    let d = Setup::new().without_keys().start();
    let key = dev_key(&d.log()).expect("the first start prints the key");
    let c = Client::new(d.addr, Some(&key));
    let conn = c.post("/v1/connections", connection_body()).ok(201);
    assert_eq!(
        (conn["tenant_id"].as_str(), conn["environment_id"].as_str()),
        (Some("default"), Some("development"))
    );
    let (status, log, dir) = d.terminate();
    assert!(status.success(), "{log}");
    assert_eq!(
        log.matches(&key).count(),
        1,
        "the key is printed exactly once"
    );
    let stored = std::fs::read(dir.path().join("data/exportd.db")).unwrap();
    assert!(
        !stored.windows(key.len()).any(|w| w == key.as_bytes()),
        "only the hash is stored"
    );

    let again = Setup::new().without_keys().in_dir(dir).start();
    assert_eq!(
        dev_key(&again.log()),
        None,
        "a later start does not print a key"
    );
    let c = Client::new(again.addr, Some(&key));
    assert_eq!(
        c.get("/v1/connections").ok(200)["total"],
        1,
        "the same key works after a restart"
    );
}

#[test]
fn without_keys_a_non_loopback_daemon_refuses_to_start_and_says_how_to_fix_it() {
    let (status, _, stderr) = Setup::new()
        .without_keys()
        .env("EXPORTD_SERVER_LISTEN", "0.0.0.0:0")
        .run(&["serve"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("exportd keygen"), "{stderr}");
    assert!(stderr.contains("[[auth.keys]]"), "{stderr}");
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_0() {
    let d = Setup::new().start();
    // A request whose body is still arriving when the signal comes.
    let mut body = connection_body();
    body["metadata"] = json!({"pad": "p".repeat(3000)});
    let body = body.to_string();
    let head = format!(
        "POST /v1/connections HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-api-key: {KEY_PROD}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut stream = d.prod().connect();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body.as_bytes()[..100]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    crate::harness::signal(d.pid(), "TERM");
    crate::harness::wait_for(
        "the daemon to take the signal",
        Duration::from_secs(20),
        || d.log().contains("received SIGTERM"),
    );
    stream.write_all(&body.as_bytes()[100..]).unwrap();
    let r = read_response(&mut stream);
    assert_eq!(
        r.status,
        201,
        "the in-flight request completes: {}",
        r.text()
    );
    let (status, log, _) = d.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        log.contains("received SIGTERM") && log.contains("stopped"),
        "{log}"
    );
}

#[test]
fn data_survives_a_restart() {
    let d = Setup::new().start();
    let c = d.prod();
    let id = task(&c);
    connection(&c);
    let before = c.get(&format!("/v1/tasks/scheduled/{id}")).ok(200);
    let (status, _, dir) = d.terminate();
    assert!(status.success());
    let again = Setup::new().in_dir(dir).start();
    let c = again.prod();
    assert_eq!(c.get(&format!("/v1/tasks/scheduled/{id}")).ok(200), before);
    assert_eq!(c.get("/v1/connections").ok(200)["total"], 2);
}

#[test]
fn a_second_daemon_on_the_same_database_is_refused_and_the_first_serves_on() {
    let d = Setup::new().start();
    let c = d.prod();
    let id = task(&c);
    let (status, _, stderr) = Setup::new().run_in(d.dir(), &["serve"]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("another exportd serve (pid {})", d.pid())),
        "{stderr}"
    );
    assert!(stderr.contains("data_dir"), "says what to change: {stderr}");
    assert_eq!(c.get(&format!("/v1/tasks/scheduled/{id}")).status, 200);
    let (status, log, dir) = d.terminate();
    assert!(status.success(), "{log}");
    // The lock went with the process: the next daemon starts on the same state.
    let again = Setup::new().in_dir(dir).start();
    assert_eq!(
        again
            .prod()
            .get(&format!("/v1/tasks/scheduled/{id}"))
            .status,
        200
    );
}

#[test]
fn under_systemd_it_reports_ready_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let d = Setup::new()
        .env("NOTIFY_SOCKET", socket_path.to_str().unwrap())
        .start();
    let mut buf = [0u8; 256];
    let n = socket
        .recv(&mut buf)
        .expect("READY=1 arrives once the API listens");
    assert_eq!(&buf[..n], b"READY=1");
    // Ready means ready: the API answers now.
    assert_eq!(d.client(None).get("/healthz").status, 200);
    let (status, log, _) = d.terminate();
    assert!(status.success(), "{log}");
    let n = socket.recv(&mut buf).expect("STOPPING=1 on shutdown");
    assert_eq!(&buf[..n], b"STOPPING=1");
}

#[test]
fn sigint_stops_it_cleanly_too() {
    let d = Setup::new().start();
    crate::harness::signal(d.pid(), "INT");
    let (status, log, _) = d.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("received SIGINT"), "{log}");
}
