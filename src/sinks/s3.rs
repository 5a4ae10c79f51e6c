//! S3-compatible buckets. Objects that fit in one part go up as a single PUT; bigger ones as a
//! multipart upload started with the first full part. Encryption headers go only on the
//! request that creates the object (never on reads or parts). Those two creating requests and
//! the parts are signed by exportd ([`super::sigv4`]); completion, aborts, deletes and
//! presigned links go through rust-s3 in sync mode.

use std::time::Duration;

use s3::Bucket;
use s3::creds::Credentials;
use s3::error::S3Error;
use s3::region::Region;
use s3::serde_types::Part;

use url::Url;

pub(crate) use bucket_name::check_bucket_name;

use super::sigv4::{Signer, host_header, sha256_hex, uri_encode};
use super::{ObjectMeta, Upload};
use crate::connections::S3Credentials;
use crate::failure::ExportError;
use crate::scheduled_tasks::job_config::Encryption;

/// What a destination bucket is made from.
pub(crate) struct S3Spec<'a> {
    pub bucket: &'a str,
    pub region: &'a str,
    /// `None` means AWS itself.
    pub endpoint_url: Option<&'a str>,
    pub path_style: bool,
    pub credentials: &'a S3Credentials,
    pub timeout: Duration,
}

pub(crate) struct S3Destination {
    bucket: Box<Bucket>,
    name: String,
    endpoint: String,
    timeout: Duration,
    region: String,
    path_style: bool,
    credentials: S3Credentials,
}

