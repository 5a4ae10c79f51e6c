//! One connection's life on its thread: wait for a request (idle deadline), read its head
//! (head deadline), hand it to the service, write the answer, and go round again while the
//! connection can be kept.

use std::io::{self, BufWriter, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use super::body::{Conn, HeadError, Request};
use super::head::{Framing, Head};
use super::{Payload, Refusal, Refused, Response, Shared};

/// After an answer that closes a connection whose request was not read whole: how long and how
/// much more input is read and dropped so that the close does not reset the answer away.
const LINGER_TIME: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1 << 20;

pub(super) fn run(shared: &Shared, id: u64, stream: &TcpStream) {
    let outcome = catch_unwind(AssertUnwindSafe(|| serve(shared, id, stream)));
    if outcome.is_err() {
        log::error!("an HTTP connection panicked outside a handler; it was closed");
    }
    let _ = stream.shutdown(Shutdown::Both);
    shared.ended(id);
}

fn serve(shared: &Shared, id: u64, stream: &TcpStream) {
    let limits = &shared.limits;
    let mut conn = Conn::new(stream);
    let accepted = Instant::now();
    let mut first = true;
    loop {
        // A new connection has header_timeout to send its first request; a kept one may wait
        // idle_timeout for the next.
        let idle_until = if first {
            accepted + limits.header_timeout
        } else {
            Instant::now() + limits.idle_timeout
        };
        if !shared.set_idle(id, true) || !conn.wait_for_data(idle_until) {
            return;
        }
        if !shared.set_idle(id, false) {
            return;
        }
        let head_until = if first {
            accepted + limits.header_timeout
        } else {
            Instant::now() + limits.header_timeout
        };
        first = false;
        let started = Instant::now();
        let head = match conn.read_head(head_until, limits.max_header_bytes) {
            Ok(head) => head,
            Err(HeadError::Gone) => return,
            Err(HeadError::Refused(refusal)) => {
                let answer = shared.service.refuse(Refused {
                    refusal: &refusal,
                    head: None,
                    started: Some(started),
                });
                let _ = write_response(stream, answer, false, true, limits.body_timeout);
                linger(&mut conn);
                return;
            }
        };
        match exchange(shared, &mut conn, head, started) {
            Next::KeepGoing => {}
            Next::Close => return,
            Next::Linger => {
                linger(&mut conn);
                return;
            }
        }
    }
}

enum Next {
    KeepGoing,
    Close,
    /// Close after reading (and dropping) a little more input.
    Linger,
}

/// One request and its answer.
fn exchange(shared: &Shared, conn: &mut Conn<'_>, head: Head, started: Instant) -> Next {
    let limits = &shared.limits;
    let stream = conn.stream();
    let head_only = head.method == "HEAD";
    let refuse = |refusal: &Refusal, head: &Head| {
        let answer = shared.service.refuse(Refused {
            refusal,
            head: Some(head),
            started: Some(started),
        });
        let _ = write_response(stream, answer, head_only, true, limits.body_timeout);
        Next::Linger
    };
    if shared.stopping() {
        return refuse(&Refusal::ShuttingDown, &head);
    }
    let framing = match head.framing() {
        Ok(framing) => framing,
        Err(refusal) => return refuse(&refusal, &head),
    };
    if let Framing::Length(n) = framing
        && n > limits.max_body_bytes
    {
        return refuse(&Refusal::TooLarge(limits.max_body_bytes), &head);
    }
    let expects_continue = match head.expects_continue() {
        Ok(expects) => expects,
        Err(refusal) => return refuse(&refusal, &head),
    };
    let keep_alive = head.keep_alive();
    let mut request = Request::new(head, conn, framing, expects_continue, limits.body_timeout);
    request.started = started;
    let answer = catch_unwind(AssertUnwindSafe(|| shared.service.serve(&mut request)))
        .unwrap_or_else(|_| {
            log::error!(
                "serving {} {:.120} panicked",
                request.method(),
                request.target()
            );
            shared.service.refuse(Refused {
                refusal: &Refusal::Panicked,
                head: Some(&request.head),
                started: Some(started),
            })
        });
    let reusable = request.finish();
    let close = !keep_alive || !reusable || shared.stopping();
    if write_response(stream, answer, head_only, close, limits.body_timeout).is_err() {
        return Next::Close;
    }
    match (close, reusable) {
        (false, _) => Next::KeepGoing,
        (true, true) => Next::Close,
        (true, false) => Next::Linger,
    }
}

/// The body's length as the `Content-Length` header states it.
pub(super) fn body_len(response: &Response) -> u64 {
    match &response.body {
        Payload::Bytes(b) => b.len() as u64,
        Payload::File { len, .. } => *len,
    }
}

/// The status line and headers. Header lines that would break the framing (CR or LF in them)
/// are left out.
pub(super) fn write_head(out: &mut Vec<u8>, response: &Response, close: bool, len: u64) {
    let status = response.status;
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
    let date = jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&jiff::Timestamp::now())
        .unwrap_or_default();
    out.extend_from_slice(format!("Date: {date}\r\n").as_bytes());
    for (name, value) in &response.headers {
        let clean = |s: &str| !s.bytes().any(|b| b == b'\r' || b == b'\n');
        if clean(name) && clean(value) {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
    }
    if !(status == 204 || status == 304 || (100..200).contains(&status)) {
        out.extend_from_slice(format!("Content-Length: {len}\r\n").as_bytes());
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes an answer; each write may wait for the client at most `stall`.
fn write_response(
    stream: &TcpStream,
    response: Response,
    head_only: bool,
    close: bool,
    stall: Duration,
) -> io::Result<()> {
    stream.set_write_timeout(Some(stall))?;
    let len = body_len(&response);
    let mut head = Vec::with_capacity(256);
    write_head(&mut head, &response, close, len);
    let mut out = BufWriter::with_capacity(64 * 1024, stream);
    out.write_all(&head)?;
    if !head_only && response.status != 204 && response.status != 304 {
        match response.body {
            Payload::Bytes(bytes) => out.write_all(&bytes)?,
            Payload::File { file, len } => {
                let copied = io::copy(&mut file.take(len), &mut out)?;
                if copied < len {
                    // The file shrank under us: the promised length cannot be kept.
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
        }
    }
    out.flush()?;
    if close {
        let _ = stream.shutdown(Shutdown::Write);
    }
    Ok(())
}

/// Reads and drops input for a short while after the answer, so that closing a connection with
/// unread input (which makes the kernel send a reset) does not destroy the answer before the
/// client has read it. Bounded in time and bytes: a body is never drained.
fn linger(conn: &mut Conn<'_>) {
    let stream = conn.stream();
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + LINGER_TIME;
    let mut scratch = [0u8; 16 * 1024];
    let mut dropped = 0;
    while dropped < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match (&*stream).read(&mut scratch) {
            Ok(0) | Err(_) => return,
            Ok(n) => dropped += n,
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}
