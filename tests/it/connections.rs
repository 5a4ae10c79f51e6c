//! `/v1/connections`: create, list, get, update (with credential rotation), delete, managed.

use serde_json::json;

use crate::harness::fixtures::{SECRET_ACCESS_KEY, connection, connection_body, task_body};
use crate::harness::{Daemon, Setup};

#[test]
fn create_returns_201_without_secrets_and_get_list_agree() {
    let d = Daemon::start();
    let c = d.prod();
    let mut body = connection_body();
    body["sync_config"] = json!({"s3": {"bucket": "exports", "region": "us-east-1", "key_prefix": "x/", "compression": "gzip"}});
    let created = c.post("/v1/connections", body).ok(201);
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("conn_"));
    assert_eq!(created["provider_type"], "s3");
    assert_eq!(created["status"], "published");
    assert_eq!(created["metadata"], json!({"team": "billing"}));
    assert_eq!(created["sync_config"]["s3"]["key_prefix"], "x");
    assert_eq!(created["sync_config"]["s3"]["encryption"], "AES256");
    assert!(created.get("encrypted_secret_data").is_none(), "{created}");
    assert_eq!(c.get(&format!("/v1/connections/{id}")).ok(200), created);

    connection(&c);
    let list = c.get("/v1/connections?limit=1").ok(200);
    assert_eq!(
        (
            list["total"].as_i64(),
            list["limit"].as_i64(),
            list["offset"].as_i64()
        ),
        (Some(2), Some(1), Some(0))
    );
    assert_eq!(list["connections"].as_array().unwrap().len(), 1);
    assert_eq!(
        c.get("/v1/connections?provider_type=s3").ok(200)["total"],
        2
    );
    c.get("/v1/connections?status=gone")
        .invalid("status", "published, archived");
}

#[test]
fn create_validation_names_each_field() {
    let d = Daemon::start();
    let c = d.prod();
    let with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut b = connection_body();
        edit(&mut b);
        c.post("/v1/connections", b)
    };
    with(&|b| {
        b.as_object_mut().unwrap().remove("name");
    })
    .invalid("name", "name is required");
    with(&|b| b["provider_type"] = json!("stripe"))
        .invalid("provider_type", "S3-compatible storage only");
    with(&|b| {
        b.as_object_mut().unwrap().remove("encrypted_secret_data");
    })
    .invalid("encrypted_secret_data.aws_access_key_id", "is required");
    with(&|b| b["encrypted_secret_data"]["aws_secret_access_key"] = json!(""))
        .invalid("encrypted_secret_data.aws_secret_access_key", "is required");
    with(&|b| b["encrypted_secret_data"]["aws_region"] = json!("x"))
        .invalid("encrypted_secret_data.aws_region", "not a known field");
    with(&|b| b["sync_config"] = json!({"s3": {"region": "us-east-1"}}))
        .invalid("sync_config.s3.bucket", "S3 bucket name is required");
    with(&|b| {
        b["sync_config"] =
            json!({"s3": {"bucket": "b-1", "region": "r", "endpoint_url": "http://10.0.0.1:9000"}})
    })
    .invalid("sync_config.s3.endpoint_url", "must use https");
    with(&|b| b["metadata"] = json!({"k": 1})).invalid("metadata.k", "must be a string");
    with(&|b| b["name"] = json!("x".repeat(300))).invalid("name", "at most 255 characters");
    assert_eq!(c.get("/v1/connections").ok(200)["total"], 0);
}

#[test]
fn update_renames_rotates_credentials_and_refuses_bad_input() {
    let d = Daemon::start();
    let c = d.prod();
    let id = connection(&c);
    let path = format!("/v1/connections/{id}");
    let sealed_before = sealed_secrets(&d, &id);
    let updated = c
        .put(&path, json!({"name": "Renamed", "metadata": {"owner": "ops"},
                           "encrypted_secret_data": {"aws_access_key_id": "AKIAROTATED", "aws_secret_access_key": "rotated-secret-value"}}))
        .ok(200);
    assert_eq!(updated["name"], "Renamed");
    assert_eq!(updated["metadata"], json!({"owner": "ops"}));
    let sealed_after = sealed_secrets(&d, &id);
    assert_ne!(
        sealed_before, sealed_after,
        "rotation stores new sealed credentials"
    );
    assert!(
        !sealed_after.contains("rotated-secret-value") && !sealed_after.contains("AKIAROTATED")
    );
    // The session token of the old credentials is gone with them.
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&sealed_after)
            .unwrap()
            .as_object()
            .unwrap()
            .len(),
        2
    );

    c.put(&path, json!({"name": ""}))
        .invalid("name", "must not be empty");
    c.put(&path, json!({"provider_type": "gcs"}))
        .invalid("provider_type", "S3-compatible storage only");
    c.put(
        &path,
        json!({"encrypted_secret_data": {"aws_access_key_id": "only-half"}}),
    )
    .invalid("encrypted_secret_data.aws_secret_access_key", "is required");
    c.put(
        &path,
        json!({"sync_config": {"s3": {"is_flexprice_managed": true}}}),
    )
    .invalid("sync_config.s3.is_flexprice_managed", "cannot be changed");
    c.put(&path, json!({"nam": "x"}))
        .invalid("nam", "not a known field");
    c.put("/v1/connections/conn_nope", json!({"name": "x"}))
        .error(404);
    assert_eq!(c.get(&path).ok(200)["name"], "Renamed");
}

