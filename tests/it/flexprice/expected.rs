//! The exact CSV every export of a [`Dataset`] must give, computed from the structs in plain
//! Rust (no SQL, nothing of exportd's code), for the five entities read from Flexprice's
//! databases: `invoice` (38 columns), `credit_topups` (10), `credit_usage` (6 + metadata),
//! `events` (19) and `usage_analytics` (15 + metadata). A golden test exports a window and
//! compares the object with [`csv`] byte for byte.
//!
//! Rules, from issues 15/16, shared/SPEC.md 6.3-6.4, the Flexprice reference and the ledger
//! exports of src/export (which these follow where the issues leave a detail open):
//! - CSV as the `csv` crate writes it with `\n` line ends: quotes only when needed, `"`
//!   doubled; the header always, also when no row follows.
//! - Times: RFC 3339 UTC at second precision (`2025-10-16T10:00:00Z`), sub-seconds dropped.
//! - Decimals: plain notation, trailing zeros trimmed, `0` for zero (never `-0`), exact.
//! - NULL: an empty cell. An empty string is an empty cell too.
//! - Windows are half-open `[start, end)` on the window field, compared at full precision
//!   (microseconds in PostgreSQL, milliseconds in `DateTime64(3)`).
//! - Tenancy: a row's `tenant_id` and `environment_id` equal the key's (a NULL environment
//!   never matches), and `status = 'published'` on the table the entity reads.
//!
//! Choices made here where the issues are silent (implementers: match them, or change this
//! file and the source together):
//! 1. JSON cells (`invoice.metadata`, `events.properties`) are re-encoded by serde_json with
//!    keys sorted at every level: no HTML escaping of `<`, `>`, `&` (Flexprice's Go escapes
//!    them), non-ASCII as UTF-8, numbers as serde_json prints them after reading them as
//!    i64/u64/f64 (`1.50` becomes `1.5`, as Go's float64 does). An SQL NULL `metadata` is an
//!    empty cell; `{}` stays `{}`.
//! 2. `events.properties`: `""` gives `null`; text that is not JSON gives `{}`; JSON that is
//!    not an object gives `{}` except `null`, which gives `null` (Flexprice decodes into a Go
//!    map: arrays, strings and numbers fail to decode).
//! 3. `invoice`: every published invoice of the scope whose window field (`updated_at` by
//!    default, or `created_at`) is in the window; order `(window field, id)`. No join.
//! 4. `credit_topups`: published `credit` transactions with `transaction_status =
//!    'completed'` whose window field (`created_at` by default, or `updated_at`) is in the
//!    window; order `(window field, id)`. The wallet is looked up by id whatever its status;
//!    the customer by the wallet's `customer_id` whatever its status (a soft-deleted customer
//!    still names its top-ups); a missing wallet or customer gives empty `external_id` and
//!    `name` (the transaction's own `customer_id` is not used). `amount` is
//!    `wallet_transactions.amount`; the balances are `credit_balance_before/after`.
//! 5. `credit_usage` (as the ledger export): customers published in the scope and created
//!    before the window end, ordered by `(external_id, id)`; per customer one row per
//!    currency (sorted) of its wallets that are published, `wallet_status = 'active'` and
//!    created before the window end; `current_balance` = the sum over those wallets of the
//!    `credit_balance_after` of the wallet's last published completed transaction (by
//!    `(created_at, id)`) created before the window end (0 without one);
//!    `real_time_balance` = the sum of their `credit_balance` now; `number_of_wallets` =
//!    how many. A customer without such wallets gets one row `0,0,0`. Metadata columns:
//!    `customer` from `customers.metadata`, `wallet` from the first wallet of the currency
//!    (by `(created_at, id)`) whose metadata is not NULL; a missing key is an empty cell.
//! 6. `events`: the rows of `meter_usage FINAL` of the scope whose window field
//!    (`ingested_at` by default, or `timestamp`) is in the window, ordered by (window field
//!    **in whole seconds**, `id`, `meter_id`): 18.16 keeps `ingested_at` in seconds, so that
//!    is the order a test server can check; ordering by `toUnixTimestamp(ingested_at)` gives
//!    it on every server. `customer_id` is the id of the published customer of the scope
//!    with that external id (empty if none); `subscription_id`, `sub_line_item_id`,
//!    `price_id`, `feature_id`, `period_id` and `provisional_usage_charges` stay empty, as
//!    Flexprice leaves them.
//! 7. `usage_analytics`: one row per (external customer id, meter id, source) among the
//!    window's `meter_usage FINAL` rows (window field as for events), in that order.
//!    `event_count` = rows; `total_usage` by the meter's `aggregation.type` (the meter looked
//!    up by id whatever its status): COUNT = rows, SUM = sum, MAX = max of `qty_total`,
//!    COUNT_UNIQUE = distinct `unique_hash`, LATEST = `qty_total` of the greatest
//!    (`timestamp`, `id`); any other type (AVG, SUM_WITH_MULTIPLIER, WEIGHTED_SUM) gives an
//!    empty `total_usage` and `total_cost`, the row still present. `event_name` and
//!    `aggregation_field` come from the meter. Feature: the published feature of the scope
//!    whose `meter_id` is the meter; group: its published group's name. Customer: as for
//!    events. Price: the customer's published line item for the meter (first by id) on a
//!    published subscription whose `subscription_status` is `active`, and its price;
//!    `currency` is the price's; `total_cost` = `total_usage` × `amount` exactly (no rounding)
//!    when the price is `USAGE` + `FLAT_FEE` and the line item has no commitment
//!    (`commitment_amount` NULL), else empty (tiers, packages, commitments: Flexprice's
//!    pricing engine). Metadata columns read the customer's metadata (`wallet` fields are
//!    empty).
//! 8. Quantities are what the variant stores: the data set inserts them already truncated to
//!    the column's scale ([`Variant::qty`]).
//! 9. Text compares as bytes wherever it orders rows (ids, external ids, currencies): in
//!    PostgreSQL that is `COLLATE "C"`. The test cluster's default collation is ICU en-US,
//!    as a typical deployment's is collation-aware, and the data set has ids whose order
//!    differs (`07B`/`07a`, `07-1`/`07_2`, `Cust-010`/`bulk-000`): an ORDER BY, a keyset
//!    comparison or a "last transaction" subquery without it shows. ClickHouse compares
//!    strings as bytes already.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde_json::Value;

