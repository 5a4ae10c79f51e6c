//! Reading from a connection against deadlines, and a request's body: by `Content-Length` or
//! chunked, never past the caller's limit, and never into memory the client only announced.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::Refusal;
use super::head::{self, Framing, Head};

/// Bytes asked of the socket at a time.
const READ_CHUNK: usize = 16 * 1024;
/// Longest chunk-size line (with extensions) and longest trailer section of a chunked body.
const MAX_CHUNK_LINE: usize = 4096;
const MAX_TRAILERS: usize = 16 * 1024;
/// An unread body this small is read and dropped so that the connection can be kept.
pub(super) const DRAIN_SMALL: u64 = 64 * 1024;

/// A connection's input: bytes received and not yet consumed.
pub(crate) struct Conn<'s> {
    stream: &'s TcpStream,
    buf: Vec<u8>,
    start: usize,
}

/// Why reading a head gave no head.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// The client closed, reset, or sent nothing before the deadline: nobody to answer.
    Gone,
    /// Answer this, then close.
    Refused(Refusal),
}

impl<'s> Conn<'s> {
    pub(crate) fn new(stream: &'s TcpStream) -> Conn<'s> {
        Conn {
            stream,
            buf: Vec::new(),
            start: 0,
        }
    }

    pub(crate) fn stream(&self) -> &'s TcpStream {
        self.stream
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    pub(crate) fn has_buffered(&self) -> bool {
        self.start < self.buf.len()
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.buf.len());
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            // A big body must not keep its buffer for the life of the connection.
            if self.buf.capacity() > 4 * READ_CHUNK {
                self.buf.shrink_to(READ_CHUNK);
            }
        }
    }

    /// Receives more bytes before `deadline`: `Ok(0)` is the end of the stream, a timeout is
    /// `ErrorKind::TimedOut`.
    fn fill(&mut self, deadline: Instant) -> io::Result<usize> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + READ_CHUNK, 0);
        let read = (&*self.stream).read(&mut self.buf[old..]);
        let n = *read.as_ref().unwrap_or(&0);
        self.buf.truncate(old + n);
        read.map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock => io::ErrorKind::TimedOut.into(),
            _ => e,
        })
    }

    /// Waits until a byte arrives (`true`) or the client leaves or `deadline` passes (`false`).
    pub(crate) fn wait_for_data(&mut self, deadline: Instant) -> bool {
        self.has_buffered() || matches!(self.fill(deadline), Ok(n) if n > 0)
    }

    /// Reads one request head of at most `max_bytes` before `deadline`.
    pub(crate) fn read_head(
        &mut self,
        deadline: Instant,
        max_bytes: usize,
    ) -> Result<Head, HeadError> {
        let mut parse_now = self.has_buffered();
        loop {
            if parse_now {
                match head::parse(self.buffered()) {
                    Ok(Some((head, len))) if len <= max_bytes => {
                        self.consume(len);
                        return Ok(head);
                    }
                    Ok(Some(_)) => return Err(HeadError::Refused(too_large(max_bytes))),
                    Ok(None) => {}
                    Err(refusal) => return Err(HeadError::Refused(refusal)),
                }
            }
            if self.buffered().len() > max_bytes {
                return Err(HeadError::Refused(too_large(max_bytes)));
            }
            let before = self.buf.len();
            match self.fill(deadline) {
                Ok(0) => return Err(HeadError::Gone),
                Ok(_) => parse_now = head::may_complete(&self.buf[before..]),
                Err(e) if e.kind() == io::ErrorKind::TimedOut && self.has_buffered() => {
                    return Err(HeadError::Refused(Refusal::Timeout("request head")));
                }
                Err(_) => return Err(HeadError::Gone),
            }
        }
    }

    /// Receives more body bytes before `deadline`; the end of the stream is an error here.
    fn more(&mut self, deadline: Instant) -> Result<(), Refusal> {
        match self.fill(deadline) {
            Ok(0) => Err(Refusal::Malformed("the request body ended early".into())),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(Refusal::Timeout("request body")),
            Err(_) => Err(Refusal::Malformed(
                "the request body could not be read".into(),
            )),
        }
    }

    /// Moves up to `n` bytes into `out` (or drops them), receiving more if none are buffered;
    /// returns how many.
    fn take(
        &mut self,
        n: usize,
        out: Option<&mut Vec<u8>>,
        deadline: Instant,
    ) -> Result<usize, Refusal> {
        if !self.has_buffered() {
            self.more(deadline)?;
        }
        let n = n.min(self.buffered().len());
        if let Some(out) = out {
            out.extend_from_slice(&self.buffered()[..n]);
        }
        self.consume(n);
        Ok(n)
    }
}

