//! exportd's HTTP/1.1 front: the listener, connections and request framing, with the limits
//! that keep a hostile or broken client from crashing or freezing the daemon. What a request
//! means is not its business: it hands each one to a [`Service`] (the API).
//!
//! Why its own and not a crate's server: tiny_http 0.12 drains unread bodies without a bound
//! or a deadline, panics its accept thread on EMFILE, and has no header or connection limits;
//! oxhttp 0.3 (the maintained synchronous alternative) drains unread bodies too, has only a
//! per-read timeout (a client sending a byte every few seconds is never timed out), blocks its
//! accept loop when the connection cap is reached, spins on EMFILE, and lets a handler panic
//! end the connection thread. What is left to write is small: httparse (the parser hyper uses)
//! reads heads and chunk sizes, and this module adds the connection handling.
//!
//! The guarantees, each with its `[server]` setting:
//! - at most `max_connections` connections, each on its own thread; beyond that the connection
//!   idle the longest (for at least a second) is closed to make room, and when none is, the
//!   newcomer gets a fast 503 from the accept thread (never a new thread);
//! - a head larger than `max_header_bytes` (or of more than 100 lines) is answered 431;
//! - a head must arrive within `header_timeout`, a body within `body_timeout` (both whole, not
//!   per read: a byte a second does not keep a connection), else 408; a keep-alive
//!   connection idle for `idle_timeout` is closed, and so is a response the client does not
//!   take for `body_timeout`;
//! - a body is read only when the service asks, never past its limit (413 as soon as the
//!   declared length or the bytes received pass it); an unread body is not drained unless it
//!   is small, the connection is closed instead;
//! - accept errors (EMFILE, ENFILE, ENOBUFS, ENOMEM) make the accept loop back off and retry,
//!   never stop;
//! - a panic while serving a request answers 500 (or drops that connection); the thread and
//!   the server go on.

mod body;
mod connection;
mod head;
mod turns;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub(crate) use body::Request;
pub(crate) use head::Head;
pub(crate) use turns::Turns;

/// The front's limits (`[server]` in the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Limits {
    pub max_connections: usize,
    pub max_header_bytes: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    /// Any declared body longer than this is refused before routing (413).
    pub max_body_bytes: u64,
}

/// A request the front answers itself, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 400: the request cannot be read as HTTP/1.1.
    Malformed(String),
    /// 408: the head or body did not arrive in time (says which).
    Timeout(&'static str),
    /// 413: the body is longer than the limit.
    TooLarge(u64),
    /// 417: an `Expect` other than `100-continue`.
    ExpectationFailed,
    /// 431: the head is too large.
    HeadTooLarge(String),
    /// 500: serving the request panicked.
    Panicked,
    /// 501: a transfer coding other than chunked.
    NotImplemented(String),
    /// 503: every connection slot is busy.
    TooManyConnections,
    /// 503: exportd is stopping.
    ShuttingDown,
    /// 505: not HTTP/1.x.
    VersionNotSupported,
}

impl Refusal {
    pub(crate) fn status(&self) -> u16 {
        match self {
            Refusal::Malformed(_) => 400,
            Refusal::Timeout(_) => 408,
            Refusal::TooLarge(_) => 413,
            Refusal::ExpectationFailed => 417,
            Refusal::HeadTooLarge(_) => 431,
            Refusal::Panicked => 500,
            Refusal::NotImplemented(_) => 501,
            Refusal::TooManyConnections | Refusal::ShuttingDown => 503,
            Refusal::VersionNotSupported => 505,
        }
    }