use super::dataset::{Customer, Dataset, LineItem, Map, MeterUsage, Variant, at};

/// An export entity read from Flexprice's databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entity {
    Invoice,
    CreditTopups,
    CreditUsage,
    Events,
    UsageAnalytics,
}

impl Entity {
    /// The `entity_type` of a task.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Entity::Invoice => "invoice",
            Entity::CreditTopups => "credit_topups",
            Entity::CreditUsage => "credit_usage",
            Entity::Events => "events",
            Entity::UsageAnalytics => "usage_analytics",
        }
    }

    /// Flexprice's header (before metadata columns).
    pub(crate) fn header(self) -> &'static [&'static str] {
        match self {
            Entity::Invoice => &INVOICE,
            Entity::CreditTopups => &CREDIT_TOPUPS,
            Entity::CreditUsage => &CREDIT_USAGE,
            Entity::Events => &EVENTS,
            Entity::UsageAnalytics => &USAGE_ANALYTICS,
        }
    }
}

pub(crate) const INVOICE: [&str; 38] = [
    "id",
    "tenant_id",
    "environment_id",
    "customer_id",
    "subscription_id",
    "invoice_number",
    "invoice_type",
    "invoice_status",
    "payment_status",
    "currency",
    "amount_due",
    "amount_paid",
    "amount_remaining",
    "subtotal",
    "total",
    "total_discount",
    "total_tax",
    "adjustment_amount",
    "refunded_amount",
    "billing_sequence",
    "description",
    "due_date",
    "paid_at",
    "voided_at",
    "finalized_at",
    "billing_period",
    "period_start",
    "period_end",
    "invoice_pdf_url",
    "billing_reason",
    "metadata",
    "idempotency_key",
    "version",
    "status",
    "created_by",
    "updated_by",
    "created_at",
    "updated_at",
];
pub(crate) const CREDIT_TOPUPS: [&str; 10] = [
    "topup_id",
    "external_id",
    "name",
    "wallet_id",
    "amount",
    "credit_balance_before",
    "credit_balance_after",
    "reference_id",
    "transaction_reason",
    "created_at",
];
pub(crate) const CREDIT_USAGE: [&str; 6] = [
    "name",
    "customer_external_id",
    "customer_id",
    "current_balance",
    "real_time_balance",
    "number_of_wallets",
];
pub(crate) const EVENTS: [&str; 19] = [
    "id",
    "tenant_id",
    "environment_id",
    "external_customer_id",
    "customer_id",
    "subscription_id",
    "sub_line_item_id",
    "price_id",
    "meter_id",
    "feature_id",
    "event_name",
    "source",
    "timestamp",
    "ingested_at",
    "period_id",
    "qty_total",
    "provisional_usage_charges",
    "properties",
    "unique_hash",
];
pub(crate) const USAGE_ANALYTICS: [&str; 15] = [
    "customer_name",
    "customer_id",
    "customer_external_id",
    "start_time",
    "end_time",
    "feature_name",
    "feature_id",
    "feature_group_name",
    "event_name",
    "event_count",
    "aggregation_field",
    "total_usage",
    "total_cost",
    "currency",
    "source",
];

