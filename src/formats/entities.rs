//! The columns of each entity's export, in file order: name, type and whether they may be
//! NULL. This is the one place they are written; every source hands over its rows in these
//! columns, and every format writes them. The task's metadata columns (customer or wallet
//! metadata, `export_metadata_fields`) follow them, as nullable text.
//!
//! Decimal precision and scale are the Parquet types: amounts hold Flexprice's numeric(20,8)
//! and numeric(20,9) and the embedded ledger's amounts (12 decimal places, balances up to
//! 10^16); usage quantities and charges keep Flexprice's scale of 15.

use super::{Column, ColumnType};
use crate::scheduled_tasks::EntityType;
use crate::scheduled_tasks::job_config::MetadataField;

use ColumnType::{Int64 as INT, Json as JSON, Text as TEXT, TimestampMillisUtc as TIME};

/// Money: invoice amounts, wallet amounts and balances.
const MONEY: ColumnType = ColumnType::Decimal {
    precision: 29,
    scale: 12,
};
/// Usage: meter quantities and what they cost.
const USAGE: ColumnType = ColumnType::Decimal {
    precision: 38,
    scale: 15,
};

/// A column of the tables below: name, type, nullable.
type Spec = (&'static str, ColumnType, bool);
const REQUIRED: bool = false;
const NULLABLE: bool = true;

#[rustfmt::skip]
const EVENTS: [Spec; 19] = [
    ("id", TEXT, REQUIRED),
    ("tenant_id", TEXT, REQUIRED),
    ("environment_id", TEXT, REQUIRED),
    ("external_customer_id", TEXT, REQUIRED),
    ("customer_id", TEXT, NULLABLE),
    ("subscription_id", TEXT, NULLABLE),
    ("sub_line_item_id", TEXT, NULLABLE),
    ("price_id", TEXT, NULLABLE),
    ("meter_id", TEXT, NULLABLE),
    ("feature_id", TEXT, NULLABLE),
    ("event_name", TEXT, REQUIRED),
    ("source", TEXT, NULLABLE),
    ("timestamp", TIME, REQUIRED),
    ("ingested_at", TIME, REQUIRED),
    ("period_id", TEXT, NULLABLE),
    ("qty_total", USAGE, NULLABLE),
    ("provisional_usage_charges", USAGE, NULLABLE),
    ("properties", JSON, NULLABLE),
    ("unique_hash", TEXT, REQUIRED),
];

/// Flexprice's invoice table, column for column.
#[rustfmt::skip]
const INVOICE: [Spec; 38] = [
    ("id", TEXT, REQUIRED),
    ("tenant_id", TEXT, REQUIRED),
    ("environment_id", TEXT, NULLABLE),
    ("customer_id", TEXT, REQUIRED),
    ("subscription_id", TEXT, NULLABLE),
    ("invoice_number", TEXT, NULLABLE),
    ("invoice_type", TEXT, REQUIRED),
    ("invoice_status", TEXT, REQUIRED),
    ("payment_status", TEXT, REQUIRED),
    ("currency", TEXT, REQUIRED),
    ("amount_due", MONEY, REQUIRED),
    ("amount_paid", MONEY, REQUIRED),
    ("amount_remaining", MONEY, REQUIRED),
    ("subtotal", MONEY, NULLABLE),
    ("total", MONEY, NULLABLE),
    ("total_discount", MONEY, NULLABLE),
    ("total_tax", MONEY, NULLABLE),
    ("adjustment_amount", MONEY, NULLABLE),
    ("refunded_amount", MONEY, NULLABLE),
    ("billing_sequence", INT, NULLABLE),
    ("description", TEXT, NULLABLE),
    ("due_date", TIME, NULLABLE),
    ("paid_at", TIME, NULLABLE),
    ("voided_at", TIME, NULLABLE),
    ("finalized_at", TIME, NULLABLE),
    ("billing_period", TEXT, NULLABLE),
    ("period_start", TIME, NULLABLE),
    ("period_end", TIME, NULLABLE),
    ("invoice_pdf_url", TEXT, NULLABLE),
    ("billing_reason", TEXT, NULLABLE),
    ("metadata", JSON, NULLABLE),
    ("idempotency_key", TEXT, NULLABLE),
    ("version", INT, REQUIRED),
    ("status", TEXT, REQUIRED),
    ("created_by", TEXT, NULLABLE),
    ("updated_by", TEXT, NULLABLE),
    ("created_at", TIME, REQUIRED),
    ("updated_at", TIME, REQUIRED),
];

#[rustfmt::skip]
const CREDIT_TOPUPS: [Spec; 10] = [
    ("topup_id", TEXT, REQUIRED),
    ("external_id", TEXT, NULLABLE),
    ("name", TEXT, NULLABLE),
    ("wallet_id", TEXT, REQUIRED),
    ("amount", MONEY, REQUIRED),
    ("credit_balance_before", MONEY, NULLABLE),
    ("credit_balance_after", MONEY, NULLABLE),
    ("reference_id", TEXT, NULLABLE),
    ("transaction_reason", TEXT, REQUIRED),
    ("created_at", TIME, REQUIRED),
];

#[rustfmt::skip]
const CREDIT_USAGE: [Spec; 6] = [
    ("name", TEXT, NULLABLE),
    ("customer_external_id", TEXT, REQUIRED),
    ("customer_id", TEXT, REQUIRED),
    ("current_balance", MONEY, REQUIRED),
    ("real_time_balance", MONEY, REQUIRED),
    ("number_of_wallets", INT, REQUIRED),
];

#[rustfmt::skip]
const USAGE_ANALYTICS: [Spec; 15] = [
    ("customer_name", TEXT, NULLABLE),
    ("customer_id", TEXT, NULLABLE),
    ("customer_external_id", TEXT, REQUIRED),
    ("start_time", TIME, REQUIRED),
    ("end_time", TIME, REQUIRED),
    ("feature_name", TEXT, NULLABLE),
    ("feature_id", TEXT, NULLABLE),
    ("feature_group_name", TEXT, NULLABLE),
    ("event_name", TEXT, REQUIRED),
    ("event_count", INT, REQUIRED),
    ("aggregation_field", TEXT, NULLABLE),
    ("total_usage", USAGE, NULLABLE),
    ("total_cost", USAGE, NULLABLE),
    ("currency", TEXT, NULLABLE),
    ("source", TEXT, NULLABLE),
];

/// The entity's own columns.
fn specs(entity: EntityType) -> &'static [Spec] {
    match entity {
        EntityType::Events => &EVENTS,
        EntityType::Invoice => &INVOICE,
        EntityType::CreditTopups => &CREDIT_TOPUPS,
        EntityType::CreditUsage => &CREDIT_USAGE,
        EntityType::UsageAnalytics => &USAGE_ANALYTICS,
    }
}

/// The types of the entity's own columns, in order (what a source reads its rows as).
pub(crate) fn kinds(entity: EntityType) -> impl Iterator<Item = ColumnType> {
    specs(entity).iter().map(|(_, kind, _)| *kind)
}

/// Every column of a task's file: the entity's, then its metadata columns in the order given.
pub(crate) fn columns(entity: EntityType, metadata: &[MetadataField]) -> Vec<Column> {
    specs(entity)
        .iter()
        .map(|(name, kind, nullable)| Column::new(*name, *kind, *nullable))
        .chain(
            metadata
                .iter()
                .map(|f| Column::new(f.column_name.clone(), TEXT, NULLABLE)),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_the_entities_have_flexprices_widths() {
        for entity in EntityType::ALL {
            let columns = columns(entity, &[]);
            let mut names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), columns.len(), "{entity:?}");
        }
        let widths: Vec<usize> = EntityType::ALL.iter().map(|e| specs(*e).len()).collect();
        assert_eq!(widths, [19, 38, 10, 6, 15]);
    }
}
