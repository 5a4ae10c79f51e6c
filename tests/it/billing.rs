//! The billing system jobs (SPEC 7.1), driven through a test clock: subscriptions that started
//! in the past are billed once per period (catch-up), with usage from priced meters; drafts are
//! finalized once their period ended more than `billing.finalization_delay` ago; a kill -9 in
//! the middle of a long billing run neither loses nor repeats a period.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Client, Daemon, LONG, S3_REGION, Setup, eventually, seaweedfs, wait_for};

const UPDATE: &str = "/v1/tasks/scheduled/schedule-update-billing-period";
const FINALIZE: &str = "/v1/tasks/scheduled/schedule-draft-finalization";
const UPDATE_TEMPORAL: &str = "/v1/subscriptions/temporal/schedule-update-billing-period";
const FINALIZE_TEMPORAL: &str = "/v1/subscriptions/temporal/schedule-draft-finalization";
const UPDATE_MESSAGE: &str = "Triggered update billing period workflow successfully";
const FINALIZE_MESSAGE: &str = "Triggered draft finalization schedule successfully";

const METERS: &str = r#"
[[meters]]
id = "calls_usd"
event_name = "api_call"
aggregation = "COUNT"
feature_id = "feat_calls"
feature_name = "API calls"
unit_price = "0.01"
currency = "USD"

[[meters]]
id = "gb_eur"
event_name = "storage"
aggregation = "SUM"
field = "gb"
feature_id = "feat_gb"
feature_name = "Storage GB"
unit_price = "0.125"
currency = "EUR"

[[meters]]
id = "calls_eur"
event_name = "api_call"
aggregation = "COUNT"
feature_id = "feat_calls_eur"
feature_name = "API calls (EUR)"
unit_price = "0.5"
currency = "EUR"

[[meters]]
id = "logins"
event_name = "login"
aggregation = "COUNT"
feature_id = "feat_logins"
"#;

fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

