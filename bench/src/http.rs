//! A small keep-alive HTTP/1.1 client (the daemon always answers with Content-Length).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::{Value, json};

use crate::*;

pub(crate) struct Http {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
    request: Vec<u8>,
}

impl Http {
    pub(crate) fn new(addr: SocketAddr) -> Http {
        Http {
            addr,
            conn: None,
            request: Vec::with_capacity(1024),
        }
    }

    pub(crate) fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Res<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        let status = self.send(method, path, body, &mut out)?;
        Ok((status, out))
    }

    /// Sends one request with the bench key, reading the answer's body into `out`; retries
    /// once on a fresh connection when a kept-alive one was closed.
    pub(crate) fn send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        out: &mut Vec<u8>,
    ) -> Res<u16> {
        let fresh = self.conn.is_none();
        match self.try_send(method, path, body, out) {
            Ok(status) => Ok(status),
            Err(_) if !fresh => {
                self.conn = None;
                self.try_send(method, path, body, out)
                    .ctx(&format!("{method} {path}"))
            }
            Err(e) => {
                self.conn = None;
                Err(format!("{method} {path}: {e}"))
            }
        }
    }

    pub(crate) fn try_send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        out: &mut Vec<u8>,
    ) -> std::io::Result<u16> {
        if self.conn.is_none() {
            let s = TcpStream::connect(self.addr)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(600)))?;
            self.conn = Some(BufReader::with_capacity(64 * 1024, s));
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(std::io::Error::other("no connection"));
        };
        self.request.clear();
        let body = body.unwrap_or_default();
        let _ = write!(
            self.request,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nx-api-key: {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        let stream = conn.get_mut();
        if body.len() < 16 * 1024 {
            self.request.extend_from_slice(body);
            stream.write_all(&self.request)?;
        } else {
            stream.write_all(&self.request)?;
            stream.write_all(body)?;
        }
        let mut line = String::new();
        if conn.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut length = 0usize;
        let mut close = false;
        loop {
            line.clear();
            conn.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("connection")
                    && value.trim().eq_ignore_ascii_case("close")
                {
                    close = true;
                }
            }
        }
        out.clear();
        out.resize(length, 0);
        conn.read_exact(out)?;
        if close {
            self.conn = None;
        }
        Ok(status)
    }

    /// A JSON request that must answer `want`.
    pub(crate) fn json(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Value>,
        want: u16,
    ) -> Res<Value> {
        let bytes = body.map(|b| b.to_string().into_bytes());
        let (status, out) = self.request(method, path, bytes.as_deref())?;
        let text = String::from_utf8_lossy(&out);
        if status != want {
            return Err(format!("{method} {path}: HTTP {status} {text}"));
        }
        serde_json::from_slice(&out).ctx(&format!("{method} {path}: not JSON"))
    }

    /// POSTs `body` to `path`, which must answer 201; returns the new object's id.
    pub(crate) fn create(&mut self, path: &str, body: Value) -> Res<String> {
        id_of(&self.json("POST", path, Some(body), 201)?)
    }

    /// A connection to the managed (directory) destination; returns its id.
    pub(crate) fn managed_connection(&mut self) -> Res<String> {
        self.create(
            "/v1/connections",
            json!({"name": "bench directory", "provider_type": "s3",
                "sync_config": {"s3": {"is_flexprice_managed": true}}}),
        )
    }
}

pub(crate) fn id_of(v: &Value) -> Res<String> {
    v["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no id in {v}"))
}

pub(crate) fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}