/// Which time places a row in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WindowField {
    CreatedAt,
    UpdatedAt,
    IngestedAt,
    Timestamp,
}

impl WindowField {
    /// The `job_config.window_field` value.
    pub(crate) fn name(self) -> &'static str {
        match self {
            WindowField::CreatedAt => "created_at",
            WindowField::UpdatedAt => "updated_at",
            WindowField::IngestedAt => "ingested_at",
            WindowField::Timestamp => "timestamp",
        }
    }
}

/// One `export_metadata_fields` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetadataField {
    /// `customer` | `wallet`.
    pub entity_type: &'static str,
    pub field_key: String,
    pub column_name: String,
}

/// One export: what a task with this entity and job_config, run by a key of this scope over
/// this window, must write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Export {
    pub entity: Entity,
    pub tenant: String,
    pub env: String,
    pub start: Timestamp,
    pub end: Timestamp,
    /// `None`: the entity's default.
    pub window_field: Option<WindowField>,
    pub metadata: Vec<MetadataField>,
    /// The `meter_usage` schema the ClickHouse entities read.
    pub variant: Variant,
}

impl Export {
    /// A window on [`super::dataset::DAY`]: `Export::new(Entity::Invoice, "acme", "prod",
    /// "10:00:00", "11:00:00")`.
    pub(crate) fn new(entity: Entity, tenant: &str, env: &str, start: &str, end: &str) -> Export {
        Export::window(entity, tenant, env, at(start), at(end))
    }

    pub(crate) fn window(
        entity: Entity,
        tenant: &str,
        env: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Export {
        Export {
            entity,
            tenant: tenant.to_owned(),
            env: env.to_owned(),
            start,
            end,
            window_field: None,
            metadata: Vec::new(),
            variant: Variant::Dev,
        }
    }

    pub(crate) fn window_field(mut self, field: WindowField) -> Export {
        self.window_field = Some(field);
        self
    }

    /// Adds a metadata column (`column` defaults to the key, as in Flexprice).
    pub(crate) fn metadata(
        mut self,
        entity_type: &'static str,
        field_key: &str,
        column: Option<&str>,
    ) -> Export {
        self.metadata.push(MetadataField {
            entity_type,
            field_key: field_key.to_owned(),
            column_name: column.unwrap_or(field_key).to_owned(),
        });
        self
    }

    pub(crate) fn variant(mut self, variant: Variant) -> Export {
        self.variant = variant;
        self
    }

    /// The window field in force.
    pub(crate) fn field(&self) -> WindowField {
        self.window_field.unwrap_or(match self.entity {
            Entity::Invoice => WindowField::UpdatedAt,
            Entity::CreditTopups | Entity::CreditUsage => WindowField::CreatedAt,
            Entity::Events | Entity::UsageAnalytics => WindowField::IngestedAt,
        })
    }

    /// The job_config keys of this export (merge them into the task's job_config).
    pub(crate) fn job_config(&self) -> Value {
        let mut job = serde_json::json!({});
        if let Some(field) = self.window_field {
            job["window_field"] = field.name().into();
        }
        if !self.metadata.is_empty() {
            job["export_metadata_fields"] = self
                .metadata
                .iter()
                .map(|m| {
                    serde_json::json!({"entity_type": m.entity_type, "field_key": m.field_key, "column_name": m.column_name})
                })
                .collect();
        }
        job
    }

    /// The force-run body for this window.
    pub(crate) fn run_body(&self) -> Value {
        serde_json::json!({"start_time": self.start.to_string(), "end_time": self.end.to_string()})
    }

    fn in_window(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }
}

/// The whole object: header, then [`rows`].
pub(crate) fn csv(ds: &Dataset, export: &Export) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(header(export)).expect("write the header");
    for row in rows(ds, export) {
        w.write_record(&row).expect("write a row");
    }
    String::from_utf8(w.into_inner().expect("flush")).expect("UTF-8")
}