impl S3Destination {
    pub(crate) fn new(spec: &S3Spec<'_>) -> Result<S3Destination, ExportError> {
        let endpoint = match spec.endpoint_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("https://s3.{}.amazonaws.com", spec.region),
        };
        let region = Region::Custom {
            region: spec.region.to_owned(),
            endpoint: endpoint.clone(),
        };
        let c = spec.credentials;
        let credentials = Credentials::new(
            Some(&c.access_key_id),
            Some(&c.secret_access_key),
            None,
            c.session_token.as_deref(),
            None,
        )
        .map_err(|e| {
            ExportError::terminal("the connection's credentials are not usable", e.to_string())
        })?;
        let mut bucket = Bucket::new(spec.bucket, region, credentials).map_err(|e| {
            ExportError::terminal(
                format!("bucket '{}' cannot be addressed", spec.bucket),
                e.to_string(),
            )
        })?;
        if spec.path_style {
            bucket = bucket.with_path_style();
        }
        bucket.set_request_timeout(Some(spec.timeout));
        Ok(S3Destination {
            bucket,
            name: spec.bucket.to_owned(),
            endpoint,
            timeout: spec.timeout,
            region: spec.region.to_owned(),
            path_style: spec.path_style,
            credentials: spec.credentials.clone(),
        })
    }

    /// The URL of an object, path-style or virtual-hosted, with an optional query.
    fn object_url(&self, key: &str, query: &str) -> Result<Url, ExportError> {
        let bad = |e: url::ParseError| {
            ExportError::terminal("the object URL cannot be formed", e.to_string())
        };
        let base = Url::parse(&self.endpoint).map_err(bad)?;
        let key = uri_encode(key, true);
        let text = if self.path_style {
            format!("{}/{}/{key}", self.endpoint, uri_encode(&self.name, false))
        } else {
            let host = host_header(&base);
            format!("{}://{}.{host}/{key}", base.scheme(), self.name)
        };
        let text = if query.is_empty() {
            text
        } else {
            format!("{text}?{query}")
        };
        Url::parse(&text).map_err(bad)
    }

    /// The headers of an object-creating request: content type and encryption.
    fn creating_headers(meta: &ObjectMeta) -> Vec<(&'static str, String)> {
        let mut headers = vec![("content-type", meta.content_type.to_owned())];
        if let Some(sse) = sse_value(meta.encryption) {
            headers.push(("x-amz-server-side-encryption", sse.to_owned()));
            if let Some(id) = &meta.kms_key_id {
                headers.push(("x-amz-server-side-encryption-aws-kms-key-id", id.clone()));
            }
        }
        headers
    }

    /// Sends one request signed by exportd; returns the response's body and ETag header on
    /// success. `meta` is the object's, on the requests that create it.
    fn send_signed(
        &self,
        method: &str,
        url: &Url,
        headers: Vec<(&'static str, String)>,
        body: &[u8],
        action: &str,
        meta: Option<&ObjectMeta>,
    ) -> Result<(String, Option<String>), ExportError> {
        let time = jiff::Timestamp::now()
            .strftime("%Y%m%dT%H%M%SZ")
            .to_string();
        let signer = Signer {
            access_key: &self.credentials.access_key_id,
            secret_key: &self.credentials.secret_access_key,
            session_token: self.credentials.session_token.as_deref(),
            region: &self.region,
        };
        let signed = signer.sign(method, url, &headers, &sha256_hex(body), &time);
        let mut request = match method {
            "PUT" => attohttpc::put(url.as_str()),
            _ => attohttpc::post(url.as_str()),
        }
        .timeout(self.timeout)
        .follow_redirects(false);
        for (name, value) in signed {
            let name = attohttpc::header::HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
                ExportError::terminal("a request header is not valid", e.to_string())
            })?;
            request = request.try_header(name, value).map_err(|e| {
                ExportError::terminal(
                    "a request header value is not valid (job_config.kms_key_id?)",
                    e.to_string(),
                )
            })?;
        }
        let response = request
            .bytes(body)
            .send()
            .map_err(|e| self.failure(action, S3Error::Atto(e), meta))?;
        let status = response.status().as_u16();
        let etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response
            .text()
            .map_err(|e| self.failure(action, S3Error::Atto(e), meta))?;
        if (200..300).contains(&status) {
            Ok((text, etag))
        } else {
            Err(self.failure(action, S3Error::HttpFailWithBody(status, text), meta))
        }
    }

    /// One PUT of a whole object.
    fn put_object(&self, key: &str, body: &[u8], meta: &ObjectMeta) -> Result<(), ExportError> {
        let url = self.object_url(key, "")?;
        self.send_signed(
            "PUT",
            &url,
            Self::creating_headers(meta),
            body,
            "writing the object",
            Some(meta),
        )
        .map(drop)
    }

    /// Uploads part `number` of an upload; returns what completing the upload names it by.
    /// The signature covers the part's SHA-256, which the server checks: no Content-MD5 (rust-s3
    /// adds one to every part, an MD5 pass over every stored byte that proves nothing more).
    fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        data: &[u8],
    ) -> Result<Part, ExportError> {
        let query = format!(
            "partNumber={number}&uploadId={}",
            uri_encode(upload_id, false)
        );
        let url = self.object_url(key, &query)?;
        let action = format!("uploading part {number}");
        let (_, etag) = self.send_signed("PUT", &url, Vec::new(), data, &action, None)?;
        let etag = etag.filter(|e| !e.is_empty()).ok_or_else(|| {
            ExportError::retryable(
                format!("{action} on {} got no ETag back", self.endpoint),
                "the part's answer has no ETag header",
            )
        })?;
        Ok(Part {
            etag,
            part_number: number,
        })
    }

    /// Starts a multipart upload; returns its id.
    fn initiate(&self, key: &str, meta: &ObjectMeta) -> Result<String, ExportError> {
        let url = self.object_url(key, "uploads=")?;
        let (body, _) = self.send_signed(
            "POST",
            &url,
            Self::creating_headers(meta),
            b"",
            "starting the upload",
            Some(meta),
        )?;
        xml_field(&body, "UploadId")
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                ExportError::retryable(
                    "the S3 server did not return an upload id",
                    format!("initiate answered {body}"),
                )
            })
    }

    pub(crate) fn bucket_name(&self) -> &str {
        &self.name
    }

    pub(crate) fn begin(&self, key: &str, meta: &ObjectMeta) -> S3Upload<'_> {
        S3Upload {
            dest: self,
            key: key.to_owned(),
            meta: meta.clone(),
            upload_id: None,
            parts: Vec::new(),
        }
    }

    pub(crate) fn delete(&self, key: &str) -> Result<(), ExportError> {
        self.bucket
            .delete_object(key)
            .map(|_| ())
            .map_err(|e| self.failure("deleting the object", e, None))
    }

    pub(crate) fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), ExportError> {
        self.bucket
            .abort_upload(key, upload_id)
            .map_err(|e| self.failure("aborting the upload", e, None))
    }

    /// A presigned GET that works with this endpoint and addressing style.
    pub(crate) fn presign_get(&self, key: &str, seconds: u32) -> Result<String, ExportError> {
        self.bucket.presign_get(key, seconds, None).map_err(|e| {
            ExportError::terminal("the download link could not be signed", e.to_string())
        })
    }

    fn failure(&self, action: &str, err: S3Error, meta: Option<&ObjectMeta>) -> ExportError {
        let ctx = FailureContext {
            action,
            bucket: &self.name,
            endpoint: &self.endpoint,
            timeout: self.timeout,
            encryption: meta.and_then(|m| sse_value(m.encryption)),
        };
        match err {
            S3Error::HttpFailWithBody(status, body) => classify_http(status, &body, &ctx),
            S3Error::Atto(e) => classify_transport(e.into_kind(), &ctx),
            S3Error::Io(e) => classify_io(&e, &ctx),
            other => ExportError::retryable(
                format!("{action} on {} failed", ctx.endpoint),
                format!("{action}: {other}"),
            ),
        }
    }
}

