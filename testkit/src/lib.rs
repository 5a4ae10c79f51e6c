//! What exportd's integration tests (`tests/it`) and its benchmark (`bench/`) share: the S3
//! test servers that `tests/s3/serve.py` starts ([`s3`]) and a running `exportd serve`
//! ([`daemon`]). Failures are values here, which the benchmark reports; the tests' harness
//! turns them into panics.

pub mod daemon;
pub mod s3;

use std::fmt;

/// What went wrong, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<Error> for String {
    fn from(e: Error) -> Self {
        e.0
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Adds what was being done to an error.
pub trait Context<T> {
    fn ctx(self, what: &str) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn ctx(self, what: &str) -> Result<T> {
        self.map_err(|e| Error(format!("{what}: {e}")))
    }
}

/// Lower-case hex SHA-256, as runs record it and as `[[auth.keys]]` holds a key.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