/// The header: the entity's columns, then the metadata columns.
pub(crate) fn header(export: &Export) -> Vec<&str> {
    export
        .entity
        .header()
        .iter()
        .copied()
        .chain(export.metadata.iter().map(|m| m.column_name.as_str()))
        .collect()
}

/// The rows (cells) of the export, without the header: `rows(..).len()` is the run's
/// record count.
pub(crate) fn rows(ds: &Dataset, export: &Export) -> Vec<Vec<String>> {
    match export.entity {
        Entity::Invoice => invoice_rows(ds, export),
        Entity::CreditTopups => credit_topup_rows(ds, export),
        Entity::CreditUsage => credit_usage_rows(ds, export),
        Entity::Events => event_rows(ds, export),
        Entity::UsageAnalytics => usage_analytics_rows(ds, export),
    }
}

/// A decimal cell.
pub(crate) fn decimal(d: Decimal) -> String {
    if d.is_zero() {
        "0".to_owned()
    } else {
        d.normalize().to_string()
    }
}

fn opt_decimal(d: Option<Decimal>) -> String {
    d.map(decimal).unwrap_or_default()
}

/// A time cell.
pub(crate) fn time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn opt_time(t: Option<Timestamp>) -> String {
    t.map(time).unwrap_or_default()
}

fn opt(s: Option<&str>) -> String {
    s.unwrap_or_default().to_owned()
}

/// JSON text with object keys sorted at every level (choice 1).
pub(crate) fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            let fields: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical_json(v)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// A jsonb map of strings as a cell (choice 1).
pub(crate) fn json_map(m: Option<&Map>) -> String {
    m.map(|m| {
        let v: serde_json::Map<String, Value> = m
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        canonical_json(&Value::Object(v))
    })
    .unwrap_or_default()
}

/// `meter_usage.properties` as a cell (choice 2).
pub(crate) fn properties(text: &str) -> String {
    if text.is_empty() {
        return "null".to_owned();
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => canonical_json(&v),
        Ok(Value::Null) => "null".to_owned(),
        _ => "{}".to_owned(),
    }
}

/// `value × price` exactly, trimmed; panics if it does not fit a decimal (the data set
/// keeps products small).
fn exact_mul(a: Decimal, b: Decimal) -> Decimal {
    let (a, b) = (a.normalize(), b.normalize());
    let mantissa = a
        .mantissa()
        .checked_mul(b.mantissa())
        .expect("product fits i128");
    Decimal::try_from_i128_with_scale(mantissa, a.scale() + b.scale())
        .unwrap_or_else(|e| panic!("{a} × {b} does not fit a decimal: {e}"))
        .normalize()
}

