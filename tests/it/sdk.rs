//! The official Flexprice Python SDK against the real daemon (`tests/sdk/flexprice_sdk.py`).
//! The SDK lives in the virtualenv that `.ci/run` makes (`.ci/venv`, or `EXPORTD_TEST_VENV`).
//! Without it the test fails when `CI=true` and is skipped, with the reason, otherwise.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::{Daemon, KEY_PROD};

fn venv_python() -> Option<PathBuf> {
    let venv = std::env::var_os("EXPORTD_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/venv")));
    let python = venv.join("bin/python");
    let has_sdk = Command::new(&python)
        .args(["-c", "import flexprice"])
        .output()
        .is_ok_and(|o| o.status.success());
    has_sdk.then_some(python)
}

#[test]
fn the_official_python_sdk_works_against_exportd() {
    let Some(python) = venv_python() else {
        let reason =
            "the Flexprice Python SDK is not installed (run .ci/run, or set EXPORTD_TEST_VENV)";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {reason}"
        );
        eprintln!("SKIPPED the_official_python_sdk_works_against_exportd: {reason}");
        return;
    };
    let d = Daemon::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/flexprice_sdk.py");
    let out = Command::new(python)
        .arg(script)
        .arg(format!("http://{}", d.addr))
        .arg(KEY_PROD)
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