fn sse_value(e: Encryption) -> Option<&'static str> {
    match e {
        Encryption::Aes256 => Some("AES256"),
        Encryption::AwsKms => Some("aws:kms"),
        Encryption::AwsKmsDsse => Some("aws:kms:dsse"),
        Encryption::None => None,
    }
}

pub(crate) struct S3Upload<'a> {
    dest: &'a S3Destination,
    key: String,
    meta: ObjectMeta,
    upload_id: Option<String>,
    parts: Vec<Part>,
}

impl S3Upload<'_> {
    fn send_part(&mut self, data: &[u8]) -> Result<(), ExportError> {
        let upload_id = self.open()?;
        let number = self.parts.len() as u32 + 1;
        let part = self.dest.upload_part(&self.key, &upload_id, number, data)?;
        self.parts.push(part);
        Ok(())
    }

    /// The open multipart upload's id, opening one first if needed.
    fn open(&mut self) -> Result<String, ExportError> {
        if let Some(id) = &self.upload_id {
            return Ok(id.clone());
        }
        let id = self.dest.initiate(&self.key, &self.meta)?;
        self.upload_id = Some(id.clone());
        Ok(id)
    }
}

impl Upload for S3Upload<'_> {
    fn begin(&mut self) -> Result<(), ExportError> {
        self.open().map(drop)
    }

    fn part(&mut self, data: &[u8]) -> Result<(), ExportError> {
        self.send_part(data)
    }

    fn upload_id(&self) -> Option<&str> {
        self.upload_id.as_deref()
    }

    fn finish(mut self: Box<Self>, tail: &[u8]) -> Result<(), ExportError> {
        let d = self.dest;
        if self.upload_id.is_none() {
            // The whole object fits in one part: one PUT.
            return d.put_object(&self.key, tail, &self.meta);
        }
        if !tail.is_empty()
            && let Err(e) = self.send_part(tail)
        {
            self.abort();
            return Err(e);
        }
        let Some(upload_id) = self.upload_id.clone() else {
            return Err(ExportError::retryable(
                "the upload was aborted by the server",
                "no upload id",
            ));
        };
        let parts = std::mem::take(&mut self.parts);
        if let Err(e) = d
            .bucket
            .complete_multipart_upload(&self.key, &upload_id, parts)
        {
            self.abort();
            return Err(d.failure("finishing the upload", e, None));
        }
        Ok(())
    }

    fn abort(self: Box<Self>) {
        if let Some(id) = &self.upload_id
            && let Err(e) = self.dest.bucket.abort_upload(&self.key, id)
        {
            log::warn!("aborting upload {id} of {} failed: {e}", self.key);
        }
    }
}

/// What a failed request was doing, for the message.
pub(crate) struct FailureContext<'a> {
    pub action: &'a str,
    pub bucket: &'a str,
    pub endpoint: &'a str,
    pub timeout: Duration,
    /// The SSE header value the failed request carried, if any.
    pub encryption: Option<&'a str>,
}

/// The text of `<tag>…</tag>` in an S3 error document.
fn xml_field<'b>(body: &'b str, tag: &str) -> Option<&'b str> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(body[start..end].trim())
}

