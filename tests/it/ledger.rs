//! The ledger endpoints: customers, wallets (top-ups, debits, transactions), one-off invoices
//! (finalize, void, payment) and subscriptions. Shapes, totals, 404s, bad input naming the
//! field, idempotency keys, invoice numbers, isolation and concurrent balance updates.

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::harness::{Client, Daemon, timestamp};

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_owned()
}

fn customer(c: &Client, external_id: &str) -> String {
    id(&c
        .post("/v1/customers", json!({"external_id": external_id}))
        .ok(201))
}

fn wallet(c: &Client, customer_id: &str) -> String {
    id(&c
        .post(
            "/v1/wallets",
            json!({"customer_id": customer_id, "currency": "USD"}),
        )
        .ok(201))
}

fn invoice(c: &Client, customer_id: &str, amount_due: &str) -> Value {
    c.post(
        "/v1/invoices",
        json!({"customer_id": customer_id, "currency": "USD", "amount_due": amount_due}),
    )
    .ok(201)
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    names.iter().copied().collect()
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str_exact(
        v.as_str()
            .unwrap_or_else(|| panic!("a decimal string: {v}")),
    )
    .unwrap()
}

fn total(v: &Value) -> i64 {
    v["pagination"]["total"].as_i64().expect("a total")
}

/// Asserts a 400 invalid_operation whose message contains `text`.
fn refused(r: &crate::harness::Response, text: &str) -> Value {
    let v = r.error(400);
    assert_eq!(v["code"], "invalid_operation", "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(
        message.contains(text),
        "{message:?} should contain {text:?}"
    );
    v
}

#[test]
fn customers_are_created_listed_read_and_updated_with_unique_external_ids() {
    let d = Daemon::start();
    let c = d.prod();
    let v = c
        .post(
            "/v1/customers",
            json!({"external_id": "cus_1", "name": "Acme", "email": "billing@acme.io",
                   "metadata": {"tier": "gold"}}),
        )
        .ok(201);
    assert_eq!(
        keys(&v),
        set(&[
            "id",
            "external_id",
            "name",
            "email",
            "metadata",
            "tenant_id",
            "environment_id",
            "status",
            "created_at",
            "updated_at",
            "created_by",
            "updated_by"
        ])
    );
    let cust = id(&v);
    assert!(cust.starts_with("cust_"));
    assert_eq!(
        (&v["tenant_id"], &v["environment_id"], &v["status"]),
        (&json!("acme"), &json!("prod"), &json!("published"))
    );
    assert_eq!(
        (&v["created_by"], &v["metadata"]["tier"]),
        (&json!("prod"), &json!("gold"))
    );
    assert_eq!(v["created_at"], v["updated_at"]);
    timestamp(v["created_at"].as_str().unwrap());
    assert_eq!(c.get(&format!("/v1/customers/{cust}")).ok(200), v);

    // No metadata: the key is left out; no email: null.
    let bare = c
        .post("/v1/customers", json!({"external_id": "cus_2"}))
        .ok(201);
    assert!(bare.get("metadata").is_none());
    assert_eq!((&bare["email"], &bare["name"]), (&Value::Null, &json!("")));

    // external_id is unique per environment.
    let dup = c
        .post("/v1/customers", json!({"external_id": "cus_1"}))
        .error(409);
    assert_eq!(dup["code"], "already_exists");
    assert_eq!(dup["details"]["field"], "external_id");
    d.staging()
        .post("/v1/customers", json!({"external_id": "cus_1"}))
        .ok(201);

    // Lists: newest first, true totals, filters.
    let list = c.get("/v1/customers?limit=1").ok(200);
    assert_eq!(total(&list), 2);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["external_id"], "cus_2");
    assert_eq!(list["pagination"]["limit"], 1);
    let list = c.get("/v1/customers?external_id=cus_1").ok(200);
    assert_eq!((total(&list), id(&list["items"][0])), (1, cust.clone()));
    assert_eq!(total(&c.get("/v1/customers?external_id=nobody").ok(200)), 0);
    c.get("/v1/customers?limit=0")
        .invalid("limit", "from 1 to 1000");

    // Updates change what is given.
    let path = format!("/v1/customers/{cust}");
    let u = c
        .put(
            &path,
            json!({"name": "Acme Inc", "email": "", "metadata": {"tier": "silver"}}),
        )
        .ok(200);
    assert_eq!(
        (
            &u["name"],
            &u["email"],
            &u["metadata"]["tier"],
            &u["external_id"]
        ),
        (
            &json!("Acme Inc"),
            &Value::Null,
            &json!("silver"),
            &json!("cus_1")
        )
    );
    assert_eq!(c.get(&path).ok(200), u);
    // Keeping its own external id is fine; taking another customer's is not.
    c.put(&path, json!({"external_id": "cus_1"})).ok(200);
    let taken = c.put(&path, json!({"external_id": "cus_2"})).error(409);
    assert_eq!(taken["details"]["field"], "external_id");
    let moved = c.put(&path, json!({"external_id": "cus_1b"})).ok(200);
    assert_eq!(moved["external_id"], "cus_1b");
    c.post("/v1/customers", json!({"external_id": "cus_1"}))
        .ok(201);

    // Bad input names the field; unknown ids are 404.
    c.post("/v1/customers", json!({}))
        .invalid("external_id", "required");
    c.post("/v1/customers", json!({"external_id": "  "}))
        .invalid("external_id", "required");
    c.post("/v1/customers", json!({"external_id": 7}))
        .invalid("external_id", "must be a string");
    c.post(
        "/v1/customers",
        json!({"external_id": "x", "email": "not-an-email"}),
    )
    .invalid("email", "email address");
    c.post(
        "/v1/customers",
        json!({"external_id": "x", "metadata": {"k": 1}}),
    )
    .invalid("metadata.k", "must be a string");
    c.post("/v1/customers", json!({"external_id": "x", "phone": "1"}))
        .invalid("phone", "not a known field");
    c.put(&path, json!({"external_id": ""}))
        .invalid("external_id", "must not be empty");
    c.put(&path, json!({"emial": "a@b.io"}))
        .invalid("emial", "not a known field");
    let missing = c.get("/v1/customers/cust_nope").error(404);
    assert_eq!(
        missing["message"],
        "Customer with ID cust_nope was not found"
    );
    c.put("/v1/customers/cust_nope", json!({"name": "x"}))
        .error(404);
}