fn too_large(max_bytes: usize) -> Refusal {
    Refusal::HeadTooLarge(format!(
        "the request line and headers are larger than the limit of {max_bytes} bytes"
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not read (yet).
    Unread,
    /// Read whole.
    Done,
    /// Read in part, refused or broken: the connection cannot carry another request.
    Broken,
}

/// One request: its head and a way to read its body.
pub(crate) struct Request<'c, 's> {
    pub head: Head,
    /// When the head was complete.
    pub started: Instant,
    conn: &'c mut Conn<'s>,
    framing: Framing,
    state: State,
    expects_continue: bool,
    body_timeout: Duration,
}

impl<'c, 's> Request<'c, 's> {
    pub(crate) fn new(
        head: Head,
        conn: &'c mut Conn<'s>,
        framing: Framing,
        expects_continue: bool,
        body_timeout: Duration,
    ) -> Request<'c, 's> {
        let state = if framing == Framing::None {
            State::Done
        } else {
            State::Unread
        };
        Request {
            head,
            started: Instant::now(),
            conn,
            framing,
            state,
            expects_continue,
            body_timeout,
        }
    }

    pub(crate) fn method(&self) -> &str {
        &self.head.method
    }

    pub(crate) fn target(&self) -> &str {
        &self.head.target
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    /// Reads the whole body, refusing it (413) as soon as it is known to be longer than
    /// `limit`: at once when the declared length says so, otherwise at the first byte past it.
    /// The body must arrive within the body deadline (408 otherwise).
    pub(crate) fn read_body(&mut self, limit: u64) -> Result<Vec<u8>, Refusal> {
        match (self.state, self.framing) {
            (State::Done, Framing::None) => return Ok(Vec::new()),
            (State::Unread, _) => {}
            _ => {
                return Err(Refusal::Malformed(
                    "the request body was already read".into(),
                ));
            }
        }
        if let Framing::Length(n) = self.framing
            && n > limit
        {
            return Err(Refusal::TooLarge(limit));
        }
        self.state = State::Broken;
        if self.expects_continue {
            self.expects_continue = false;
            let stream = self.conn.stream();
            stream
                .set_write_timeout(Some(self.body_timeout))
                .and_then(|()| (&*stream).write_all(b"HTTP/1.1 100 Continue\r\n\r\n"))
                .map_err(|_| Refusal::Malformed("the connection failed".into()))?;
        }
        let deadline = Instant::now() + self.body_timeout;
        let body = match self.framing {
            Framing::None => Vec::new(),
            Framing::Length(n) => self.read_exact(n, deadline)?,
            Framing::Chunked => self.read_chunked(limit, deadline)?,
        };
        self.state = State::Done;
        Ok(body)
    }

    fn read_exact(&mut self, n: u64, deadline: Instant) -> Result<Vec<u8>, Refusal> {
        // Grown as bytes arrive: a declared length is a promise, not an allocation.
        let mut body = Vec::with_capacity(n.min(READ_CHUNK as u64) as usize);
        while (body.len() as u64) < n {
            let want = (n - body.len() as u64).min(READ_CHUNK as u64) as usize;
            self.conn.take(want, Some(&mut body), deadline)?;
        }
        Ok(body)
    }

    fn read_chunked(&mut self, limit: u64, deadline: Instant) -> Result<Vec<u8>, Refusal> {
        let mut body = Vec::new();
        loop {
            let size = self.chunk_size(deadline)?;
            if size == 0 {
                self.skip_trailers(deadline)?;
                return Ok(body);
            }
            if (body.len() as u64).saturating_add(size) > limit {
                return Err(Refusal::TooLarge(limit));
            }
            let mut left = size as usize;
            while left > 0 {
                left -= self.conn.take(left, Some(&mut body), deadline)?;
            }
            self.expect_line_end(deadline)?;
        }
    }

    /// Makes sure a whole line (of at most `max` bytes) is buffered.
    fn buffer_line(&mut self, max: usize, deadline: Instant) -> Result<(), Refusal> {
        while !self.conn.buffered().contains(&b'\n') {
            if self.conn.buffered().len() > max {
                return Err(Refusal::Malformed(
                    "a chunk line of the request body is too long".into(),
                ));
            }
            self.conn.more(deadline)?;
        }
        Ok(())
    }

    fn chunk_size(&mut self, deadline: Instant) -> Result<u64, Refusal> {
        self.buffer_line(MAX_CHUNK_LINE, deadline)?;
        match httparse::parse_chunk_size(self.conn.buffered()) {
            Ok(httparse::Status::Complete((used, size))) => {
                self.conn.consume(used);
                Ok(size)
            }
            _ => Err(Refusal::Malformed(
                "malformed chunk size in the request body".into(),
            )),
        }
    }

    fn expect_line_end(&mut self, deadline: Instant) -> Result<(), Refusal> {
        self.buffer_line(2, deadline)?;
        let ending = self.conn.buffered();
        let used = if ending.starts_with(b"\r\n") {
            2
        } else if ending.starts_with(b"\n") {
            1
        } else {
            return Err(Refusal::Malformed(
                "a chunk of the request body is longer than its size".into(),
            ));
        };
        self.conn.consume(used);
        Ok(())
    }

    fn skip_trailers(&mut self, deadline: Instant) -> Result<(), Refusal> {
        let mut seen = 0;
        loop {
            self.buffer_line(MAX_TRAILERS - seen.min(MAX_TRAILERS), deadline)?;
            let line = self.conn.buffered();
            let end = line
                .iter()
                .position(|b| *b == b'\n')
                .map_or(line.len(), |i| i + 1);
            let empty = line[..end].iter().all(|b| *b == b'\r' || *b == b'\n');
            self.conn.consume(end);
            seen += end;
            if empty {
                return Ok(());
            }
            if seen > MAX_TRAILERS {
                return Err(Refusal::Malformed(
                    "the request body's trailers are too long".into(),
                ));
            }
        }
    }

    /// After the handler: whether the connection can carry another request. A body nobody read
    /// is read and dropped if it is declared small, so a client answered (say) 401 keeps its
    /// connection; otherwise the connection closes without reading it.
    pub(crate) fn finish(&mut self) -> bool {
        match (self.state, self.framing) {
            (State::Done, _) => true,
            (State::Unread, Framing::Length(n)) if n <= DRAIN_SMALL && !self.expects_continue => {
                let deadline = Instant::now() + self.body_timeout;
                let mut left = n as usize;
                while left > 0 {
                    match self.conn.take(left, None, deadline) {
                        Ok(taken) => left -= taken,
                        Err(_) => return false,
                    }
                }
                self.state = State::Done;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A connected pair: what the client writes, the server side reads.
    fn pair(client_sends: &'static [u8]) -> (TcpStream, std::thread::JoinHandle<TcpStream>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(client_sends).unwrap();
            c
        });
        let (server, _) = listener.accept().unwrap();
        (server, client)
    }

    fn body_of(sent: &'static [u8], limit: u64) -> (Result<Vec<u8>, Refusal>, bool) {
        let (server, client) = pair(sent);
        let mut conn = Conn::new(&server);
        let soon = Instant::now() + Duration::from_secs(5);
        let head = conn.read_head(soon, 8192).unwrap();
        let framing = head.framing().unwrap();
        let mut req = Request::new(head, &mut conn, framing, false, Duration::from_millis(300));
        let body = req.read_body(limit);
        let reusable = req.finish();
        drop(client.join());
        (body, reusable)
    }

    #[test]
    fn bodies_by_length_and_chunked() {
        let (b, ok) = body_of(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET", 100);
        assert_eq!((b.unwrap(), ok), (b"hello".to_vec(), true));
        let (b, ok) = body_of(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
            100,
        );
        assert_eq!((b.unwrap(), ok), (b"hello world".to_vec(), true));
    }

    #[test]
    fn bodies_past_the_limit_or_late_or_malformed_are_refused() {
        let status = |sent: &'static [u8], limit| body_of(sent, limit).0.map_err(|r| r.status());
        assert_eq!(
            status(
                b"POST / HTTP/1.1\r\nContent-Length: 99999999999999\r\n\r\n",
                10
            ),
            Err(413)
        );
        assert_eq!(status(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 8), Err(413));
        assert_eq!(
            status(
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
                8
            ),
            Err(413)
        );
        // Announced but never sent: the body deadline answers, no matter what was promised.
        assert_eq!(
            status(
                b"POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\nabc",
                1 << 20
            ),
            Err(408)
        );
        assert_eq!(
            status(
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                100
            ),
            Err(400)
        );
        assert_eq!(
            status(
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
                100
            ),
            Err(400)
        );
    }

    #[test]
    fn a_small_unread_body_is_dropped_and_a_big_one_closes_the_connection() {
        let (server, client) =
            pair(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n");
        let mut conn = Conn::new(&server);
        let soon = Instant::now() + Duration::from_secs(5);
        let head = conn.read_head(soon, 8192).unwrap();
        let framing = head.framing().unwrap();
        let mut req = Request::new(head, &mut conn, framing, false, Duration::from_secs(1));
        assert!(req.finish(), "three bytes are read and dropped");
        let next = conn.read_head(soon, 8192).unwrap();
        assert_eq!(
            next.method, "GET",
            "the next request follows on the connection"
        );
        drop(client.join());

        let (server, client) = pair(b"POST / HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n");
        let mut conn = Conn::new(&server);
        let head = conn.read_head(soon, 8192).unwrap();
        let framing = head.framing().unwrap();
        let mut req = Request::new(head, &mut conn, framing, false, Duration::from_secs(1));
        let started = Instant::now();
        assert!(!req.finish(), "a big unread body is not read");
        assert!(started.elapsed() < Duration::from_millis(500));
        drop(client.join());
    }

    #[test]
    fn heads_past_the_cap_or_the_deadline_are_refused() {
        let (server, client) = pair(b"GET / HTTP/1.1\r\nX-Big: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n");
        let mut conn = Conn::new(&server);
        let soon = Instant::now() + Duration::from_secs(5);
        match conn.read_head(soon, 64) {
            Err(HeadError::Refused(r)) => assert_eq!(r.status(), 431),
            other => panic!("{other:?}"),
        }
        let _c = client.join();
        let (server, client) = pair(b"GET / HTTP/1.1\r\nHost: a\r\n");
        let mut conn = Conn::new(&server);
        match conn.read_head(Instant::now() + Duration::from_millis(200), 8192) {
            Err(HeadError::Refused(r)) => assert_eq!(r.status(), 408),
            other => panic!("{other:?}"),
        }
        let _c = client.join();
        let (server, client) = pair(b"");
        let mut conn = Conn::new(&server);
        assert!(
            matches!(
                conn.read_head(Instant::now() + Duration::from_millis(200), 8192),
                Err(HeadError::Gone)
            ),
            "a connection that sent nothing is closed without an answer"
        );
        drop(client.join());
    }
}