/// Turns an S3 error response into a sentence that says what to fix.
pub(crate) fn classify_http(status: u16, body: &str, ctx: &FailureContext<'_>) -> ExportError {
    let code = xml_field(body, "Code").unwrap_or("").to_owned();
    let message: String = xml_field(body, "Message")
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    let shown = if code.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("{code}, HTTP {status}")
    };
    let detail = format!(
        "{} on {} bucket {}: HTTP {status} {body}",
        ctx.action, ctx.endpoint, ctx.bucket
    );
    let bucket = ctx.bucket;
    let terminal = |summary: String| ExportError::terminal(summary, detail.clone());
    match code.as_str() {
        "NoSuchBucket" => terminal(format!(
            "bucket '{bucket}' does not exist on {}: create it or fix job_config.bucket",
            ctx.endpoint
        )),
        "InvalidAccessKeyId"
        | "SignatureDoesNotMatch"
        | "AccessDenied"
        | "AllAccessDisabled"
        | "InvalidToken"
        | "ExpiredToken"
        | "TokenRefreshRequired"
        | "InvalidSecurity" => terminal(format!(
            "access denied to bucket '{bucket}' while {}: check the connection's keys ({shown})",
            ctx.action
        )),
        "AuthorizationHeaderMalformed"
        | "IllegalLocationConstraintException"
        | "PermanentRedirect" => terminal(format!(
            "bucket '{bucket}' is not reachable with job_config.region and endpoint_url as set: check them ({shown}: {message})"
        )),
        _ if ctx.encryption.is_some() && mentions_encryption(&code, &message) => terminal(format!(
            "server rejected encryption {}: set job_config.encryption to \"none\" or enable SSE on the server ({shown})",
            ctx.encryption.unwrap_or_default()
        )),
        "NoSuchUpload" => ExportError::retryable(
            format!(
                "the server dropped the multipart upload while {} ({shown})",
                ctx.action
            ),
            detail.clone(),
        ),
        _ if status >= 500 || status == 408 || status == 429 || code == "SlowDown" => {
            let hint = match ctx.encryption {
                // Servers without a KMS (SeaweedFS, MinIO without KES) fail SSE-KMS writes with a 500.
                Some(sse) if sse != "AES256" => format!(
                    "; if it keeps failing, the server may not support encryption {sse}: set job_config.encryption to \"none\" or enable SSE on the server"
                ),
                _ => String::new(),
            };
            let said = if message.is_empty() {
                shown.clone()
            } else {
                format!("{shown}: {message}")
            };
            ExportError::retryable(
                format!("the S3 server failed while {} ({said}){hint}", ctx.action),
                detail.clone(),
            )
        }
        _ => terminal(format!(
            "the S3 server refused the request while {} ({shown}: {message})",
            ctx.action
        )),
    }
}

fn mentions_encryption(code: &str, message: &str) -> bool {
    let text = format!("{code} {message}").to_ascii_lowercase();
    text.contains("encryption") || text.contains("kms") || text.contains("sse")
}

fn classify_transport(kind: attohttpc::ErrorKind, ctx: &FailureContext<'_>) -> ExportError {
    match kind {
        attohttpc::ErrorKind::Io(e) => classify_io(&e, ctx),
        attohttpc::ErrorKind::Tls(e) => ExportError::terminal(
            format!(
                "TLS with {} failed: {e}; for a private CA, point SSL_CERT_FILE at its certificate",
                ctx.endpoint
            ),
            format!("{}: TLS: {e}", ctx.action),
        ),
        other => ExportError::retryable(
            format!(
                "the request to {} failed while {}",
                ctx.endpoint, ctx.action
            ),
            format!("{}: {other:?}", ctx.action),
        ),
    }
}

fn classify_io(e: &std::io::Error, ctx: &FailureContext<'_>) -> ExportError {
    use std::io::ErrorKind::*;
    let detail = format!("{} on {}: {e}", ctx.action, ctx.endpoint);
    let summary = match e.kind() {
        ConnectionRefused => format!(
            "cannot connect to the S3 endpoint {}: connection refused (is the server running?)",
            ctx.endpoint
        ),
        TimedOut | WouldBlock => format!(
            "the S3 endpoint {} did not answer within {}s (s3.request_timeout) while {}",
            ctx.endpoint,
            ctx.timeout.as_secs(),
            ctx.action
        ),
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
            format!(
                "the S3 endpoint {} closed the connection while {}",
                ctx.endpoint, ctx.action
            )
        }
        _ if e.to_string().contains("failed to lookup address")
            || e.to_string().contains("Name or service not known") =>
        {
            format!(
                "the S3 endpoint's host in {} cannot be resolved",
                ctx.endpoint
            )
        }
        _ => format!(
            "the request to {} failed while {}: {e}",
            ctx.endpoint, ctx.action
        ),
    };
    ExportError::retryable(summary, detail)
}

mod bucket_name;
#[cfg(test)]
mod tests;
