//! What `check-config` reports about Flexprice's PostgreSQL, writing nothing: the server, the
//! tables exportd reads (present, readable, and whether the role could write them), each
//! entity's query accepted by the planner, the index advice for `updated_at` windows, and rows
//! per entity for each configured tenant and environment.

use std::fmt;
use std::sync::atomic::AtomicBool;

use postgres::types::ToSql;

use super::postgres::{Postgres, Snapshot};
use super::{credit_topups, credit_usage, invoices};
use crate::failure::ExportError;
use crate::scheduled_tasks::job_config::WindowField;

/// The tables the Flexprice source reads (the last six for the ClickHouse entities' names and
/// prices).
pub const TABLES: [&str; 10] = [
    "invoices",
    "wallet_transactions",
    "wallets",
    "customers",
    "meters",
    "features",
    "groups",
    "prices",
    "subscriptions",
    "subscription_line_items",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub present: bool,
    pub readable: bool,
    /// The role holds INSERT, UPDATE or DELETE on it (exportd needs only SELECT).
    pub writable: bool,
}

/// Rows each entity could export for one scope (all time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRows {
    pub tenant_id: String,
    pub environment_id: String,
    /// Published invoices.
    pub invoices: i64,
    /// Published, completed credit transactions.
    pub credit_topups: i64,
    /// Published customers (one credit_usage row each, or one per wallet currency).
    pub customers: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The URL without its password.
    pub url: String,
    pub server_version: String,
    pub user: String,
    pub database: String,
    pub tables: Vec<Table>,
    /// Entities whose query the server refused, with the summary of why.
    pub refused: Vec<(&'static str, String)>,
    /// Whether an index serves invoice windows by `updated_at` (see the README).
    pub updated_at_index: bool,
    pub scopes: Vec<ScopeRows>,
}

impl Report {
    /// Whether exportd can export every PostgreSQL entity.
    pub fn ok(&self) -> bool {
        self.tables.iter().all(|t| t.present && t.readable) && self.refused.is_empty()
    }
}

/// Connects, reads what the report says, and disconnects; `scopes` are the configured keys'
/// (tenant, environment) pairs.
pub fn check(pg: &Postgres, scopes: &[(String, String)]) -> Result<Report, ExportError> {
    let mut session = pg.connect()?;
    let server_version = session.server_version()?;
    let mut snap = session.snapshot()?;
    let mut report = Report {
        url: pg.shown().to_owned(),
        server_version,
        user: String::new(),
        database: String::new(),
        tables: Vec::new(),
        refused: Vec::new(),
        updated_at_index: false,
        scopes: Vec::new(),
    };
    snap.rows(
        "SELECT current_user::text, current_database()::text",
        &[],
        |row| {
            report.user = row.get(0)?;
            report.database = row.get(1)?;
            Ok(())
        },
    )?;
    for name in TABLES {
        snap.rows(
            "SELECT to_regclass($1) IS NOT NULL,
                    coalesce(has_table_privilege(to_regclass($1), 'SELECT'), false),
                    coalesce(has_table_privilege(to_regclass($1), 'INSERT, UPDATE, DELETE'), false)",
            &[&name],
            |row| {
                report.tables.push(Table {
                    name: name.to_owned(),
                    present: row.get(0)?,
                    readable: row.get(1)?,
                    writable: row.get(2)?,
                });
                Ok(())
            },
        )?;
    }
    if report.tables.iter().all(|t| t.present && t.readable) {
        planned(&mut snap, &mut report)?;
    }
    // A refused query aborted the snapshot: nothing more can be read in it.
    if report.ok() {
        snap.rows(
            "SELECT EXISTS (SELECT FROM pg_indexes
                            WHERE tablename = 'invoices' AND schemaname = ANY(current_schemas(false))
                              AND indexdef ~ '\\(tenant_id, environment_id, updated_at')",
            &[],
            |row| {
                report.updated_at_index = row.get(0)?;
                Ok(())
            },
        )?;
        for (tenant, env) in scopes {
            report.scopes.push(rows(&mut snap, tenant, env)?);
        }
    }
    Ok(report)
}