fn jobs(c: &Client) -> Vec<Value> {
    c.get("/v1/tasks/scheduled/system").ok(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn job(c: &Client, name: &str) -> Option<Value> {
    jobs(c).into_iter().find(|j| j["name"] == name)
}

/// Waits until the job's last run ended at `at`, completed, and the job is idle again.
fn wait_run(c: &Client, name: &str, at: &str) -> Value {
    eventually(
        &format!("{name} to complete a run at {at}"),
        LONG,
        || match job(c, name) {
            Some(j)
                if j["last_run_at"] == at
                    && j["last_status"] == "COMPLETED"
                    && j["next_run_at"].is_string() =>
            {
                Ok(j)
            }
            other => Err(format!("{other:?}")),
        },
    )
}

fn customer(c: &Client, external_id: &str) -> String {
    id(&c
        .post("/v1/customers", json!({"external_id": external_id}))
        .ok(201))
}

fn subscription(c: &Client, body: Value) -> String {
    id(&c.post("/v1/subscriptions", body).ok(201))
}

/// Every invoice, oldest period first per subscription.
fn invoices(c: &Client) -> Vec<Value> {
    let mut all = c.get("/v1/invoices?limit=1000").ok(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    all.sort_by_key(|i| {
        (
            i["subscription_id"].as_str().unwrap_or("").to_owned(),
            i["period_start"].as_str().unwrap_or("").to_owned(),
        )
    });
    all
}

/// `(period_start, period_end, total, billing_sequence)` of a subscription's invoices.
fn periods_of(all: &[Value], sub: &str) -> Vec<(String, String, String, i64)> {
    all.iter()
        .filter(|i| i["subscription_id"] == sub)
        .map(|i| {
            (
                i["period_start"].as_str().unwrap().to_owned(),
                i["period_end"].as_str().unwrap().to_owned(),
                i["total"].as_str().unwrap().to_owned(),
                i["billing_sequence"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn p(start: &str, end: &str, total: &str, seq: i64) -> (String, String, String, i64) {
    (start.into(), end.into(), total.into(), seq)
}

fn count_status(all: &[Value], status: &str) -> usize {
    all.iter().filter(|i| i["invoice_status"] == status).count()
}

fn drafts(all: &[Value]) -> Vec<(String, String)> {
    let mut out: Vec<_> = all
        .iter()
        .filter(|i| i["invoice_status"] == "DRAFT")
        .map(|i| {
            (
                i["subscription_id"].as_str().unwrap().to_owned(),
                i["period_end"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

struct World {
    subs: BTreeMap<&'static str, String>,
    eur_customer: String,
}

/// Six subscriptions that started in the past, and events of two of their customers.
fn load(c: &Client) -> World {
    let mut subs = BTreeMap::new();
    let usd = |ext: &str, period: &str, count: i64, start: &str, amount: &str, extra: Value| {
        let mut body = json!({"customer_id": customer(c, ext), "currency": "USD", "billing_period": period,
            "billing_period_count": count, "start_date": start, "recurring_amount": amount});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        subscription(c, body)
    };
    subs.insert(
        "monthly",
        usd(
            "cus-month",
            "MONTHLY",
            1,
            "2025-01-31T00:00:00Z",
            "10",
            json!({}),
        ),
    );
    subs.insert(
        "quarterly",
        usd(
            "cus-quarter",
            "QUARTERLY",
            1,
            "2024-08-31T00:00:00Z",
            "300",
            json!({}),
        ),
    );
    subs.insert(
        "annual",
        usd(
            "cus-annual",
            "ANNUAL",
            1,
            "2020-02-29T00:00:00Z",
            "1200",
            json!({}),
        ),
    );
    subs.insert(
        "weekly",
        usd(
            "cus-week",
            "WEEKLY",
            2,
            "2025-04-01T09:00:00Z",
            "5",
            json!({}),
        ),
    );
    subs.insert(
        "cancelled",
        usd(
            "cus-cancel",
            "MONTHLY",
            1,
            "2025-03-10T00:00:00Z",
            "20",
            json!({"cancel_at": "2025-05-20T00:00:00Z"}),
        ),
    );
    let eur_customer = customer(c, "cus-eur");
    subs.insert(
        "eur",
        subscription(
            c,
            json!({"customer_id": eur_customer, "currency": "eur", "billing_period": "MONTHLY",
                   "start_date": "2025-05-01T00:00:00Z", "recurring_amount": "7.5"}),
        ),
    );
    let ev = |id: &str, name: &str, ext: &str, ts: &str, props: Value| json!({"event_id": id, "event_name": name, "external_customer_id": ext, "timestamp": ts, "properties": props});
    let mut named = ev(
        "eur-3",
        "api_call",
        "someone-else",
        "2025-05-20T00:00:00Z",
        json!({}),
    );
    named["customer_id"] = json!(eur_customer);
    let events = vec![
        // cus-month: two calls in [03-31, 04-30), one at 04-30 itself (the next period), and
        // a login no meter prices.
        ev(
            "m-1",
            "api_call",
            "cus-month",
            "2025-04-10T10:00:00Z",
            json!({}),
        ),
        ev(
            "m-2",
            "api_call",
            "cus-month",
            "2025-04-29T23:59:59.999Z",
            json!({}),
        ),
        ev(
            "m-3",
            "api_call",
            "cus-month",
            "2025-04-30T00:00:00Z",
            json!({}),
        ),
        ev(
            "m-4",
            "login",
            "cus-month",
            "2025-04-11T00:00:00Z",
            json!({}),
        ),
        // cus-eur: before its start, three calls and two storage readings in May (one call
        // names the customer by id), and a call in June.
        ev(
            "eur-0",
            "api_call",
            "cus-eur",
            "2025-04-30T23:59:59Z",
            json!({}),
        ),
        ev(
            "eur-1",
            "api_call",
            "cus-eur",
            "2025-05-01T00:00:00Z",
            json!({}),
        ),
        ev(
            "eur-2",
            "api_call",
            "cus-eur",
            "2025-05-31T23:59:59.999Z",
            json!({}),
        ),
        named,
        ev(
            "eur-4",
            "storage",
            "cus-eur",
            "2025-05-02T00:00:00Z",
            json!({"gb": "1.5"}),
        ),
        ev(
            "eur-5",
            "storage",
            "cus-eur",
            "2025-05-03T00:00:00Z",
            json!({"gb": 2.25}),
        ),
        ev(
            "eur-6",
            "api_call",
            "cus-eur",
            "2025-06-01T00:00:00Z",
            json!({}),
        ),
        // Someone else's call in May.
        ev(
            "o-1",
            "api_call",
            "cus-other",
            "2025-05-05T00:00:00Z",
            json!({}),
        ),
    ];
    assert_eq!(
        c.post("/v1/events/bulk", json!({ "events": events }))
            .status,
        202
    );
    World { subs, eur_customer }
}

fn expected(w: &World) -> BTreeMap<String, Vec<(String, String, String, i64)>> {
    let s = |name: &str| w.subs[name].clone();
    BTreeMap::from([
        (
            s("monthly"),
            vec![
                p("2025-01-31T00:00:00Z", "2025-02-28T00:00:00Z", "10", 1),
                p("2025-02-28T00:00:00Z", "2025-03-31T00:00:00Z", "10", 2),
                p("2025-03-31T00:00:00Z", "2025-04-30T00:00:00Z", "10.02", 3),
                p("2025-04-30T00:00:00Z", "2025-05-31T00:00:00Z", "10.01", 4),
            ],
        ),
        (
            s("quarterly"),
            vec![
                p("2024-08-31T00:00:00Z", "2024-11-30T00:00:00Z", "300", 1),
                p("2024-11-30T00:00:00Z", "2025-02-28T00:00:00Z", "300", 2),
                p("2025-02-28T00:00:00Z", "2025-05-31T00:00:00Z", "300", 3),
            ],
        ),
        (
            s("annual"),
            vec![
                p("2020-02-29T00:00:00Z", "2021-02-28T00:00:00Z", "1200", 1),
                p("2021-02-28T00:00:00Z", "2022-02-28T00:00:00Z", "1200", 2),
                p("2022-02-28T00:00:00Z", "2023-02-28T00:00:00Z", "1200", 3),
                p("2023-02-28T00:00:00Z", "2024-02-29T00:00:00Z", "1200", 4),
                p("2024-02-29T00:00:00Z", "2025-02-28T00:00:00Z", "1200", 5),
            ],
        ),
        (
            s("weekly"),
            vec![
                p("2025-04-01T09:00:00Z", "2025-04-15T09:00:00Z", "5", 1),
                p("2025-04-15T09:00:00Z", "2025-04-29T09:00:00Z", "5", 2),
                p("2025-04-29T09:00:00Z", "2025-05-13T09:00:00Z", "5", 3),
                p("2025-05-13T09:00:00Z", "2025-05-27T09:00:00Z", "5", 4),
                p("2025-05-27T09:00:00Z", "2025-06-10T09:00:00Z", "5", 5),
            ],
        ),
        (
            s("cancelled"),
            vec![
                p("2025-03-10T00:00:00Z", "2025-04-10T00:00:00Z", "20", 1),
                p("2025-04-10T00:00:00Z", "2025-05-10T00:00:00Z", "20", 2),
                // Cut at cancel_at, charged in full.
                p("2025-05-10T00:00:00Z", "2025-05-20T00:00:00Z", "20", 3),
            ],
        ),
        (
            s("eur"),
            // 7.5 + 3.75 GB × 0.125 + 3 calls × 0.5
            vec![p(
                "2025-05-01T00:00:00Z",
                "2025-06-01T00:00:00Z",
                "9.46875",
                1,
            )],
        ),
    ])
}

fn actual(all: &[Value], w: &World) -> BTreeMap<String, Vec<(String, String, String, i64)>> {
    w.subs
        .values()
        .map(|s| (s.clone(), periods_of(all, s)))
        .collect()
}

fn lines(c: &Client, invoice: &Value) -> Vec<(String, String, String, Value)> {
    let full = c.get(&format!("/v1/invoices/{}", id(invoice))).ok(200);
    full["line_items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["display_name"].as_str().unwrap().to_owned(),
                l["amount"].as_str().unwrap().to_owned(),
                l["quantity"].as_str().unwrap().to_owned(),
                l["meter_id"].clone(),
            )
        })
        .collect()
}

fn line(name: &str, amount: &str, quantity: &str, meter: Value) -> (String, String, String, Value) {
    (name.into(), amount.into(), quantity.into(), meter)
}

#[test]
fn past_subscriptions_are_billed_once_per_period_then_their_drafts_finalized() {
    let Some(server) =
        seaweedfs("past_subscriptions_are_billed_once_per_period_then_their_drafts_finalized")
    else {
        return;
    };
    let d = Setup::new()
        .clock("2025-06-15T12:00:00Z")
        .config(&server.allow())
        .config("[billing]\nfinalization_delay = \"480h\"")
        .config(METERS)
        .start();
    let c = d.prod();
    let w = load(&c);
    assert!(jobs(&c).is_empty());

    let r = c.post(UPDATE, json!({})).ok(200);
    assert_eq!(r, json!({"message": UPDATE_MESSAGE}));
    wait_run(&c, "update_billing_period", "2025-06-15T12:00:00Z");
    let all = invoices(&c);
    assert_eq!(actual(&all, &w), expected(&w));
    assert_eq!(all.len(), 21);
    for i in &all {
        assert_eq!(
            (
                &i["invoice_type"],
                &i["billing_reason"],
                &i["invoice_status"],
                &i["payment_status"]
            ),
            (
                &json!("SUBSCRIPTION"),
                &json!("SUBSCRIPTION_CYCLE"),
                &json!("DRAFT"),
                &json!("PENDING")
            ),
            "{i}"
        );
        assert_eq!(i["amount_due"], i["total"]);
        assert_eq!(i["amount_remaining"], i["total"]);
        assert_eq!(i["created_at"], "2025-06-15T12:00:00Z");
    }
    let numbers: std::collections::BTreeSet<_> = all
        .iter()
        .map(|i| i["invoice_number"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(numbers.len(), 21, "every invoice has its own number");
    assert!(numbers.contains("INV-000001") && numbers.contains("INV-000021"));

    let of = |name: &str, seq: i64| -> Value {
        all.iter()
            .find(|i| i["subscription_id"] == w.subs[name] && i["billing_sequence"] == seq)
            .unwrap()
            .clone()
    };
    let eur = of("eur", 1);
    assert_eq!(
        (
            &eur["currency"],
            &eur["billing_period"],
            &eur["customer_id"]
        ),
        (&json!("EUR"), &json!("MONTHLY"), &json!(w.eur_customer))
    );
    assert_eq!(
        lines(&c, &eur),
        [
            line("Recurring charge", "7.5", "1", Value::Null),
            line("Storage GB", "0.125", "3.75", json!("gb_eur")),
            line("API calls (EUR)", "0.5", "3", json!("calls_eur")),
        ]
    );
    assert_eq!(
        lines(&c, &of("monthly", 3)),
        [
            line("Recurring charge", "10", "1", Value::Null),
            line("API calls", "0.01", "2", json!("calls_usd")),
        ]
    );
    assert_eq!(
        lines(&c, &of("monthly", 1)),
        [line("Recurring charge", "10", "1", Value::Null)]
    );
    assert_eq!(of("annual", 1)["billing_period"], "ANNUAL");

    // Every subscription's current period now contains now; the cancelled one is over.
    let current = |name: &str| {
        let s = c
            .get(&format!("/v1/subscriptions/{}", w.subs[name]))
            .ok(200);
        (
            s["current_period_start"].as_str().unwrap().to_owned(),
            s["current_period_end"].as_str().unwrap().to_owned(),
            s["subscription_status"].as_str().unwrap().to_owned(),
        )
    };
    let cp = |a: &str, b: &str, s: &str| (a.to_owned(), b.to_owned(), s.to_owned());
    assert_eq!(
        current("monthly"),
        cp("2025-05-31T00:00:00Z", "2025-06-30T00:00:00Z", "active")
    );
    assert_eq!(
        current("quarterly"),
        cp("2025-05-31T00:00:00Z", "2025-08-31T00:00:00Z", "active")
    );
    assert_eq!(
        current("annual"),
        cp("2025-02-28T00:00:00Z", "2026-02-28T00:00:00Z", "active")
    );
    assert_eq!(
        current("weekly"),
        cp("2025-06-10T09:00:00Z", "2025-06-24T09:00:00Z", "active")
    );
    assert_eq!(
        current("cancelled"),
        cp("2025-05-10T00:00:00Z", "2025-05-20T00:00:00Z", "cancelled")
    );
    assert_eq!(
        current("eur"),
        cp("2025-06-01T00:00:00Z", "2025-07-01T00:00:00Z", "active")
    );

    // Calling again (the other path, no body) runs the job again and makes nothing new.
    d.set_clock("2025-06-15T12:00:30Z");
    let r = c.send("POST", UPDATE_TEMPORAL, None).ok(200);
    assert_eq!(r["message"], UPDATE_MESSAGE);
    wait_run(&c, "update_billing_period", "2025-06-15T12:00:30Z");
    assert_eq!(invoices(&c), all, "nothing new, nothing changed");
    assert_eq!(jobs(&c).len(), 1, "one job, however often it is enabled");

    // The invoice export has exactly these invoices.
    let bucket = server.new_bucket();
    let conn = id(&c
        .post("/v1/connections", json!({"name": "s3", "provider_type": "s3",
            "encrypted_secret_data": {"aws_access_key_id": server.access_key, "aws_secret_access_key": server.secret_key}}))
        .ok(201));
    let task = id(&c
        .post(
            "/v1/tasks/scheduled",
            json!({"connection_id": conn, "entity_type": "invoice", "interval": "hourly",
            "job_config": {"bucket": bucket, "region": S3_REGION, "endpoint_url": server.endpoint,
                           "use_path_style": true, "key_prefix": "billing", "encryption": "none"}}),
        )
        .ok(201));
    let run = c
        .post(
            &format!("/v1/tasks/scheduled/{task}/run"),
            json!({"start_time": "2025-06-15T12:00:00Z", "end_time": "2025-06-15T12:00:30Z"}),
        )
        .ok(200);
    let run = crate::runs::wait_run(&c, run["workflow_id"].as_str().unwrap());
    assert_eq!(run["task_status"], "COMPLETED", "{run}");
    let csv = server.get(&bucket, run["object_key"].as_str().unwrap());
    let mut reader = csv::Reader::from_reader(csv.as_slice());
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut exported: BTreeMap<String, Vec<(String, String, String, i64)>> = BTreeMap::new();
    for row in reader.records() {
        let row = row.unwrap();
        assert_eq!(
            (
                &row[col("invoice_type")],
                &row[col("billing_reason")],
                &row[col("invoice_status")]
            ),
            ("SUBSCRIPTION", "SUBSCRIPTION_CYCLE", "DRAFT")
        );
        exported
            .entry(row[col("subscription_id")].to_owned())
            .or_default()
            .push(p(
                &row[col("period_start")],
                &row[col("period_end")],
                &row[col("total")],
                row[col("billing_sequence")].parse().unwrap(),
            ));
    }
    for periods in exported.values_mut() {
        periods.sort();
    }
    assert_eq!(exported, expected(&w));

    // Draft finalization: a 20-day delay finalizes the drafts whose period ended before
    // 2025-05-26T12:00:30Z.
    let r = c.post(FINALIZE, json!({})).ok(200);
    assert_eq!(r, json!({"message": FINALIZE_MESSAGE}));
    wait_run(&c, "draft_finalization", "2025-06-15T12:00:30Z");
    let all = invoices(&c);
    assert_eq!(count_status(&all, "FINALIZED"), 16);
    let s = |name: &str| w.subs[name].clone();
    let pair = |name: &str, end: &str| (s(name), end.to_owned());
    let mut want = vec![
        pair("monthly", "2025-05-31T00:00:00Z"),
        pair("quarterly", "2025-05-31T00:00:00Z"),
        pair("weekly", "2025-05-27T09:00:00Z"),
        pair("weekly", "2025-06-10T09:00:00Z"),
        pair("eur", "2025-06-01T00:00:00Z"),
    ];
    want.sort();
    assert_eq!(drafts(&all), want);
    let finalized = all
        .iter()
        .find(|i| i["subscription_id"] == w.subs["annual"])
        .unwrap();
    assert_eq!(
        (
            &finalized["finalized_at"],
            &finalized["version"],
            &finalized["updated_at"]
        ),
        (
            &json!("2025-06-15T12:00:30Z"),
            &json!(2),
            &json!("2025-06-15T12:00:30Z")
        )
    );

    let listed = jobs(&c);
    let summary: Vec<_> = listed
        .iter()
        .map(|j| {
            (
                j["name"].as_str().unwrap(),
                j["interval"].as_str().unwrap(),
                j["enabled"].as_bool().unwrap(),
                j["last_status"].as_str().unwrap(),
                j["last_run_at"].as_str().unwrap(),
                j["next_run_at"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "draft_finalization",
                "30MIN",
                true,
                "COMPLETED",
                "2025-06-15T12:00:30Z",
                "2025-06-15T12:30:30Z"
            ),
            (
                "update_billing_period",
                "15MIN",
                true,
                "COMPLETED",
                "2025-06-15T12:00:30Z",
                "2025-06-15T12:15:30Z"
            ),
        ]
    );
    assert!(listed.iter().all(|j| j["last_error"].is_null()));

    // Six days later the 30-minute job finalizes what has become due: a period that ended
    // exactly at the cutoff (2025-06-01T00:00:00Z) is not yet "more than 20 days ago".
    d.set_clock("2025-06-21T00:00:00Z");
    wait_run(&c, "draft_finalization", "2025-06-21T00:00:00Z");
    wait_run(&c, "update_billing_period", "2025-06-21T00:00:00Z");
    let all = invoices(&c);
    assert_eq!(all.len(), 21, "no period ended since");
    let mut want = vec![
        pair("weekly", "2025-06-10T09:00:00Z"),
        pair("eur", "2025-06-01T00:00:00Z"),
    ];
    want.sort();
    assert_eq!(drafts(&all), want);

    // On July 1st the 15-minute job bills the periods that ended since.
    d.set_clock("2025-07-01T00:00:00Z");
    wait_run(&c, "update_billing_period", "2025-07-01T00:00:00Z");
    let all = invoices(&c);
    assert_eq!(all.len(), 24);
    assert_eq!(
        periods_of(&all, &s("monthly")).last().unwrap(),
        &p("2025-05-31T00:00:00Z", "2025-06-30T00:00:00Z", "10", 5)
    );
    assert_eq!(
        periods_of(&all, &s("weekly")).last().unwrap(),
        &p("2025-06-10T09:00:00Z", "2025-06-24T09:00:00Z", "5", 6)
    );
    // The June call of cus-eur.
    assert_eq!(
        periods_of(&all, &s("eur")).last().unwrap(),
        &p("2025-06-01T00:00:00Z", "2025-07-01T00:00:00Z", "8", 2)
    );
    assert_eq!(periods_of(&all, &s("cancelled")).len(), 3);
}

#[test]
fn the_routes_refuse_fields_and_need_a_key() {
    let d = Daemon::start();
    let c = d.prod();
    for path in [UPDATE, FINALIZE, UPDATE_TEMPORAL, FINALIZE_TEMPORAL] {
        c.post(path, json!({"dry_run": true}))
            .invalid("dry_run", "dry_run is not a known field");
        c.post(path, json!([])).error(400);
        c.send("POST", path, Some(b"{")).error(400);
        d.client(None).post(path, json!({})).error(401);
        let e = c.get(path).error(405);
        assert_eq!(e["code"], "method_not_allowed");
    }
    d.client(None).get("/v1/tasks/scheduled/system").error(401);
    c.post("/v1/tasks/scheduled/system", json!({})).error(405);
    assert!(jobs(&c).is_empty(), "refused calls enable nothing");
    // Whitespace is an empty body.
    c.send("POST", FINALIZE, Some(b"  \n")).ok(200);
    assert_eq!(jobs(&c).len(), 1);
}

#[test]
fn a_job_bills_only_its_own_environment() {
    let d = Setup::new().clock("2025-06-15T12:00:00Z").start();
    let (prod, staging) = (d.prod(), d.staging());
    let sub = subscription(
        &prod,
        json!({"customer_id": customer(&prod, "cus-1"), "currency": "USD", "billing_period": "DAILY",
               "start_date": "2025-06-01T00:00:00Z", "recurring_amount": "1"}),
    );
    staging.post(UPDATE, json!({})).ok(200);
    wait_run(&staging, "update_billing_period", "2025-06-15T12:00:00Z");
    assert!(jobs(&prod).is_empty(), "staging's job is not prod's");
    assert_eq!(invoices(&prod).len(), 0);
    let s = prod.get(&format!("/v1/subscriptions/{sub}")).ok(200);
    assert!(s["current_period_start"].is_null(), "{s}");

    prod.post(UPDATE, json!({})).ok(200);
    wait_run(&prod, "update_billing_period", "2025-06-15T12:00:00Z");
    assert_eq!(invoices(&prod).len(), 14);
    assert_eq!(invoices(&staging).len(), 0);
}

/// The test database, opened beside the daemon.
fn db(d: &Daemon) -> rusqlite::Connection {
    let db = rusqlite::Connection::open(d.dir().join("data/exportd.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db
}

fn invoice_count(d: &Daemon) -> i64 {
    db(d)
        .query_row("SELECT COUNT(*) FROM invoices", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn kill_9_during_a_billing_run_then_restart_bills_every_period_once() {
    const SUBSCRIPTIONS: usize = 40;
    const DAYS: i64 = 366; // 2024-06-15 to 2025-06-16: 2024 is a leap year
    let d = Setup::new()
        .clock("2025-06-16T00:00:00Z")
        .config(METERS)
        .start();
    let c = d.prod();
    let cust = customer(&c, "cus-many");
    let mut subs = Vec::new();
    for i in 0..SUBSCRIPTIONS {
        subs.push(subscription(
            &c,
            json!({"customer_id": cust, "currency": "USD", "billing_period": "DAILY",
                   "start_date": "2024-06-15T00:00:00Z", "recurring_amount": format!("{i}.5")}),
        ));
    }
    // One call a day, so every period reads and prices usage.
    let events: Vec<Value> = (0..DAYS)
        .map(|day| {
            let ts = jiff::Timestamp::from_second(1_718_409_600 + day * 86_400 + 3600).unwrap();
            json!({"event_id": format!("call-{day}"), "event_name": "api_call",
                   "external_customer_id": "cus-many", "timestamp": ts.to_string()})
        })
        .collect();
    assert_eq!(
        c.post("/v1/events/bulk", json!({ "events": events }))
            .status,
        202
    );
    let total = (SUBSCRIPTIONS as i64) * DAYS;

    c.post(UPDATE, json!({})).ok(200);
    wait_for("the billing run to be under way", LONG, || {
        invoice_count(&d) >= 200
    });
    crate::harness::signal(d.pid(), "KILL");
    let (_, _, dir) = d.terminate();
    let before: i64 = rusqlite::Connection::open(dir.path().join("data/exportd.db"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM invoices", [], |r| r.get(0))
        .unwrap();
    assert!(
        before < total,
        "the run ended before the kill ({before} of {total} invoices): make it longer"
    );
    crate::harness::set_clock_file(dir.path(), "2025-06-16T00:00:05Z");
    let d = Setup::new()
        .clock_from_dir()
        .config(METERS)
        .in_dir(dir)
        .start();
    let c = d.prod();
    // The interrupted run is due again at once: it goes on where it stopped.
    wait_run(&c, "update_billing_period", "2025-06-16T00:00:05Z");
    assert_eq!(invoice_count(&d), total);
    let db = db(&d);
    let mut stmt = db
        .prepare(
            "SELECT subscription_id, period_start, period_end, billing_sequence, total
             FROM invoices ORDER BY subscription_id, period_start",
        )
        .unwrap();
    let rows: Vec<(String, i64, i64, i64, String)> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let start = 1_718_409_600_000_i64;
    for (i, sub) in subs.iter().enumerate() {
        let mine: Vec<_> = rows.iter().filter(|r| &r.0 == sub).collect();
        assert_eq!(mine.len() as i64, DAYS, "subscription {sub}");
        for (k, r) in mine.iter().enumerate() {
            let k = k as i64;
            assert_eq!(
                (r.1, r.2, r.3),
                (start + k * 86_400_000, start + (k + 1) * 86_400_000, k + 1),
                "subscription {sub}: periods tile, each once"
            );
            // i.5 recurring + one call at 0.01
            assert_eq!(r.4, format!("{i}.51"), "subscription {sub}, day {k}");
        }
    }
    let numbers: i64 = db
        .query_row(
            "SELECT COUNT(DISTINCT invoice_number) FROM invoices",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(numbers, total, "no invoice number given twice");
    let log = d.log();
    assert!(
        log.contains("interrupted: exportd stopped during this run"),
        "{log}"
    );
}