#[test]
fn wallets_take_top_ups_and_debits_and_list_their_transactions() {
    let d = Daemon::start();
    let c = d.prod();
    let cust = customer(&c, "cus_1");
    let w = c
        .post(
            "/v1/wallets",
            json!({"customer_id": cust, "currency": "eur", "name": "Prepaid", "metadata": {"a": "b"}}),
        )
        .ok(201);
    assert_eq!(
        keys(&w),
        set(&[
            "id",
            "customer_id",
            "currency",
            "name",
            "metadata",
            "balance",
            "wallet_status",
            "tenant_id",
            "environment_id",
            "status",
            "created_at",
            "updated_at",
            "created_by",
            "updated_by"
        ])
    );
    let wid = id(&w);
    assert!(wid.starts_with("wallet_"));
    assert_eq!(
        (&w["currency"], &w["balance"], &w["wallet_status"]),
        (&json!("EUR"), &json!("0"), &json!("active"))
    );
    assert_eq!(c.get(&format!("/v1/wallets/{wid}")).ok(200), w);

    let top_up = format!("/v1/wallets/{wid}/top-up");
    let debit = format!("/v1/wallets/{wid}/debit");
    let r = c.post(&top_up, json!({"amount": "10.50"})).ok(200);
    assert_eq!(keys(&r), set(&["wallet", "transaction"]));
    assert_eq!(r["wallet"]["balance"], "10.5");
    let t = &r["transaction"];
    assert_eq!(
        keys(t),
        set(&[
            "id",
            "wallet_id",
            "type",
            "amount",
            "balance_before",
            "balance_after",
            "reference_id",
            "transaction_reason",
            "transaction_status",
            "idempotency_key",
            "tenant_id",
            "environment_id",
            "status",
            "created_at",
            "created_by"
        ])
    );
    assert!(id(t).starts_with("wtx_"));
    assert_eq!(
        (
            &t["type"],
            &t["amount"],
            &t["balance_before"],
            &t["balance_after"]
        ),
        (
            &json!("credit"),
            &json!("10.5"),
            &json!("0"),
            &json!("10.5")
        )
    );
    assert_eq!(
        (
            &t["transaction_reason"],
            &t["transaction_status"],
            &t["wallet_id"]
        ),
        (
            &json!("PURCHASED_CREDIT_DIRECT"),
            &json!("completed"),
            &json!(wid)
        )
    );
    // A JSON number is read from its text: 2.25 is exactly 2.25.
    let r = c
        .post(
            &top_up,
            json!({"amount": 2.25, "transaction_reason": "FREE_CREDIT_GRANT", "reference_id": "promo-1"}),
        )
        .ok(200);
    assert_eq!(r["wallet"]["balance"], "12.75");
    assert_eq!(r["transaction"]["reference_id"], "promo-1");
    // A debit never goes below zero.
    let v = refused(
        &c.post(&debit, json!({"amount": "20"})),
        "insufficient balance: the wallet holds 12.75",
    );
    assert_eq!(v["details"]["field"], "amount");
    let r = c.post(&debit, json!({"amount": "12.750"})).ok(200);
    assert_eq!(r["wallet"]["balance"], "0");
    assert_eq!(
        (
            &r["transaction"]["type"],
            &r["transaction"]["transaction_reason"]
        ),
        (&json!("debit"), &json!("MANUAL_BALANCE_DEBIT"))
    );
    refused(
        &c.post(&debit, json!({"amount": "0.000000000001"})),
        "the wallet holds 0",
    );
    let now = c.get(&format!("/v1/wallets/{wid}")).ok(200);
    assert_eq!(now["balance"], "0");
    assert_eq!(now["updated_at"], r["wallet"]["updated_at"]);

    // Transactions: newest first, true totals, paged.
    let list = c.get(&format!("/v1/wallets/{wid}/transactions")).ok(200);
    assert_eq!(total(&list), 3);
    let types: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["amount"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["12.75", "2.25", "10.5"]);
    let page = c
        .get(&format!("/v1/wallets/{wid}/transactions?limit=1&offset=2"))
        .ok(200);
    assert_eq!(page["items"][0]["amount"], "10.5");
    assert_eq!(total(&page), 3);

    // Wallet lists.
    let other = customer(&c, "cus_2");
    wallet(&c, &other);
    assert_eq!(total(&c.get("/v1/wallets").ok(200)), 2);
    let mine = c.get(&format!("/v1/wallets?customer_id={cust}")).ok(200);
    assert_eq!((total(&mine), id(&mine["items"][0])), (1, wid.clone()));

    // Bad input on every wallet route.
    for (amount, text) in [
        (json!("0"), "greater than 0"),
        (json!(0), "greater than 0"),
        (json!("-5"), "greater than 0"),
        (json!(-5), "greater than 0"),
        (json!("1.0000000000001"), "at most 12 decimal places"),
        (json!(0.0000000000001), "at most 12 decimal places"),
        (json!("1000000000000001"), "at most 1000000000000000"),
        (json!(1e300), "at most 1000000000000000"),
        (json!("ten"), "decimal number"),
        (json!("1e5"), "decimal number"),
        (json!(" 5"), "decimal number"),
        (json!("5,00"), "decimal number"),
        (json!(""), "decimal number"),
        (json!(true), "decimal number"),
        (json!({"value": 1}), "decimal number"),
    ] {
        for path in [&top_up, &debit] {
            c.post(path, json!({ "amount": amount }))
                .invalid("amount", text);
        }
    }
    c.post(&top_up, json!({}))
        .invalid("amount", "amount is required");
    c.post(
        &top_up,
        json!({"amount": "1", "transaction_reason": "GIFT"}),
    )
    .invalid("transaction_reason", "INVOICE_PAYMENT");
    c.post(&top_up, json!({"amount": "1", "currency": "USD"}))
        .invalid("currency", "not a known field");
    c.post("/v1/wallets/wallet_nope/top-up", json!({"amount": "1"}))
        .error(404);
    c.post("/v1/wallets/wallet_nope/debit", json!({"amount": "1"}))
        .error(404);
    let v = c.get("/v1/wallets/wallet_nope").error(404);
    assert_eq!(v["message"], "Wallet with ID wallet_nope was not found");
    c.get("/v1/wallets/wallet_nope/transactions").error(404);
    c.post(
        "/v1/wallets",
        json!({"customer_id": cust, "currency": "ABC"}),
    )
    .invalid("currency", "ISO 4217");
    c.post(
        "/v1/wallets",
        json!({"customer_id": cust, "currency": "US"}),
    )
    .invalid("currency", "ISO 4217");
    c.post("/v1/wallets", json!({"customer_id": cust}))
        .invalid("currency", "required");
    c.post("/v1/wallets", json!({"currency": "USD"}))
        .invalid("customer_id", "required");
    c.post(
        "/v1/wallets",
        json!({"customer_id": cust, "currency": "USD", "balance": "100"}),
    )
    .invalid("balance", "not a known field");
    let v = c
        .post(
            "/v1/wallets",
            json!({"customer_id": "cust_nope", "currency": "USD"}),
        )
        .error(404);
    assert_eq!(v["message"], "Customer with ID cust_nope was not found");
    // Nothing of that changed the wallet.
    assert_eq!(
        total(&c.get(&format!("/v1/wallets/{wid}/transactions")).ok(200)),
        3
    );
}

