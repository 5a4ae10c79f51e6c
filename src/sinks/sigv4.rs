//! AWS Signature Version 4 for the requests that create objects (PUT and
//! CreateMultipartUpload). exportd signs these itself because rust-s3 0.38 sorts canonical
//! headers as whole `name:value` lines instead of by name: with both
//! `x-amz-server-side-encryption` and `x-amz-server-side-encryption-aws-kms-key-id` present
//! (a KMS key id), its canonical request disagrees with its SignedHeaders and any correct
//! server (AWS, SeaweedFS) answers SignatureDoesNotMatch.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use url::Url;

use crate::secrets::to_hex;

/// SigV4's URI encoding: every byte except the unreserved `A-Z a-z 0-9 - _ . ~` becomes %XX;
/// `/` is kept when `keep_slash` (object keys in paths).
pub fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn sha256_hex(data: &[u8]) -> String {
    to_hex(&Sha256::digest(data))
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The `Host` header an HTTP client sends for `url` (port only when not the scheme's default).
pub fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// Who signs and for which region.
pub struct Signer<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub session_token: Option<&'a str>,
    pub region: &'a str,
}

impl Signer<'_> {
    /// The headers to send: `headers` (lower-case names) plus host, x-amz-date,
    /// x-amz-content-sha256, the session token if any, and `authorization`.
    /// `time` is `YYYYMMDDTHHMMSSZ`.
    pub fn sign(
        &self,
        method: &str,
        url: &Url,
        headers: &[(&str, String)],
        payload_sha256: &str,
        time: &str,
    ) -> Vec<(String, String)> {
        let date = &time[..8];
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        all.push(("host".into(), host_header(url)));
        all.push(("x-amz-date".into(), time.to_owned()));
        all.push(("x-amz-content-sha256".into(), payload_sha256.to_owned()));
        if let Some(token) = self.session_token {
            all.push(("x-amz-security-token".into(), token.to_owned()));
        }
        // By name: the rule rust-s3 gets wrong.
        all.sort_by(|a, b| a.0.cmp(&b.0));

        let mut query: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (uri_encode(&k, false), uri_encode(&v, false)))
            .collect();
        query.sort();
        let canonical_query = query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let canonical_headers: String = all.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let signed_headers = all
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let canonical_request = format!(
            "{method}\n{}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_sha256}",
            url.path()
        );
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{time}\n{scope}\n{}",
            sha256_hex(canonical_request.as_bytes())
        );
        let mut key = hmac(format!("AWS4{}", self.secret_key).as_bytes(), date);
        for part in [self.region, "s3", "aws4_request"] {
            key = hmac(&key, part);
        }
        let signature = to_hex(&hmac(&key, &string_to_sign));
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            self.access_key
        );
        all.retain(|(k, _)| k != "host");
        all.push(("authorization".into(), authorization));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorization(headers: &[(String, String)]) -> &str {
        let (_, value) = headers.iter().find(|(k, _)| k == "authorization").unwrap();
        value
    }

    /// The GET example of AWS's "Signature Calculations for the Authorization Header:
    /// Transferring Payload in a Single Chunk" (S3 API reference).
    #[test]
    fn matches_the_aws_documentation_example() {
        let signer = Signer {
            access_key: "AKIAIOSFODNN7EXAMPLE",
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            session_token: None,
            region: "us-east-1",
        };
        let url = Url::parse("https://examplebucket.s3.amazonaws.com/test.txt").unwrap();
        let headers = signer.sign(
            "GET",
            &url,
            &[("range", "bytes=0-9".into())],
            &sha256_hex(b""),
            "20130524T000000Z",
        );
        let auth = authorization(&headers);
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn sorts_headers_by_name_even_when_one_name_prefixes_another() {
        let signer = Signer {
            access_key: "A",
            secret_key: "S",
            session_token: Some("T"),
            region: "r",
        };
        let url = Url::parse("http://127.0.0.1:9000/b/k?uploads").unwrap();
        let headers = signer.sign(
            "POST",
            &url,
            &[
                (
                    "x-amz-server-side-encryption-aws-kms-key-id",
                    "alias/k".into(),
                ),
                ("x-amz-server-side-encryption", "aws:kms".into()),
            ],
            &sha256_hex(b""),
            "20250101T000000Z",
        );
        let auth = authorization(&headers);
        assert!(auth.contains(
            "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-amz-server-side-encryption;x-amz-server-side-encryption-aws-kms-key-id,"
        ), "{auth}");
        assert!(
            headers.iter().all(|(k, _)| k != "host"),
            "the client sets Host itself"
        );
    }

    #[test]
    fn encodes_like_sigv4() {
        assert_eq!(uri_encode("a b/c+d~e_f.g-h", true), "a%20b/c%2Bd~e_f.g-h");
        assert_eq!(uri_encode("a/b", false), "a%2Fb");
        assert_eq!(uri_encode("ü", true), "%C3%BC");
        assert_eq!(
            host_header(&Url::parse("https://s3.amazonaws.com/x").unwrap()),
            "s3.amazonaws.com"
        );
        assert_eq!(
            host_header(&Url::parse("http://127.0.0.1:8333/x").unwrap()),
            "127.0.0.1:8333"
        );
    }
}
