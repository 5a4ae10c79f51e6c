//! S3's bucket naming rules, which a task's, a connection's and the managed destination's
//! bucket must follow.

use crate::input::Invalid;

/// S3 bucket naming rules; the error says which rule the name breaks.
pub(crate) fn check_bucket_name(name: &str) -> Result<(), Invalid> {
    let len = name.len();
    if !(3..=63).contains(&len) {
        return Err(Invalid::from(format!(
            "S3 bucket name must be 3 to 63 characters long, got {len}"
        )));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return Err(Invalid::from(
            "S3 bucket name may contain only lowercase letters, digits, dots and hyphens"
                .to_owned(),
        ));
    }
    let edge_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !edge_ok(name.bytes().next()) || !edge_ok(name.bytes().last()) {
        return Err(Invalid::from(
            "S3 bucket name must begin and end with a letter or digit".to_owned(),
        ));
    }
    if name.contains("..") {
        return Err(Invalid::from(
            "S3 bucket name must not contain two adjacent dots".to_owned(),
        ));
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(Invalid::from(
            "S3 bucket name must not be formatted as an IP address".to_owned(),
        ));
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return Err(Invalid::from(format!(
                "S3 bucket name must not start with the reserved prefix {prefix}"
            )));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return Err(Invalid::from(format!(
                "S3 bucket name must not end with the reserved suffix {suffix}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in ["exports", "my.bucket-1", "abc"] {
            assert_eq!(check_bucket_name(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("ab", "3 to 63"),
            ("Exports", "lowercase"),
            ("my_bucket", "lowercase"),
            ("-abc", "begin and end"),
            ("abc.", "begin and end"),
            ("a..b", "adjacent dots"),
            ("192.168.1.1", "IP address"),
            ("xn--abc", "reserved prefix"),
            ("abc-s3alias", "reserved suffix"),
        ] {
            let err = check_bucket_name(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