#[test]
fn a_retried_top_up_with_the_same_idempotency_key_makes_no_second_transaction() {
    let d = Daemon::start();
    let c = d.prod();
    let cust = customer(&c, "cus_1");
    let wid = wallet(&c, &cust);
    let top_up = format!("/v1/wallets/{wid}/top-up");
    let body = json!({"amount": "5", "idempotency_key": "order-1"});
    let first = c.post(&top_up, body.clone()).ok(200);
    assert_eq!(first["transaction"]["idempotency_key"], "order-1");
    assert_eq!(c.post(&top_up, body.clone()).ok(200), first);
    // Still the same answer after the wallet moved on.
    c.post(&top_up, json!({"amount": "1"})).ok(200);
    assert_eq!(c.post(&top_up, body.clone()).ok(200), first);
    assert_eq!(c.get(&format!("/v1/wallets/{wid}")).ok(200)["balance"], "6");
    assert_eq!(
        total(&c.get(&format!("/v1/wallets/{wid}/transactions")).ok(200)),
        2
    );
    // The key names one request: another amount, or a debit, under it is refused.
    let v = c
        .post(
            &top_up,
            json!({"amount": "7", "idempotency_key": "order-1"}),
        )
        .error(409);
    assert_eq!(v["details"]["field"], "idempotency_key");
    c.post(
        &format!("/v1/wallets/{wid}/debit"),
        json!({"amount": "5", "idempotency_key": "order-1"}),
    )
    .error(409);
    // Keys are per wallet.
    let other = wallet(&c, &cust);
    c.post(&format!("/v1/wallets/{other}/top-up"), body).ok(200);
    assert_eq!(
        total(&c.get(&format!("/v1/wallets/{wid}/transactions")).ok(200)),
        2
    );
}

