//! Every entity export against golden files: a small known data set goes in through the HTTP
//! API (on a test clock, so times are known), a force run exports a window to SeaweedFS, and
//! the object read back must equal `tests/golden/<name>.csv` byte for byte. Ids exportd makes
//! appear in the golden files as `${name}` and are filled in from the API's answers.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::harness::{Client, Daemon, S3_REGION, S3Server, Setup, seaweedfs};

const METERS: &str = r#"
[[meters]]
id = "api_calls"
event_name = "api_call"
aggregation = "COUNT"
feature_id = "feat_api"
feature_name = "API calls"
feature_group_name = "Platform"
unit_price = "0.002"
currency = "USD"

[[meters]]
id = "storage_gb"
event_name = "storage"
aggregation = "MAX"
field = "gb"
feature_id = "feat_storage"
feature_name = "Storage"
unit_price = "0.25"
currency = "USD"

[[meters]]
id = "bytes"
event_name = "api_call"
aggregation = "SUM"
field = "bytes"
feature_id = "feat_bytes"
feature_name = "Bytes"

[[meters]]
id = "users"
event_name = "login"
aggregation = "COUNT_UNIQUE"
field = "user"
feature_id = "feat_users"
feature_name = "Active users"
"#;

/// The ids of what the data set made, by name.
type Ids = BTreeMap<&'static str, String>;

pub(crate) struct World {
    d: Daemon,
    pub(crate) c: Client,
    pub(crate) server: &'static S3Server,
    pub(crate) bucket: String,
    conn: String,
    ids: Ids,
}

fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

impl World {
    fn new(server: &'static S3Server) -> World {
        let d = Setup::new()
            .clock("2025-10-16T10:00:00Z")
            .config(METERS)
            .config(&server.allow())
            .start();
        let c = d.prod();
        let bucket = server.new_bucket();
        let conn = c
            .post("/v1/connections", json!({"name": "golden", "provider_type": "s3",
                "encrypted_secret_data": {"aws_access_key_id": server.access_key, "aws_secret_access_key": server.secret_key}}))
            .ok(201);
        World {
            d,
            c,
            server,
            bucket,
            conn: id(&conn),
            ids: Ids::new(),
        }
    }

    fn at(&self, time: &str) -> &Self {
        self.d.set_clock(&format!("2025-10-16T{time}Z"));
        self
    }

    fn post(&self, path: &str, body: Value, status: u16) -> Value {
        self.c.post(path, body).ok(status)
    }