fn invoice_rows(ds: &Dataset, e: &Export) -> Vec<Vec<String>> {
    let field = e.field();
    let mut found: Vec<_> = ds
        .invoices
        .iter()
        .filter(|i| i.base.in_scope(&e.tenant, &e.env) && i.base.published())
        .map(|i| {
            let t = match field {
                WindowField::CreatedAt => i.base.created_at,
                _ => i.base.updated_at,
            };
            (t, i)
        })
        .filter(|(t, _)| e.in_window(*t))
        .collect();
    found.sort_by(|(ta, a), (tb, b)| (ta, &a.base.id).cmp(&(tb, &b.base.id)));
    found
        .into_iter()
        .map(|(_, i)| {
            vec![
                i.base.id.clone(),
                i.base.tenant_id.clone(),
                opt(i.base.environment_id.as_deref()),
                i.customer_id.clone(),
                opt(i.subscription_id.as_deref()),
                opt(i.invoice_number.as_deref()),
                i.invoice_type.clone(),
                i.invoice_status.clone(),
                i.payment_status.clone(),
                i.currency.clone(),
                decimal(i.amount_due),
                decimal(i.amount_paid),
                decimal(i.amount_remaining),
                opt_decimal(i.subtotal),
                opt_decimal(i.total),
                opt_decimal(i.total_discount),
                opt_decimal(i.total_tax),
                opt_decimal(i.adjustment_amount),
                opt_decimal(i.refunded_amount),
                i.billing_sequence
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
                opt(i.description.as_deref()),
                opt_time(i.due_date),
                opt_time(i.paid_at),
                opt_time(i.voided_at),
                opt_time(i.finalized_at),
                opt(i.billing_period.as_deref()),
                opt_time(i.period_start),
                opt_time(i.period_end),
                opt(i.invoice_pdf_url.as_deref()),
                opt(i.billing_reason.as_deref()),
                json_map(i.metadata.as_ref()),
                opt(i.idempotency_key.as_deref()),
                i.version.to_string(),
                i.base.status.clone(),
                opt(i.base.created_by.as_deref()),
                opt(i.base.updated_by.as_deref()),
                time(i.base.created_at),
                time(i.base.updated_at),
            ]
        })
        .collect()
}

fn credit_topup_rows(ds: &Dataset, e: &Export) -> Vec<Vec<String>> {
    let field = e.field();
    let mut found: Vec<_> = ds
        .transactions
        .iter()
        .filter(|t| {
            t.base.in_scope(&e.tenant, &e.env)
                && t.base.published()
                && t.kind == "credit"
                && t.transaction_status == "completed"
        })
        .map(|t| {
            let when = match field {
                WindowField::UpdatedAt => t.base.updated_at,
                _ => t.base.created_at,
            };
            (when, t)
        })
        .filter(|(when, _)| e.in_window(*when))
        .collect();
    found.sort_by(|(ta, a), (tb, b)| (ta, &a.base.id).cmp(&(tb, &b.base.id)));
    found
        .into_iter()
        .map(|(_, t)| {
            let customer = ds
                .wallets
                .iter()
                .find(|w| w.base.id == t.wallet_id)
                .and_then(|w| ds.customers.iter().find(|c| c.base.id == w.customer_id));
            vec![
                t.base.id.clone(),
                customer.map(|c| c.external_id.clone()).unwrap_or_default(),
                customer.map(|c| c.name.clone()).unwrap_or_default(),
                t.wallet_id.clone(),
                decimal(t.amount),
                decimal(t.credit_balance_before),
                decimal(t.credit_balance_after),
                opt(t.reference_id.as_deref()),
                t.transaction_reason.clone(),
                time(t.base.created_at),
            ]
        })
        .collect()
}

