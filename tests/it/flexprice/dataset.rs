//! The Flexprice data set of the tests: what a self-hosted Flexprice would hold in its
//! PostgreSQL and ClickHouse, generated deterministically (hand-written edge cases plus seeded
//! random rows) as plain structs. [`super::postgres`] and [`super::clickhouse`] load it;
//! [`super::expected`] computes from the same structs, without SQL, what every export of it
//! must be.
//!
//! Layout: two tenants (`acme`, `globex`) with two environments each (`prod`, `staging`):
//! the [`SCOPES`]. External ids (`cust-001`...) and event ids (`evt-001`...) repeat across
//! scopes on purpose; row ids (`cus_acme_prod_01`) do not. Noise rows that no key may see
//! (environment NULL or empty, a third tenant) sit beside them. Times are on [`DAY`]; the
//! interesting hourly windows are 10:00-11:00 (most rows), 11:00-12:00 (what [`Change`]s and
//! late completions touch) and 12:00-13:00 (late ClickHouse rows). Rows sit exactly on those
//! boundaries, one microsecond before them, and a few land on the day before.
//!
//! What it holds, per scope (see the functions below for the exact rows):
//! - customers with string metadata (keys of several lengths, so that PostgreSQL's jsonb order
//!   differs from sorted order; `<`, `&`, quotes, a newline, non-ASCII), soft-deleted ones
//!   (one sharing its external id with a published customer), one created after 11:00, one
//!   without wallets, one that only exists in staging;
//! - wallets in USD and EUR, active/frozen/closed, published/deleted, one whose customer is
//!   missing; transactions credit/debit, completed/pending/failed, one whose wallet is missing,
//!   NULL and empty `reference_id`s, one created at 10:45 and completed at 11:05, one left
//!   pending that a [`Change`] completes at 11:20, one soft-deleted;
//! - invoices in every status, nullable numerics NULL and set, jsonb metadata, boundary times,
//!   ties on `updated_at` broken by id, one finalized at 11:05 after its creation at 10:15,
//!   one a [`Change`] finalizes at 11:10 and one it voids exactly at 12:00;
//! - meters of every aggregation type (also SUM_WITH_MULTIPLIER, AVG and WEIGHTED_SUM, which
//!   exportd does not compute), features with and without groups, flat, tiered, package and
//!   fixed prices, subscriptions (one cancelled) with line items;
//! - ClickHouse `meter_usage` rows: several meters per event id, up to three versions of a row
//!   inserted by separate INSERTs (unmerged parts), rows on window boundaries, late rows, empty,
//!   unparsable and non-object `properties`, decimals with 25 digits; `events` rows with NULL
//!   `customer_id`, `source` and (production variant) `properties`.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use rust_decimal::Decimal;

/// The day every interesting row is on.
pub(crate) const DAY: &str = "2025-10-16";
/// The seed of [`Dataset::standard`].
pub(crate) const SEED: u64 = 20_251_016;
/// Every (tenant, environment) that API keys of the tests can have.
pub(crate) const SCOPES: [(&str, &str); 4] = [
    ("acme", "prod"),
    ("acme", "staging"),
    ("globex", "prod"),
    ("globex", "staging"),
];
/// The tenants of [`SCOPES`]; rows of other tenants are noise.
pub(crate) const TENANTS: [&str; 2] = ["acme", "globex"];

/// A time on [`DAY`]: `at("10:59:59.999999")`.
pub(crate) fn at(time: &str) -> Timestamp {
    on(DAY, time)
}

/// A time on another day: `on("2025-10-15", "23:59:59")`.
pub(crate) fn on(day: &str, time: &str) -> Timestamp {
    format!("{day}T{time}Z")
        .parse()
        .unwrap_or_else(|e| panic!("bad test time {day} {time}: {e}"))
}

/// An exact decimal from its text.
pub(crate) fn dec(text: &str) -> Decimal {
    text.parse()
        .unwrap_or_else(|e| panic!("bad test decimal {text}: {e}"))
}

/// A jsonb column that holds a map of strings (customer, wallet and invoice metadata).
pub(crate) type Map = BTreeMap<String, String>;

pub(crate) fn map(pairs: &[(&str, &str)]) -> Option<Map> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

/// The columns every Flexprice PostgreSQL table has.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Base {
    pub id: String,
    pub tenant_id: String,
    /// Nullable in Flexprice's schema; a key never matches NULL.
    pub environment_id: Option<String>,
    /// `published` | `deleted` | `archived`.
    pub status: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
}

impl Base {
    /// Whether a key of `tenant`/`env` may see the row (before any status filter).
    pub(crate) fn in_scope(&self, tenant: &str, env: &str) -> bool {
        self.tenant_id == tenant && self.environment_id.as_deref() == Some(env)
    }

