//! Issue 12 on the real binary: no request crashes or freezes exportd (huge and stalled
//! bodies, huge and slow heads, idle and busy connection floods, running out of file
//! descriptors), and no run an operator asked for is lost (kill -9 and SIGTERM during backfill
//! and manual runs, failed backfill windows, a full disk, leftovers of a crash).
//!
//! Bounds checked here (and stated in the README): the daemon runs at most 10 threads besides
//! one per open connection (8 are seen), and its RSS stays under 64 MiB through every attack
//! (about 20 MiB is seen).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::fixtures::{connection, ingest_big};
use crate::harness::{
    ALLOWED_ENDPOINT, Client, Daemon, KEY_PROD, Response, S3Server, Setup, read_response, wait_for,
};

/// Threads of a daemon with no connection open: main, scheduler, billing, webhooks, the
/// export workers (2 by default), the accept and closing threads, and room for short-lived
/// ones (aborting uploads after a crash).
const BASE_THREADS: u64 = 10;
/// RSS the daemon stays under through the attacks below.
const MAX_RSS_KIB: u64 = 64 * 1024;

/// `(threads, RSS in KiB)` of a process, from /proc.
fn usage(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    (field("Threads:"), field("VmRSS:"))
}

fn assert_bounded(d: &Daemon, connections: u64, what: &str) {
    let (threads, rss) = usage(d.pid());
    eprintln!("USAGE {what}: {threads} threads, {rss} KiB");
    assert!(
        threads <= BASE_THREADS + connections,
        "{what}: {threads} threads for {connections} connection(s)"
    );
    assert!(rss <= MAX_RSS_KIB, "{what}: RSS {rss} KiB");
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// `GET /healthz` on a new connection: answered 200 within a second.
fn healthz_within_1s(addr: SocketAddr, what: &str) {
    let started = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{what}: /healthz: cannot connect: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status, 200, "{what}: /healthz: {}", r.text());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{what}: /healthz took {:?}",
        started.elapsed()
    );
}

fn head_only(addr: SocketAddr, head: &str) -> TcpStream {
    let mut s = connect(addr);
    s.write_all(head.as_bytes()).unwrap();
    s
}