#[test]
fn concurrent_top_ups_and_debits_keep_every_balance_consistent() {
    const THREADS: usize = 16;
    const OPS: usize = 50;
    let d = Daemon::start();
    let c = d.prod();
    let cust = customer(&c, "cus_1");
    let wid = wallet(&c, &cust);
    let amounts = ["0.5", "1.25", "3", "0.000000000001", "7.1"];
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (c, wid) = (c.clone(), wid.clone());
            std::thread::spawn(move || {
                let mut done = 0;
                for i in 0..OPS {
                    let kind = if (t + i) % 3 == 0 { "top-up" } else { "debit" };
                    let amount = amounts[(t * 7 + i) % amounts.len()];
                    let r = c.post(
                        &format!("/v1/wallets/{wid}/{kind}"),
                        json!({ "amount": amount }),
                    );
                    match r.status {
                        200 => done += 1,
                        400 => {
                            let v = r.json();
                            assert_eq!(kind, "debit", "{v}");
                            assert_eq!(v["code"], "invalid_operation", "{v}");
                        }
                        other => panic!("{kind} {amount}: status {other}: {}", r.text()),
                    }
                }
                done
            })
        })
        .collect();
    let done: i64 = handles.into_iter().map(|h| h.join().unwrap()).sum();

    let list = c
        .get(&format!("/v1/wallets/{wid}/transactions?limit=1000"))
        .ok(200);
    assert_eq!(total(&list), done);
    let mut txs: Vec<Value> = list["items"].as_array().unwrap().clone();
    assert_eq!(txs.len() as i64, done);
    assert!(
        txs.iter().any(|t| t["type"] == "debit"),
        "some debits went through"
    );
    txs.sort_by_key(|t| {
        (
            timestamp(t["created_at"].as_str().unwrap()),
            t["id"].as_str().unwrap().to_owned(),
        )
    });
    let mut previous_after = Decimal::ZERO;
    let mut sum = Decimal::ZERO;
    for t in &txs {
        let (amount, before, after) = (
            dec(&t["amount"]),
            dec(&t["balance_before"]),
            dec(&t["balance_after"]),
        );
        assert_eq!(before, previous_after, "the chain is unbroken at {t}");
        let expected = match t["type"].as_str() {
            Some("credit") => before + amount,
            Some("debit") => before - amount,
            other => panic!("type {other:?}"),
        };
        assert_eq!(after, expected, "{t}");
        assert!(after >= Decimal::ZERO && before >= Decimal::ZERO, "{t}");
        sum = if t["type"] == "credit" {
            sum + amount
        } else {
            sum - amount
        };
        previous_after = after;
    }
    let balance = dec(&c.get(&format!("/v1/wallets/{wid}")).ok(200)["balance"]);
    assert_eq!(balance, sum);
    assert_eq!(balance, previous_after);
    assert!(
        !d.log().contains(" 500 ") && !d.log().contains(" 503 "),
        "{}",
        d.log()
    );
}

const INVOICE_KEYS: [&str; 39] = [
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
    "line_items",
];

