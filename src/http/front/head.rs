//! A request's head: parsed by httparse from the bytes received so far, then read for what the
//! front needs (framing of the body, keep-alive, `Expect`). Pure functions, unit-tested.

use super::Refusal;

/// Most header lines a request may have; more is a 431, like a head larger than the cap.
const MAX_HEADERS: usize = 100;

/// A request line and its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub method: String,
    /// The request target as sent (path and query, not decoded).
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Names in lower case, values as sent.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    None,
    Length(u64),
    Chunked,
}

/// Whether `new` (the bytes just appended to a buffer that ends with them) may complete a head:
/// only then is the buffer parsed again, so a head sent a byte at a time costs little.
pub(super) fn may_complete(new: &[u8]) -> bool {
    new.contains(&b'\n')
}

/// Parses a complete head at the start of `buf`: `Ok(None)` while it is incomplete, else the
/// head and its length in bytes. Errors are the answers to send (400, 431, 505).
pub(super) fn parse(buf: &[u8]) -> Result<Option<(Head, usize)>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refusal::HeadTooLarge(format!(
                "a request may have at most {MAX_HEADERS} header lines"
            )));
        }
        Err(httparse::Error::Version) => return Err(Refusal::VersionNotSupported),
        Err(e) => return Err(Refusal::Malformed(format!("malformed request head: {e}"))),
    };
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Err(Refusal::Malformed("malformed request line".into()));
    };
    let head = Head {
        method: method.to_owned(),
        target: target.to_owned(),
        minor_version,
        headers: req
            .headers
            .iter()
            .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
            .collect(),
    };
    Ok(Some((head, len)))
}

