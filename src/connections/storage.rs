//! The `connections` table.

use rusqlite::{Row, Transaction};

use crate::connections::{Connection, ConnectionStatus};
use crate::store::{Filter, Page, Result, Scope, parse_column, select_one, select_page};

const COLUMNS: &str = "id, tenant_id, environment_id, name, provider_type, sync_s3, metadata, \
     sealed_secrets, status, created_at, updated_at, created_by, updated_by";

/// Filters of `GET /v1/connections`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConnectionFilter {
    pub provider_type: Option<String>,
    pub status: ConnectionStatus,
    pub limit: i64,
    pub offset: i64,
}

fn read_row(r: &Row<'_>) -> Result<Connection> {
    let json = |i: usize| -> Result<Option<String>> { Ok(r.get::<_, Option<String>>(i)?) };
    Ok(Connection {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        environment_id: r.get(2)?,
        name: r.get(3)?,
        provider_type: r.get(4)?,
        sync_s3: json(5)?.map(|s| serde_json::from_str(&s)).transpose()?,
        metadata: json(6)?.map(|s| serde_json::from_str(&s)).transpose()?,
        sealed_secrets: r.get(7)?,
        status: parse_column("status", r.get(8)?, ConnectionStatus::parse)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
        created_by: r.get(11)?,
        updated_by: r.get(12)?,
    })
}

fn json_or_null<T: serde::Serialize>(v: &Option<T>) -> Result<Option<String>> {
    Ok(v.as_ref().map(serde_json::to_string).transpose()?)
}

pub(crate) fn insert(tx: &Transaction<'_>, c: &Connection) -> Result<()> {
    tx.execute(
        &format!("INSERT INTO connections ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
        rusqlite::params![
            c.id,
            c.tenant_id,
            c.environment_id,
            c.name,
            c.provider_type,
            json_or_null(&c.sync_s3)?,
            json_or_null(&c.metadata)?,
            c.sealed_secrets,
            c.status.as_str(),
            c.created_at,
            c.updated_at,
            c.created_by,
            c.updated_by,
        ],
    )?;
    Ok(())
}

/// Writes back every mutable field of a connection read (and changed) in this transaction.
pub(crate) fn update(tx: &Transaction<'_>, c: &Connection) -> Result<()> {
    tx.execute(
        "UPDATE connections SET name = ?1, sync_s3 = ?2, metadata = ?3, sealed_secrets = ?4,
             status = ?5, updated_at = ?6, updated_by = ?7
         WHERE id = ?8 AND tenant_id = ?9 AND environment_id = ?10",
        rusqlite::params![
            c.name,
            json_or_null(&c.sync_s3)?,
            json_or_null(&c.metadata)?,
            c.sealed_secrets,
            c.status.as_str(),
            c.updated_at,
            c.updated_by,
            c.id,
            c.tenant_id,
            c.environment_id,
        ],
    )?;
    Ok(())
}

pub(crate) fn get(tx: &Transaction<'_>, scope: &Scope, id: &str) -> Result<Option<Connection>> {
    let mut f = Filter::scoped(scope);
    f.eq("id", id.to_owned());
    select_one(tx, "connections", COLUMNS, &f, read_row)
}

pub(crate) fn list(
    tx: &Transaction<'_>,
    scope: &Scope,
    q: &ConnectionFilter,
) -> Result<Page<Connection>> {
    let mut f = Filter::scoped(scope);
    f.eq("status", q.status.as_str().to_owned());
    if let Some(p) = &q.provider_type {
        f.eq("provider_type", p.clone());
    }
    let order = "created_at DESC, id DESC";
    select_page(
        tx,
        "connections",
        COLUMNS,
        &f,
        order,
        (q.limit, q.offset),
        read_row,
    )
}