    /// The customers, wallets, transactions, invoices and events every golden file is made of.
    fn load(&mut self) {
        let acme = self.post(
            "/v1/customers",
            json!({"external_id": "acme-1", "name": "Acme, Inc.", "email": "ap@acme.test",
            "metadata": {"tier": "gold", "region": "eu"}}),
            201,
        );
        let beta = self.post(
            "/v1/customers",
            json!({"external_id": "beta-2", "name": "Beta \"B\" Ltd",
            "metadata": {"tier": "silver"}}),
            201,
        );
        self.ids.insert("acme", id(&acme));
        self.ids.insert("beta", id(&beta));
        let usd = self.post(
            "/v1/wallets",
            json!({"customer_id": id(&acme), "currency": "usd", "name": "Main"}),
            201,
        );
        let eur = self.post(
            "/v1/wallets",
            json!({"customer_id": id(&acme), "currency": "EUR",
            "metadata": {"cost_center": "cc-9"}}),
            201,
        );
        self.ids.insert("usd", id(&usd));
        self.ids.insert("eur", id(&eur));
        let money = |w: &World, wallet: &str, op: &str, body: Value, time: &str| -> String {
            w.at(time);
            let r = w.post(&format!("/v1/wallets/{wallet}/{op}"), body, 200);
            id(&r["transaction"])
        };
        let (usd, eur) = (id(&usd), id(&eur));
        let t1 = money(
            self,
            &usd,
            "top-up",
            json!({"amount": "100.00"}),
            "10:02:00",
        );
        let t2 = money(self, &eur, "top-up", json!({"amount": 50}), "10:03:00");
        money(self, &usd, "debit", json!({"amount": "30.5"}), "10:12:00");
        let t3 = money(
            self,
            &usd,
            "top-up",
            json!({"amount": "20", "reference_id": "ref-1", "transaction_reason": "FREE_CREDIT_GRANT"}),
            "10:32:30",
        );
        self.ids.insert("t1", t1);
        self.ids.insert("t2", t2);
        self.ids.insert("t3", t3);

        let events = [
            (
                "10:05:00",
                json!({"event_id": "e1", "event_name": "api_call", "external_customer_id": "acme-1", "source": "sdk",
                                "timestamp": "2025-10-16T10:04:59.900Z", "properties": {"bytes": 100, "path": "/v1/a,b"}}),
            ),
            (
                "10:10:00",
                json!({"event_id": "e2", "event_name": "api_call", "external_customer_id": "acme-1", "source": "sdk",
                                "timestamp": "2025-10-16T10:10:00Z", "properties": {"bytes": 250.5}}),
            ),
            (
                "10:15:00",
                json!({"event_id": "e3", "event_name": "api_call", "external_customer_id": "acme-1",
                                "timestamp": "2025-10-16T10:15:00Z"}),
            ),
            (
                "10:20:00",
                json!({"event_id": "e4", "event_name": "storage", "external_customer_id": "beta-2",
                                "timestamp": "2025-10-16T10:20:00Z", "properties": {"gb": "3.50"}}),
            ),
            (
                "10:25:00",
                json!({"event_id": "e5", "event_name": "storage", "external_customer_id": "beta-2",
                                "timestamp": "2025-10-16T10:25:00Z", "properties": {"gb": 2}}),
            ),
            (
                "10:30:00",
                json!({"event_id": "e6", "event_name": "login", "external_customer_id": "walk-in-9",
                                "timestamp": "2025-10-16T10:30:00Z", "properties": {"user": "u1"}}),
            ),
            (
                "10:30:01",
                json!({"event_id": "e7", "event_name": "login", "external_customer_id": "walk-in-9",
                                "timestamp": "2025-10-16T10:30:01Z", "properties": {"user": "u1"}}),
            ),
            (
                "10:31:00",
                json!({"event_id": "e8", "event_name": "login", "external_customer_id": "walk-in-9",
                                "timestamp": "2025-10-16T10:31:00Z", "properties": {"user": "u2"}}),
            ),
            (
                "10:40:00",
                json!({"event_id": "e9", "event_name": "signup", "external_customer_id": "acme-1",
                                "timestamp": "2025-10-16T10:40:00Z", "properties": {"z": null, "a": [1, "x"]}}),
            ),
        ];
        for (time, event) in events {
            self.at(time);
            assert_eq!(self.c.post("/v1/events", event).status, 202);
        }

        self.at("10:06:00");
        let inv = self.post("/v1/invoices", json!({"customer_id": self.ids["acme"], "currency": "USD", "amount_due": "120.50",
            "due_date": "2025-11-01T00:00:00Z", "description": "Setup, onboarding", "metadata": {"po": "PO-7"},
            "line_items": [{"display_name": "Setup", "amount": "100.5"}, {"display_name": "Seats", "amount": "10", "quantity": "2"}]}), 201);
        self.ids.insert("inv1", id(&inv));
        self.at("10:07:00");
        let inv2 = self.post(
            "/v1/invoices",
            json!({"customer_id": self.ids["beta"], "currency": "EUR", "amount_due": 0}),
            201,
        );
        self.ids.insert("inv2", id(&inv2));

        // After the first window: a top-up that only real-time balances include.
        money(self, &usd, "top-up", json!({"amount": "5"}), "11:05:00");
    }

    pub(crate) fn task(&self, entity: &str, job: Value) -> String {
        let mut job_config = json!({"bucket": self.bucket, "region": S3_REGION, "endpoint_url": self.server.endpoint,
            "use_path_style": true, "key_prefix": entity, "encryption": "none"});
        for (k, v) in job.as_object().unwrap() {
            job_config[k] = v.clone();
        }
        let body = json!({"connection_id": self.conn, "entity_type": entity, "interval": "hourly", "job_config": job_config});
        id(&self.c.post("/v1/tasks/scheduled", body).ok(201))
    }

    /// Exports one window of a task and returns the object's text.
    fn export(&self, task: &str, start: &str, end: &str) -> String {
        let run = self.export_run(task, start, end);
        let key = run["object_key"].as_str().unwrap();
        String::from_utf8(self.server.get(&self.bucket, key)).unwrap()
    }

    /// Exports one window (times of the day) of a task and returns the completed run.
    pub(crate) fn export_run(&self, task: &str, start: &str, end: &str) -> Value {
        let r = self
            .c
            .post(&format!("/v1/tasks/scheduled/{task}/run"),
                  json!({"start_time": format!("2025-10-16T{start}Z"), "end_time": format!("2025-10-16T{end}Z")}))
            .ok(200);
        let run = crate::runs::wait_run(&self.c, r["workflow_id"].as_str().unwrap());
        assert_eq!(run["task_status"], "COMPLETED", "{run}");
        run
    }