impl Head {
    /// The first value of a header, if it is UTF-8 (names are matched case-insensitively).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.values(name)
            .next()
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::trim)
    }

    fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(move |(n, _)| *n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The comma-separated tokens of every occurrence of a header, trimmed and lower case.
    fn tokens(&self, name: &str) -> Vec<String> {
        self.values(name)
            .flat_map(|v| {
                String::from_utf8_lossy(v)
                    .split(',')
                    .map(|t| t.trim().to_ascii_lowercase())
                    .collect::<Vec<_>>()
            })
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// How the body is delimited. Both `Content-Length` and `Transfer-Encoding`, lengths that
    /// disagree or are not plain numbers, and codings other than `chunked` are refused: each is
    /// a way to smuggle one request inside another past a proxy.
    pub(crate) fn framing(&self) -> Result<Framing, Refusal> {
        let codings = self.tokens("transfer-encoding");
        let lengths: Vec<&[u8]> = self.values("content-length").collect();
        if !codings.is_empty() {
            if !lengths.is_empty() {
                return Err(Refusal::Malformed(
                    "a request may not have both Content-Length and Transfer-Encoding".into(),
                ));
            }
            if self.minor_version == 0 {
                return Err(Refusal::Malformed(
                    "Transfer-Encoding is not allowed in HTTP/1.0".into(),
                ));
            }
            if codings != ["chunked"] {
                return Err(Refusal::NotImplemented(
                    "the only Transfer-Encoding accepted is chunked".into(),
                ));
            }
            return Ok(Framing::Chunked);
        }
        let mut length = None;
        for value in lengths {
            // Several values in one header ("5, 5") count as several headers.
            for part in value.split(|b| *b == b',') {
                let part = part.trim_ascii();
                let n = (!part.is_empty()
                    && part.len() <= 20
                    && part.iter().all(u8::is_ascii_digit))
                .then(|| std::str::from_utf8(part).ok()?.parse::<u64>().ok())
                .flatten()
                .ok_or_else(|| {
                    Refusal::Malformed("Content-Length must be a whole number of bytes".into())
                })?;
                if length.is_some_and(|l| l != n) {
                    return Err(Refusal::Malformed(
                        "the request has two different Content-Length values".into(),
                    ));
                }
                length = Some(n);
            }
        }
        Ok(match length {
            None | Some(0) => Framing::None,
            Some(n) => Framing::Length(n),
        })
    }

    /// Whether the client asks to keep the connection open after this request.
    pub(crate) fn keep_alive(&self) -> bool {
        let tokens = self.tokens("connection");
        if tokens.iter().any(|t| t == "close") {
            return false;
        }
        // HTTP/1.0 closes unless asked; exportd does not keep those (it would have to say so).
        self.minor_version >= 1
    }

    /// Whether the client waits for `100 Continue` before sending the body; any expectation
    /// other than that one is a 417.
    pub(crate) fn expects_continue(&self) -> Result<bool, Refusal> {
        let tokens = self.tokens("expect");
        match tokens.as_slice() {
            [] => Ok(false),
            [t] if t == "100-continue" => Ok(self.minor_version >= 1),
            _ => Err(Refusal::ExpectationFailed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        match parse(text.as_bytes()) {
            Ok(Some((h, len))) => {
                assert_eq!(len, text.len());
                h
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }

    #[test]
    fn parses_a_head_only_once_it_is_complete() {
        let text = "POST /v1/events?x=1 HTTP/1.1\r\nHost: a\r\nX-Api-Key: k\r\nContent-Length: 5\r\n\r\nhello";
        for cut in 0..text.len() - 5 {
            assert_eq!(parse(&text.as_bytes()[..cut]), Ok(None), "cut at {cut}");
        }
        let (h, len) = parse(text.as_bytes()).unwrap().unwrap();
        assert_eq!(len, text.len() - 5, "the body is not part of the head");
        assert_eq!(
            (h.method.as_str(), h.target.as_str()),
            ("POST", "/v1/events?x=1")
        );
        assert_eq!(h.header("x-api-key"), Some("k"));
        assert_eq!(h.header("X-API-KEY"), Some("k"));
        assert_eq!(h.framing(), Ok(Framing::Length(5)));
        assert!(h.keep_alive());
        // Bare line feeds are accepted.
        assert_eq!(head("GET / HTTP/1.0\nHost: a\n\n").minor_version, 0);
    }

    #[test]
    fn malformed_heads_are_refused_with_the_right_status() {
        let status = |text: &str| parse(text.as_bytes()).err().map(|r| r.status());
        assert_eq!(status("GET / HTTP/2.0\r\n\r\n"), Some(505));
        assert_eq!(status("GET / HTTP/1.1\r\nbad header\r\n\r\n"), Some(400));
        assert_eq!(status("G(T / HTTP/1.1\r\n\r\n"), Some(400));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("h{i}: v\r\n")).collect();
        assert_eq!(status(&format!("GET / HTTP/1.1\r\n{many}\r\n")), Some(431));
        // Too many lines is known before the head is complete.
        assert_eq!(status(&format!("GET / HTTP/1.1\r\n{many}")), Some(431));
    }

    #[test]
    fn framing_refuses_every_ambiguous_length() {
        let framing = |headers: &str| head(&format!("POST / HTTP/1.1\r\n{headers}\r\n")).framing();
        assert_eq!(framing(""), Ok(Framing::None));
        assert_eq!(framing("Content-Length: 0\r\n"), Ok(Framing::None));
        assert_eq!(
            framing("Content-Length: 12\r\nContent-Length: 12\r\n"),
            Ok(Framing::Length(12))
        );
        assert_eq!(framing("Content-Length: 7, 7\r\n"), Ok(Framing::Length(7)));
        assert_eq!(
            framing("Content-Length: 18446744073709551615\r\n"),
            Ok(Framing::Length(u64::MAX))
        );
        assert_eq!(
            framing("Transfer-Encoding: Chunked\r\n"),
            Ok(Framing::Chunked)
        );
        for bad in [
            "Content-Length: 18446744073709551616\r\n",
            "Content-Length: -1\r\n",
            "Content-Length: +5\r\n",
            "Content-Length: 0x10\r\n",
            "Content-Length: \r\n",
            "Content-Length: 5\r\nContent-Length: 6\r\n",
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        ] {
            assert_eq!(framing(bad).map_err(|r| r.status()), Err(400), "{bad:?}");
        }
        for unsupported in [
            "Transfer-Encoding: gzip\r\n",
            "Transfer-Encoding: gzip, chunked\r\n",
        ] {
            assert_eq!(framing(unsupported).map_err(|r| r.status()), Err(501));
        }
        let old = head("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(old.framing().map_err(|r| r.status()), Err(400));
    }

    #[test]
    fn keep_alive_and_expect() {
        let h = |headers: &str| head(&format!("GET / HTTP/1.1\r\n{headers}\r\n"));
        assert!(!h("Connection: close\r\n").keep_alive());
        assert!(!h("Connection: Keep-Alive, Close\r\n").keep_alive());
        assert!(!head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive());
        assert_eq!(h("Expect: 100-Continue\r\n").expects_continue(), Ok(true));
        assert_eq!(h("").expects_continue(), Ok(false));
        assert_eq!(
            h("Expect: something\r\n")
                .expects_continue()
                .map_err(|r| r.status()),
            Err(417)
        );
        assert_eq!(
            head("GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expects_continue(),
            Ok(false),
            "HTTP/1.0 clients do not wait for 100"
        );
    }
}