#[test]
fn hostile_bodies_and_heads_never_crash_or_freeze_the_daemon() {
    let d = Setup::new()
        .server("header_timeout = \"2s\"\nbody_timeout = \"2s\"\nidle_timeout = \"2s\"")
        .start();
    let addr = d.addr;
    let pid = d.pid();
    assert_bounded(&d, 0, "at start");
    let anonymous = d.client(None);

    // 1 and 2: a declared length the front will never read, on a route without a body and
    // on one with a body, with and without a key; more times than tiny_http had workers.
    for len in ["99999999999999", "18446744073709551615"] {
        for i in 0..12 {
            let (path, key) = match i % 3 {
                0 => ("GET /healthz", String::new()),
                1 => ("POST /v1/events/bulk", String::new()),
                _ => ("POST /v1/events/bulk", format!("x-api-key: {KEY_PROD}\r\n")),
            };
            let r = anonymous.raw(
                format!("{path} HTTP/1.1\r\nHost: x\r\n{key}Content-Length: {len}\r\n\r\n")
                    .as_bytes(),
            );
            assert_eq!(r.error(413)["code"], "payload_too_large");
        }
        healthz_within_1s(addr, &format!("after Content-Length: {len}"));
    }

    // 3: stalled bodies without a key are answered 401 at once, not drained; the API answers
    // while they stay open.
    let mut stalled: Vec<TcpStream> = (0..12)
        .map(|_| {
            head_only(
                addr,
                "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
            )
        })
        .collect();
    for s in &mut stalled {
        read_response(s).error(401);
    }
    healthz_within_1s(addr, "with 12 stalled unauthenticated bodies open");
    // With a key, a stalled body holds one of the 4 request turns until the body deadline:
    // probes still answer, and every one of them ends with 408 (or 503 when it waited for a
    // turn longer than the head deadline).
    let mut held: Vec<TcpStream> = (0..6)
        .map(|_| {
            let mut s = head_only(
                addr,
                &format!("POST /v1/events HTTP/1.1\r\nHost: x\r\nx-api-key: {KEY_PROD}\r\nContent-Length: 100000\r\n\r\n"),
            );
            s.write_all(b"{\"event_name\":").unwrap();
            s
        })
        .collect();
    healthz_within_1s(addr, "with 6 stalled authenticated bodies open");
    let statuses: Vec<u16> = held.iter_mut().map(|s| read_response(s).status).collect();
    assert!(
        statuses.iter().all(|s| *s == 408 || *s == 503)
            && statuses.iter().filter(|s| **s == 408).count() >= 4,
        "{statuses:?}"
    );
    drop(stalled);
    healthz_within_1s(addr, "after the stalled bodies");

    // 6: a 50 MB head, four at once: 431 after 16 KiB, memory flat.
    let big: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = connect(addr);
                let writer = s.try_clone().unwrap();
                let sending = std::thread::spawn(move || {
                    let mut w = writer;
                    let _ = w.write_all(b"GET /healthz HTTP/1.1\r\nX-Big: ");
                    let chunk = vec![b'a'; 1 << 20];
                    for _ in 0..50 {
                        if w.write_all(&chunk).is_err() {
                            break;
                        }
                    }
                });
                let r = read_response(&mut s);
                drop(s);
                let _ = sending.join();
                r
            })
        })
        .collect();
    healthz_within_1s(addr, "during four 50 MB heads");
    for t in big {
        let r: Response = t.join().unwrap();
        assert_eq!(
            r.error(431)["code"],
            "request_header_fields_too_large",
            "{}",
            r.text()
        );
    }
    // Their connections, and the health checks', may linger a moment after the answer.
    wait_for(
        "the closed connections' threads to end",
        Duration::from_secs(5),
        || usage(d.pid()).0 <= BASE_THREADS + 4,
    );
    assert_bounded(&d, 4, "after four 50 MB heads");
    healthz_within_1s(addr, "after four 50 MB heads");

    // 6: a head sent a byte at a time is answered 408 at the head deadline (2 s), not kept.
    let mut slow = connect(addr);
    let mut writer = slow.try_clone().unwrap();
    let started = Instant::now();
    let trickle = std::thread::spawn(move || {
        for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
            if writer.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    healthz_within_1s(addr, "during a slow head");
    let r = read_response(&mut slow);
    assert_eq!(r.error(408)["code"], "request_timeout");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let _ = trickle.join();

    // 6: idle connections each hold a thread only until the head deadline.
    let mut idle: Vec<TcpStream> = (0..100).map(|_| connect(addr)).collect();
    wait_for("100 connection threads", Duration::from_secs(10), || {
        usage(pid).0 >= 100
    });
    assert_bounded(&d, 100, "with 100 idle connections");
    healthz_within_1s(addr, "with 100 idle connections");
    for s in &mut idle {
        let mut buf = [0u8; 16];
        assert_eq!(
            s.read(&mut buf).unwrap_or(0),
            0,
            "an idle connection is closed"
        );
    }
    wait_for(
        "the connection threads to end",
        Duration::from_secs(10),
        || usage(pid).0 <= BASE_THREADS,
    );
    healthz_within_1s(addr, "after the idle connections");
    assert!(
        !d.log().contains("panicked"),
        "nothing panicked:\n{}",
        d.log()
    );
    let (status, log, _) = d.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
}

#[test]
fn connection_floods_get_fast_answers_and_service_resumes() {
    let d = Setup::new()
        .server("max_connections = 32\nheader_timeout = \"10s\"")
        .start();
    let addr = d.addr;
    // 32 connections that have begun a request fill every slot: a newcomer gets a JSON 503
    // at once from the accept thread, /healthz included.
    let mut busy: Vec<TcpStream> = (0..32)
        .map(|_| head_only(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n"))
        .collect();
    wait_for("32 busy connections", Duration::from_secs(10), || {
        usage(d.pid()).0 >= 32
    });
    assert_bounded(&d, 32, "at the connection cap");
    let started = Instant::now();
    let r = d.client(None).get("/healthz");
    assert_eq!(r.error(503)["code"], "service_unavailable");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_bounded(&d, 32, "past the connection cap");
    // Their requests complete; the connections stay open, idle, and make room for newcomers.
    for s in &mut busy {
        s.write_all(b"\r\n").unwrap();
    }
    for s in &mut busy {
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
    }
    // An idle connection gives its place once it has been idle for a second.
    wait_for(
        "/healthz 200 with every slot idle",
        Duration::from_secs(5),
        || d.client(None).get("/healthz").status == 200,
    );
    healthz_within_1s(addr, "with 32 idle connections at the cap");
    drop(busy);

    // 5: a burst of 640 connections at once, each with a request: every one is answered
    // (200, or 503 beyond the cap), none waits for another to close.
    let bursts: Vec<_> = (0..16)
        .map(|_| {
            std::thread::spawn(move || {
                let streams: Vec<TcpStream> = (0..40)
                    .map(|_| {
                        head_only(
                            addr,
                            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                        )
                    })
                    .collect();
                streams
                    .into_iter()
                    .map(|mut s| {
                        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                        read_response(&mut s).status
                    })
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    let statuses: Vec<u16> = bursts.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert_eq!(statuses.len(), 640);
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200));
    assert_bounded(&d, 32, "after the burst");
    healthz_within_1s(addr, "after the burst");
}

#[test]
fn out_of_file_descriptors_it_backs_off_and_serves_again() {
    // max_connections above what 256 descriptors allow: accept() itself fails (EMFILE).
    let d = Setup::new()
        .wrapped(&["prlimit", "--nofile=256", "--"])
        .server("max_connections = 1000\nheader_timeout = \"60s\"")
        .start();
    let addr = d.addr;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", d.pid())).unwrap();
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max open files") && l.contains(" 256 ")),
        "{limits}"
    );
    // Past ~240 connections accept() fails; the listener's queue (128) then fills and further
    // connections wait for the kernel to retry their SYN, hence the long connect timeout.
    let mut open = Vec::new();
    while open.len() < 400 && !d.log().contains("Too many open files") {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
            Ok(s) => open.push(s),
            Err(_) => break,
        }
    }
    wait_for(
        "accept() to fail with EMFILE",
        Duration::from_secs(20),
        || d.log().contains("Too many open files"),
    );
    assert!(usage(d.pid()).0 <= BASE_THREADS + 256);
    drop(open);
    wait_for("accepting again", Duration::from_secs(20), || {
        d.log().contains("accepting connections again")
    });
    healthz_within_1s(addr, "after every descriptor came back");
    let c = d.prod();
    assert_eq!(c.get("/v1/tasks").status, 200, "the API works again");
    let (status, log, _) = d.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
}

#[test]
fn http_semantics_clients_rely_on() {
    let d = Daemon::start();
    let addr = d.addr;
    // HEAD: the head of GET, no body.
    let r = d
        .client(None)
        .raw(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), Some("15"));
    // Expect: 100-continue, then the body; and keep-alive: a second request on the same
    // connection.
    let mut s = connect(addr);
    let body = json!({"event_name": "e", "external_customer_id": "c"}).to_string();
    s.write_all(
        format!("POST /v1/events HTTP/1.1\r\nHost: x\r\nx-api-key: {KEY_PROD}\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n", body.len())
            .as_bytes(),
    )
    .unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(body.as_bytes()).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 202"), "{raw}");
    assert_eq!(raw.matches("HTTP/1.1 200").count(), 1, "{raw}");
    // A chunked body within the limit is read.
    let chunked = format!(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-api-key: {KEY_PROD}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    assert_eq!(d.client(None).raw(chunked.as_bytes()).status, 202);
    // Framing that could smuggle a request is refused.
    let r = d.client(None).raw(
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    assert_eq!(r.error(400)["code"], "validation_error");
    let r = d
        .client(None)
        .raw(b"GET /healthz HTTP/1.1\r\nExpect: teapot\r\n\r\n");
    assert_eq!(r.error(417)["code"], "expectation_failed");
}

// ---- Runs ----------------------------------------------------------------------------------

pub(crate) fn db(dir: &Path) -> rusqlite::Connection {
    let db = rusqlite::Connection::open(dir.join("data/exportd.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db
}

fn count(dir: &Path, sql: &str) -> i64 {
    db(dir).query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Every run of a task, oldest first.
pub(crate) fn runs_of(c: &Client, task: &str) -> Vec<Value> {
    let mut all: Vec<Value> = c
        .get(&format!("/v1/tasks?scheduled_task_id={task}&limit=1000"))
        .ok(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    // Run ids are ULIDs: in creation order (the test clock may stand still meanwhile).
    all.sort_by_key(|r| r["id"].as_str().unwrap_or_default().to_owned());
    all
}

fn settled(c: &Client, task: &str) -> bool {
    runs_of(c, task)
        .iter()
        .all(|r| r["task_status"] == "COMPLETED" || r["task_status"] == "FAILED")
}

fn s3_task(c: &Client, server: &S3Server, bucket: &str) -> String {
    let conn = c
        .post(
            "/v1/connections",
            json!({"name": "s3", "provider_type": "s3", "encrypted_secret_data": {
                "aws_access_key_id": server.access_key, "aws_secret_access_key": server.secret_key}}),
        )
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"connection_id": conn, "entity_type": "events", "interval": "hourly", "enabled": false,
        "job_config": {"bucket": bucket, "region": crate::harness::S3_REGION, "key_prefix": "bf",
                       "endpoint_url": server.endpoint, "use_path_style": true, "compression": "none"}});
    c.post("/v1/tasks/scheduled", body).ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A daemon allowed to reach `server`, with 5 MiB parts (uploads of many parts).
fn s3_setup(server: &S3Server) -> Setup {
    Setup::new().config(&format!("{}part_size = 5242880\n", server.allow()))
}

/// Kills the daemon (SIGKILL, as a crash or the out-of-memory killer would) once one of its
/// runs has an upload open, and gives back its data directory.
fn kill_during_an_upload(d: crate::harness::Daemon, what: &str) -> tempfile::TempDir {
    let dir = d.dir().to_owned();
    wait_for(
        &format!("an upload to begin before {what}"),
        Duration::from_secs(120),
        || {
            count(
                &dir,
                "SELECT COUNT(*) FROM runs WHERE upload_id IS NOT NULL AND task_status = 'PROCESSING'",
            ) > 0
        },
    );
    crate::harness::signal(d.pid(), "KILL");
    d.terminate().2
}

#[test]
fn a_window_running_at_three_crashes_fails_instead_of_running_forever() {
    let test = "a_window_running_at_three_crashes_fails_instead_of_running_forever";
    let Some(server) = crate::harness::seaweedfs(test) else {
        return;
    };
    let bucket = server.new_bucket();
    let mut d = s3_setup(server).clock("2025-10-16T10:05:00Z").start();
    let c = d.prod();
    let t = s3_task(&c, server, &bucket);
    ingest_big(&c, "crash", 7_000);
    d.set_clock("2025-10-16T15:30:00Z");
    c.post(
        &format!("/v1/tasks/scheduled/{t}/run"),
        json!({"start_time": "2025-10-16T10:00:00Z", "end_time": "2025-10-16T11:00:00Z"}),
    )
    .ok(200);
    // Stop it without a shutdown three times while the window's upload is open, as a crash
    // or the out-of-memory killer would.
    for kill in 1..=3 {
        let tmp = kill_during_an_upload(d, &format!("kill {kill}"));
        d = s3_setup(server).clock_from_dir().in_dir(tmp).start();
    }
    let c = d.prod();
    wait_for("every run to end", Duration::from_secs(60), || {
        settled(&c, &t)
    });
    let runs = runs_of(&c, &t);
    let summaries: Vec<&str> = runs
        .iter()
        .map(|r| r["error_summary"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(runs.len(), 3, "{runs:#?}");
    assert!(
        runs.iter().all(|r| r["task_status"] == "FAILED"),
        "{runs:#?}"
    );
    for (summary, attempt) in summaries[..2].iter().zip(1..) {
        assert!(
            summary.starts_with("interrupted: exportd stopped during this export; run again as "),
            "attempt {attempt}: {summary}"
        );
    }
    // The third time counts: a manual run's failure is final, so no fourth attempt.
    assert_eq!(
        summaries[2],
        "interrupted: exportd stopped during this export (3 times for this window: counted as \
         a failure, as the export may be what stops exportd)"
    );
    assert_eq!(runs[2]["attempt"], 3);
    assert!(server.keys(&bucket).is_empty(), "no object was completed");
    wait_for(
        "the interrupted uploads to be aborted",
        Duration::from_secs(30),
        || server.open_uploads(&bucket) == 0,
    );
}

#[test]
fn kill_9_during_backfill_and_manual_runs_then_every_window_completes_once() {
    let Some(server) = crate::harness::seaweedfs(
        "kill_9_during_backfill_and_manual_runs_then_every_window_completes_once",
    ) else {
        return;
    };
    let bucket = server.new_bucket();
    let d = s3_setup(server).clock("2025-10-16T10:05:00Z").start();
    let c = d.prod();
    let t = s3_task(&c, server, &bucket);
    // Three hourly windows of about 9 MB of CSV each (ingest time is the test clock's).
    let hours = ["10", "11", "12"];
    for h in hours {
        d.set_clock(&format!("2025-10-16T{h}:05:00Z"));
        ingest_big(&c, &format!("w{h}"), 7_000);
    }
    d.set_clock("2025-10-16T15:30:00Z");
    let backfill = c
        .post(
            &format!("/v1/tasks/scheduled/{t}/backfill"),
            json!({"start_time": "2025-10-16T10:00:00Z", "end_time": "2025-10-16T13:00:00Z"}),
        )
        .ok(200);
    assert_eq!(backfill["count"], 3);
    let manual = c
        .post(
            &format!("/v1/tasks/scheduled/{t}/run"),
            json!({"start_time": "2025-10-16T10:00:00Z", "end_time": "2025-10-16T12:00:00Z"}),
        )
        .ok(200);
    assert_eq!(manual["mode"], "custom");

    // Kill it twice while an upload is open, restarting in between.
    let mut d = d;
    for kill in 1..=2 {
        let before = count(
            d.dir(),
            "SELECT COUNT(*) FROM runs WHERE task_status = 'COMPLETED'",
        );
        let tmp = kill_during_an_upload(d, &format!("kill {kill}"));
        assert!(
            count(
                tmp.path(),
                "SELECT COUNT(*) FROM runs WHERE task_status = 'COMPLETED'"
            ) >= before
        );
        d = s3_setup(server).clock_from_dir().in_dir(tmp).start();
    }
    let c = d.prod();
    wait_for("every run to end", Duration::from_secs(180), || {
        settled(&c, &t)
    });
    let runs = runs_of(&c, &t);
    // Each window the operator asked for (3 backfill windows, 1 manual window) completed
    // exactly once; every other run was interrupted and followed by the next attempt.
    let mut completed: Vec<(String, String, String)> = runs
        .iter()
        .filter(|r| r["task_status"] == "COMPLETED")
        .map(|r| {
            (
                r["trigger"].as_str().unwrap().to_owned(),
                r["window_start"].as_str().unwrap().to_owned(),
                r["window_end"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    completed.sort();
    assert_eq!(
        completed,
        [
            ("backfill", "2025-10-16T10:00:00Z", "2025-10-16T11:00:00Z"),
            ("backfill", "2025-10-16T11:00:00Z", "2025-10-16T12:00:00Z"),
            ("backfill", "2025-10-16T12:00:00Z", "2025-10-16T13:00:00Z"),
            ("manual", "2025-10-16T10:00:00Z", "2025-10-16T12:00:00Z"),
        ]
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned())),
        "{runs:#?}"
    );
    let interrupted: Vec<&Value> = runs
        .iter()
        .filter(|r| r["task_status"] == "FAILED")
        .collect();
    assert!(interrupted.len() >= 2, "two kills interrupted runs");
    for r in &interrupted {
        let summary = r["error_summary"].as_str().unwrap();
        assert!(
            summary.starts_with("interrupted: exportd stopped during this export; run again as "),
            "{summary}"
        );
        let next = summary.rsplit(' ').next().unwrap();
        let follow = runs
            .iter()
            .find(|x| x["id"] == next)
            .expect("the next attempt");
        assert_eq!(follow["attempt"], r["attempt"].as_i64().unwrap() + 1);
        assert_eq!(
            (
                &follow["trigger"],
                &follow["window_start"],
                &follow["window_end"]
            ),
            (&r["trigger"], &r["window_start"], &r["window_end"])
        );
    }
    // S3 holds one object per window, each with every event of its window once.
    let mut keys = server.keys(&bucket);
    keys.sort();
    assert_eq!(keys.len(), 4, "{keys:?}");
    for key in &keys {
        let object = server.get(&bucket, key);
        let rows = object.iter().filter(|b| **b == b'\n').count() - 1;
        let expected = if key.contains("251016100000-251016120000") {
            14_000
        } else {
            7_000
        };
        assert_eq!(rows, expected, "{key}");
        let run = runs
            .iter()
            .find(|r| r["task_status"] == "COMPLETED" && r["object_key"] == key.as_str())
            .expect("its run");
        assert_eq!(run["sha256"], crate::harness::sha256_hex(&object));
    }
    wait_for(
        "interrupted uploads to be aborted",
        Duration::from_secs(30),
        || server.open_uploads(&bucket) == 0,
    );
}

#[test]
fn a_run_stopped_by_sigterm_is_interrupted_not_failed_and_runs_again() {
    let Some(server) = crate::harness::seaweedfs(
        "a_run_stopped_by_sigterm_is_interrupted_not_failed_and_runs_again",
    ) else {
        return;
    };
    let bucket = server.new_bucket();
    // One failure would pause the task: an interruption must not count as one.
    let d = s3_setup(server)
        .clock("2025-10-16T10:05:00Z")
        .scheduler("shutdown_timeout = \"0s\"\nmax_consecutive_failures = 1")
        .start();
    let c = d.prod();
    let t = s3_task(&c, server, &bucket);
    ingest_big(&c, "s", 24_000);
    c.put(
        &format!("/v1/tasks/scheduled/{t}"),
        json!({"enabled": true}),
    )
    .ok(200);
    d.set_clock("2025-10-16T11:15:00Z");
    let dir = d.dir().to_owned();
    wait_for(
        "the scheduled upload to begin",
        Duration::from_secs(120),
        || {
            count(
                &dir,
                "SELECT COUNT(*) FROM runs WHERE upload_id IS NOT NULL",
            ) > 0
        },
    );
    let (status, log, tmp) = d.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
    let task: (i64, i64, Option<i64>) = db(tmp.path())
        .query_row(
            "SELECT enabled, consecutive_failures, next_run_at FROM scheduled_tasks WHERE id = ?1",
            [&t],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (task.0, task.1),
        (1, 0),
        "not paused, not counted as a failure: {log}"
    );
    assert!(task.2.is_some(), "due again (at once)");
    let d = s3_setup(server).clock_from_dir().in_dir(tmp).start();
    let c = d.prod();
    wait_for("the window to complete", Duration::from_secs(120), || {
        runs_of(&c, &t)
            .iter()
            .any(|r| r["task_status"] == "COMPLETED")
    });
    let runs = runs_of(&c, &t);
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert_eq!(
        (&runs[0]["task_status"], &runs[0]["error_summary"]),
        (&json!("FAILED"), &json!("interrupted by shutdown"))
    );
    assert_eq!(
        (&runs[1]["trigger"], &runs[1]["attempt"]),
        (&json!("scheduled"), &json!(1)),
        "a fresh scheduled run, not a retry"
    );
    assert_eq!(server.keys(&bucket).len(), 1);
}

#[test]
fn a_failed_backfill_window_is_retried_with_backoff_then_reported() {
    let d = Setup::new()
        .clock("2025-10-16T15:30:00Z")
        .scheduler("retry_base = \"1m\"\nretry_cap = \"10m\"\nmax_consecutive_failures = 3")
        .config(&format!(
            "[[webhooks]]\nurl = \"{ALLOWED_ENDPOINT}/hook\"\nsecret = \"whsec-hardening-test\"\n"
        ))
        .start();
    crate::harness::note_secret("whsec-hardening-test");
    let c = d.prod();
    // No server listens at the task's endpoint: every attempt fails (retryable).
    let t = c
        .post(
            "/v1/tasks/scheduled",
            json!({"connection_id": connection(&c), "entity_type": "events", "interval": "hourly", "enabled": false,
                   "job_config": {"bucket": "exports", "region": "us-east-1", "endpoint_url": ALLOWED_ENDPOINT, "use_path_style": true}}),
        )
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    c.post(
        &format!("/v1/tasks/scheduled/{t}/backfill"),
        json!({"start_time": "2025-10-16T10:00:00Z", "end_time": "2025-10-16T11:00:00Z"}),
    )
    .ok(200);
    let attempt = |n: usize| {
        wait_for(&format!("attempt {n}"), Duration::from_secs(30), || {
            let runs = runs_of(&c, &t);
            runs.len() >= n && runs[n - 1]["task_status"] == "FAILED"
        });
        runs_of(&c, &t)
    };
    let runs = attempt(1);
    let summary = runs[0]["error_summary"].as_str().unwrap();
    assert!(
        summary.contains("connection refused") && summary.contains("(attempt 2 of 3)"),
        "{summary}"
    );
    // The next attempt waits (PENDING) for its backoff: 30 to 60 s of the test clock.
    assert_eq!(runs.len(), 2);
    assert_eq!(
        (
            &runs[1]["task_status"],
            &runs[1]["attempt"],
            &runs[1]["trigger"]
        ),
        (&json!("PENDING"), &json!(2), &json!("backfill"))
    );
    d.set_clock("2025-10-16T15:31:01Z");
    let runs = attempt(2);
    assert!(
        runs[1]["error_summary"]
            .as_str()
            .unwrap()
            .contains("(attempt 3 of 3)")
    );
    assert_eq!(runs[2]["task_status"], "PENDING");
    // Backoff doubles: 1 to 2 minutes after the second failure.
    d.set_clock("2025-10-16T15:33:02Z");
    let runs = attempt(3);
    let last = runs[2]["error_summary"].as_str().unwrap();
    assert!(last.ends_with("(gave up after 3 attempts)"), "{last}");
    wait_for("the webhook events", Duration::from_secs(10), || {
        count(
            d.dir(),
            "SELECT COUNT(*) FROM webhook_deliveries WHERE event_type = 'run.failed'",
        ) == 3
    });
    let reported: String = db(d.dir())
        .query_row(
            "SELECT body FROM webhook_deliveries WHERE body LIKE '%gave up after 3 attempts%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(reported.contains("\"attempt\":3"), "{reported}");
    assert_eq!(runs_of(&c, &t).len(), 3, "no fourth attempt");
    // The task itself is untouched: backfill never changes the schedule.
    let task = c.get(&format!("/v1/tasks/scheduled/{t}")).ok(200);
    assert_eq!(task["consecutive_failures"], 0, "{task}");
}

// ---- Disk and files ------------------------------------------------------------------------

/// A tmpfs mounted at a directory for the life of the guard.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Tmpfs(at.to_owned()))
        } else {
            Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the volume of `dir` until no byte more fits; returns the filler file.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    for size in [1 << 20, 4096, 1] {
        let chunk = vec![0u8; size];
        while f.write_all(&chunk).is_ok() {}
    }
    path
}

fn wal_size(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("data/exportd.db-wal")).map_or(0, |m| m.len())
}

#[test]
fn a_full_disk_is_reported_by_readyz_and_recovered_from_and_the_wal_stays_small() {
    // And a final checkpoint that cannot be written. (A read-only volume fails the same probe,
    // but a volume with the database open cannot be remounted read-only to show it.)
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _volume = match Tmpfs::mount(&data, "96m") {
        Ok(m) => m,
        Err(why) => {
            crate::harness::skip_or_fail(
                "a_full_disk_is_reported_by_readyz_and_recovered_from_and_the_wal_stays_small",
                &why,
            );
            return;
        }
    };
    // A 1 MiB WAL limit: ingest of ~40 MB keeps the WAL near it.
    let d = Setup::new()
        .storage("max_wal_bytes = 1048576")
        .in_dir(dir)
        .start();
    let c = d.prod();
    let mut largest = 0;
    for batch in 0..8 {
        ingest_big(&c, &format!("wal{batch}"), 1000);
        largest = largest.max(wal_size(d.dir()));
    }
    // The limit plus one transaction (a bulk of 1000 such events writes about 5 MB of
    // pages); before, the WAL grew to 80 MiB before its first checkpoint, and never shrank.
    assert!(
        largest <= 8 << 20,
        "the WAL stays near max_wal_bytes: {largest} bytes"
    );
    assert_eq!(d.client(None).get("/readyz").status, 200);

    let filler = fill(&d.dir().join("data"));
    // /readyz probes at most once a second: the next probe sees the full volume.
    wait_for(
        "/readyz 503 on a full volume",
        Duration::from_secs(10),
        || d.client(None).get("/readyz").status == 503,
    );
    let r = d.client(None).get("/readyz");
    assert_eq!(r.error(503)["code"], "service_unavailable");
    // Writes fail with a JSON 5xx; nothing stored is lost and reads still work.
    let events: Vec<Value> = (0..1000)
        .map(|n| json!({"event_id": format!("full-{n}"), "event_name": "e", "external_customer_id": "c", "properties": {"pad": "p".repeat(1000)}}))
        .collect();
    let r = c.post("/v1/events/bulk", json!({ "events": events }));
    assert!(r.status >= 500, "{} {}", r.status, r.text());
    r.error(r.status);
    assert_eq!(c.get("/v1/tasks").status, 200);
    assert_eq!(d.client(None).get("/healthz").status, 200);

    // Space comes back: ready again, writes work.
    std::fs::remove_file(&filler).unwrap();
    wait_for("/readyz 200", Duration::from_secs(10), || {
        d.client(None).get("/readyz").status == 200
    });
    assert_eq!(
        c.post("/v1/events/bulk", json!({ "events": events }))
            .status,
        202
    );
    let stored = count(d.dir(), "SELECT COUNT(*) FROM events");
    assert_eq!(stored, 9_000, "every acknowledged event is stored once");

    // A WAL the final checkpoint cannot copy into a full volume: logged, and exit 0.
    let (status, log, dir) = d.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
    let d = Setup::new()
        .storage("max_wal_bytes = 67108864")
        .in_dir(dir)
        .start();
    let c = d.prod();
    for batch in 0..4 {
        ingest_big(&c, &format!("ckpt{batch}"), 1000);
    }
    let filler = fill(&d.dir().join("data"));
    let (status, log, dir) = d.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("the final checkpoint failed"), "{log}");
    std::fs::remove_file(&filler).unwrap();
    // Nothing was lost: the WAL is replayed at the next start.
    let d = Setup::new().in_dir(dir).start();
    assert_eq!(count(d.dir(), "SELECT COUNT(*) FROM events"), 13_000);
    let (status, log, _dir) = d.terminate();
    assert_eq!(status.code(), Some(0), "{log}");
}

#[test]
fn private_files_under_any_umask_and_no_leftovers_after_a_crash() {
    use std::os::unix::fs::PermissionsExt;
    let d = Setup::new()
        .wrapped(&["sh", "-c", "umask 000; exec \"$0\" \"$@\""])
        .start();
    let data = d.dir().join("data");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the data directory");
    for file in [
        "exportd.db",
        "exportd.db-wal",
        "exportd.db-shm",
        "secret.key",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    crate::harness::signal(d.pid(), "KILL");
    let (_, _, dir) = d.terminate();
    // What an export killed mid-write leaves in the managed directory.
    let events = dir.path().join("data/exports/acme/prod/events");
    std::fs::create_dir_all(&events).unwrap();
    let leftover =
        events.join(".events-251016100000-251016110000.csv.01K00000000000000000000000.partial");
    std::fs::write(&leftover, "half an export").unwrap();
    std::fs::write(events.join("done.csv"), "a finished export").unwrap();
    let d = Setup::new().in_dir(dir).start();
    assert!(!leftover.exists(), "the leftover is removed at start");
    assert!(events.join("done.csv").exists(), "finished files stay");
    assert!(
        d.log()
            .contains("removed 1 temporary file(s) that interrupted exports left"),
        "{}",
        d.log()
    );
}
