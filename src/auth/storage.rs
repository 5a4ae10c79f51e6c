//! The development API key made on first start (its hash only).

use rusqlite::{OptionalExtension, Transaction};

use crate::secrets::{parse_hex32, to_hex};
use crate::store::Result;

/// The generated key's hash and scope, if one was made before.
pub(crate) fn generated(tx: &Transaction<'_>) -> Result<Option<([u8; 32], String, String)>> {
    let row: Option<(String, String, String)> = tx
        .query_row(
            "SELECT key_sha256, tenant_id, environment_id FROM generated_api_keys ORDER BY created_at LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    row.map(|(hash, tenant, env)| {
        let hash = parse_hex32(&hash).ok_or_else(|| {
            super::StoreError::Corrupt(
                "generated_api_keys.key_sha256 is not 64 hex characters".into(),
            )
        })?;
        Ok((hash, tenant, env))
    })
    .transpose()
}

pub(crate) fn insert_generated(
    tx: &Transaction<'_>,
    hash: &[u8; 32],
    tenant_id: &str,
    environment_id: &str,
    now: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO generated_api_keys (key_sha256, tenant_id, environment_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        (to_hex(hash), tenant_id, environment_id, now),
    )?;
    Ok(())
}

/// Forgets the generated key (before a new one is inserted in its place).
pub(crate) fn delete_generated(tx: &Transaction<'_>) -> Result<()> {
    tx.execute("DELETE FROM generated_api_keys", [])?;
    Ok(())
}