/// Plans each entity's query (no rows are read) so that a missing column shows now.
fn planned(snap: &mut Snapshot<'_>, report: &mut Report) -> Result<(), ExportError> {
    let cancel = AtomicBool::new(false);
    let (t, e, s) = ("", "", super::cells::PgTime(0));
    let window: [&(dyn ToSql + Sync); 4] = [&t, &e, &s, &s];
    for (entity, sql, params) in [
        (
            "invoice",
            invoices::sql(Some(WindowField::UpdatedAt)),
            &window[..],
        ),
        (
            "credit_topups",
            credit_topups::sql(Some(WindowField::UpdatedAt)),
            &window[..],
        ),
        ("credit_usage", credit_usage::SQL.to_owned(), &window[..3]),
    ] {
        let limited = format!("SELECT * FROM ({sql}) q LIMIT 0");
        if let Err(e) = snap.stream(&limited, params, &cancel, |_| Ok(())) {
            report.refused.push((entity, e.summary));
            return Ok(());
        }
    }
    Ok(())
}

fn rows(snap: &mut Snapshot<'_>, tenant: &str, env: &str) -> Result<ScopeRows, ExportError> {
    let mut out = ScopeRows {
        tenant_id: tenant.to_owned(),
        environment_id: env.to_owned(),
        invoices: 0,
        credit_topups: 0,
        customers: 0,
    };
    snap.rows(
        "SELECT
           (SELECT count(*) FROM invoices
            WHERE tenant_id = $1 AND environment_id = $2 AND status = 'published'),
           (SELECT count(*) FROM wallet_transactions
            WHERE tenant_id = $1 AND environment_id = $2 AND status = 'published'
              AND type = 'credit' AND transaction_status = 'completed'),
           (SELECT count(*) FROM customers
            WHERE tenant_id = $1 AND environment_id = $2 AND status = 'published')",
        &[&tenant, &env],
        |row| {
            out.invoices = row.get(0)?;
            out.credit_topups = row.get(1)?;
            out.customers = row.get(2)?;
            Ok(())
        },
    )?;
    Ok(out)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "flexprice postgres: {} (PostgreSQL {}, user {}, database {})",
            self.url, self.server_version, self.user, self.database
        )?;
        let missing: Vec<&str> = self
            .tables
            .iter()
            .filter(|t| !t.present)
            .map(|t| t.name.as_str())
            .collect();
        let unreadable: Vec<&str> = self
            .tables
            .iter()
            .filter(|t| t.present && !t.readable)
            .map(|t| t.name.as_str())
            .collect();
        let writable: Vec<&str> = self
            .tables
            .iter()
            .filter(|t| t.writable)
            .map(|t| t.name.as_str())
            .collect();
        if missing.is_empty() && unreadable.is_empty() {
            writeln!(
                f,
                "  tables: all {} present and readable",
                self.tables.len()
            )?;
        }
        if !missing.is_empty() {
            writeln!(f, "  tables missing: {}", missing.join(", "))?;
        }
        if !unreadable.is_empty() {
            writeln!(
                f,
                "  tables without SELECT for {}: {} (GRANT SELECT ON them TO {})",
                self.user,
                unreadable.join(", "),
                self.user
            )?;
        }
        if !writable.is_empty() {
            writeln!(
                f,
                "  note: {} may write {} (exportd only reads, in read-only sessions; a SELECT-only role is enough)",
                self.user,
                writable.join(", ")
            )?;
        }
        for (entity, why) in &self.refused {
            writeln!(f, "  {entity}: refused: {why}")?;
        }
        if self.ok() && !self.updated_at_index {
            writeln!(
                f,
                "  note: no index on invoices (tenant_id, environment_id, updated_at, ...): each invoice window scans the environment's invoices (the README gives the index to add)"
            )?;
        }
        for s in &self.scopes {
            writeln!(
                f,
                "  {}/{}: invoice {} rows, credit_topups {} rows, credit_usage {} customers",
                s.tenant_id, s.environment_id, s.invoices, s.credit_topups, s.customers
            )?;
        }
        Ok(())
    }
}