#[test]
fn delete_answers_204_archives_the_connection_and_its_tasks() {
    let d = Daemon::start();
    let c = d.prod();
    let id = connection(&c);
    let task = c.post("/v1/tasks/scheduled", task_body(&id)).ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = c.delete(&format!("/v1/connections/{id}"));
    assert_eq!((r.status, r.body.len()), (204, 0));
    assert_eq!(
        c.delete(&format!("/v1/connections/{id}")).status,
        204,
        "idempotent"
    );
    assert_eq!(
        c.get(&format!("/v1/connections/{id}")).ok(200)["status"],
        "archived"
    );
    assert_eq!(c.get("/v1/connections").ok(200)["total"], 0);
    assert_eq!(c.get("/v1/connections?status=archived").ok(200)["total"], 1);
    let t = c.get(&format!("/v1/tasks/scheduled/{task}")).ok(200);
    assert_eq!(
        (t["status"].as_str(), t["enabled"].as_bool()),
        (Some("deleted"), Some(false))
    );
    // No new task on it, no change to it.
    c.post("/v1/tasks/scheduled", task_body(&id)).error(404);
    assert_eq!(
        c.put(&format!("/v1/connections/{id}"), json!({"name": "x"}))
            .error(400)["code"],
        "invalid_operation"
    );
    c.delete("/v1/connections/conn_nope").error(404);
}

#[test]
fn managed_connections_write_under_the_tenant_and_environment() {
    let d = Daemon::start();
    let c = d.prod();
    let conn = c
        .post("/v1/connections", json!({"name": "managed", "provider_type": "s3",
                                         "sync_config": {"s3": {"is_flexprice_managed": true, "bucket": "ignored"}}}))
        .ok(201);
    let s3 = &conn["sync_config"]["s3"];
    assert_eq!(
        (s3["bucket"].as_str(), s3["key_prefix"].as_str()),
        (Some("exportd-managed"), Some("acme/prod"))
    );
    assert_eq!(s3["is_flexprice_managed"], true);
    let mut body = task_body(conn["id"].as_str().unwrap());
    body["job_config"] = json!({"key_prefix": "daily", "compression": "gzip"});
    let t = c.post("/v1/tasks/scheduled", body).ok(201);
    let job = &t["job_config"];
    assert_eq!(job["bucket"], "exportd-managed");
    assert_eq!(job["key_prefix"], "acme/prod/daily");
    assert_eq!(job["provider"], "flexprice");
    // Credentials are the operator's, not the tenant's.
    c.post("/v1/connections", json!({"name": "m", "provider_type": "s3", "encrypted_secret_data": {"aws_access_key_id": "a", "aws_secret_access_key": "b"},
                                     "sync_config": {"s3": {"is_flexprice_managed": true}}}))
        .invalid("encrypted_secret_data", "not used by managed connections");
    // provider "flexprice" needs a managed connection.
    let mut body = task_body(&connection(&c));
    body["job_config"]["provider"] = json!("flexprice");
    c.post("/v1/tasks/scheduled", body)
        .invalid("job_config.provider", "needs a managed connection");
}

#[test]
fn managed_connections_are_refused_when_the_operator_disabled_them() {
    let d = Setup::new()
        .config("[managed_destination]\nkind = \"none\"")
        .start();
    let v = d
        .prod()
        .post("/v1/connections", json!({"name": "m", "provider_type": "s3", "sync_config": {"s3": {"is_flexprice_managed": true}}}))
        .error(400);
    assert_eq!(v["code"], "invalid_operation");
}

/// The sealed credential JSON as stored (read straight from the SQLite file).
fn sealed_secrets(d: &Daemon, id: &str) -> String {
    let db = rusqlite::Connection::open(d.dir().join("data/exportd.db")).unwrap();
    let sealed: String = db
        .query_row(
            "SELECT sealed_secrets FROM connections WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!sealed.contains(SECRET_ACCESS_KEY));
    sealed
}
