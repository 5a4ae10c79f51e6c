//! The `connections` table.

use rusqlite::Transaction;

use crate::connections::{Connection, ConnectionStatus};
use crate::store::record;
use crate::store::record::Json;
use crate::store::{Filter, Page, Result, Scope};

/// Filters of `GET /v1/connections`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConnectionFilter {
    pub provider_type: Option<String>,
    pub status: ConnectionStatus,
}

crate::store::record::stored!(Connection in "connections" {
    id, tenant_id, environment_id, name, provider_type, sync_s3: Json, metadata: Json,
    sealed_secrets, status, created_at, updated_at, created_by, updated_by,
});

pub(crate) fn list(
    tx: &Transaction<'_>,
    scope: &Scope,
    q: &ConnectionFilter,
    page: (i64, i64),
) -> Result<Page<Connection>> {
    let mut f = Filter::scoped(scope);
    f.eq("status", q.status.as_str().to_owned());
    if let Some(p) = &q.provider_type {
        f.eq("provider_type", p.clone());
    }
    record::page(tx, &f, "created_at DESC, id DESC", page)
}
