use super::*;
use crate::ledger::money::dec;
use serde_json::json;

fn invoice(amount: &str) -> Invoice {
    let scope = Scope {
        tenant_id: "t".into(),
        environment_id: "e".into(),
    };
    Invoice {
        invoice_number: invoice_number(1),
        ..Invoice::draft("inv_1".into(), &scope, "cust_1", "USD", dec(amount), "k", 0)
    }
}

#[test]
fn parses_invoices_and_checks_the_line_items_add_up() {
    let i =
        parse_create(&json!({"customer_id": "c", "currency": "eur", "amount_due": "10"})).unwrap();
    assert_eq!((i.currency.as_str(), i.amount_due), ("EUR", dec("10")));
    let i = parse_create(
        &json!({"customer_id": "c", "currency": "USD", "amount_due": 25.5,
            "line_items": [{"display_name": "Seats", "amount": "10", "quantity": "2"},
                           {"display_name": "Setup", "amount": 5.5}],
            "due_date": "2025-11-01T00:00:00Z", "idempotency_key": "k"}),
    )
    .unwrap();
    assert_eq!(i.line_items.len(), 2);
    assert_eq!(i.line_items[1].quantity, Decimal::ONE);
    assert_eq!(i.due_date, parse_rfc3339_ms("2025-11-01T00:00:00Z"));
    let err = |v: Value| parse_create(&v).unwrap_err();
    let base = |extra: Value| {
        let mut v = json!({"customer_id": "c", "currency": "USD", "amount_due": "10"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let e = err(base(
        json!({"line_items": [{"display_name": "a", "amount": "3", "quantity": 3}]}),
    ));
    assert_eq!(e.field, "amount_due");
    assert_eq!(
        e.message,
        "amount_due (10) must equal the sum of the line items' amount × quantity (9)"
    );
    assert_eq!(
        err(base(json!({"line_items": [{"amount": "10"}]}))).field,
        "line_items[0].display_name"
    );
    assert_eq!(
        err(base(
            json!({"line_items": [{"display_name": "a", "amount": "-1"}]})
        ))
        .field,
        "line_items[0].amount"
    );
    assert_eq!(
        err(base(
            json!({"line_items": [{"display_name": "a", "amount": "10", "qty": 1}]})
        ))
        .message,
        "line_items[0].qty is not a known field"
    );
    assert_eq!(
        err(base(
            json!({"line_items": [{"display_name": "a", "amount": "0.000001",
                                             "quantity": "0.0000001"}]})
        ))
        .field,
        "line_items[0]"
    );
    assert_eq!(
        err(base(
            json!({"line_items": [{"display_name": "a", "amount": "1000000000000000",
                                             "quantity": "2"}]})
        ))
        .field,
        "line_items[0]"
    );
    assert_eq!(err(base(json!({"amount_due": "-1"}))).field, "amount_due");
    assert_eq!(err(base(json!({"currency": "XYZ"}))).field, "currency");
    assert_eq!(err(base(json!({"due_date": "tomorrow"}))).field, "due_date");
    assert_eq!(
        err(json!({"customer_id": "c", "currency": "USD"})).message,
        "amount_due is required"
    );
    // An empty list is no list.
    assert!(parse_create(&base(json!({"line_items": []}))).is_ok());
}

#[test]
fn finalize_void_and_pay_follow_the_status_rules() {
    let mut inv = invoice("10");
    assert!(
        inv.pay(dec("1"), 5, "k")
            .unwrap_err()
            .message
            .contains("is DRAFT")
    );
    inv.finalize(5, "k").unwrap();
    assert_eq!(
        (inv.invoice_status, inv.finalized_at, inv.version),
        (InvoiceStatus::Finalized, Some(5), 2)
    );
    assert!(
        inv.finalize(6, "k")
            .unwrap_err()
            .message
            .contains("is FINALIZED: only a DRAFT invoice can be finalized")
    );
    let over = inv.pay(dec("10.01"), 6, "k").unwrap_err();
    assert_eq!(over.field, Some("amount"));
    inv.pay(dec("4"), 7, "k").unwrap();
    assert_eq!(
        (
            inv.amount_paid,
            inv.amount_remaining,
            inv.payment_status.as_str(),
            inv.paid_at
        ),
        (dec("4"), dec("6"), "PENDING", None)
    );
    assert!(
        inv.void(8, "k")
            .unwrap_err()
            .message
            .contains("cannot be voided")
    );
    inv.pay(dec("6"), 9, "k").unwrap();
    assert_eq!(
        (
            inv.amount_remaining,
            inv.payment_status.as_str(),
            inv.paid_at,
            inv.version
        ),
        (Decimal::ZERO, "SUCCEEDED", Some(9), 4)
    );
    assert!(
        inv.pay(dec("1"), 10, "k")
            .unwrap_err()
            .message
            .contains("already paid")
    );
    assert!(inv.void(10, "k").is_err());
    assert_eq!(inv.version, 4, "refused transitions change nothing");

    let mut draft = invoice("10");
    draft.void(3, "k").unwrap();
    assert_eq!(
        (
            draft.invoice_status,
            draft.payment_status.as_str(),
            draft.voided_at
        ),
        (InvoiceStatus::Voided, "VOIDED", Some(3))
    );
    assert!(
        draft
            .void(4, "k")
            .unwrap_err()
            .message
            .contains("is VOIDED")
    );
    assert!(draft.finalize(4, "k").is_err());

    let mut free = invoice("0");
    free.finalize(2, "k").unwrap();
    assert_eq!(
        (free.payment_status.as_str(), free.paid_at),
        ("SUCCEEDED", Some(2))
    );
}

#[test]
fn line_item_ids_keep_their_order() {
    let ids = line_item_ids(50);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    assert!(ids[0].starts_with("inli_"));
}

#[test]
fn numbers_and_payments_parse() {
    assert_eq!(invoice_number(1), "INV-000001");
    assert_eq!(invoice_number(1234567), "INV-1234567");
    assert_eq!(
        parse_payment(&json!({"amount": "2.50"})).unwrap(),
        dec("2.5")
    );
    assert_eq!(
        parse_payment(&json!({"amount": 0})).unwrap_err().field,
        "amount"
    );
    assert_eq!(
        parse_payment(&json!({})).unwrap_err().message,
        "amount is required"
    );
}
