use super::*;
use crate::failure::Failure;

fn ctx(encryption: Option<&'static str>) -> FailureContext<'static> {
    FailureContext {
        action: "writing the object",
        bucket: "exports",
        endpoint: "http://127.0.0.1:8333",
        timeout: Duration::from_secs(5),
        encryption,
    }
}

fn xml(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>1</RequestId></Error>"
    )
}

#[test]
fn names_the_cause_and_the_fix_without_raw_xml() {
    let e = classify_http(
        404,
        &xml("NoSuchBucket", "The specified bucket does not exist"),
        &ctx(None),
    );
    assert_eq!(
        e.summary,
        "bucket 'exports' does not exist on http://127.0.0.1:8333: create it or fix job_config.bucket"
    );
    assert_eq!(e.kind, Failure::Terminal);
    let e = classify_http(403, &xml("SignatureDoesNotMatch", "..."), &ctx(None));
    assert!(
        e.summary.starts_with("access denied to bucket 'exports'"),
        "{}",
        e.summary
    );
    assert!(e.summary.contains("check the connection's keys"));
    assert!(!e.summary.contains('<'));
    let e = classify_http(
        400,
        &xml(
            "InvalidArgument",
            "Server Side Encryption with KMS managed key requires HTTP header",
        ),
        &ctx(Some("aws:kms")),
    );
    assert!(
        e.summary.starts_with(
            "server rejected encryption aws:kms: set job_config.encryption to \"none\""
        ),
        "{}",
        e.summary
    );
}

#[test]
fn server_errors_are_retryable_and_hint_at_kms() {
    let e = classify_http(
        500,
        &xml("InternalError", "We encountered an internal error"),
        &ctx(Some("aws:kms")),
    );
    e.assert_says(Failure::Retryable, "may not support encryption aws:kms");
    let e = classify_http(
        503,
        &xml("SlowDown", "Reduce your request rate"),
        &ctx(Some("AES256")),
    );
    assert!(
        e.kind == Failure::Retryable && !e.summary.contains("encryption"),
        "{}",
        e.summary
    );
    let e = classify_http(502, "", &ctx(None));
    e.assert_says(Failure::Retryable, "HTTP 502");
}

#[test]
fn transport_failures_say_what_happened() {
    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    let e = classify_io(&refused, &ctx(None));
    e.assert_says(Failure::Retryable, "connection refused");
    let timeout = std::io::Error::from(std::io::ErrorKind::TimedOut);
    assert!(
        classify_io(&timeout, &ctx(None))
            .summary
            .contains("did not answer within 5s")
    );
}