#[test]
fn invoices_are_numbered_per_environment_and_follow_their_status_rules() {
    let d = Daemon::start();
    let c = d.prod();
    let cust = customer(&c, "cus_1");
    let v = c
        .post(
            "/v1/invoices",
            json!({"customer_id": cust, "currency": "usd", "amount_due": "25.5",
                   "line_items": [{"display_name": "Seats", "amount": "10", "quantity": "2"},
                                  {"display_name": "Setup", "amount": 5.5}],
                   "due_date": "2025-11-01T00:00:00Z", "description": "October",
                   "metadata": {"po": "42"}}),
        )
        .ok(201);
    assert_eq!(keys(&v), set(&INVOICE_KEYS));
    let inv = id(&v);
    assert!(inv.starts_with("inv_"));
    for (k, want) in [
        ("invoice_number", json!("INV-000001")),
        ("invoice_type", json!("ONE_OFF")),
        ("invoice_status", json!("DRAFT")),
        ("payment_status", json!("PENDING")),
        ("billing_reason", json!("MANUAL")),
        ("currency", json!("USD")),
        ("amount_due", json!("25.5")),
        ("subtotal", json!("25.5")),
        ("total", json!("25.5")),
        ("amount_remaining", json!("25.5")),
        ("amount_paid", json!("0")),
        ("total_tax", json!("0")),
        ("version", json!(1)),
        ("due_date", json!("2025-11-01T00:00:00Z")),
        ("description", json!("October")),
        ("finalized_at", Value::Null),
        ("paid_at", Value::Null),
        ("voided_at", Value::Null),
        ("subscription_id", Value::Null),
        ("created_by", json!("prod")),
    ] {
        assert_eq!(v[k], want, "{k}");
    }
    assert_eq!(v["metadata"]["po"], "42");
    let lines = v["line_items"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (
            &lines[0]["display_name"],
            &lines[0]["amount"],
            &lines[0]["quantity"]
        ),
        (&json!("Seats"), &json!("10"), &json!("2"))
    );
    assert_eq!(
        (
            &lines[1]["display_name"],
            &lines[1]["quantity"],
            &lines[1]["invoice_id"]
        ),
        (&json!("Setup"), &json!("1"), &json!(inv))
    );
    assert!(id(&lines[0]).starts_with("inli_"));
    assert_eq!(c.get(&format!("/v1/invoices/{inv}")).ok(200), v);

    // Numbers are sequential per environment.
    let second = invoice(&c, &cust, "10");
    assert_eq!(second["invoice_number"], "INV-000002");
    assert_eq!(second["line_items"], json!([]));
    let s_cust = customer(&d.staging(), "cus_1");
    assert_eq!(
        invoice(&d.staging(), &s_cust, "1")["invoice_number"],
        "INV-000001"
    );
    assert_eq!(invoice(&c, &cust, "0")["invoice_number"], "INV-000003");

    // Lists and filters (lists leave out line items).
    let list = c.get("/v1/invoices").ok(200);
    assert_eq!(total(&list), 3);
    assert_eq!(list["items"][0]["invoice_number"], "INV-000003");
    assert!(list["items"][0].get("line_items").is_none());
    assert_eq!(
        total(
            &c.get(&format!(
                "/v1/invoices?customer_id={cust}&invoice_status=DRAFT&payment_status=PENDING"
            ))
            .ok(200)
        ),
        3
    );
    assert_eq!(
        total(&c.get("/v1/invoices?invoice_status=FINALIZED").ok(200)),
        0
    );
    // Query values are case-insensitive, as for every list.
    assert_eq!(
        total(&c.get("/v1/invoices?invoice_status=draft").ok(200)),
        3
    );
    c.get("/v1/invoices?invoice_status=drafted")
        .invalid("invoice_status", "DRAFT, FINALIZED, VOIDED, SKIPPED");
    c.get("/v1/invoices?payment_status=PAID")
        .invalid("payment_status", "SUCCEEDED");

    // The transitions.
    let path = |action: &str| format!("/v1/invoices/{inv}/{action}");
    refused(
        &c.post(&path("payment"), json!({"amount": "1"})),
        "is DRAFT",
    );
    let f = c.post(&path("finalize"), json!({})).ok(200);
    assert_eq!(
        (&f["invoice_status"], &f["payment_status"], &f["version"]),
        (&json!("FINALIZED"), &json!("PENDING"), &json!(2))
    );
    timestamp(f["finalized_at"].as_str().unwrap());
    assert_eq!(f["line_items"], v["line_items"]);
    refused(
        &c.post(&path("finalize"), json!({})),
        "is FINALIZED: only a DRAFT invoice can be finalized",
    );
    let over = refused(
        &c.post(&path("payment"), json!({"amount": "25.51"})),
        "amount_remaining 25.5",
    );
    assert_eq!(over["details"]["field"], "amount");
    let p = c.post(&path("payment"), json!({"amount": 20})).ok(200);
    assert_eq!(
        (
            &p["amount_paid"],
            &p["amount_remaining"],
            &p["payment_status"],
            &p["paid_at"]
        ),
        (&json!("20"), &json!("5.5"), &json!("PENDING"), &Value::Null)
    );
    refused(&c.post(&path("void"), json!({})), "cannot be voided");
    let p = c.post(&path("payment"), json!({"amount": "5.50"})).ok(200);
    assert_eq!(
        (
            &p["amount_paid"],
            &p["amount_remaining"],
            &p["payment_status"],
            &p["version"]
        ),
        (&json!("25.5"), &json!("0"), &json!("SUCCEEDED"), &json!(4))
    );
    timestamp(p["paid_at"].as_str().unwrap());
    refused(
        &c.post(&path("payment"), json!({"amount": "1"})),
        "already paid",
    );
    refused(
        &c.post(&path("void"), json!({})),
        "payment_status SUCCEEDED",
    );
    assert_eq!(c.get(&format!("/v1/invoices/{inv}")).ok(200), p);
    assert_eq!(
        total(&c.get("/v1/invoices?payment_status=SUCCEEDED").ok(200)),
        1
    );

    // Void a draft, then nothing more.
    let second = id(&second);
    let voided = c
        .post(&format!("/v1/invoices/{second}/void"), json!({}))
        .ok(200);
    assert_eq!(
        (
            &voided["invoice_status"],
            &voided["payment_status"],
            &voided["version"]
        ),
        (&json!("VOIDED"), &json!("VOIDED"), &json!(2))
    );
    timestamp(voided["voided_at"].as_str().unwrap());
    for action in ["void", "finalize"] {
        refused(
            &c.post(&format!("/v1/invoices/{second}/{action}"), json!({})),
            "is VOIDED",
        );
    }
    refused(
        &c.post(
            &format!("/v1/invoices/{second}/payment"),
            json!({"amount": "1"}),
        ),
        "is VOIDED",
    );

    // A zero invoice is paid once final.
    let free = invoice(&c, &cust, "0");
    let f = c
        .post(&format!("/v1/invoices/{}/finalize", id(&free)), json!({}))
        .ok(200);
    assert_eq!(f["payment_status"], "SUCCEEDED");

    // Unknown ids.
    for action in ["finalize", "void"] {
        c.post(&format!("/v1/invoices/inv_nope/{action}"), json!({}))
            .error(404);
    }
    c.post("/v1/invoices/inv_nope/payment", json!({"amount": "1"}))
        .error(404);
    let v = c.get("/v1/invoices/inv_nope").error(404);
    assert_eq!(v["message"], "Invoice with ID inv_nope was not found");
}

