//! [`FlexpriceSource`]: the [`Source`] that reads a self-hosted Flexprice. Each run opens its
//! own read-only session and reads its rows in one REPEATABLE READ snapshot, so a run sees one
//! committed state however long it streams; the ledger's write routes are closed (billing runs
//! in Flexprice).

use super::postgres::Postgres;
use super::{Request, check, credit_topups, credit_usage, invoices};
use crate::failure::{ExportError, Failure};
use crate::formats::RowSink;
use crate::scheduled_tasks::EntityType;
use crate::sources::settings::FlexpriceSettings;
use crate::sources::{ExportRequest, Source, SourceError, Unavailable};

pub(crate) struct FlexpriceSource {
    postgres: Postgres,
}

impl FlexpriceSource {
    pub(crate) fn new(settings: &FlexpriceSettings) -> FlexpriceSource {
        FlexpriceSource {
            postgres: settings.postgres.clone(),
        }
    }
}

/// Why `events` and `usage_analytics` cannot be exported yet.
fn needs_clickhouse(entity: EntityType) -> String {
    format!(
        "entity_type {} is read from Flexprice's ClickHouse, which this exportd does not read ([source] has no ClickHouse); it exports invoice, credit_topups and credit_usage from Flexprice's PostgreSQL",
        entity.as_str()
    )
}

impl Source for FlexpriceSource {
    fn name(&self) -> &'static str {
        "Flexprice's billing data (billing runs in Flexprice)"
    }

    fn offers(&self, entity: EntityType) -> Result<(), Unavailable> {
        match entity {
            EntityType::Invoice | EntityType::CreditTopups | EntityType::CreditUsage => Ok(()),
            EntityType::Events | EntityType::UsageAnalytics => {
                Err(Unavailable(needs_clickhouse(entity)))
            }
        }
    }

    fn ledger_writes(&self) -> bool {
        false
    }

    fn export(&self, req: &ExportRequest<'_>, out: &mut dyn RowSink) -> Result<u64, ExportError> {
        let request = Request {
            tenant_id: &req.scope.tenant_id,
            environment_id: &req.scope.environment_id,
            window: req.window,
            window_field: req.window_field,
            metadata: req.metadata,
        };
        let mut session = self.postgres.connect()?;
        let mut snap = session.snapshot()?;
        match req.entity {
            EntityType::Invoice => invoices::export(&mut snap, &request, req.cancel, out),
            EntityType::CreditTopups => credit_topups::export(&mut snap, &request, req.cancel, out),
            EntityType::CreditUsage => credit_usage::export(&mut snap, &request, req.cancel, out),
            // A task created before the source changed.
            EntityType::Events | EntityType::UsageAnalytics => {
                let why = needs_clickhouse(req.entity);
                Err(ExportError::terminal(why.clone(), why))
            }
        }
        // The snapshot ends (rolled back: it wrote nothing) when it is dropped.
    }

    /// Connects and checks the tables and queries. An outage (the server down or unreachable)
    /// is only logged: runs retry until it is back. What needs the configuration or the
    /// database changed (login, TLS, missing tables or grants) stops the start.
    fn check(&self) -> Result<(), SourceError> {
        match check::check(&self.postgres, &[]) {
            Ok(report) if report.ok() => Ok(()),
            Ok(report) => Err(SourceError::Unreadable(report.to_string())),
            Err(e) if e.kind == Failure::Terminal => Err(SourceError::Unreadable(e.summary)),
            Err(e) => {
                log::warn!(
                    "{}; exports of this source fail and retry until it answers ({})",
                    e.summary,
                    e.detail
                );
                Ok(())
            }
        }
    }
}

/// What `exportd check-config` prints about the source: the report of [`check::check`] for the
/// configured keys' scopes, or why the source cannot be read.
pub(crate) fn check_config(
    postgres: &Postgres,
    scopes: &[(String, String)],
) -> Result<String, SourceError> {
    let report = check::check(postgres, scopes).map_err(|e| SourceError::Unreadable(e.summary))?;
    if report.ok() {
        Ok(report.to_string())
    } else {
        Err(SourceError::Unreadable(report.to_string()))
    }
}
