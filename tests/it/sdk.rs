//! The official Flexprice SDKs against the real daemon: Python (`tests/sdk/flexprice_sdk.py`,
//! from the virtualenv `scripts/test.sh` makes: `.ci/venv`, or `EXPORTD_TEST_VENV`) and
//! JavaScript (`tests/sdk/js/flexprice_sdk.mjs`, from `tests/sdk/js/node_modules`, which
//! `scripts/test.sh` and `.ci/run` install with `npm ci`). Without one of them its test fails
//! when `CI=true` and is skipped, with the reason, otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{KEY_PROD, S3_REGION, Setup, skip_or_fail, venv_python};

/// Runs an SDK script against a fresh daemon and a new SeaweedFS bucket; it must print `ok`.
fn drive(test: &str, program: &Path, script: &str) {
    let Some(server) = crate::harness::seaweedfs(test) else {
        return;
    };
    let d = Setup::new().config(&server.allow()).start();
    let bucket = server.new_bucket();
    let out = Command::new(program)
        .arg(script)
        .arg(format!("http://{}", d.addr))
        .arg(KEY_PROD)
        .args([
            &server.endpoint,
            &server.access_key,
            &server.secret_key,
            &bucket,
            S3_REGION,
        ])
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "SDK script {script} failed:\nstdout:\n{stdout}\nstderr:\n{stderr}\ndaemon log:\n{}",
        d.log()
    );
}

#[test]
fn the_official_python_sdk_works_against_exportd() {
    let test = "the_official_python_sdk_works_against_exportd";
    let Some(python) = venv_python("flexprice") else {
        let reason = "the Flexprice Python SDK is not installed (run scripts/test.sh, or set EXPORTD_TEST_VENV)";
        skip_or_fail(test, reason);
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/flexprice_sdk.py");
    drive(test, &python, script);
}

/// `node`, when the JS SDK is installed next to the script.
fn node_with_sdk() -> Option<PathBuf> {
    let sdk = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sdk/js/node_modules/@flexprice/sdk/package.json"
    );
    let node = PathBuf::from("node");
    let runs = Command::new(&node)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    (runs && Path::new(sdk).exists()).then_some(node)
}

#[test]
fn the_official_javascript_sdk_works_against_exportd() {
    let test = "the_official_javascript_sdk_works_against_exportd";
    let Some(node) = node_with_sdk() else {
        let reason = "node or the Flexprice JavaScript SDK is not installed (run scripts/test.sh, or npm ci in tests/sdk/js)";
        skip_or_fail(test, reason);
        return;
    };
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sdk/js/flexprice_sdk.mjs"
    );
    drive(test, &node, script);
}
