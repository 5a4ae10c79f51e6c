//! API keys. Keys are bound to a tenant and an environment; only their SHA-256 hashes are kept,
//! and a presented key is compared against every hash in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::secrets::{random_bytes, to_hex};

/// Who is calling: every query is scoped to this tenant and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant_id: String,
    pub environment_id: String,
    /// The key's name, recorded as `created_by` / `updated_by`.
    pub key_name: String,
}

/// The accepted keys.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    entries: Vec<([u8; 32], Principal)>,
}

impl KeyRing {
    pub fn new(entries: Vec<([u8; 32], Principal)>) -> KeyRing {
        KeyRing { entries }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The principal of a presented key. Every stored hash is compared (no early exit), so the
    /// time taken does not tell which entry, if any, matched.
    pub fn authenticate(&self, presented: &str) -> Option<&Principal> {
        let hash = hash_key(presented);
        let mut found = None;
        for (stored, principal) in &self.entries {
            if bool::from(stored.ct_eq(&hash)) {
                found = Some(principal);
            }
        }
        found
    }
}

pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A new random API key: `exd_` and 43 URL-safe characters (256 bits).
pub fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    random_bytes(&mut bytes);
    format!("exd_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The `[[auth.keys]]` block that accepts `key` for a tenant and environment.
pub fn config_block(name: &str, tenant_id: &str, environment_id: &str, key: &str) -> String {
    format!(
        "[[auth.keys]]\nname = {name:?}\ntenant_id = {tenant_id:?}\nenvironment_id = {environment_id:?}\nkey_sha256 = \"{}\"\n",
        to_hex(&hash_key(key))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(env: &str) -> Principal {
        Principal {
            tenant_id: "t".into(),
            environment_id: env.into(),
            key_name: env.into(),
        }
    }

    #[test]
    fn authenticates_by_hash_and_keeps_environments_apart() {
        let ring = KeyRing::new(vec![
            (hash_key("key-a"), principal("prod")),
            (hash_key("key-b"), principal("dev")),
        ]);
        assert_eq!(
            ring.authenticate("key-a")
                .map(|p| p.environment_id.as_str()),
            Some("prod")
        );
        assert_eq!(
            ring.authenticate("key-b")
                .map(|p| p.environment_id.as_str()),
            Some("dev")
        );
        assert_eq!(ring.authenticate("key-c"), None);
        assert_eq!(ring.authenticate(""), None);
    }

    #[test]
    fn generated_keys_are_long_random_and_configurable() {
        let (a, b) = (generate_key(), generate_key());
        assert_ne!(a, b);
        assert!(a.starts_with("exd_") && a.len() == 47, "{a}");
        let block = config_block("ci", "acme", "prod", &a);
        assert!(block.contains(&to_hex(&hash_key(&a))));
        assert!(!block.contains(&a));
        let parsed: toml::Table = block.parse().expect("valid TOML");
        assert!(parsed.contains_key("auth"));
    }
}