    /// The error code of the JSON answer.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "bad_request",
            Refusal::Timeout(_) => "request_timeout",
            Refusal::TooLarge(_) => "payload_too_large",
            Refusal::ExpectationFailed => "expectation_failed",
            Refusal::HeadTooLarge(_) => "request_header_fields_too_large",
            Refusal::Panicked => "internal_error",
            Refusal::NotImplemented(_) => "not_implemented",
            Refusal::TooManyConnections | Refusal::ShuttingDown => "service_unavailable",
            Refusal::VersionNotSupported => "http_version_not_supported",
        }
    }

    /// The sentence for the client.
    pub(crate) fn message(&self) -> String {
        match self {
            Refusal::Malformed(m) | Refusal::HeadTooLarge(m) | Refusal::NotImplemented(m) => {
                m.clone()
            }
            Refusal::Timeout(what) => format!("the {what} did not arrive in time"),
            Refusal::TooLarge(limit) => {
                format!("Request body is larger than the limit of {limit} bytes")
            }
            Refusal::ExpectationFailed => "the only Expect value accepted is 100-continue".into(),
            Refusal::Panicked => "An unexpected error occurred; the server log has details".into(),
            Refusal::TooManyConnections => {
                "exportd has too many open connections; retry shortly".into()
            }
            Refusal::ShuttingDown => "exportd is shutting down".into(),
            Refusal::VersionNotSupported => "only HTTP/1.0 and HTTP/1.1 are served".into(),
        }
    }
}

/// An answer: status, headers (without framing headers, which the front adds) and body.
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Payload,
}

pub(crate) enum Payload {
    Bytes(Vec<u8>),
    /// A file streamed from disk, `len` bytes from where it stands.
    File {
        file: std::fs::File,
        len: u64,
    },
}

/// A request the front refuses itself, as far as it was read.
pub(crate) struct Refused<'a> {
    pub refusal: &'a Refusal,
    /// The head, when it could be read.
    pub head: Option<&'a Head>,
    /// When the request began; `None` for a connection refused before anything was read from
    /// it (by the accept thread, under load: not worth a log line each).
    pub started: Option<Instant>,
}

/// What answers requests.
pub(crate) trait Service: Send + Sync + 'static {
    /// Answers one request; its body, if any, is read through [`Request::read_body`].
    fn serve(&self, request: &mut Request<'_, '_>) -> Response;

    /// The answer to a request the front refuses itself.
    fn refuse(&self, refused: Refused<'_>) -> Response;
}

