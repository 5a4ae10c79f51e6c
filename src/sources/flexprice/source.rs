//! [`FlexpriceSource`]: the [`Source`] that reads a self-hosted Flexprice. Each run opens its
//! own read-only session and reads its rows in one REPEATABLE READ snapshot, so a run sees one
//! committed state however long it streams; the ledger's write routes are closed (billing runs
//! in Flexprice). `events` and `usage_analytics` come from its ClickHouse when one is
//! configured, with customers, meters and prices from the same PostgreSQL snapshot.

use super::clickhouse::Entity as ChEntity;
use super::clickhouse::catalog::Postgres as Catalog;
use super::clickhouse::source::ClickHouse;
use super::postgres::Postgres;
use super::{Request, catalog, check, credit_topups, credit_usage, invoices};
use crate::failure::{ExportError, Failure};
use crate::formats::RowSink;
use crate::scheduled_tasks::EntityType;
use crate::sources::settings::FlexpriceSettings;
use crate::sources::{ExportRequest, Source, SourceError, Unavailable};

pub(crate) struct FlexpriceSource {
    postgres: Postgres,
    clickhouse: Option<ClickHouse>,
}

impl FlexpriceSource {
    pub(crate) fn new(settings: &FlexpriceSettings) -> FlexpriceSource {
        FlexpriceSource {
            postgres: settings.postgres.clone(),
            clickhouse: settings.clickhouse.clone(),
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
            EntityType::Events | EntityType::UsageAnalytics if self.clickhouse.is_some() => Ok(()),
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
            cancel: req.cancel,
        };
        let mut session = self.postgres.connect()?;
        let mut snap = session.snapshot()?;
        if let (Some(clickhouse), Some(entity)) = (&self.clickhouse, ChEntity::of(req.entity)) {
            let scope = catalog::Scope {
                tenant_id: &req.scope.tenant_id,
                environment_id: &req.scope.environment_id,
            };
            let mut catalog = Catalog::new(&mut snap, scope);
            return clickhouse.export(entity, req, &mut catalog, out);
        }
        match req.entity {
            EntityType::Invoice => invoices::export(&mut snap, &request, out),
            EntityType::CreditTopups => credit_topups::export(&mut snap, &request, out),
            EntityType::CreditUsage => credit_usage::export(&mut snap, &request, out),
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
        if let Some(clickhouse) = &self.clickhouse {
            match clickhouse.check() {
                Ok(found) => log::info!("{found}"),
                Err(e) if e.kind == Failure::Terminal => {
                    return Err(SourceError::Unreadable(e.summary));
                }
                Err(e) => log::warn!(
                    "{}; exports of events and usage_analytics fail and retry until it answers ({})",
                    e.summary,
                    e.detail
                ),
            }
        }
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
/// configured keys' scopes and, with ClickHouse, its version and `meter_usage` variant; or why
/// the source cannot be read.
pub(crate) fn check_config(
    settings: &FlexpriceSettings,
    scopes: &[(String, String)],
) -> Result<String, SourceError> {
    let report =
        check::check(&settings.postgres, scopes).map_err(|e| SourceError::Unreadable(e.summary))?;
    if !report.ok() {
        return Err(SourceError::Unreadable(report.to_string()));
    }
    let mut text = report.to_string();
    if let Some(clickhouse) = &settings.clickhouse {
        let found = clickhouse
            .check()
            .map_err(|e| SourceError::Unreadable(e.summary))?;
        text.push_str(&format!("\n{found}"));
    }
    Ok(text)
}
