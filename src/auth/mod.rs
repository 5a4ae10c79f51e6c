//! API keys. Keys are bound to a tenant and an environment; only their SHA-256 hashes are kept,
//! and a presented key is compared against every hash in constant time.

pub(crate) mod storage;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::to_ms;
use crate::config::Config;
use crate::secrets::{random_bytes, to_hex};
use crate::store::{Scope, Store, StoreError};

/// Tenant and environment of the development key made when no key is configured.
pub(crate) const DEV_TENANT: &str = "default";
pub(crate) const DEV_ENVIRONMENT: &str = "development";

/// Who is calling: every query is scoped to this tenant and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principal {
    pub tenant_id: String,
    pub environment_id: String,
    /// The key's name, recorded as `created_by` / `updated_by`.
    pub key_name: String,
}

impl From<&Principal> for Scope {
    fn from(p: &Principal) -> Self {
        Scope {
            tenant_id: p.tenant_id.clone(),
            environment_id: p.environment_id.clone(),
        }
    }
}

/// The accepted keys.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyRing {
    entries: Vec<([u8; 32], Principal)>,
}

impl KeyRing {
    pub(crate) fn new(entries: Vec<([u8; 32], Principal)>) -> KeyRing {
        KeyRing { entries }
    }

    /// The principal of a presented key. Every stored hash is compared (no early exit), so the
    /// time taken does not tell which entry, if any, matched.
    pub(crate) fn authenticate(&self, presented: &str) -> Option<&Principal> {
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

pub(crate) fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A new random API key: `exd_` and 43 URL-safe characters (256 bits).
pub(crate) fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    random_bytes(&mut bytes);
    format!("exd_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The `[[auth.keys]]` block that accepts `key` for a tenant and environment.
pub(crate) fn config_block(name: &str, tenant_id: &str, environment_id: &str, key: &str) -> String {
    format!(
        "[[auth.keys]]\nname = {name:?}\ntenant_id = {tenant_id:?}\nenvironment_id = {environment_id:?}\nkey_sha256 = \"{}\"\n",
        to_hex(&hash_key(key))
    )
}

/// The configured keys, or the development key: made (and printed once) on the first start of
/// a loopback-only exportd without keys, and reused from its stored hash afterwards. The log
/// says which keys are active, and that the development key is off when keys are configured.
pub(crate) fn key_ring(config: &Config, store: &Store) -> Result<KeyRing, StoreError> {
    if !config.api_keys.is_empty() {
        let names: Vec<String> = config
            .api_keys
            .iter()
            .map(|(_, p)| format!("{} ({}/{})", p.key_name, p.tenant_id, p.environment_id))
            .collect();
        let made = store.read(storage::generated)?.is_some();
        log::info!(
            "API keys: {} from [[auth.keys]]: {}; the development key is off{}",
            names.len(),
            names.join(", "),
            if made {
                " (the one made on an earlier start works again only without [[auth.keys]])"
            } else {
                ""
            }
        );
        return Ok(KeyRing::new(config.api_keys.clone()));
    }
    let fresh = generate_key();
    let fresh_hash = hash_key(&fresh);
    let now = to_ms(jiff::Timestamp::now());
    let (hash, tenant, environment, made_now) = store.write(|tx| {
        if let Some((hash, tenant, env)) = storage::generated(tx)? {
            return Ok::<_, StoreError>((hash, tenant, env, false));
        }
        storage::insert_generated(tx, &fresh_hash, DEV_TENANT, DEV_ENVIRONMENT, now)?;
        Ok((
            fresh_hash,
            DEV_TENANT.to_owned(),
            DEV_ENVIRONMENT.to_owned(),
            true,
        ))
    })?;
    if made_now {
        eprintln!(
            "\nexportd: no API keys are configured, so a development key was generated. It is shown only now:\n\n    {fresh}\n\n\
             Send it in the x-api-key header (tenant \"{tenant}\", environment \"{environment}\").\n\
             Only its hash is stored; `exportd keygen --development` replaces a lost one. For anything\n\
             beyond local development, run `exportd keygen` and put the [[auth.keys]] block it prints\n\
             in the config file.\n"
        );
    }
    log::info!(
        "API keys: no [[auth.keys]] configured, so only the development key is on \
         (tenant {tenant}, environment {environment}{})",
        if made_now {
            ", made now"
        } else {
            ", made on an earlier start; `exportd keygen --development` replaces a lost one"
        }
    );
    Ok(KeyRing::new(vec![(
        hash,
        Principal {
            tenant_id: tenant,
            environment_id: environment,
            key_name: "development".to_owned(),
        },
    )]))
}

/// Makes a new development key in place of the stored one (which stops working), and returns
/// it: the way back when the key printed on first start is lost.
pub(crate) fn replace_development_key(store: &Store) -> Result<String, StoreError> {
    let key = generate_key();
    let now = to_ms(jiff::Timestamp::now());
    store.write(|tx| {
        storage::delete_generated(tx)?;
        storage::insert_generated(tx, &hash_key(&key), DEV_TENANT, DEV_ENVIRONMENT, now)
    })?;
    Ok(key)
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

    #[test]
    fn a_replaced_development_key_is_the_only_one_stored() {
        let (_dir, store) = crate::store::testing::temp_store();
        let first = replace_development_key(&store).expect("first");
        let second = replace_development_key(&store).expect("second");
        assert_ne!(first, second);
        let stored = store.read(storage::generated).expect("read");
        let (hash, tenant, env) = stored.expect("a key");
        assert_eq!(hash, hash_key(&second));
        assert_eq!(
            (tenant.as_str(), env.as_str()),
            (DEV_TENANT, DEV_ENVIRONMENT)
        );
        assert_eq!(
            crate::store::testing::count(&store, "generated_api_keys"),
            1
        );
    }
}