fn metadata_cells(e: &Export, customer: Option<&Map>, wallet: Option<&Map>) -> Vec<String> {
    e.metadata
        .iter()
        .map(|f| {
            let source = if f.entity_type == "wallet" {
                wallet
            } else {
                customer
            };
            source
                .and_then(|m| m.get(&f.field_key))
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

/// One currency of one customer (choice 5).
#[derive(Default)]
struct Balances {
    current: Decimal,
    real_time: Decimal,
    wallets: u64,
    metadata: Option<Map>,
}

fn credit_usage_rows(ds: &Dataset, e: &Export) -> Vec<Vec<String>> {
    let mut customers: Vec<&Customer> = ds
        .customers
        .iter()
        .filter(|c| {
            c.base.in_scope(&e.tenant, &e.env) && c.base.published() && c.base.created_at < e.end
        })
        .collect();
    customers.sort_by(|a, b| (&a.external_id, &a.base.id).cmp(&(&b.external_id, &b.base.id)));
    let mut out = Vec::new();
    for c in customers {
        let mut wallets: Vec<_> = ds
            .wallets
            .iter()
            .filter(|w| {
                w.customer_id == c.base.id
                    && w.base.in_scope(&e.tenant, &e.env)
                    && w.base.published()
                    && w.wallet_status == "active"
                    && w.base.created_at < e.end
            })
            .collect();
        wallets.sort_by(|a, b| {
            (&a.currency, a.base.created_at, &a.base.id).cmp(&(
                &b.currency,
                b.base.created_at,
                &b.base.id,
            ))
        });
        let mut groups: BTreeMap<String, Balances> = BTreeMap::new();
        for w in wallets {
            let last = ds
                .transactions
                .iter()
                .filter(|t| {
                    t.wallet_id == w.base.id
                        && t.base.published()
                        && t.transaction_status == "completed"
                        && t.base.created_at < e.end
                })
                .max_by(|a, b| {
                    (a.base.created_at, &a.base.id).cmp(&(b.base.created_at, &b.base.id))
                });
            let group = groups.entry(w.currency.clone()).or_default();
            group.current += last.map_or(Decimal::ZERO, |t| t.credit_balance_after);
            group.real_time += w.credit_balance;
            group.wallets += 1;
            if group.metadata.is_none() {
                group.metadata.clone_from(&w.metadata);
            }
        }
        if groups.is_empty() {
            groups.insert(String::new(), Balances::default());
        }
        for group in groups.values() {
            let mut row = vec![
                c.name.clone(),
                c.external_id.clone(),
                c.base.id.clone(),
                decimal(group.current),
                decimal(group.real_time),
                group.wallets.to_string(),
            ];
            row.extend(metadata_cells(
                e,
                c.metadata.as_ref(),
                group.metadata.as_ref(),
            ));
            out.push(row);
        }
    }
    out
}

/// The published customer of the scope with this external id.
fn customer_by_external_id<'d>(
    ds: &'d Dataset,
    e: &Export,
    external_id: &str,
) -> Option<&'d Customer> {
    ds.customers.iter().find(|c| {
        c.base.in_scope(&e.tenant, &e.env) && c.base.published() && c.external_id == external_id
    })
}

/// The window's `meter_usage FINAL` rows of the scope, with their window time.
fn usage_in_window(ds: &Dataset, e: &Export) -> Vec<(Timestamp, MeterUsage)> {
    let field = e.field();
    ds.meter_usage_final(e.variant)
        .into_iter()
        .filter(|r| r.tenant_id == e.tenant && r.environment_id == e.env)
        .map(|r| {
            let t = match field {
                WindowField::Timestamp => r.timestamp,
                _ => r.ingested_at,
            };
            (t, r)
        })
        .filter(|(t, _)| e.in_window(*t))
        .collect()
}

fn event_rows(ds: &Dataset, e: &Export) -> Vec<Vec<String>> {
    let mut found = usage_in_window(ds, e);
    found.sort_by(|(ta, a), (tb, b)| {
        (ta.as_second(), &a.id, &a.meter_id).cmp(&(tb.as_second(), &b.id, &b.meter_id))
    });
    found
        .into_iter()
        .map(|(_, r)| {
            let customer = customer_by_external_id(ds, e, &r.external_customer_id);
            vec![
                r.id.clone(),
                r.tenant_id.clone(),
                r.environment_id.clone(),
                r.external_customer_id.clone(),
                customer.map(|c| c.base.id.clone()).unwrap_or_default(),
                String::new(),
                String::new(),
                String::new(),
                r.meter_id.clone(),
                String::new(),
                r.event_name.clone(),
                r.source.clone(),
                time(r.timestamp),
                time(r.ingested_at),
                String::new(),
                decimal(r.qty_total),
                String::new(),
                properties(&r.properties),
                r.unique_hash.clone(),
            ]
        })
        .collect()
}

/// `total_usage` of one group by aggregation type (choice 7); `None` for types exportd does
/// not compute.
pub(crate) fn total_usage(aggregation: &str, rows: &[&MeterUsage]) -> Option<Decimal> {
    Some(match aggregation {
        "COUNT" => Decimal::from(rows.len() as u64),
        "SUM" => rows.iter().map(|r| r.qty_total).sum(),
        "MAX" => rows.iter().map(|r| r.qty_total).max().unwrap_or_default(),
        "COUNT_UNIQUE" => {
            let distinct: BTreeSet<&str> = rows.iter().map(|r| r.unique_hash.as_str()).collect();
            Decimal::from(distinct.len() as u64)
        }
        "LATEST" => rows
            .iter()
            .max_by(|a, b| (a.timestamp, &a.id).cmp(&(b.timestamp, &b.id)))
            .map(|r| r.qty_total)
            .unwrap_or_default(),
        _ => return None,
    })
}

/// The customer's published line item for the meter (first by id) on a published, active
/// subscription of the scope (choice 7).
pub(crate) fn line_item<'d>(
    ds: &'d Dataset,
    tenant: &str,
    env: &str,
    customer_id: &str,
    meter_id: &str,
) -> Option<&'d LineItem> {
    let mut items: Vec<_> = ds
        .line_items
        .iter()
        .filter(|l| {
            l.base.in_scope(tenant, env)
                && l.base.published()
                && l.customer_id == customer_id
                && l.meter_id.as_deref() == Some(meter_id)
                && ds.subscriptions.iter().any(|s| {
                    s.base.id == l.subscription_id
                        && s.base.published()
                        && s.subscription_status == "active"
                })
        })
        .collect();
    items.sort_by(|a, b| a.base.id.cmp(&b.base.id));
    items.first().copied()
}

