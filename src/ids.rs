//! Identifiers: Flexprice-style `<prefix>_<ULID>`.

/// Prefix of scheduled task ids (`schtask_…`).
pub(crate) const SCHEDULED_TASK: &str = "schtask";
/// Prefix of run ids; Flexprice calls a run a "task" (`task_…`).
pub(crate) const RUN: &str = "task";
/// Prefix of connection ids (`conn_…`).
pub(crate) const CONNECTION: &str = "conn";
/// Prefix of event ids exportd makes when the client gives none (`event_…`).
pub(crate) const EVENT: &str = "event";
/// Prefix of customer ids (`cust_…`).
pub(crate) const CUSTOMER: &str = "cust";
/// Prefix of wallet ids (`wallet_…`).
pub(crate) const WALLET: &str = "wallet";
/// Prefix of wallet transaction ids (`wtx_…`).
pub(crate) const WALLET_TRANSACTION: &str = "wtx";
/// Prefix of invoice ids (`inv_…`).
pub(crate) const INVOICE: &str = "inv";
/// Prefix of invoice line item ids (`inli_…`).
pub(crate) const INVOICE_LINE_ITEM: &str = "inli";
/// Prefix of subscription ids (`subs_…`).
pub(crate) const SUBSCRIPTION: &str = "subs";
/// Prefix of request ids shown in logs and the `x-request-id` header.
pub(crate) const REQUEST: &str = "req";

/// A new id: the prefix, an underscore and a ULID (time-ordered, 26 characters).
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_ulid() {
        let id = new_id(SCHEDULED_TASK);
        let (prefix, ulid) = id.split_once('_').expect("underscore");
        assert_eq!(prefix, "schtask");
        assert_eq!(ulid.len(), 26);
        assert!(ulid::Ulid::from_string(ulid).is_ok());
        assert_ne!(new_id(RUN), new_id(RUN));
    }
}
