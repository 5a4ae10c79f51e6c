//! The official Flexprice Python SDK against the real daemon (`tests/sdk/flexprice_sdk.py`).
//! The SDK lives in the virtualenv that `scripts/test.sh` makes (`.ci/venv`, or `EXPORTD_TEST_VENV`).
//! Without it the test fails when `CI=true` and is skipped, with the reason, otherwise.

use std::process::Command;

use crate::harness::{KEY_PROD, S3_REGION, Setup, skip_or_fail, venv_python};

#[test]
fn the_official_python_sdk_works_against_exportd() {
    let Some(python) = venv_python("flexprice") else {
        let reason = "the Flexprice Python SDK is not installed (run scripts/test.sh, or set EXPORTD_TEST_VENV)";
        skip_or_fail("the_official_python_sdk_works_against_exportd", reason);
        return;
    };
    let Some(server) = crate::harness::seaweedfs("the_official_python_sdk_works_against_exportd")
    else {
        return;
    };
    let d = Setup::new().config(&server.allow()).start();
    let bucket = server.new_bucket();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/flexprice_sdk.py");
    let out = Command::new(python)
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
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "SDK script failed:\nstdout:\n{stdout}\nstderr:\n{stderr}\ndaemon log:\n{}",
        d.log()
    );
}