fn usage_analytics_rows(ds: &Dataset, e: &Export) -> Vec<Vec<String>> {
    let found = usage_in_window(ds, e);
    let mut groups: BTreeMap<(&str, &str, &str), Vec<&MeterUsage>> = BTreeMap::new();
    for (_, r) in &found {
        groups
            .entry((&r.external_customer_id, &r.meter_id, &r.source))
            .or_default()
            .push(r);
    }
    let (start, end) = (time(e.start), time(e.end));
    let mut out = Vec::new();
    for ((external_id, meter_id, source), rows) in groups {
        let meter = ds.meters.iter().find(|m| m.base.id == meter_id);
        let aggregation = meter.map_or("", |m| m.aggregation.as_str());
        let usage = total_usage(aggregation, &rows);
        let customer = customer_by_external_id(ds, e, external_id);
        let feature = ds.features.iter().find(|f| {
            f.base.in_scope(&e.tenant, &e.env)
                && f.base.published()
                && f.meter_id.as_deref() == Some(meter_id)
        });
        let group = feature.and_then(|f| f.group_id.as_deref()).and_then(|g| {
            ds.groups
                .iter()
                .find(|x| x.base.id == g && x.base.published())
        });
        let line = customer.and_then(|c| line_item(ds, &e.tenant, &e.env, &c.base.id, meter_id));
        let price = line.and_then(|l| ds.prices.iter().find(|p| p.base.id == l.price_id));
        let committed = line.is_some_and(|l| l.commitment_amount.is_some());
        let cost = match (usage, price) {
            (Some(u), Some(p))
                if p.kind == "USAGE" && p.billing_model == "FLAT_FEE" && !committed =>
            {
                decimal(exact_mul(u, p.amount))
            }
            _ => String::new(),
        };
        let mut row = vec![
            customer.map(|c| c.name.clone()).unwrap_or_default(),
            customer.map(|c| c.base.id.clone()).unwrap_or_default(),
            external_id.to_owned(),
            start.clone(),
            end.clone(),
            feature.map(|f| f.name.clone()).unwrap_or_default(),
            feature.map(|f| f.base.id.clone()).unwrap_or_default(),
            group.map(|g| g.name.clone()).unwrap_or_default(),
            meter.map(|m| m.event_name.clone()).unwrap_or_default(),
            rows.len().to_string(),
            aggregation.to_owned(),
            usage.map(decimal).unwrap_or_default(),
            cost,
            price.map(|p| p.currency.clone()).unwrap_or_default(),
            source.to_owned(),
        ];
        row.extend(metadata_cells(
            e,
            customer.and_then(|c| c.metadata.as_ref()),
            None,
        ));
        out.push(row);
    }
    out
}
