//! The `connections` table.

use crate::connections::{Connection, ConnectionStatus};
use crate::store::Audit;
use crate::store::Filter;
use crate::store::record;
use crate::store::record::Json;

/// Filters of `GET /v1/connections`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConnectionFilter {
    pub provider_type: Option<String>,
    pub status: ConnectionStatus,
}

crate::store::record::stored!(Connection in "connections" {
    id, tenant_id, environment_id, name, provider_type, sync_s3: Json, metadata: Json,
    sealed_secrets, status, ..audit: Audit,
});

impl record::ListQuery for ConnectionFilter {
    type Record = Connection;

    fn narrow(&self, f: &mut Filter) {
        f.eq("status", self.status);
        f.eq_some("provider_type", self.provider_type.clone());
    }
}