#[test]
fn invoice_requests_with_bad_input_name_the_field() {
    let d = Daemon::start();
    let c = d.prod();
    let cust = customer(&c, "cus_1");
    let with = |extra: Value| {
        let mut v = json!({"customer_id": cust, "currency": "USD", "amount_due": "10"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    for (extra, field, text) in [
        (
            json!({"amount_due": "-1"}),
            "amount_due",
            "must not be negative",
        ),
        (
            json!({"amount_due": -0.5}),
            "amount_due",
            "must not be negative",
        ),
        (
            json!({"amount_due": "1.1234567890123"}),
            "amount_due",
            "at most 12 decimal places",
        ),
        (
            json!({"amount_due": "lots"}),
            "amount_due",
            "decimal number",
        ),
        (json!({"amount_due": null}), "amount_due", "required"),
        (json!({"currency": "XYZ"}), "currency", "ISO 4217"),
        (json!({"currency": 840}), "currency", "must be a string"),
        (json!({"due_date": "next week"}), "due_date", "RFC 3339"),
        (json!({"total": "10"}), "total", "not a known field"),
        (
            json!({"line_items": [{"display_name": "a", "amount": "3", "quantity": "3"}]}),
            "amount_due",
            "must equal the sum",
        ),
        (
            json!({"line_items": [{"amount": "10"}]}),
            "line_items[0].display_name",
            "required",
        ),
        (
            json!({"line_items": [{"display_name": "a", "amount": "x"}]}),
            "line_items[0].amount",
            "decimal number",
        ),
        (
            json!({"line_items": [{"display_name": "a", "amount": "10", "quantity": "-1"}]}),
            "line_items[0].quantity",
            "must not be negative",
        ),
        (
            json!({"line_items": [{"display_name": "a", "amount": "10", "price": "1"}]}),
            "line_items[0].price",
            "not a known field",
        ),
        (
            json!({"line_items": "none"}),
            "line_items",
            "must be an array",
        ),
    ] {
        c.post("/v1/invoices", with(extra)).invalid(field, text);
    }
    let v = c
        .post("/v1/invoices", with(json!({"customer_id": "cust_nope"})))
        .error(404);
    assert_eq!(v["message"], "Customer with ID cust_nope was not found");
    let inv = id(&invoice(&c, &cust, "10"));
    c.post(&format!("/v1/invoices/{inv}/finalize"), json!({}))
        .ok(200);
    let pay = format!("/v1/invoices/{inv}/payment");
    for (amount, text) in [
        (json!("0"), "greater than 0"),
        (json!(-1), "greater than 0"),
        (json!("0.0000000000001"), "at most 12 decimal places"),
        (json!("abc"), "decimal number"),
    ] {
        c.post(&pay, json!({ "amount": amount }))
            .invalid("amount", text);
    }
    c.post(&pay, json!({})).invalid("amount", "required");
    c.post(&pay, json!({"amount": "1", "method": "card"}))
        .invalid("method", "not a known field");
    // Nothing was paid, and no invoice number was used by the refused requests.
    let v = c.get(&format!("/v1/invoices/{inv}")).ok(200);
    assert_eq!(
        (&v["amount_paid"], &v["invoice_number"]),
        (&json!("0"), &json!("INV-000001"))
    );
    assert_eq!(invoice(&c, &cust, "1")["invoice_number"], "INV-000002");
}

#[test]
fn a_retried_invoice_creation_answers_the_first_invoice() {
    let d = Daemon::start();
    let c = d.prod();
    let cust = customer(&c, "cus_1");
    let body = json!({"customer_id": cust, "currency": "USD", "amount_due": "99",
                      "line_items": [{"display_name": "Plan", "amount": "99"}],
                      "idempotency_key": "inv-req-1"});
    let first = c.post("/v1/invoices", body.clone()).ok(201);
    assert_eq!(first["idempotency_key"], "inv-req-1");
    let again = c.post("/v1/invoices", body.clone()).ok(200);
    assert_eq!(again, first);
    assert_eq!(total(&c.get("/v1/invoices").ok(200)), 1);
    // The retry used no number.
    assert_eq!(invoice(&c, &cust, "1")["invoice_number"], "INV-000002");
    // The key stands for one request.
    let mut other = body.clone();
    other["amount_due"] = json!("100");
    other["line_items"][0]["amount"] = json!("100");
    let v = c.post("/v1/invoices", other).error(409);
    assert_eq!(v["details"]["field"], "idempotency_key");
    // Keys are per environment.
    let s = d.staging();
    let s_cust = customer(&s, "cus_1");
    let mut staged = body;
    staged["customer_id"] = json!(s_cust);
    assert_eq!(
        s.post("/v1/invoices", staged).ok(201)["invoice_number"],
        "INV-000001"
    );
    assert_eq!(total(&c.get("/v1/invoices").ok(200)), 2);
}

#[test]
fn subscriptions_are_created_listed_and_read() {
    let d = Daemon::start();
    let c = d.prod();
    let cust = customer(&c, "cus_1");
    let v = c
        .post(
            "/v1/subscriptions",
            json!({"customer_id": cust, "currency": "gbp", "billing_period": "MONTHLY",
                   "start_date": "2025-01-31T10:00:00+02:00", "recurring_amount": "49.990",
                   "metadata": {"plan": "pro"}}),
        )
        .ok(201);
    assert_eq!(
        keys(&v),
        set(&[
            "id",
            "customer_id",
            "currency",
            "billing_period",
            "billing_period_count",
            "start_date",
            "billing_anchor",
            "recurring_amount",
            "cancel_at",
            "current_period_start",
            "current_period_end",
            "subscription_status",
            "metadata",
            "tenant_id",
            "environment_id",
            "status",
            "created_at",
            "updated_at",
            "created_by",
            "updated_by"
        ])
    );
    let sub = id(&v);
    assert!(sub.starts_with("subs_"));
    for (k, want) in [
        ("currency", json!("GBP")),
        ("billing_period", json!("MONTHLY")),
        ("billing_period_count", json!(1)),
        ("start_date", json!("2025-01-31T08:00:00Z")),
        ("billing_anchor", json!("2025-01-31T08:00:00Z")),
        ("recurring_amount", json!("49.99")),
        ("cancel_at", Value::Null),
        ("current_period_start", Value::Null),
        ("current_period_end", Value::Null),
        ("subscription_status", json!("active")),
    ] {
        assert_eq!(v[k], want, "{k}");
    }
    assert_eq!(c.get(&format!("/v1/subscriptions/{sub}")).ok(200), v);
    let annual = c
        .post(
            "/v1/subscriptions",
            json!({"customer_id": cust, "currency": "USD", "billing_period": "ANNUAL",
                   "billing_period_count": 2, "start_date": "2024-02-29T00:00:00Z",
                   "billing_anchor": "2024-03-01T00:00:00Z", "recurring_amount": 0,
                   "cancel_at": "2030-01-01T00:00:00Z"}),
        )
        .ok(201);
    assert_eq!(
        (
            &annual["billing_anchor"],
            &annual["cancel_at"],
            &annual["recurring_amount"]
        ),
        (
            &json!("2024-03-01T00:00:00Z"),
            &json!("2030-01-01T00:00:00Z"),
            &json!("0")
        )
    );
    let other = customer(&c, "cus_2");
    let list = c.get("/v1/subscriptions").ok(200);
    assert_eq!((total(&list), id(&list["items"][0])), (2, id(&annual)));
    assert_eq!(
        total(
            &c.get(&format!("/v1/subscriptions?customer_id={other}"))
                .ok(200)
        ),
        0
    );
    assert_eq!(
        total(
            &c.get(&format!("/v1/subscriptions?customer_id={cust}"))
                .ok(200)
        ),
        2
    );

    let with = |extra: Value| {
        let mut v = json!({"customer_id": cust, "currency": "USD", "billing_period": "WEEKLY",
                           "start_date": "2025-01-01T00:00:00Z", "recurring_amount": "10"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    for (extra, field, text) in [
        (
            json!({"billing_period": "YEARLY"}),
            "billing_period",
            "MONTHLY, ANNUAL",
        ),
        (
            json!({"billing_period": null}),
            "billing_period",
            "required",
        ),
        (
            json!({"billing_period_count": 0}),
            "billing_period_count",
            "from 1 to 100",
        ),
        (
            json!({"billing_period_count": 101}),
            "billing_period_count",
            "from 1 to 100",
        ),
        (
            json!({"billing_period_count": "2"}),
            "billing_period_count",
            "must be a number",
        ),
        (json!({"start_date": null}), "start_date", "required"),
        (
            json!({"start_date": "2025-01-01"}),
            "start_date",
            "RFC 3339",
        ),
        (
            json!({"billing_anchor": "soon"}),
            "billing_anchor",
            "RFC 3339",
        ),
        (
            json!({"recurring_amount": "-10"}),
            "recurring_amount",
            "must not be negative",
        ),
        (
            json!({"recurring_amount": "0.0000000000001"}),
            "recurring_amount",
            "12 decimal places",
        ),
        (
            json!({"cancel_at": "2024-12-31T00:00:00Z"}),
            "cancel_at",
            "after start_date",
        ),
        (json!({"currency": "EURO"}), "currency", "ISO 4217"),
        (json!({"plan_id": "p"}), "plan_id", "not a known field"),
    ] {
        c.post("/v1/subscriptions", with(extra))
            .invalid(field, text);
    }
    c.post(
        "/v1/subscriptions",
        with(json!({"customer_id": "cust_nope"})),
    )
    .error(404);
    let v = c.get("/v1/subscriptions/subs_nope").error(404);
    assert_eq!(v["message"], "Subscription with ID subs_nope was not found");
    assert_eq!(total(&c.get("/v1/subscriptions").ok(200)), 2);
}

#[test]
fn environments_cannot_see_or_change_each_others_ledger() {
    let d = Daemon::start();
    let prod = d.prod();
    let staging = d.staging();
    let cust = customer(&prod, "cus_1");
    let wid = wallet(&prod, &cust);
    prod.post(
        &format!("/v1/wallets/{wid}/top-up"),
        json!({"amount": "10"}),
    )
    .ok(200);
    let inv = id(&invoice(&prod, &cust, "10"));
    let sub = id(&prod
        .post(
            "/v1/subscriptions",
            json!({"customer_id": cust, "currency": "USD", "billing_period": "DAILY",
                   "start_date": "2025-01-01T00:00:00Z", "recurring_amount": "1"}),
        )
        .ok(201));
    let reads = [
        format!("/v1/customers/{cust}"),
        format!("/v1/wallets/{wid}"),
        format!("/v1/wallets/{wid}/transactions"),
        format!("/v1/invoices/{inv}"),
        format!("/v1/subscriptions/{sub}"),
    ];
    let before: Vec<Value> = reads.iter().map(|p| prod.get(p).ok(200)).collect();

    for path in &reads {
        let foreign = staging.get(path).error(404);
        assert_eq!(foreign["code"], "not_found");
    }
    for list in [
        "/v1/customers",
        "/v1/wallets",
        "/v1/invoices",
        "/v1/subscriptions",
    ] {
        assert_eq!(total(&staging.get(list).ok(200)), 0, "{list}");
    }
    assert_eq!(
        total(
            &staging
                .get(&format!("/v1/wallets?customer_id={cust}"))
                .ok(200)
        ),
        0
    );
    assert_eq!(
        total(
            &staging
                .get(&format!("/v1/invoices?customer_id={cust}"))
                .ok(200)
        ),
        0
    );
    staging
        .put(&format!("/v1/customers/{cust}"), json!({"name": "stolen"}))
        .error(404);
    for kind in ["top-up", "debit"] {
        staging
            .post(&format!("/v1/wallets/{wid}/{kind}"), json!({"amount": "1"}))
            .error(404);
    }
    for action in ["finalize", "void"] {
        staging
            .post(&format!("/v1/invoices/{inv}/{action}"), json!({}))
            .error(404);
    }
    staging
        .post(
            &format!("/v1/invoices/{inv}/payment"),
            json!({"amount": "1"}),
        )
        .error(404);
    // Prod's customer cannot own staging's wallets, invoices or subscriptions.
    staging
        .post(
            "/v1/wallets",
            json!({"customer_id": cust, "currency": "USD"}),
        )
        .error(404);
    staging
        .post(
            "/v1/invoices",
            json!({"customer_id": cust, "currency": "USD", "amount_due": "1"}),
        )
        .error(404);
    staging
        .post(
            "/v1/subscriptions",
            json!({"customer_id": cust, "currency": "USD", "billing_period": "DAILY",
                   "start_date": "2025-01-01T00:00:00Z", "recurring_amount": "1"}),
        )
        .error(404);

    let after: Vec<Value> = reads.iter().map(|p| prod.get(p).ok(200)).collect();
    assert_eq!(before, after);
    // And the other way round.
    let s_cust = customer(&staging, "cus_1");
    prod.get(&format!("/v1/customers/{s_cust}")).error(404);
    assert_eq!(total(&prod.get("/v1/customers").ok(200)), 1);
}