/// A running server.
pub(crate) struct Server {
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

struct Shared {
    limits: Limits,
    service: Arc<dyn Service>,
    conns: Mutex<Conns>,
    /// Signalled when a connection ends.
    ended: Condvar,
    stopping: AtomicBool,
}

#[derive(Default)]
struct Conns {
    next_id: u64,
    open: HashMap<u64, Entry>,
    stopping: bool,
    /// Refusals at the cap not yet logged (logged at most once a second).
    refused: u64,
    refused_logged_at: Option<Instant>,
}

struct Entry {
    stream: Arc<TcpStream>,
    /// Since when the connection waits for a request with nothing received of it.
    idle_since: Option<Instant>,
}

/// How long shutdown waits for requests in flight.
const DRAIN: Duration = Duration::from_secs(10);
/// Connections refused by the accept thread that wait for their client to read the answer.
const CLOSING: usize = 256;

/// A connection must have been idle this long to be closed to make room: one just accepted
/// (or just answered) may have its request on the way.
const EVICTABLE_AFTER: Duration = Duration::from_secs(1);

impl Server {
    /// Binds `addr` and starts accepting connections.
    pub(crate) fn start(
        addr: SocketAddr,
        limits: Limits,
        service: Arc<dyn Service>,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            limits,
            service,
            conns: Mutex::new(Conns::default()),
            ended: Condvar::new(),
            stopping: AtomicBool::new(false),
        });
        let (closing, to_close) = std::sync::mpsc::sync_channel(CLOSING);
        std::thread::Builder::new()
            .name("http-close".into())
            .spawn(move || close_gently(&to_close))?;
        let accept = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("http-accept".into())
                .spawn(move || accept_loop(&listener, &shared, &closing))?
        };
        Ok(Server {
            shared,
            accept: Some(accept),
            addr,
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections open now.
    #[cfg(test)]
    pub(crate) fn connections(&self) -> usize {
        self.shared.lock().open.len()
    }

    /// Stops: connections waiting for a request are closed; requests in flight finish (for up
    /// to 10 s) and are answered with `Connection: close`; requests whose head arrives from now
    /// on, and connections queued on the listener, get a 503; then the listener closes.
    pub(crate) fn shutdown(mut self) {
        {
            let mut conns = self.shared.lock();
            conns.stopping = true;
            self.shared.stopping.store(true, Ordering::SeqCst);
            for entry in conns.open.values().filter(|e| e.idle_since.is_some()) {
                let _ = entry.stream.shutdown(Shutdown::Both);
            }
        }
        // Wakes the accept thread if it is waiting in accept().
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        if let Some(accept) = self.accept.take()
            && accept.join().is_err()
        {
            log::error!("the HTTP accept thread panicked");
        }
        let deadline = Instant::now() + DRAIN;
        let mut conns = self.shared.lock();
        while !conns.open.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                log::warn!(
                    "{} HTTP connection(s) still busy after {DRAIN:?}; closing them",
                    conns.open.len()
                );
                for entry in conns.open.values() {
                    let _ = entry.stream.shutdown(Shutdown::Both);
                }
                break;
            }
            conns = self
                .shared
                .ended
                .wait_timeout(conns, left)
                .map_or_else(|e| e.into_inner().0, |(g, _)| g);
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Conns> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Marks a connection idle (waiting for a request) or busy. `false`: it must close now
    /// (shutdown has begun, or it was closed to make room).
    fn set_idle(&self, id: u64, idle: bool) -> bool {
        let mut conns = self.lock();
        if idle && conns.stopping {
            return false;
        }
        match conns.open.get_mut(&id) {
            Some(entry) => {
                entry.idle_since = idle.then(Instant::now);
                true
            }
            None => false,
        }
    }

    fn ended(&self, id: u64) {
        self.lock().open.remove(&id);
        self.ended.notify_all();
    }
}

/// Accepts connections until shutdown. Errors never end the loop: running out of file
/// descriptors or memory makes it wait (10 ms, doubling up to 250 ms) and try again, so it
/// serves again as soon as connections close.
fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, closing: &SyncSender<TcpStream>) {
    let mut backoff = Backoff::default();
    loop {
        let accepted = listener.accept();
        if shared.stopping() {
            if let Ok((stream, _)) = accepted {
                refuse_fast(shared, stream, &Refusal::ShuttingDown, closing);
            }
            drain_backlog(listener, shared, closing);
            return;
        }
        match accepted {
            Ok((stream, _)) => {
                backoff.succeeded();
                admit(shared, stream, closing);
            }
            Err(e) => backoff.failed(&e),
        }
    }
}

/// Connections already queued on the listener at shutdown get a 503.
fn drain_backlog(listener: &TcpListener, shared: &Arc<Shared>, closing: &SyncSender<TcpStream>) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    while let Ok((stream, _)) = listener.accept() {
        refuse_fast(shared, stream, &Refusal::ShuttingDown, closing);
    }
}

/// Gives a new connection its thread, making room at the cap by closing the connection idle
/// the longest; with none idle, the newcomer gets a 503.
fn admit(shared: &Arc<Shared>, stream: TcpStream, closing: &SyncSender<TcpStream>) {
    let _ = stream.set_nodelay(true);
    let stream = Arc::new(stream);
    let id = {
        let mut conns = shared.lock();
        if conns.open.len() >= shared.limits.max_connections {
            let oldest = conns
                .open
                .iter()
                .filter_map(|(id, e)| e.idle_since.map(|since| (since, *id)))
                .filter(|(since, _)| since.elapsed() >= EVICTABLE_AFTER)
                .min();
            match oldest {
                Some((_, id)) => {
                    if let Some(entry) = conns.open.remove(&id) {
                        let _ = entry.stream.shutdown(Shutdown::Both);
                    }
                }
                None => {
                    conns.refused += 1;
                    let due = conns
                        .refused_logged_at
                        .is_none_or(|at| at.elapsed() >= Duration::from_secs(1));
                    if due {
                        log::warn!(
                            "{} connection(s) refused: all {} connection slots ([server] max_connections) are busy",
                            conns.refused,
                            shared.limits.max_connections
                        );
                        conns.refused = 0;
                        conns.refused_logged_at = Some(Instant::now());
                    }
                    drop(conns);
                    if let Ok(stream) = Arc::try_unwrap(stream) {
                        refuse_fast(shared, stream, &Refusal::TooManyConnections, closing);
                    }
                    return;
                }
            }
        }
        conns.next_id += 1;
        let id = conns.next_id;
        conns.open.insert(
            id,
            Entry {
                stream: stream.clone(),
                idle_since: Some(Instant::now()),
            },
        );
        id
    };
    let spawned = {
        let (shared, stream) = (shared.clone(), stream.clone());
        std::thread::Builder::new()
            .name("http-conn".into())
            .spawn(move || connection::run(&shared, id, &stream))
    };
    if let Err(e) = spawned {
        log::warn!("cannot start a thread for a connection: {e}");
        shared.ended(id);
        if let Ok(stream) = Arc::try_unwrap(stream) {
            refuse_fast(shared, stream, &Refusal::TooManyConnections, closing);
        }
    }
}

