//! The front with a small service, in process: keep-alive, pipelining, 100-continue, HEAD,
//! panics, the connection cap and shutdown.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

/// Echoes the body's length; `/panic` panics; `/slow` reads its body.
struct Echo;

/// Set when a request to `/in-flight` reaches the service (only the shutdown test sends one).
static IN_FLIGHT_SERVED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Service for Echo {
    fn serve(&self, request: &mut Request<'_, '_>) -> Response {
        if request.target() == "/panic" {
            panic!("handler bug");
        }
        if request.target() == "/in-flight" {
            IN_FLIGHT_SERVED.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        let text = if request.method() == "POST" {
            match request.read_body(1000) {
                Ok(body) => format!("{} bytes", body.len()),
                Err(r) => {
                    return self.refuse(Refused {
                        refusal: &r,
                        head: None,
                        started: None,
                    });
                }
            }
        } else {
            format!("{} {}", request.method(), request.target())
        };
        Response {
            status: 200,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: Payload::Bytes(text.into_bytes()),
        }
    }

    fn refuse(&self, refused: Refused<'_>) -> Response {
        Response {
            status: refused.refusal.status(),
            headers: Vec::new(),
            body: Payload::Bytes(refused.refusal.code().as_bytes().to_vec()),
        }
    }
}

fn limits() -> Limits {
    Limits {
        max_connections: 4,
        max_header_bytes: 1024,
        header_timeout: Duration::from_millis(500),
        body_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_millis(500),
        max_body_bytes: 1000,
    }
}

fn start(limits: Limits) -> Server {
    Server::start("127.0.0.1:0".parse().unwrap(), limits, Arc::new(Echo)).unwrap()
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// A server with the default limits, and a connection to it.
fn start_and_connect() -> (Server, TcpStream) {
    let server = start(limits());
    let s = connect(server.addr());
    (server, s)
}

/// Reads one response (head and Content-Length body) from a kept connection.
fn response(s: &mut TcpStream) -> (u16, String, String) {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => raw.push(byte[0]),
            other => panic!(
                "connection ended in a head: {other:?} {:?}",
                String::from_utf8_lossy(&raw)
            ),
        }
    }
    let head = String::from_utf8(raw).unwrap();
    let status = head[9..12].parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |n| n.trim().parse().unwrap());
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    (status, head, String::from_utf8(body).unwrap())
}

fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(0) | Err(_))
}

#[test]
fn keep_alive_pipelining_continue_and_head() {
    let (server, mut s) = start_and_connect();
    s.write_all(b"GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcHEAD /c HTTP/1.1\r\n\r\n")
        .unwrap();
    assert_eq!(response(&mut s).2, "GET /a");
    assert_eq!(response(&mut s).2, "3 bytes");
    // HEAD: the length of what GET would send, and no body (the next response follows).
    s.write_all(b"GET /d HTTP/1.1\r\n\r\n").unwrap();
    let (status, head, body) = response_head_only(&mut s);
    assert_eq!((status, body.as_str()), (200, ""));
    assert!(head.contains("Content-Length: 7"), "{head}");
    assert_eq!(response(&mut s).2, "GET /d");

    s.write_all(b"POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        .unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"ok").unwrap();
    assert_eq!(response(&mut s).2, "2 bytes");
    server.shutdown();
}

/// A HEAD answer: the head only.
fn response_head_only(s: &mut TcpStream) -> (u16, String, String) {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1);
        raw.push(byte[0]);
    }
    let head = String::from_utf8(raw).unwrap();
    (head[9..12].parse().unwrap(), head, String::new())
}