    pub(crate) fn published(&self) -> bool {
        self.status == "published"
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Customer {
    pub base: Base,
    pub external_id: String,
    pub name: String,
    pub email: Option<String>,
    pub metadata: Option<Map>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Wallet {
    pub base: Base,
    pub customer_id: String,
    pub currency: String,
    pub balance: Decimal,
    pub credit_balance: Decimal,
    pub conversion_rate: Decimal,
    /// `active` | `frozen` | `closed`.
    pub wallet_status: String,
    pub wallet_type: String,
    pub name: Option<String>,
    pub metadata: Option<Map>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WalletTransaction {
    pub base: Base,
    pub wallet_id: String,
    pub customer_id: Option<String>,
    /// `credit` | `debit` (the column is `type`).
    pub kind: String,
    pub amount: Decimal,
    pub credit_amount: Decimal,
    pub credits_available: Decimal,
    pub credit_balance_before: Decimal,
    pub credit_balance_after: Decimal,
    /// `pending` | `completed` | `failed`.
    pub transaction_status: String,
    pub transaction_reason: String,
    pub currency: String,
    pub reference_type: Option<String>,
    pub reference_id: Option<String>,
    pub description: Option<String>,
    pub metadata: Option<Map>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Invoice {
    pub base: Base,
    pub customer_id: String,
    pub subscription_id: Option<String>,
    pub invoice_number: Option<String>,
    pub invoice_type: String,
    pub invoice_status: String,
    pub payment_status: String,
    pub currency: String,
    pub amount_due: Decimal,
    pub amount_paid: Decimal,
    pub amount_remaining: Decimal,
    pub subtotal: Option<Decimal>,
    pub total: Option<Decimal>,
    pub total_discount: Option<Decimal>,
    pub total_tax: Option<Decimal>,
    pub adjustment_amount: Option<Decimal>,
    pub refunded_amount: Option<Decimal>,
    pub billing_sequence: Option<i32>,
    pub description: Option<String>,
    pub due_date: Option<Timestamp>,
    pub paid_at: Option<Timestamp>,
    pub voided_at: Option<Timestamp>,
    pub finalized_at: Option<Timestamp>,
    pub billing_period: Option<String>,
    pub period_start: Option<Timestamp>,
    pub period_end: Option<Timestamp>,
    pub invoice_pdf_url: Option<String>,
    pub billing_reason: Option<String>,
    pub metadata: Option<Map>,
    pub idempotency_key: Option<String>,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Meter {
    pub base: Base,
    pub event_name: String,
    pub name: String,
    /// `aggregation.type`: COUNT, SUM, AVG, COUNT_UNIQUE, LATEST, SUM_WITH_MULTIPLIER, MAX,
    /// WEIGHTED_SUM.
    pub aggregation: String,
    /// `aggregation.field`.
    pub field: Option<String>,
    /// `aggregation.multiplier` (SUM_WITH_MULTIPLIER).
    pub multiplier: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Group {
    pub base: Base,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Feature {
    pub base: Base,
    pub name: String,
    /// `metered` | `boolean` | `static` | `config` (the column is `type`).
    pub kind: String,
    pub meter_id: Option<String>,
    pub group_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Price {
    pub base: Base,
    pub amount: Decimal,
    pub currency: String,
    /// `USAGE` | `FIXED` (the column is `type`).
    pub kind: String,
    /// `FLAT_FEE` | `PACKAGE` | `TIERED`.
    pub billing_model: String,
    pub tiers: Option<String>,
    pub transform_quantity: Option<String>,
    pub meter_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Subscription {
    pub base: Base,
    pub customer_id: String,
    pub plan_id: String,
    /// `active` | `cancelled` | ...
    pub subscription_status: String,
    pub currency: String,
    pub start_date: Timestamp,
    pub current_period_start: Timestamp,
    pub current_period_end: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LineItem {
    pub base: Base,
    pub subscription_id: String,
    pub customer_id: String,
    pub price_id: String,
    pub meter_id: Option<String>,
    pub currency: String,
    pub display_name: String,
    /// A minimum commitment: its cost needs Flexprice's pricing engine.
    pub commitment_amount: Option<Decimal>,
}

/// One version of a ClickHouse `meter_usage` row (an event × a matching meter).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MeterUsage {
    pub id: String,
    pub tenant_id: String,
    pub environment_id: String,
    pub external_customer_id: String,
    pub meter_id: String,
    pub event_name: String,
    /// Whole seconds (the column is `DateTime`).
    pub timestamp: Timestamp,
    /// Milliseconds (`DateTime64(3)`; whole seconds on 18.16). The ReplacingMergeTree version.
    pub ingested_at: Timestamp,
    /// Up to 15 decimal places; the production variant keeps 8 ([`Variant::qty`]).
    pub qty_total: Decimal,
    pub unique_hash: String,
    pub source: String,
    pub properties: String,
    /// Which INSERT carries this version: rows go in by batch, one INSERT each, in order, so
    /// versions of a row land in separate parts.
    pub batch: u32,
}

/// The (ReplacingMergeTree) sorting key of a `meter_usage` row: versions share it.
pub(crate) type UsageKey = (String, String, String, String, Timestamp, String);

impl MeterUsage {
    pub(crate) fn key(&self) -> UsageKey {
        (
            self.tenant_id.clone(),
            self.environment_id.clone(),
            self.external_customer_id.clone(),
            self.meter_id.clone(),
            self.timestamp,
            self.id.clone(),
        )
    }
}

/// A ClickHouse `events` row (one per event).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    pub id: String,
    pub tenant_id: String,
    pub environment_id: String,
    /// NULL only in the production variant (`''` in dev).
    pub external_customer_id: Option<String>,
    pub event_name: Option<String>,
    pub customer_id: Option<String>,
    pub source: Option<String>,
    pub timestamp: Timestamp,
    pub ingested_at: Timestamp,
    pub properties: Option<String>,
}

/// The two `meter_usage` schemas found in the wild.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Variant {
    /// Flexprice's dev migrations (docker-compose): `qty_total Decimal(25, 15)`.
    Dev,
    /// Flexprice's production (26.3): `qty_total Decimal(18, 8)`.
    Prod,
}

impl Variant {
    pub(crate) const ALL: [Variant; 2] = [Variant::Dev, Variant::Prod];

    /// Decimal places of `qty_total`.
    pub(crate) fn scale(self) -> u32 {
        match self {
            Variant::Dev => 15,
            Variant::Prod => 8,
        }
    }

    /// A quantity as this variant stores it: the data set inserts it already cut to the
    /// column's scale (truncated), so no server has to round.
    pub(crate) fn qty(self, d: Decimal) -> Decimal {
        d.trunc_with_scale(self.scale())
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Variant::Dev => "dev",
            Variant::Prod => "prod",
        }
    }
}

/// A change made after the initial load, so that a test can export a window, apply the
/// changes (to the databases with `PgDb::apply`/`ChDb::apply` and to the structs with
/// [`Dataset::apply`]) and export the next window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// A pending wallet transaction completes: status, balances, `updated_at`, and its
    /// wallet's balances.
    CompleteTransaction { id: String, at: Timestamp },
    /// A DRAFT invoice is finalized (`finalized_at`, `updated_at`, version + 1).
    FinalizeInvoice { id: String, at: Timestamp },
    /// An invoice is voided (`voided_at`, `updated_at`, payment VOIDED, version + 1).
    VoidInvoice { id: String, at: Timestamp },
    /// New `meter_usage` versions and late rows, inserted in one INSERT.
    MeterUsage(Vec<MeterUsage>),
}

/// Everything a Flexprice deployment holds, as the tests see it.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Dataset {
    pub customers: Vec<Customer>,
    pub wallets: Vec<Wallet>,
    pub transactions: Vec<WalletTransaction>,
    pub invoices: Vec<Invoice>,
    pub meters: Vec<Meter>,
    pub groups: Vec<Group>,
    pub features: Vec<Feature>,
    pub prices: Vec<Price>,
    pub subscriptions: Vec<Subscription>,
    pub line_items: Vec<LineItem>,
    /// Every version of every row, in insert order.
    pub meter_usage: Vec<MeterUsage>,
    pub events: Vec<Event>,
    /// What happens after the initial load (not applied to the vectors above).
    pub changes: Vec<Change>,
}

/// How many random rows [`Dataset::generate`] adds per scope beside the hand-written ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Size {
    pub customers: usize,
    pub invoices: usize,
    pub events: usize,
}

impl Size {
    pub(crate) const STANDARD: Size = Size {
        customers: 4,
        invoices: 16,
        events: 24,
    };
}

/// SplitMix64: small, deterministic, good enough to vary test data.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A decimal below `10^int_digits` with `scale` places (trailing zeros kept: the
    /// database pads them anyway, and exports must trim them).
    pub(crate) fn decimal(&mut self, int_digits: u32, scale: u32) -> Decimal {
        let bound = 10u64.pow(int_digits) * 10u64.pow(scale.min(9));
        let mut d = Decimal::from(self.below(bound));
        d.set_scale(scale.min(9)).unwrap_or_else(|e| panic!("{e}"));
        d
    }

    /// A time in `[from, to)`, at microsecond precision when `micros`, else whole seconds.
    pub(crate) fn time(&mut self, from: Timestamp, to: Timestamp, micros: bool) -> Timestamp {
        let span = (to.as_microsecond() - from.as_microsecond()).max(1) as u64;
        let mut us = from.as_microsecond() + self.below(span) as i64;
        if !micros {
            us -= us.rem_euclid(1_000_000);
        }
        Timestamp::from_microsecond(us).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Dataset {
    /// The data set of the golden tests: [`Dataset::generate`] with [`SEED`] and
    /// [`Size::STANDARD`].
    pub(crate) fn standard() -> Dataset {
        Dataset::generate(SEED, Size::STANDARD)
    }

    /// The hand-written rows of every scope plus `size` random ones per scope, the noise rows,
    /// and the [`Change`]s. The same seed and size always give the same data set.
    pub(crate) fn generate(seed: u64, size: Size) -> Dataset {
        let mut ds = Dataset::default();
        let mut later = Vec::new();
        for (k, (tenant, env)) in SCOPES.iter().enumerate() {
            let mut scope = Scope {
                ds: &mut ds,
                tenant,
                env,
                k: k as u32,
                rng: Rng::new(seed.wrapping_mul(31).wrapping_add(k as u64)),
                size,
                balances: BTreeMap::new(),
                later_usage: Vec::new(),
            };
            scope.customers();
            scope.wallets();
            scope.transactions();
            scope.invoices();
            scope.catalog();
            scope.usage();
            scope.events();
            later.extend(scope.later_usage);
        }
        ds.noise();
        ds.changes.push(Change::MeterUsage(later));
        ds.check();
        ds
    }

    /// This data set after all its [`Change`]s.
    pub(crate) fn after_changes(&self) -> Dataset {
        let mut ds = self.clone();
        for change in &self.changes {
            ds.apply(change);
        }
        ds.changes.clear();
        ds
    }

    /// Applies one change to the structs (the databases: `PgDb::apply`, `ChDb::apply`).
    pub(crate) fn apply(&mut self, change: &Change) {
        match change {
            Change::CompleteTransaction { id, at } => {
                let tx = self.transaction_mut(id);
                assert_eq!(tx.transaction_status, "pending", "{id} is not pending");
                let (wallet_id, kind, amount) = (tx.wallet_id.clone(), tx.kind.clone(), tx.amount);
                let wallet = self
                    .wallets
                    .iter_mut()
                    .find(|w| w.base.id == wallet_id)
                    .unwrap_or_else(|| panic!("no wallet {wallet_id}"));
                let before = wallet.credit_balance;
                let after = if kind == "debit" {
                    before - amount
                } else {
                    before + amount
                };
                wallet.credit_balance = after;
                wallet.balance = after * wallet.conversion_rate;
                wallet.base.updated_at = *at;
                let tx = self.transaction_mut(id);
                tx.transaction_status = "completed".into();
                tx.credit_balance_before = before;
                tx.credit_balance_after = after;
                tx.base.updated_at = *at;
            }
            Change::FinalizeInvoice { id, at } => {
                let inv = self.invoice_mut(id);
                inv.invoice_status = "FINALIZED".into();
                inv.finalized_at = Some(*at);
                inv.base.updated_at = *at;
                inv.version += 1;
            }
            Change::VoidInvoice { id, at } => {
                let inv = self.invoice_mut(id);
                inv.invoice_status = "VOIDED".into();
                inv.payment_status = "VOIDED".into();
                inv.voided_at = Some(*at);
                inv.base.updated_at = *at;
                inv.version += 1;
            }
            Change::MeterUsage(rows) => self.meter_usage.extend(rows.iter().cloned()),
        }
    }

    fn transaction_mut(&mut self, id: &str) -> &mut WalletTransaction {
        self.transactions
            .iter_mut()
            .find(|t| t.base.id == id)
            .unwrap_or_else(|| panic!("no transaction {id}"))
    }

    fn invoice_mut(&mut self, id: &str) -> &mut Invoice {
        self.invoices
            .iter_mut()
            .find(|i| i.base.id == id)
            .unwrap_or_else(|| panic!("no invoice {id}"))
    }

    /// The `meter_usage` rows a `FINAL` read returns: per sorting key, the version with the
    /// greatest `ingested_at`, quantities as `variant` stores them.
    pub(crate) fn meter_usage_final(&self, variant: Variant) -> Vec<MeterUsage> {
        let mut last: BTreeMap<UsageKey, &MeterUsage> = BTreeMap::new();
        for row in &self.meter_usage {
            let slot = last.entry(row.key()).or_insert(row);
            if row.ingested_at > slot.ingested_at {
                *slot = row;
            }
        }
        last.into_values()
            .map(|r| MeterUsage {
                qty_total: variant.qty(r.qty_total),
                ..r.clone()
            })
            .collect()
    }

    /// Rows per (table, tenant) that loading this data set into PostgreSQL must give.
    pub(crate) fn pg_counts(&self) -> BTreeMap<(&'static str, String), usize> {
        let mut counts = BTreeMap::new();
        let mut add = |table: &'static str, bases: Vec<&Base>| {
            for b in bases {
                *counts.entry((table, b.tenant_id.clone())).or_insert(0) += 1;
            }
        };
        add(
            "customers",
            self.customers.iter().map(|r| &r.base).collect(),
        );
        add("wallets", self.wallets.iter().map(|r| &r.base).collect());
        add(
            "wallet_transactions",
            self.transactions.iter().map(|r| &r.base).collect(),
        );
        add("invoices", self.invoices.iter().map(|r| &r.base).collect());
        add("meters", self.meters.iter().map(|r| &r.base).collect());
        add("groups", self.groups.iter().map(|r| &r.base).collect());
        add("features", self.features.iter().map(|r| &r.base).collect());
        add("prices", self.prices.iter().map(|r| &r.base).collect());
        add(
            "subscriptions",
            self.subscriptions.iter().map(|r| &r.base).collect(),
        );
        add(
            "subscription_line_items",
            self.line_items.iter().map(|r| &r.base).collect(),
        );
        counts
    }

    /// `meter_usage` rows per tenant: every version inserted, and what `FINAL` keeps.
    pub(crate) fn meter_usage_counts(&self) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
        let count = |rows: &[MeterUsage]| {
            let mut m = BTreeMap::new();
            for r in rows {
                *m.entry(r.tenant_id.clone()).or_insert(0) += 1;
            }
            m
        };
        (
            count(&self.meter_usage),
            count(&self.meter_usage_final(Variant::Dev)),
        )
    }

    /// The `meter_usage` INSERT batches in order (one INSERT each).
    pub(crate) fn meter_usage_batches(&self) -> Vec<Vec<&MeterUsage>> {
        let mut batches: BTreeMap<u32, Vec<&MeterUsage>> = BTreeMap::new();
        for r in &self.meter_usage {
            batches.entry(r.batch).or_default().push(r);
        }
        batches.into_values().collect()
    }

    /// Rows no key of [`SCOPES`] may ever see.
    fn noise(&mut self) {
        let created = at("10:30:00");
        let base = |id: &str, tenant: &str, env: Option<&str>| Base {
            id: id.to_owned(),
            tenant_id: tenant.to_owned(),
            environment_id: env.map(str::to_owned),
            status: "published".to_owned(),
            created_at: created,
            updated_at: created,
            created_by: None,
            updated_by: None,
        };
        for (n, tenant, env) in [
            ("nullenv", "acme", None),
            ("emptyenv", "acme", Some("")),
            ("initech", "initech", Some("prod")),
        ] {
            let customer = Customer {
                base: base(&format!("cus_noise_{n}"), tenant, env),
                external_id: "cust-001".into(),
                name: format!("Noise {n}"),
                email: None,
                metadata: map(&[("tier", "noise")]),
            };
            let wallet = Wallet {
                base: base(&format!("wal_noise_{n}"), tenant, env),
                customer_id: customer.base.id.clone(),
                currency: "USD".into(),
                balance: dec("5"),
                credit_balance: dec("5"),
                conversion_rate: dec("1"),
                wallet_status: "active".into(),
                wallet_type: "PRE_PAID".into(),
                name: None,
                metadata: None,
            };
            self.transactions.push(WalletTransaction {
                base: base(&format!("wtx_noise_{n}"), tenant, env),
                wallet_id: wallet.base.id.clone(),
                customer_id: Some(customer.base.id.clone()),
                kind: "credit".into(),
                amount: dec("5"),
                credit_amount: dec("5"),
                credits_available: dec("5"),
                credit_balance_before: dec("0"),
                credit_balance_after: dec("5"),
                transaction_status: "completed".into(),
                transaction_reason: "FREE_CREDIT_GRANT".into(),
                currency: "USD".into(),
                reference_type: None,
                reference_id: None,
                description: None,
                metadata: None,
            });
            self.invoices.push(Invoice {
                invoice_number: Some(format!("INV-NOISE-{n}")),
                ..blank_invoice(
                    base(&format!("inv_noise_{n}"), tenant, env),
                    &customer.base.id,
                )
            });
            self.customers.push(customer);
            self.wallets.push(wallet);
            let props = r#"{"bytes":1}"#;
            self.meter_usage.push(MeterUsage {
                id: "evt-001".into(),
                tenant_id: tenant.into(),
                environment_id: env.unwrap_or("").into(),
                external_customer_id: "cust-001".into(),
                meter_id: format!("mtr_noise_{n}"),
                event_name: "api_call".into(),
                timestamp: at("10:05:00"),
                ingested_at: at("10:05:00.250"),
                qty_total: dec("1"),
                unique_hash: "api_call:evt-001".into(),
                source: "sdk".into(),
                properties: props.into(),
                batch: 0,
            });
        }
    }

    /// The generator's own promises: unique ids, and no two versions of a `meter_usage` row
    /// in the same second (18.16 keeps `ingested_at` in seconds, and equal versions would
    /// leave the choice to the server).
    fn check(&self) {
        let mut ids = BTreeSet::new();
        let all = self
            .customers
            .iter()
            .map(|r| &r.base)
            .chain(self.wallets.iter().map(|r| &r.base))
            .chain(self.transactions.iter().map(|r| &r.base))
            .chain(self.invoices.iter().map(|r| &r.base))
            .chain(self.meters.iter().map(|r| &r.base))
            .chain(self.groups.iter().map(|r| &r.base))
            .chain(self.features.iter().map(|r| &r.base))
            .chain(self.prices.iter().map(|r| &r.base))
            .chain(self.subscriptions.iter().map(|r| &r.base))
            .chain(self.line_items.iter().map(|r| &r.base));
        for b in all {
            assert!(ids.insert(b.id.clone()), "duplicate id {}", b.id);
        }
        let mut versions: BTreeMap<UsageKey, BTreeSet<i64>> = BTreeMap::new();
        let later = self.changes.iter().flat_map(|c| match c {
            Change::MeterUsage(rows) => rows.as_slice(),
            _ => &[],
        });
        for r in self.meter_usage.iter().chain(later) {
            assert_eq!(
                r.timestamp.subsec_nanosecond(),
                0,
                "{}: timestamp in seconds",
                r.id
            );
            assert!(
                versions
                    .entry(r.key())
                    .or_default()
                    .insert(r.ingested_at.as_second()),
                "two versions of {:?} in the same second",
                r.key()
            );
        }
    }
}

/// An invoice with every optional column NULL and zero amounts.
fn blank_invoice(base: Base, customer_id: &str) -> Invoice {
    Invoice {
        base,
        customer_id: customer_id.to_owned(),
        subscription_id: None,
        invoice_number: None,
        invoice_type: "ONE_OFF".into(),
        invoice_status: "DRAFT".into(),
        payment_status: "PENDING".into(),
        currency: "USD".into(),
        amount_due: Decimal::ZERO,
        amount_paid: Decimal::ZERO,
        amount_remaining: Decimal::ZERO,
        subtotal: None,
        total: None,
        total_discount: None,
        total_tax: None,
        adjustment_amount: None,
        refunded_amount: None,
        billing_sequence: None,
        description: None,
        due_date: None,
        paid_at: None,
        voided_at: None,
        finalized_at: None,
        billing_period: None,
        period_start: None,
        period_end: None,
        invoice_pdf_url: None,
        billing_reason: None,
        metadata: None,
        idempotency_key: None,
        version: 1,
    }
}

/// Builds the rows of one scope.
struct Scope<'d> {
    ds: &'d mut Dataset,
    tenant: &'static str,
    env: &'static str,
    /// The scope's position in [`SCOPES`]: varies quantities between scopes.
    k: u32,
    rng: Rng,
    size: Size,
    /// Running credit balance per wallet id, as transactions are added in time order.
    balances: BTreeMap<String, Decimal>,
    /// `meter_usage` rows that arrive after the initial load (a [`Change`]).
    later_usage: Vec<MeterUsage>,
}

/// Arguments of one wallet transaction.
struct Tx<'a> {
    wallet: &'a str,
    n: &'a str,
    at: Timestamp,
    kind: &'a str,
    amount: &'a str,
    status: &'a str,
    reason: &'a str,
    reference: Option<&'a str>,
}

/// Arguments of one `meter_usage` row.
struct Usage<'a> {
    id: &'a str,
    customer: &'a str,
    meter: &'a str,
    event_name: &'a str,
    timestamp: Timestamp,
    ingested_at: Timestamp,
    qty: Decimal,
    source: &'a str,
    properties: &'a str,
    batch: u32,
}