/// Answers a connection from the accept thread without waiting for anything: writes a small
/// response and hands the connection to the closing thread.
fn refuse_fast(
    shared: &Shared,
    stream: TcpStream,
    refusal: &Refusal,
    closing: &SyncSender<TcpStream>,
) {
    let response = shared.service.refuse(Refused {
        refusal,
        head: None,
        started: None,
    });
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let mut out = Vec::new();
    connection::write_head(&mut out, &response, true, connection::body_len(&response));
    if let Payload::Bytes(bytes) = &response.body {
        out.extend_from_slice(bytes);
    }
    // A fresh socket's buffer takes these few hundred bytes at once.
    let _ = (&stream).write_all(&out);
    let _ = stream.shutdown(Shutdown::Write);
    // Closed at once when the closing thread is full: a reset, which the issue allows.
    let _ = closing.try_send(stream);
}

/// The closing thread: refused connections are kept (at most [`CLOSING`], each at most a
/// second) while their input is read and dropped, until the client closes. Closing a socket
/// with unread input makes the kernel send a reset, which can destroy the 503 before the client
/// has read it.
fn close_gently(incoming: &Receiver<TcpStream>) {
    let mut pending: Vec<(TcpStream, Instant)> = Vec::new();
    let mut scratch = [0u8; 4096];
    loop {
        let next = if pending.is_empty() {
            incoming.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            incoming.recv_timeout(Duration::from_millis(10))
        };
        match next {
            Ok(stream) => pending.push((stream, Instant::now())),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) if pending.is_empty() => return,
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_millis(10)),
        }
        pending.retain(|(stream, since)| {
            loop {
                match (&*stream).read(&mut scratch) {
                    Ok(0) => return false,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => return false,
                }
            }
            since.elapsed() < Duration::from_secs(1)
        });
    }
}

/// The accept loop's wait after errors.
#[derive(Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_millis(250);

    fn failed(&mut self, e: &io::Error) {
        // Errors of one pending connection (it was reset, or the network went away) say
        // nothing about the listener: take the next one at once.
        if matches!(
            e.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::Interrupted
                | io::ErrorKind::WouldBlock
        ) {
            return;
        }
        if self.failures == 0 {
            log::warn!(
                "accepting connections failed ({e}); retrying until it works again{}",
                if exhausted(e) {
                    ": out of file descriptors or memory, see LimitNOFILE and [server] max_connections"
                } else {
                    ""
                }
            );
        }
        self.failures = self.failures.saturating_add(1);
        let wait = Self::FIRST
            .saturating_mul(1 << (self.failures - 1).min(5))
            .min(Self::MAX);
        std::thread::sleep(wait);
    }

    fn succeeded(&mut self) {
        if self.failures > 0 {
            log::info!(
                "accepting connections again after {} failed attempt(s)",
                self.failures
            );
            self.failures = 0;
        }
    }
}

/// EMFILE, ENFILE, ENOBUFS, ENOMEM (Linux numbers).
fn exhausted(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(24 | 23 | 105 | 12))
}

#[cfg(test)]
mod tests;
