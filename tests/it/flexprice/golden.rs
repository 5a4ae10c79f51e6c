//! A golden test of the Flexprice source in a few calls: a daemon with keys for every scope of
//! the data set and a SeaweedFS bucket; [`Golden::assert_export`] creates the task an
//! [`Export`] describes with the key of its scope, force-runs its window, reads the object and
//! compares it byte for byte with [`expected::csv`].
//!
//! ```ignore
//! let ds = Dataset::standard();
//! let Some(pg) = flexprice::postgres(TEST) else { return };
//! let db = pg.database_with(&ds);
//! let setup = Setup::new().flexprice(&db, None);
//! let Some(g) = Golden::start(TEST, setup) else { return };
//! g.assert_export(&ds, &Export::new(Entity::Invoice, "globex", "staging", "10:00:00", "11:00:00"));
//! ```

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{Value, json};

use super::expected::{self, Export};
use super::{KEY_GLOBEX_PROD, KEY_GLOBEX_STAGING, globex_keys_toml};
use crate::harness::{
    Client, Daemon, KEY_PROD, KEY_STAGING, S3_REGION, S3Server, Setup, seaweedfs,
};

/// The API key of a scope of the data set.
pub(crate) fn key(tenant: &str, env: &str) -> &'static str {
    match (tenant, env) {
        ("acme", "prod") => KEY_PROD,
        ("acme", "staging") => KEY_STAGING,
        ("globex", "prod") => KEY_GLOBEX_PROD,
        ("globex", "staging") => KEY_GLOBEX_STAGING,
        _ => panic!("no test key for {tenant}/{env}"),
    }
}

/// A running daemon for golden tests, and where its exports go.
pub(crate) struct Golden {
    pub daemon: Daemon,
    pub server: &'static S3Server,
    pub bucket: String,
    /// A connection per scope (connections are scoped like tasks).
    connections: Mutex<BTreeMap<(String, String), String>>,
}

impl Golden {
    /// Starts `setup` (give it the `[source]` section, the ClickHouse password's environment
    /// variable, a clock...) with the globex keys and the shared SeaweedFS allowed; `None`
    /// (reported; a failure under `CI=true`) when SeaweedFS is not installed.
    pub(crate) fn start(test: &str, setup: Setup) -> Option<Golden> {
        let server = seaweedfs(test)?;
        let daemon = setup
            .config(&globex_keys_toml())
            .config(&server.allow())
            .start();
        Some(Golden {
            daemon,
            server,
            bucket: server.new_bucket(),
            connections: Mutex::new(BTreeMap::new()),
        })
    }

    /// A client with the key of `tenant`/`env`.
    pub(crate) fn client(&self, tenant: &str, env: &str) -> Client {
        self.daemon.client(Some(key(tenant, env)))
    }

    fn connection(&self, tenant: &str, env: &str) -> String {
        let mut connections = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        connections
            .entry((tenant.to_owned(), env.to_owned()))
            .or_insert_with(|| {
                let body = json!({"name": "golden", "provider_type": "s3",
                    "encrypted_secret_data": {"aws_access_key_id": self.server.access_key,
                                              "aws_secret_access_key": self.server.secret_key}});
                let v = self
                    .client(tenant, env)
                    .post("/v1/connections", body)
                    .ok(201);
                v["id"].as_str().expect("connection id").to_owned()
            })
            .clone()
    }

    /// Creates the scheduled task of `export` (hourly, not enabled: only force runs export)
    /// with its window field and metadata columns; returns its id.
    pub(crate) fn task(&self, export: &Export) -> String {
        let mut job = json!({"bucket": self.bucket, "region": S3_REGION, "endpoint_url": self.server.endpoint,
            "use_path_style": true, "encryption": "none",
            "key_prefix": format!("{}/{}/{}", export.tenant, export.env, export.entity.name())});
        if let Value::Object(extra) = export.job_config() {
            for (k, v) in extra {
                job[k] = v;
            }
        }
        let body = json!({"connection_id": self.connection(&export.tenant, &export.env),
            "entity_type": export.entity.name(), "interval": "hourly", "job_config": job});
        let v = self
            .client(&export.tenant, &export.env)
            .post("/v1/tasks/scheduled", body)
            .ok(201);
        v["id"].as_str().expect("task id").to_owned()
    }

    /// Force-runs `export`'s window on `task` and waits for the run; returns its record.
    pub(crate) fn run(&self, task: &str, export: &Export) -> Value {
        let c = self.client(&export.tenant, &export.env);
        let r = c
            .post(
                &format!("/v1/tasks/scheduled/{task}/run"),
                export.run_body(),
            )
            .ok(200);
        crate::runs::wait_run(&c, r["workflow_id"].as_str().expect("workflow_id"))
    }

    /// The stored object of a COMPLETED run, as text.
    pub(crate) fn object(&self, run: &Value) -> String {
        assert_eq!(run["task_status"], "COMPLETED", "{run}");
        let key = run["object_key"].as_str().expect("object_key");
        String::from_utf8(self.server.get(&self.bucket, key)).expect("a UTF-8 object")
    }

    /// Exports `export` on a task of its own; returns the object's text.
    pub(crate) fn export(&self, export: &Export) -> String {
        let task = self.task(export);
        self.object(&self.run(&task, export))
    }

    /// Exports `export` and compares the object with [`expected::csv`] of `ds`, showing the
    /// first line that differs.
    pub(crate) fn assert_export(&self, ds: &super::dataset::Dataset, export: &Export) {
        assert_same_csv(&expected::csv(ds, export), &self.export(export), export);
    }
}

/// Panics with the first differing line when two CSV texts differ.
pub(crate) fn assert_same_csv(expected: &str, actual: &str, what: &impl std::fmt::Debug) {
    if expected == actual {
        return;
    }
    let (e, a): (Vec<&str>, Vec<&str>) =
        (expected.split('\n').collect(), actual.split('\n').collect());
    let line = e
        .iter()
        .zip(&a)
        .position(|(x, y)| x != y)
        .unwrap_or(e.len().min(a.len()));
    panic!(
        "the export differs from the expected CSV at line {} ({} lines expected, {} exported) for {what:?}\n  expected: {:?}\n  exported: {:?}\n--- whole export\n{actual}",
        line + 1,
        e.len(),
        a.len(),
        e.get(line),
        a.get(line)
    );
}