#[test]
fn a_panic_answers_500_and_the_server_goes_on() {
    let (server, mut s) = start_and_connect();
    s.write_all(b"GET /panic HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(response(&mut s).0, 500);
    // The connection (its body was read whole) and the server go on.
    s.write_all(b"GET /ok HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(response(&mut s).0, 200);
    let mut s = connect(server.addr());
    s.write_all(b"GET /ok HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(response(&mut s).0, 200);
    server.shutdown();
}

#[test]
fn oversized_declared_bodies_are_refused_without_reading_them() {
    let (server, mut s) = start_and_connect();
    s.write_all(b"GET /healthz HTTP/1.1\r\nContent-Length: 99999999999999\r\n\r\n")
        .unwrap();
    let (status, head, body) = response(&mut s);
    assert_eq!((status, body.as_str()), (413, "payload_too_large"));
    assert!(head.contains("Connection: close"), "{head}");
    assert!(closed(&mut s));
    server.shutdown();
}

#[test]
fn at_the_cap_the_longest_idle_connection_makes_room_and_busy_ones_get_503() {
    let server = start(Limits {
        header_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        ..limits()
    });
    let addr = server.addr();
    let mut idle: Vec<_> = (0..4).map(|_| connect(addr)).collect();
    wait_until(|| server.connections() == 4);
    // Only connections idle for a while are closed to make room.
    std::thread::sleep(EVICTABLE_AFTER + Duration::from_millis(100));
    // Each newcomer takes the place of an idle connection and is served.
    let mut busy: Vec<_> = (0..4).map(|_| connect(addr)).collect();
    for s in &mut busy {
        s.write_all(b"GET /slow HTTP/1.1\r\n").unwrap();
    }
    for s in &mut idle {
        assert!(closed(s), "an idle connection was closed to make room");
    }
    wait_until(|| server.connections() == 4 && busy_slots(&server) == 4);
    // Connections that have begun a request are not idle: with every slot busy, a 503.
    let mut refused = connect(addr);
    let mut raw = Vec::new();
    let _ = refused.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.ends_with("service_unavailable"), "{text}");
    // The newcomers are served once their heads are whole.
    busy[0].write_all(b"\r\n").unwrap();
    assert_eq!(response(&mut busy[0]).2, "GET /slow");
    server.shutdown();
}

fn busy_slots(server: &Server) -> usize {
    server
        .shared
        .lock()
        .open
        .values()
        .filter(|e| e.idle_since.is_none())
        .count()
}

fn wait_until(mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ok() {
        assert!(Instant::now() < deadline, "condition not reached in 5 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn idle_and_slow_connections_are_closed_at_their_deadlines() {
    let server = start(limits());
    let addr = server.addr();
    // Kept after one request, then idle: closed after idle_timeout.
    let mut kept = connect(addr);
    kept.write_all(b"GET /a HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(response(&mut kept).0, 200);
    let started = Instant::now();
    assert!(closed(&mut kept));
    assert!(started.elapsed() >= Duration::from_millis(400));
    // A head sent a byte at a time: answered 408 at the head deadline, not kept forever.
    let mut slow = connect(addr);
    let started = Instant::now();
    let mut answer = Vec::new();
    for b in b"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n" {
        if slow.write_all(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(30));
        if started.elapsed() > Duration::from_millis(800) {
            break;
        }
    }
    let _ = slow.read_to_end(&mut answer);
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    wait_until(|| server.connections() == 0);
    server.shutdown();
}

#[test]
fn shutdown_closes_idle_connections_and_finishes_the_request_in_flight() {
    let server = start(Limits {
        idle_timeout: Duration::from_secs(30),
        header_timeout: Duration::from_secs(30),
        body_timeout: Duration::from_secs(30),
        ..limits()
    });
    let addr = server.addr();
    let mut idle = connect(addr);
    idle.write_all(b"GET /a HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(response(&mut idle).0, 200);
    let mut in_flight = connect(addr);
    in_flight
        .write_all(b"POST /in-flight HTTP/1.1\r\nContent-Length: 4\r\n\r\nab")
        .unwrap();
    // In flight: the service has it (a head read but not yet handed over is refused 503).
    wait_until(|| IN_FLIGHT_SERVED.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(busy_slots(&server), 1);
    let stopping = std::thread::spawn(move || server.shutdown());
    assert!(closed(&mut idle), "an idle connection is closed at once");
    in_flight.write_all(b"cd").unwrap();
    let (status, head, body) = response(&mut in_flight);
    assert_eq!((status, body.as_str()), (200, "4 bytes"));
    assert!(head.contains("Connection: close"), "{head}");
    stopping.join().unwrap();
    assert!(TcpStream::connect(addr).is_err(), "the listener is closed");
}