/// A completed credit (override fields for the rest).
fn credit<'a>(
    wallet: &'a str,
    n: &'a str,
    at: Timestamp,
    amount: &'a str,
    reason: &'a str,
    reference: Option<&'a str>,
) -> Tx<'a> {
    Tx {
        wallet,
        n,
        at,
        kind: "credit",
        amount,
        status: "completed",
        reason,
        reference,
    }
}

/// One `meter_usage` row of the first INSERT (override `batch` for later ones).
#[allow(clippy::too_many_arguments)]
fn one<'a>(
    id: &'a str,
    customer: &'a str,
    meter: &'a str,
    event_name: &'a str,
    timestamp: Timestamp,
    ingested_at: Timestamp,
    qty: &str,
    source: &'a str,
    properties: &'a str,
) -> Usage<'a> {
    Usage {
        id,
        customer,
        meter,
        event_name,
        timestamp,
        ingested_at,
        qty: dec(qty),
        source,
        properties,
        batch: 0,
    }
}

impl Scope<'_> {
    fn id(&self, kind: &str, n: &str) -> String {
        format!("{kind}_{}_{}_{n}", self.tenant, self.env)
    }

    fn base(&self, id: String, created: Timestamp, updated: Timestamp) -> Base {
        Base {
            id,
            tenant_id: self.tenant.to_owned(),
            environment_id: Some(self.env.to_owned()),
            status: "published".to_owned(),
            created_at: created,
            updated_at: updated,
            created_by: None,
            updated_by: None,
        }
    }

    fn customer(
        &mut self,
        n: &str,
        external_id: &str,
        name: &str,
        metadata: Option<Map>,
    ) -> &mut Customer {
        let created = on("2025-10-01", "08:00:00");
        let c = Customer {
            base: self.base(self.id("cus", n), created, created),
            external_id: external_id.to_owned(),
            name: name.to_owned(),
            email: Some(format!("billing+{external_id}@example.test")),
            metadata,
        };
        self.ds.customers.push(c);
        self.ds.customers.last_mut().expect("just pushed")
    }

    fn customers(&mut self) {
        self.customer(
            "01",
            "cust-001",
            "Acme, Inc.",
            map(&[("tier", "gold"), ("region", "eu"), ("cost_center", "cc-1")]),
        );
        self.customer(
            "02",
            "cust-002",
            "Beta \"B\" Ltd",
            map(&[
                ("tier", "silver"),
                ("note", "a <b> & c, \"q\""),
                ("zz", "ü"),
            ]),
        );
        self.customer("03", "cust-003", "Zoë Café", None).email = None;
        self.customer("04", "cust-004", "Two\nLines LLC", map(&[]));
        self.customer("05", "cust-005", "No Wallet Co", map(&[("tier", "bronze")]));
        // First by bytes, last by ICU en-US: exports order external ids as bytes.
        self.customer("10", "Cust-010", "Upper Case Co", map(&[("tier", "gold")]));
        let late = self.customer("06", "cust-006", "Late Joiner", map(&[("tier", "gold")]));
        late.base.created_at = at("11:30:00");
        late.base.updated_at = at("11:30:00");
        // Soft-deleted: one shares its external id with the published cust-003.
        let old = self.customer("07", "cust-003", "Old Zoë", map(&[("tier", "old")]));
        old.base.status = "deleted".into();
        old.base.created_at = on("2025-09-01", "08:00:00");
        let gone = self.customer("08", "cust-008", "Gone Away", map(&[("tier", "x")]));
        gone.base.status = "deleted".into();
        gone.base.updated_at = on("2025-10-10", "08:00:00");
        if self.env == "staging" {
            self.customer("09", "cust-099", "Staging Only", map(&[("tier", "test")]));
        }
        let names = [
            "Initrode",
            "Umbrella, Ltd",
            "Hooli",
            "Vandelay \"Industries\"",
            "Soylent",
        ];
        let tiers = ["gold", "silver", "bronze"];
        for i in 0..self.size.customers {
            let name = format!("{} #{i}", self.rng.pick(&names));
            let metadata = if self.rng.chance(25) {
                None
            } else {
                let tier = *self.rng.pick(&tiers);
                map(&[("tier", tier), ("seq", &i.to_string())])
            };
            let created = self
                .rng
                .time(on("2025-10-10", "00:00:00"), at("13:00:00"), true);
            let c = self.customer(
                &format!("b{i:02}"),
                &format!("bulk-{i:03}"),
                &name,
                metadata,
            );
            c.base.created_at = created;
            c.base.updated_at = created;
        }
    }

    fn wallet(
        &mut self,
        n: &str,
        customer: &str,
        currency: &str,
        created: Timestamp,
    ) -> &mut Wallet {
        let w = Wallet {
            base: self.base(self.id("wal", n), created, created),
            customer_id: customer.to_owned(),
            currency: currency.to_owned(),
            balance: Decimal::ZERO,
            credit_balance: Decimal::ZERO,
            conversion_rate: Decimal::ONE,
            wallet_status: "active".into(),
            wallet_type: "PRE_PAID".into(),
            name: Some(format!("{currency} wallet")),
            metadata: None,
        };
        self.ds.wallets.push(w);
        self.ds.wallets.last_mut().expect("just pushed")
    }

    fn wallets(&mut self) {
        let (c01, c02, c03) = (
            self.id("cus", "01"),
            self.id("cus", "02"),
            self.id("cus", "03"),
        );
        let early = on("2025-10-01", "09:00:00");
        self.wallet("01", &c01, "USD", early).metadata = map(&[("cost_center", "cc-9")]);
        self.wallet("02", &c01, "EUR", on("2025-10-01", "09:05:00"));
        self.wallet("03", &c01, "USD", on("2025-10-02", "09:00:00"))
            .metadata = map(&[("cost_center", "cc-10")]);
        self.wallet("04", &c01, "USD", on("2025-10-02", "09:00:00"))
            .wallet_status = "frozen".into();
        self.wallet("05", &c01, "EUR", early).wallet_status = "closed".into();
        self.wallet("06", &c01, "USD", early).base.status = "deleted".into();
        // The oldest EUR wallet of cust-002 has metadata `{}`: its (empty) metadata is the one
        // the export shows, not the next wallet's.
        self.wallet("07", &c02, "EUR", early).metadata = map(&[]);
        self.wallet("08", &c02, "EUR", on("2025-10-03", "09:00:00"))
            .metadata = map(&[("cost_center", "cc-7")]);
        self.wallet("09", &c03, "USD", early);
        let c04 = self.id("cus", "04");
        self.wallet("10", &c04, "USD", at("10:30:00"));
        let c06 = self.id("cus", "06");
        self.wallet("11", &c06, "USD", at("11:35:00"));
        let c08 = self.id("cus", "08");
        self.wallet("12", &c08, "USD", early);
        // Its customer does not exist (Flexprice has no foreign keys).
        self.wallet("13", "cus_missing", "USD", early);
        for i in 0..self.size.customers {
            let customer = self.id("cus", &format!("b{i:02}"));
            let currency = *self.rng.pick(&["USD", "EUR"]);
            let status = *self.rng.pick(&["active", "active", "frozen", "closed"]);
            let created = self
                .rng
                .time(on("2025-10-10", "00:00:00"), at("12:00:00"), true);
            self.wallet(&format!("b{i:02}"), &customer, currency, created)
                .wallet_status = status.into();
        }
    }

    fn tx(&mut self, t: Tx<'_>) -> &mut WalletTransaction {
        let wallet_id = self.id("wal", t.wallet);
        let wallet = self.ds.wallets.iter().find(|w| w.base.id == wallet_id);
        let currency = wallet.map_or("USD".to_owned(), |w| w.currency.clone());
        let customer_id = wallet.map(|w| w.customer_id.clone());
        let amount = dec(t.amount);
        let balance = self.balances.entry(wallet_id.clone()).or_default();
        let before = *balance;
        if t.status == "completed" {
            *balance += if t.kind == "debit" { -amount } else { amount };
        }
        let after = *balance;
        let tx = WalletTransaction {
            base: self.base(self.id("wtx", t.n), t.at, t.at),
            wallet_id,
            customer_id,
            kind: t.kind.to_owned(),
            amount,
            credit_amount: amount,
            credits_available: if t.kind == "credit" {
                amount
            } else {
                Decimal::ZERO
            },
            credit_balance_before: before,
            credit_balance_after: after,
            transaction_status: t.status.to_owned(),
            transaction_reason: t.reason.to_owned(),
            currency,
            reference_type: t.reference.map(|_| "EXTERNAL".to_owned()),
            reference_id: t.reference.map(str::to_owned),
            description: None,
            metadata: None,
        };
        self.ds.transactions.push(tx);
        self.ds.transactions.last_mut().expect("just pushed")
    }

    fn transactions(&mut self) {
        let c = "completed";
        let direct = "PURCHASED_CREDIT_DIRECT";
        self.tx(credit(
            "01",
            "01-1",
            at("09:00:00"),
            "100",
            direct,
            Some("pay_001"),
        ));
        // Exactly at the start of the 10:00 window, and no reference.
        self.tx(credit(
            "01",
            "01-2",
            at("10:00:00"),
            "50",
            "FREE_CREDIT_GRANT",
            None,
        ));
        self.tx(Tx {
            kind: "debit",
            ..credit(
                "01",
                "01-3",
                at("10:15:00"),
                "30.5",
                "INVOICE_PAYMENT",
                Some("inv-x"),
            )
        });
        // Created pending at 10:45, completed at 11:05.
        self.tx(credit(
            "01",
            "01-4",
            at("10:45:00"),
            "20",
            "PURCHASED_CREDIT_INVOICED",
            Some("inv_topup_1"),
        ))
        .base
        .updated_at = at("11:05:00");
        // Soft-deleted: never exported, never counted.
        let deleted = self.tx(Tx {
            status: "failed",
            ..credit("01", "01-5", at("10:16:00"), "3", direct, Some("del"))
        });
        deleted.transaction_status = c.into();
        deleted.base.status = "deleted".into();
        // One microsecond before the window's end; an empty (not NULL) reference.
        self.tx(credit(
            "01",
            "01-6",
            at("10:59:59.999999"),
            "1.000000001",
            "CREDIT_ADJUSTMENT",
            Some(""),
        ));
        self.tx(credit(
            "01",
            "01-7",
            at("11:00:00"),
            "5",
            "SUBSCRIPTION_CREDIT_GRANT",
            Some("sub_1"),
        ));
        self.tx(Tx {
            status: "failed",
            ..credit("01", "01-8", at("11:30:00"), "7", direct, Some("pay_fail"))
        });
        self.tx(Tx {
            status: "pending",
            ..credit(
                "01",
                "01-9",
                at("12:10:00"),
                "2.5",
                "PURCHASED_CREDIT_INVOICED",
                Some("inv_topup_2"),
            )
        });
        // After the 12:00 window: only the real-time balance sees it.
        self.tx(credit(
            "01",
            "01-10",
            at("13:30:00"),
            "10",
            direct,
            Some("pay_late"),
        ));
        self.tx(credit(
            "02",
            "02-1",
            at("09:30:00"),
            "40",
            direct,
            Some("pay_eur"),
        ));
        self.tx(credit(
            "02",
            "02-2",
            at("10:20:00"),
            "0.000000001",
            "PURCHASED_CREDIT_BONUS",
            None,
        ));
        self.tx(Tx {
            kind: "debit",
            ..credit(
                "02",
                "02-3",
                at("10:21:00"),
                "15",
                "MANUAL_BALANCE_DEBIT",
                None,
            )
        });
        self.tx(credit(
            "03",
            "03-1",
            at("10:05:00"),
            "12.345678912",
            direct,
            Some("r3"),
        ));
        // Frozen, closed and deleted wallets: their top-ups are still top-ups.
        self.tx(credit(
            "04",
            "04-1",
            at("10:06:00"),
            "9",
            direct,
            Some("frozen"),
        ));
        self.tx(credit("05", "05-1", at("09:10:00"), "3", direct, None));
        self.tx(credit(
            "06",
            "06-1",
            at("10:07:00"),
            "4",
            direct,
            Some("deleted-wallet"),
        ));
        self.tx(credit("07", "07-1", at("10:08:00"), "8", direct, None));
        // Same instant: "07-1" before "07_2" as bytes, after it in ICU en-US.
        self.tx(credit("07", "07_2", at("10:08:00"), "1", direct, None));
        self.tx(credit("08", "08-1", at("10:09:00"), "9", direct, None));
        self.tx(credit("08", "08-2", at("11:10:00"), "1", direct, None));
        self.tx(credit("09", "09-1", at("09:00:00"), "30", direct, None));
        // Pending; Change::CompleteTransaction completes it at 11:20.
        self.tx(Tx {
            status: "pending",
            ..credit(
                "09",
                "09-2",
                at("10:40:00"),
                "20",
                "PURCHASED_CREDIT_INVOICED",
                Some("inv_topup_3"),
            )
        });
        self.ds.changes.push(Change::CompleteTransaction {
            id: self.id("wtx", "09-2"),
            at: at("11:20:00"),
        });
        self.tx(credit(
            "10",
            "10-1",
            at("10:31:00"),
            "5",
            "FREE_CREDIT_GRANT",
            None,
        ));
        self.tx(credit(
            "11",
            "11-1",
            at("11:36:00"),
            "6",
            "FREE_CREDIT_GRANT",
            None,
        ));
        // The customer is soft-deleted; the wallet's customer is missing; the wallet is missing.
        self.tx(credit(
            "12",
            "12-1",
            at("10:11:00"),
            "7",
            direct,
            Some("gone"),
        ));
        self.tx(credit(
            "13",
            "13-1",
            at("10:12:00"),
            "8",
            direct,
            Some("orphan-wallet"),
        ));
        self.tx(credit(
            "missing",
            "x-1",
            at("10:13:00"),
            "9",
            direct,
            Some("no-wallet"),
        ))
        .customer_id = Some(self.id("cus", "01"));
        self.tx(Tx {
            kind: "debit",
            ..credit(
                "missing",
                "x-2",
                at("10:14:00"),
                "1",
                "INVOICE_PAYMENT",
                None,
            )
        });
        let reasons = [
            "INVOICE_PAYMENT",
            "FREE_CREDIT_GRANT",
            "SUBSCRIPTION_CREDIT_GRANT",
            "PURCHASED_CREDIT_DIRECT",
            "CREDIT_EXPIRED",
            "CREDIT_NOTE",
        ];
        for i in 0..self.size.customers {
            let wallet = format!("b{i:02}");
            let mut times: Vec<Timestamp> = (0..3)
                .map(|_| self.rng.time(at("09:00:00"), at("13:30:00"), true))
                .collect();
            times.sort();
            for (j, time) in times.into_iter().enumerate() {
                let kind = *self.rng.pick(&["credit", "credit", "debit"]);
                let status = *self
                    .rng
                    .pick(&["completed", "completed", "pending", "failed"]);
                let reason = *self.rng.pick(&reasons);
                let amount = self.rng.decimal(3, 9).to_string();
                // Wallets do not go below zero.
                let balance = self.balances.get(&self.id("wal", &wallet)).copied();
                let kind = if kind == "debit" && balance.unwrap_or_default() < dec(&amount) {
                    "credit"
                } else {
                    kind
                };
                let reference = format!("ref-{i}-{j}");
                let with_reference = self.rng.chance(70);
                self.tx(Tx {
                    wallet: &wallet,
                    n: &format!("{wallet}-{j}"),
                    at: time,
                    kind,
                    amount: &amount,
                    status,
                    reason,
                    reference: with_reference.then_some(reference.as_str()),
                });
            }
        }
        // Wallets hold the balance after their last completed transaction.
        for w in self
            .ds
            .wallets
            .iter_mut()
            .filter(|w| w.base.tenant_id == self.tenant)
        {
            if let Some(balance) = self.balances.get(&w.base.id) {
                w.credit_balance = *balance;
                w.balance = *balance * w.conversion_rate;
            }
        }
    }

    fn invoice(
        &mut self,
        n: &str,
        customer: &str,
        created: Timestamp,
        updated: Timestamp,
    ) -> &mut Invoice {
        let base = self.base(self.id("inv", n), created, updated);
        let number = format!("INV-{}-{n}", self.env.to_uppercase());
        let customer_id = self.id("cus", customer);
        let inv = Invoice {
            invoice_number: Some(number),
            ..blank_invoice(base, &customer_id)
        };
        self.ds.invoices.push(inv);
        self.ds.invoices.last_mut().expect("just pushed")
    }

    fn invoices(&mut self) {
        let inv = self.invoice("01", "01", at("10:06:00"), at("10:06:00"));
        inv.amount_due = dec("120.5");
        inv.amount_remaining = dec("120.50");
        inv.subtotal = Some(dec("120.5"));
        inv.total = Some(dec("120.5"));
        inv.description = Some("Setup, onboarding".into());
        inv.due_date = Some(on("2025-11-01", "00:00:00"));
        inv.metadata = map(&[("po", "PO-7")]);
        inv.billing_reason = Some("MANUAL".into());

        // Finalized exactly at the start of the 10:00 window.
        let sub = self.id("sub", "01");
        let inv = self.invoice("02", "01", on("2025-10-15", "09:00:00"), at("10:00:00"));
        inv.invoice_type = "SUBSCRIPTION".into();
        inv.invoice_status = "FINALIZED".into();
        inv.subscription_id = Some(sub);
        inv.finalized_at = Some(at("10:00:00"));
        inv.amount_due = dec("94.5");
        inv.amount_remaining = dec("94.5");
        inv.subtotal = Some(dec("99.99999999"));
        inv.total_tax = Some(dec("0.00000001"));
        inv.total_discount = Some(dec("0"));
        inv.adjustment_amount = Some(dec("-5.5"));
        inv.total = Some(dec("94.5"));
        inv.billing_sequence = Some(3);
        inv.billing_period = Some("MONTHLY".into());
        inv.period_start = Some(on("2025-09-15", "00:00:00"));
        inv.period_end = Some(on("2025-10-15", "00:00:00"));
        inv.billing_reason = Some("SUBSCRIPTION_CYCLE".into());
        inv.version = 2;
        inv.base.created_by = Some("system".into());
        inv.base.updated_by = Some("user_01".into());

        // Voided exactly at the end of the 10:00 window: it belongs to the next one.
        let inv = self.invoice("03", "02", at("10:10:00"), at("11:00:00"));
        inv.invoice_status = "VOIDED".into();
        inv.payment_status = "VOIDED".into();
        inv.currency = "EUR".into();
        inv.voided_at = Some(at("11:00:00"));
        inv.amount_due = dec("10");
        inv.version = 2;

        let inv = self.invoice("04", "03", at("10:20:00"), at("10:20:00.5"));
        inv.invoice_type = "CREDIT".into();
        inv.invoice_status = "SKIPPED".into();
        inv.metadata = map(&[]);
        inv.invoice_number = None;

        // Created in the 10:00 window, finalized and paid in the 11:00 one.
        let inv = self.invoice("05", "01", at("10:15:00"), at("11:05:00"));
        inv.invoice_status = "FINALIZED".into();
        inv.payment_status = "SUCCEEDED".into();
        inv.finalized_at = Some(at("11:04:59"));
        inv.paid_at = Some(at("11:05:00"));
        inv.amount_due = dec("33.33333333");
        inv.amount_paid = dec("33.33333333");
        inv.refunded_amount = Some(dec("0.00000000"));
        inv.version = 3;

        // The last microsecond of the 10:00 window.
        let inv = self.invoice("06", "04", at("10:59:59.999999"), at("10:59:59.999999"));
        inv.amount_due = dec("1");
        inv.amount_remaining = dec("1");

        // Two invoices changed at the same instant: ordered by id as bytes, 07B before 07a
        // (a collation-aware ORDER BY, such as ICU en-US's, puts 07a first).
        self.invoice("07a", "02", at("10:30:00"), at("10:30:00"))
            .amount_due = dec("1");
        self.invoice("07B", "01", at("10:30:00"), at("10:30:00"))
            .amount_due = dec("2");

        // Soft-deleted: never exported.
        self.invoice("08", "01", at("10:35:00"), at("10:35:00"))
            .base
            .status = "deleted".into();

        let inv = self.invoice("09", "02", at("10:36:00"), at("10:36:00"));
        inv.amount_due = dec("123456789012.12345678");
        inv.amount_remaining = dec("123456789012.12345678");
        inv.total = Some(dec("123456789012.12345678"));
        inv.currency = "EUR".into();

        let idempotency_key = format!("idem-{}-{}-10", self.tenant, self.env);
        let inv = self.invoice("10", "02", at("10:37:00"), at("10:37:00"));
        inv.description = Some("Line one\nLine \"two\", <three> & four".into());
        inv.metadata = map(&[
            ("z", "last"),
            ("aaaa", "first by name, last by length"),
            ("mm", "ü & <b>"),
            ("quote", "say \"hi\""),
        ]);
        inv.invoice_pdf_url = Some("https://files.example.test/inv/10.pdf?a=1&b=2".into());
        inv.idempotency_key = Some(idempotency_key);
        inv.base.created_by = Some("api-key".into());
        inv.base.updated_by = Some("api-key".into());

        // The customer does not exist: the invoice export does not join, so it is exported.
        let inv = self.invoice("11", "01", at("10:38:00"), at("10:38:00"));
        inv.customer_id = "cus_missing".into();

        // Change::FinalizeInvoice at 11:10 and Change::VoidInvoice at 12:00:00.
        self.invoice("12", "01", at("10:25:00"), at("10:25:00"))
            .amount_due = dec("12");
        self.invoice("13", "02", at("10:26:00"), at("10:26:00"))
            .amount_due = dec("13");
        self.ds.changes.push(Change::FinalizeInvoice {
            id: self.id("inv", "12"),
            at: at("11:10:00"),
        });
        self.ds.changes.push(Change::VoidInvoice {
            id: self.id("inv", "13"),
            at: at("12:00:00"),
        });

        // Changed on the day before: outside every window of DAY.
        self.invoice(
            "14",
            "01",
            on("2025-10-15", "23:59:59"),
            on("2025-10-15", "23:59:59"),
        );

        let statuses = ["DRAFT", "FINALIZED", "VOIDED", "SKIPPED"];
        let payments = ["PENDING", "SUCCEEDED", "FAILED", "PROCESSING", "REFUNDED"];
        let kinds = ["SUBSCRIPTION", "ONE_OFF", "CREDIT"];
        let customers = ["01", "02", "03", "04", "05"];
        for i in 0..self.size.invoices {
            let created = self.rng.time(at("09:00:00"), at("13:30:00"), true);
            let updated = if self.rng.chance(40) {
                self.rng.time(created, at("13:30:00"), true)
            } else {
                created
            };
            let customer = *self.rng.pick(&customers);
            let status = *self.rng.pick(&statuses);
            let payment = *self.rng.pick(&payments);
            let kind = *self.rng.pick(&kinds);
            let due = self.rng.decimal(5, 8);
            let paid = if payment == "SUCCEEDED" {
                due
            } else {
                Decimal::ZERO
            };
            let optional: Vec<Option<Decimal>> = (0..6)
                .map(|_| self.rng.chance(50).then(|| self.rng.decimal(3, 8)))
                .collect();
            let sequence = self.rng.chance(50).then(|| self.rng.below(40) as i32);
            let k = self.k;
            let inv = self.invoice(&format!("r{i:02}"), customer, created, updated);
            inv.invoice_status = status.into();
            inv.payment_status = payment.into();
            inv.invoice_type = kind.into();
            inv.amount_due = due;
            inv.amount_paid = paid;
            inv.amount_remaining = due - paid;
            inv.subtotal = optional[0];
            inv.total = optional[1];
            inv.total_discount = optional[2];
            inv.total_tax = optional[3];
            inv.adjustment_amount = optional[4];
            inv.refunded_amount = optional[5];
            inv.billing_sequence = sequence;
            inv.finalized_at = (status != "DRAFT").then_some(updated);
            inv.voided_at = (status == "VOIDED").then_some(updated);
            inv.paid_at = (payment == "SUCCEEDED").then_some(updated);
            inv.version = 1 + i64::from(updated != created);
            if i % 3 == 0 {
                inv.metadata = map(&[("batch", &format!("{k}-{i}")), ("source", "generator")]);
            }
        }
    }

    fn catalog(&mut self) {
        let created = on("2025-10-01", "00:00:00");
        let meters: [(&str, &str, &str, Option<&str>); 9] = [
            ("api", "api_call", "COUNT", None),
            ("bytes", "api_call", "SUM", Some("bytes")),
            ("storage", "storage", "MAX", Some("gb")),
            ("users", "login", "COUNT_UNIQUE", Some("user")),
            ("temp", "reading", "LATEST", Some("celsius")),
            ("mult", "batch", "SUM_WITH_MULTIPLIER", Some("units")),
            ("avg", "ping", "AVG", Some("latency_ms")),
            ("wsum", "seats", "WEIGHTED_SUM", Some("seats")),
            ("legacy", "legacy", "COUNT", None),
        ];
        for (name, event, aggregation, field) in meters {
            let mut base = self.base(self.id("mtr", name), created, created);
            if name == "legacy" {
                base.status = "deleted".into();
            }
            self.ds.meters.push(Meter {
                base,
                event_name: event.into(),
                name: format!("{name} meter"),
                aggregation: aggregation.into(),
                field: field.map(str::to_owned),
                multiplier: (aggregation == "SUM_WITH_MULTIPLIER").then(|| dec("2.5")),
            });
        }
        for (name, label) in [("platform", "Platform"), ("compute", "Compute, \"Edge\"")] {
            let base = self.base(self.id("grp", name), created, created);
            self.ds.groups.push(Group {
                base,
                name: label.into(),
            });
        }
        // No feature for `avg`; `legacy`'s feature is deleted; one feature has no meter.
        let features: [(&str, &str, Option<&str>, Option<&str>); 9] = [
            ("api", "API calls", Some("api"), Some("platform")),
            ("bytes", "Bytes", Some("bytes"), Some("platform")),
            ("storage", "Storage (GB)", Some("storage"), None),
            ("users", "Active users", Some("users"), None),
            ("temp", "Temperature", Some("temp"), Some("compute")),
            ("mult", "Batch units", Some("mult"), Some("compute")),
            ("wsum", "Seats", Some("wsum"), None),
            ("legacy", "Legacy", Some("legacy"), None),
            ("sso", "SSO", None, Some("platform")),
        ];
        for (name, label, meter, group) in features {
            let mut base = self.base(self.id("feat", name), created, created);
            if name == "legacy" {
                base.status = "deleted".into();
            }
            self.ds.features.push(Feature {
                base,
                name: label.into(),
                kind: if meter.is_some() {
                    "metered"
                } else {
                    "boolean"
                }
                .into(),
                meter_id: meter.map(|m| self.id("mtr", m)),
                group_id: group.map(|g| self.id("grp", g)),
            });
        }
        let tiers = r#"[{"up_to": 1000, "unit_amount": "0.001"}, {"up_to": null, "unit_amount": "0.0005"}]"#;
        let prices = [
            ("api_usd", "0.002", "USD", "USAGE", "FLAT_FEE", Some("api")),
            ("bytes_usd", "0", "USD", "USAGE", "TIERED", Some("bytes")),
            (
                "storage_usd",
                "5",
                "USD",
                "USAGE",
                "PACKAGE",
                Some("storage"),
            ),
            (
                "temp_usd",
                "0.000001234567891",
                "USD",
                "USAGE",
                "FLAT_FEE",
                Some("temp"),
            ),
            ("mult_usd", "1.5", "USD", "USAGE", "FLAT_FEE", Some("mult")),
            ("avg_usd", "0.1", "USD", "USAGE", "FLAT_FEE", Some("avg")),
            ("wsum_usd", "2", "USD", "USAGE", "FLAT_FEE", Some("wsum")),
            ("fixed_usd", "49", "USD", "FIXED", "FLAT_FEE", None),
            (
                "users_eur",
                "0.5",
                "EUR",
                "USAGE",
                "FLAT_FEE",
                Some("users"),
            ),
            ("api_eur", "0.0025", "EUR", "USAGE", "FLAT_FEE", Some("api")),
        ];
        for (name, amount, currency, kind, model, meter) in prices {
            let base = self.base(self.id("price", name), created, created);
            self.ds.prices.push(Price {
                base,
                amount: dec(amount),
                currency: currency.into(),
                kind: kind.into(),
                billing_model: model.into(),
                tiers: (model == "TIERED").then(|| tiers.to_owned()),
                transform_quantity: (model == "PACKAGE")
                    .then(|| r#"{"divide_by": 10, "round": "up"}"#.to_owned()),
                meter_id: meter.map(|m| self.id("mtr", m)),
            });
        }
        let subscriptions: [(&str, &str, &str, &str, &[&str]); 3] = [
            (
                "01",
                "01",
                "USD",
                "active",
                &[
                    "api_usd",
                    "bytes_usd",
                    "storage_usd",
                    "temp_usd",
                    "mult_usd",
                    "avg_usd",
                    "wsum_usd",
                    "fixed_usd",
                ],
            ),
            ("02", "02", "EUR", "active", &["users_eur", "api_eur"]),
            // Cancelled: its price must not apply.
            ("04", "04", "USD", "cancelled", &["api_usd"]),
        ];
        for (n, customer, currency, status, prices) in subscriptions {
            let id = self.id("sub", n);
            let customer_id = self.id("cus", customer);
            self.ds.subscriptions.push(Subscription {
                base: self.base(id.clone(), created, created),
                customer_id: customer_id.clone(),
                plan_id: format!("plan_{}_{currency}", self.tenant),
                subscription_status: status.into(),
                currency: currency.into(),
                start_date: created,
                current_period_start: on("2025-10-01", "00:00:00"),
                current_period_end: on("2025-11-01", "00:00:00"),
            });
            for price in prices {
                let price_id = self.id("price", price);
                let meter_id = self
                    .ds
                    .prices
                    .iter()
                    .find(|p| p.base.id == price_id)
                    .and_then(|p| p.meter_id.clone());
                self.ds.line_items.push(LineItem {
                    base: self.base(self.id("sli", &format!("{n}_{price}")), created, created),
                    subscription_id: id.clone(),
                    customer_id: customer_id.clone(),
                    price_id,
                    meter_id,
                    currency: currency.into(),
                    display_name: format!("{price} line"),
                    // cust-001's API calls have a commitment: a flat price, but no cost.
                    commitment_amount: (*price == "api_usd" && n == "01").then(|| dec("100")),
                });
            }
        }
    }

    fn row(&self, u: &Usage<'_>) -> MeterUsage {
        let unique_hash = if u.meter == "users" {
            let user = serde_json::from_str::<serde_json::Value>(u.properties)
                .ok()
                .and_then(|p| p.get("user").map(|v| v.to_string()))
                .unwrap_or_default();
            format!("login:user={user}")
        } else {
            format!("{}:{}", u.event_name, u.id)
        };
        MeterUsage {
            id: u.id.to_owned(),
            tenant_id: self.tenant.to_owned(),
            environment_id: self.env.to_owned(),
            external_customer_id: u.customer.to_owned(),
            meter_id: self.id("mtr", u.meter),
            event_name: u.event_name.to_owned(),
            timestamp: u.timestamp,
            ingested_at: u.ingested_at,
            qty_total: u.qty,
            unique_hash,
            source: u.source.to_owned(),
            properties: u.properties.to_owned(),
            batch: u.batch,
        }
    }

    fn put(&mut self, u: Usage<'_>) {
        let row = self.row(&u);
        self.ds.meter_usage.push(row);
    }

    /// An `api_call` event: one row for the `api` meter (COUNT) and one for `bytes` (SUM).
    #[allow(clippy::too_many_arguments)]
    fn api_call(
        &mut self,
        id: &str,
        customer: &str,
        ts: Timestamp,
        ing: Timestamp,
        bytes: &str,
        source: &str,
        properties: &str,
        batch: u32,
    ) {
        let usage = |meter, qty| Usage {
            id,
            customer,
            meter,
            event_name: "api_call",
            timestamp: ts,
            ingested_at: ing,
            qty,
            source,
            properties,
            batch,
        };
        self.put(usage("api", Decimal::ONE));
        let scaled = dec(bytes) * Decimal::from(self.k + 1);
        self.put(usage("bytes", scaled));
    }

    fn usage(&mut self) {
        let (c1, c2, c3) = ("cust-001", "cust-002", "cust-003");
        self.api_call(
            "evt-001",
            c1,
            at("10:05:00"),
            at("10:05:00.250"),
            "100",
            "sdk",
            r#"{"path":"/v1/a,b","bytes":100}"#,
            0,
        );
        // On the window's start, by both times.
        self.api_call(
            "evt-002",
            c1,
            at("10:00:00"),
            at("10:00:00.000"),
            "250.5",
            "sdk",
            r#"{"bytes":250.5}"#,
            0,
        );
        // Event time in the 10:00 window, ingested exactly at 11:00: windows by ingested_at
        // put it in the next file. Empty properties.
        self.api_call(
            "evt-003",
            c1,
            at("10:59:59"),
            at("11:00:00.000"),
            "0",
            "",
            "",
            0,
        );
        self.api_call(
            "evt-004",
            c2,
            at("10:10:00"),
            at("10:10:00.500"),
            "0",
            "sdk",
            "not json{",
            0,
        );
        // Three versions of storage rows, in separate INSERTs; the last one of evt-006 is
        // ingested in the 11:00 window.
        self.put(one(
            "evt-005",
            c2,
            "storage",
            "storage",
            at("10:20:00"),
            at("10:20:00.100"),
            "3.5",
            "sdk",
            r#"{"gb":"3.50"}"#,
        ));
        self.put(Usage {
            batch: 1,
            ..one(
                "evt-005",
                c2,
                "storage",
                "storage",
                at("10:20:00"),
                at("10:20:05.100"),
                "4.25",
                "sdk",
                r#"{"gb":"4.25"}"#,
            )
        });
        self.put(one(
            "evt-006",
            c2,
            "storage",
            "storage",
            at("10:25:00"),
            at("10:25:00.900"),
            "2",
            "api",
            r#"{"gb":2}"#,
        ));
        self.put(Usage {
            batch: 1,
            ..one(
                "evt-006",
                c2,
                "storage",
                "storage",
                at("10:25:00"),
                at("10:59:58.999"),
                "2.5",
                "api",
                r#"{"gb":2.5}"#,
            )
        });
        self.put(Usage {
            batch: 2,
            ..one(
                "evt-006",
                c2,
                "storage",
                "storage",
                at("10:25:00"),
                at("11:00:02.000"),
                "2.75",
                "api",
                r#"{"gb":2.75}"#,
            )
        });
        // COUNT_UNIQUE: u1 twice, u2 once, for a customer Flexprice's PostgreSQL does not know.
        let walk_in = "walk-in-9";
        self.put(one(
            "evt-007",
            walk_in,
            "users",
            "login",
            at("10:30:00"),
            at("10:30:00.001"),
            "1",
            "web",
            r#"{"user":"u1"}"#,
        ));
        self.put(one(
            "evt-008",
            walk_in,
            "users",
            "login",
            at("10:30:01"),
            at("10:30:01.001"),
            "1",
            "web",
            r#"{"user":"u1"}"#,
        ));
        self.put(one(
            "evt-009",
            walk_in,
            "users",
            "login",
            at("10:31:00"),
            at("10:31:00.001"),
            "1",
            "web",
            r#"{"user":"u2"}"#,
        ));
        self.put(one(
            "evt-010",
            c3,
            "users",
            "login",
            at("10:40:00"),
            at("10:40:00.001"),
            "1",
            "web",
            r#"{"user":"ü\"x"}"#,
        ));
        // LATEST: evt-013 and evt-012 share a timestamp; the greater id wins.
        self.put(one(
            "evt-011",
            c1,
            "temp",
            "reading",
            at("10:45:00"),
            at("10:45:00.010"),
            "21.5",
            "iot",
            r#"{"celsius":21.5}"#,
        ));
        self.put(one(
            "evt-013",
            c1,
            "temp",
            "reading",
            at("10:50:00"),
            at("10:50:00.010"),
            "18",
            "iot",
            r#"{"celsius":18}"#,
        ));
        self.put(one(
            "evt-012",
            c1,
            "temp",
            "reading",
            at("10:50:00"),
            at("10:50:00.020"),
            "19.25",
            "iot",
            r#"{"celsius":19.25}"#,
        ));
        // Aggregations exportd does not compute.
        self.put(one(
            "evt-014",
            c1,
            "mult",
            "batch",
            at("10:35:00"),
            at("10:35:00.000"),
            "10",
            "sdk",
            r#"{"units":4}"#,
        ));
        self.put(one(
            "evt-015",
            c1,
            "avg",
            "ping",
            at("10:36:00"),
            at("10:36:00.000"),
            "120",
            "sdk",
            r#"{"latency_ms":120}"#,
        ));
        self.put(one(
            "evt-016",
            c1,
            "avg",
            "ping",
            at("10:37:00"),
            at("10:37:00.000"),
            "80",
            "sdk",
            r#"{"latency_ms":80}"#,
        ));
        self.put(one(
            "evt-017",
            c1,
            "wsum",
            "seats",
            at("10:38:00"),
            at("10:38:00.000"),
            "5",
            "sdk",
            r#"{"seats":5}"#,
        ));
        // A deleted meter still has usage.
        self.put(one(
            "evt-018",
            c1,
            "legacy",
            "legacy",
            at("10:39:00"),
            at("10:39:00.000"),
            "1",
            "sdk",
            "{}",
        ));
        // Late: event time 10:30, ingested at 12:45 (in the 12:00 window by ingested_at).
        self.api_call(
            "evt-019",
            c1,
            at("10:30:00"),
            at("12:45:00.123"),
            "7",
            "sdk",
            r#"{"bytes":7}"#,
            3,
        );
        // A customer that only staging's PostgreSQL knows.
        self.api_call(
            "evt-020",
            "cust-099",
            at("10:12:00"),
            at("10:12:00.000"),
            "1",
            "sdk",
            r#"{"bytes":1}"#,
            0,
        );
        // On the next window's start, by both times... minus one second of event time.
        self.api_call(
            "evt-021",
            c1,
            at("11:59:59"),
            at("12:00:00.000"),
            "3",
            "sdk",
            r#"{"bytes":3}"#,
            0,
        );
        // The external id of a published and a soft-deleted customer.
        self.api_call(
            "evt-022",
            c3,
            at("10:44:00"),
            at("10:44:00.000"),
            "2",
            "sdk",
            r#"{"bytes":2}"#,
            0,
        );
        // Properties that are valid JSON but not an object; nested values and a number whose
        // text changes when re-encoded.
        self.api_call(
            "evt-023",
            c1,
            at("10:46:00"),
            at("10:46:00.000"),
            "4",
            "api",
            "[1,2]",
            0,
        );
        self.api_call(
            "evt-024",
            c1,
            at("10:47:00"),
            at("10:47:00.000"),
            "1.5",
            "api",
            r#"{"z":{"b":1,"a":[true,null]},"n":1.50,"amp":"<&>","bytes":"1.5"}"#,
            0,
        );
        // Decimals that fill Decimal(25, 15) (the production variant keeps 8 places), and a
        // negative correction.
        self.put(one(
            "evt-025",
            c1,
            "bytes",
            "api_call",
            at("10:48:00"),
            at("10:48:00.000"),
            "1234567890.123456789012345",
            "sdk",
            r#"{"bytes":"1234567890.123456789012345"}"#,
        ));
        self.put(one(
            "evt-026",
            c1,
            "bytes",
            "api_call",
            at("10:48:01"),
            at("10:48:01.000"),
            "0.000000000000001",
            "sdk",
            r#"{"bytes":"0.000000000000001"}"#,
        ));
        self.put(one(
            "evt-027",
            c1,
            "bytes",
            "api_call",
            at("10:48:02"),
            at("10:48:02.000"),
            "-1.5",
            "sdk",
            r#"{"bytes":-1.5}"#,
        ));
        // The day before: another partition.
        self.api_call(
            "evt-028",
            c2,
            on("2025-10-15", "23:59:59"),
            on("2025-10-16", "00:00:01.500"),
            "9",
            "sdk",
            r#"{"bytes":9}"#,
            0,
        );

        let customers = [
            "cust-001", "cust-002", "cust-003", "cust-004", walk_in, "bulk-000",
        ];
        let sources = ["sdk", "api", ""];
        for i in 0..self.size.events {
            let id = format!("evt-b{i:03}");
            let customer = *self.rng.pick(&customers);
            let source = *self.rng.pick(&sources);
            let ts = self.rng.time(at("09:30:00"), at("13:30:00"), false);
            let mut ing =
                Timestamp::from_millisecond(ts.as_millisecond() + self.rng.below(3000) as i64)
                    .expect("time");
            let late = self.rng.chance(10);
            if late {
                ing = Timestamp::from_millisecond(
                    ing.as_millisecond() + 3_600_000 + self.rng.below(7_200_000) as i64,
                )
                .expect("time");
            }
            let kind = self.rng.below(3);
            let again = self.rng.chance(15).then(|| 1 + self.rng.below(600) as i64);
            let batch = if late { 3 } else { 0 };
            let (value, qty2) = (self.rng.decimal(4, 3), self.rng.decimal(4, 3));
            let user = format!("u{}", self.rng.below(5));
            let emit = |scope: &mut Self, ing: Timestamp, value: Decimal, batch: u32| match kind {
                0 => {
                    let props = format!(r#"{{"bytes":{value}}}"#);
                    scope.api_call(
                        &id,
                        customer,
                        ts,
                        ing,
                        &value.to_string(),
                        source,
                        &props,
                        batch,
                    );
                }
                1 => {
                    let props = format!(r#"{{"gb":"{value}"}}"#);
                    scope.put(Usage {
                        batch,
                        ..one(
                            &id,
                            customer,
                            "storage",
                            "storage",
                            ts,
                            ing,
                            &value.to_string(),
                            source,
                            &props,
                        )
                    });
                }
                _ => {
                    let props = format!(r#"{{"user":"{user}"}}"#);
                    scope.put(Usage {
                        batch,
                        ..one(
                            &id, customer, "users", "login", ts, ing, "1", source, &props,
                        )
                    });
                }
            };
            emit(self, ing, value, batch);
            if let Some(seconds) = again {
                let ing2 = Timestamp::from_millisecond(ing.as_millisecond() + seconds * 1000)
                    .expect("time");
                emit(self, ing2, qty2, 1);
            }
        }

        // Arriving after the initial load (Change::MeterUsage): a new version of evt-002 in
        // the 11:00 window, and a late row for the 10:00 window.
        let mut later = Vec::new();
        for meter in ["api", "bytes"] {
            let qty = if meter == "api" {
                Decimal::ONE
            } else {
                dec("260") * Decimal::from(self.k + 1)
            };
            later.push(self.row(&Usage {
                batch: 4,
                qty,
                ..one(
                    "evt-002",
                    c1,
                    meter,
                    "api_call",
                    at("10:00:00"),
                    at("11:30:00.000"),
                    "0",
                    "sdk",
                    r#"{"bytes":260}"#,
                )
            }));
            later.push(self.row(&Usage {
                batch: 4,
                qty,
                ..one(
                    "evt-030",
                    c2,
                    meter,
                    "api_call",
                    at("10:15:00"),
                    at("11:40:00.250"),
                    "0",
                    "",
                    r#"{"bytes":260}"#,
                )
            }));
        }
        self.later_usage = later;
    }

    /// `events` rows: one per metered event (its last version), plus one no meter matched.
    fn events(&mut self) {
        let mut seen = BTreeSet::new();
        let mut rows = Vec::new();
        let mut usage: Vec<&MeterUsage> = self
            .ds
            .meter_usage
            .iter()
            .filter(|r| r.tenant_id == self.tenant && r.environment_id == self.env)
            .collect();
        usage.sort_by_key(|r| std::cmp::Reverse(r.ingested_at));
        let known = [
            ("cust-001", self.id("cus", "01")),
            ("cust-002", self.id("cus", "02")),
        ];
        for r in usage {
            if !seen.insert(r.id.clone()) {
                continue;
            }
            rows.push(Event {
                id: r.id.clone(),
                tenant_id: r.tenant_id.clone(),
                environment_id: r.environment_id.clone(),
                external_customer_id: Some(r.external_customer_id.clone()),
                event_name: Some(r.event_name.clone()),
                customer_id: known
                    .iter()
                    .find(|(ext, _)| *ext == r.external_customer_id)
                    .map(|(_, id)| id.clone()),
                source: (!r.source.is_empty()).then(|| r.source.clone()),
                timestamp: r.timestamp,
                ingested_at: r.ingested_at,
                properties: (!r.properties.is_empty()).then(|| r.properties.clone()),
            });
        }
        rows.push(Event {
            id: "evt-raw-1".into(),
            tenant_id: self.tenant.into(),
            environment_id: self.env.into(),
            external_customer_id: None,
            event_name: Some("unmetered".into()),
            customer_id: None,
            source: None,
            timestamp: at("10:50:00.123"),
            ingested_at: at("10:50:00.456"),
            properties: None,
        });
        rows.sort_by(|a, b| (a.timestamp, &a.id).cmp(&(b.timestamp, &b.id)));
        self.ds.events.extend(rows);
    }
}
