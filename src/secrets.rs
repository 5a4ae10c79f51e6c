//! Secrets at rest: AES-256-GCM with a random 96-bit nonce per value, stored as
//! `base64(nonce || ciphertext || tag)` (Flexprice's layout). The key comes from the config or
//! the environment, or from a key file created with mode 0600 in the data directory.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub(crate) enum SecretError {
    #[error("secrets key file {path}: {source}")]
    KeyFile { path: PathBuf, source: io::Error },
    #[error("secrets key file {path}: expected 64 hex characters (a 32-byte key)")]
    BadKeyFile { path: PathBuf },
    #[error(
        "a stored secret could not be decrypted: the secrets key is not the one it was sealed with, or the value is damaged"
    )]
    Corrupt,
}

/// Where the encryption key comes from (already validated by the config).
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum KeySource {
    Inline([u8; 32]),
    File(PathBuf),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Inline(_) => f.write_str("Inline(<redacted>)"),
            KeySource::File(p) => f.debug_tuple("File").field(p).finish(),
        }
    }
}

/// Seals and opens secret strings.
pub(crate) struct SecretBox {
    cipher: Aes256Gcm,
    key: [u8; 32],
}

impl SecretBox {
    pub(crate) fn from_key(key: &[u8; 32]) -> SecretBox {
        SecretBox {
            cipher: Aes256Gcm::new(key.into()),
            key: *key,
        }
    }

    /// A key for another purpose (signing download links), derived so that it reveals
    /// nothing about the sealing key: HMAC-SHA256(sealing key, purpose).
    pub(crate) fn derive(&self, purpose: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Loads the key, creating the key file (mode 0600) on first start.
    pub(crate) fn load(source: &KeySource) -> Result<SecretBox, SecretError> {
        match source {
            KeySource::Inline(key) => Ok(SecretBox::from_key(key)),
            KeySource::File(path) => Ok(SecretBox::from_key(&load_or_create_key_file(path)?)),
        }
    }

    /// Encrypts `plaintext`; `aad` binds the result to its place (it must be given again to open).
    pub(crate) fn seal(&self, plaintext: &str, aad: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: aad.as_bytes(),
        };
        // Encryption of an in-memory buffer with a valid key cannot fail.
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        STANDARD.encode(out)
    }

    pub(crate) fn open(&self, sealed: &str, aad: &str) -> Result<String, SecretError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| SecretError::Corrupt)?;
        if bytes.len() < NONCE_LEN {
            return Err(SecretError::Corrupt);
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let payload = Payload {
            msg: body,
            aad: aad.as_bytes(),
        };
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| SecretError::Corrupt)?;
        String::from_utf8(plain).map_err(|_| SecretError::Corrupt)
    }
}

/// Fills `buf` from the operating system's random source.
pub(crate) fn random_bytes(buf: &mut [u8]) {
    // getrandom fails only where the OS has no random source, which no supported system lacks.
    if let Err(e) = getrandom::fill(buf) {
        panic!("the operating system's random source failed: {e}");
    }
}

/// Lower-case hex.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses exactly 64 hex characters into 32 bytes.
pub(crate) fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn load_or_create_key_file(path: &Path) -> Result<[u8; 32], SecretError> {
    let err = |source| SecretError::KeyFile {
        path: path.to_owned(),
        source,
    };
    match fs::read_to_string(path) {
        Ok(text) => {
            if let Ok(meta) = fs::metadata(path)
                && meta.permissions().mode() & 0o077 != 0
            {
                log::warn!(
                    "secrets key file {} is readable by other users; run: chmod 600 {}",
                    path.display(),
                    path.display()
                );
            }
            parse_hex32(&text).ok_or_else(|| SecretError::BadKeyFile {
                path: path.to_owned(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            random_bytes(&mut key);
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).map_err(err)?;
            }
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(err)?;
            file.write_all(format!("{}\n", to_hex(&key)).as_bytes())
                .and_then(|_| file.sync_all())
                .map_err(err)?;
            log::info!(
                "created secrets key file {} (mode 0600); back it up with the database",
                path.display()
            );
            Ok(key)
        }
        Err(e) => Err(err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_with_fresh_nonces_and_opens_only_with_the_same_aad_and_key() {
        let a = SecretBox::from_key(&[7; 32]);
        let s1 = a.seal("hunter2", "conn_1/aws_secret_access_key");
        let s2 = a.seal("hunter2", "conn_1/aws_secret_access_key");
        assert_ne!(s1, s2, "nonces must differ");
        assert!(!s1.contains("hunter2"));
        assert_eq!(
            a.open(&s1, "conn_1/aws_secret_access_key").expect("opens"),
            "hunter2"
        );
        assert!(a.open(&s1, "conn_2/aws_secret_access_key").is_err());
        assert!(
            SecretBox::from_key(&[8; 32])
                .open(&s1, "conn_1/aws_secret_access_key")
                .is_err()
        );
        assert!(a.open("not base64!", "x").is_err());
        assert!(a.open("AAAA", "x").is_err());
    }

    #[test]
    fn key_file_is_created_0600_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/secret.key");
        let source = KeySource::File(path.clone());
        let sealed = SecretBox::load(&source).expect("creates").seal("v", "a");
        let mode = fs::metadata(&path).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            SecretBox::load(&source)
                .expect("reuses")
                .open(&sealed, "a")
                .expect("same key"),
            "v"
        );
        fs::write(&path, "short").expect("write");
        assert!(matches!(
            SecretBox::load(&source),
            Err(SecretError::BadKeyFile { .. })
        ));
    }

    #[test]
    fn hex_round_trip() {
        let key = [0xab; 32];
        assert_eq!(parse_hex32(&to_hex(&key)), Some(key));
        assert_eq!(parse_hex32("zz"), None);
        assert_eq!(parse_hex32(&"g".repeat(64)), None);
    }
}