    /// Compares with a golden file after filling in the ids.
    fn assert_golden(&self, name: &str, actual: &str) {
        let path = format!("{}/tests/golden/{name}.csv", env!("CARGO_MANIFEST_DIR"));
        let mut expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        for (k, v) in &self.ids {
            expected = expected.replace(&format!("${{{k}}}"), v);
        }
        if expected != actual {
            let mut shown = actual.to_owned();
            for (k, v) in &self.ids {
                shown = shown.replace(v.as_str(), &format!("${{{k}}}"));
            }
            panic!(
                "{name}: the export differs from {path}\n--- expected\n{expected}\n--- actual (ids as placeholders)\n{shown}"
            );
        }
    }
}

/// A daemon holding the data set, at 11:06 on its test clock.
pub(crate) fn world(test: &str) -> Option<World> {
    let server = seaweedfs(test)?;
    let mut w = World::new(server);
    w.load();
    w.at("11:06:00");
    Some(w)
}

#[test]
fn the_events_export_has_one_row_per_event_and_matching_meter() {
    let Some(w) = world("the_events_export_has_one_row_per_event_and_matching_meter") else {
        return;
    };
    let t = w.task("events", json!({}));
    w.assert_golden("events", &w.export(&t, "10:00:00", "11:00:00"));
}

#[test]
fn usage_analytics_aggregates_per_customer_meter_and_source() {
    let Some(w) = world("usage_analytics_aggregates_per_customer_meter_and_source") else {
        return;
    };
    let t = w.task(
        "usage_analytics",
        json!({"export_metadata_fields": [
        {"entity_type": "customer", "field_key": "tier", "column_name": "Tier"},
        {"entity_type": "customer", "field_key": "missing_key"}]}),
    );
    w.assert_golden("usage_analytics", &w.export(&t, "10:00:00", "11:00:00"));
}

#[test]
fn credit_topups_lists_completed_credits_with_empty_cells_for_nulls() {
    let Some(w) = world("credit_topups_lists_completed_credits_with_empty_cells_for_nulls") else {
        return;
    };
    let t = w.task("credit_topups", json!({}));
    w.assert_golden("credit_topups", &w.export(&t, "10:00:00", "11:00:00"));
}

#[test]
fn credit_usage_has_one_row_per_customer_and_currency_as_of_the_window_end() {
    let Some(w) = world("credit_usage_has_one_row_per_customer_and_currency_as_of_the_window_end")
    else {
        return;
    };
    let t = w.task(
        "credit_usage",
        json!({"export_metadata_fields": [
        {"entity_type": "wallet", "field_key": "cost_center", "column_name": "Cost center"},
        {"entity_type": "customer", "field_key": "tier"}]}),
    );
    w.assert_golden("credit_usage", &w.export(&t, "10:00:00", "11:00:00"));
}

#[test]
fn an_invoice_appears_again_in_the_window_where_it_changed() {
    let Some(w) = world("an_invoice_appears_again_in_the_window_where_it_changed") else {
        return;
    };
    let t = w.task("invoice", json!({}));
    // The 10:00 window is exported (as the scheduler would, at 11:15) while the invoices are
    // drafts; the first is finalized afterwards and shows up again in the 11:00 window.
    w.at("11:06:00");
    w.assert_golden(
        "invoice_first_window",
        &w.export(&t, "10:00:00", "11:00:00"),
    );
    w.at("11:10:00").post(
        &format!("/v1/invoices/{}/finalize", w.ids["inv1"]),
        json!({}),
        200,
    );
    w.at("12:01:00");
    w.assert_golden(
        "invoice_second_window",
        &w.export(&t, "11:00:00", "12:00:00"),
    );
}

#[test]
fn metadata_fields_are_refused_where_the_entity_has_none() {
    let Some(server) = seaweedfs("metadata_fields_are_refused_where_the_entity_has_none") else {
        return;
    };
    let w = World::new(server);
    let field = json!([{"entity_type": "customer", "field_key": "tier"}]);
    for entity in ["events", "invoice", "credit_topups"] {
        let body = json!({"connection_id": w.conn, "entity_type": entity, "interval": "daily",
            "job_config": {"bucket": w.bucket, "region": S3_REGION, "export_metadata_fields": field}});
        w.c.post("/v1/tasks/scheduled", body)
            .invalid("job_config.export_metadata_fields", "not supported");
    }
    let body = json!({"connection_id": w.conn, "entity_type": "usage_analytics", "interval": "daily",
        "job_config": {"bucket": w.bucket, "region": S3_REGION,
                       "export_metadata_fields": [{"entity_type": "wallet", "field_key": "x"}]}});
    w.c.post("/v1/tasks/scheduled", body).invalid(
        "job_config.export_metadata_fields[0].entity_type",
        "not supported",
    );
}
