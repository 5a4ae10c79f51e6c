//! The command line: subcommands, exit codes, config errors that name the key.

use std::net::TcpListener;
use std::process::Command;

use crate::harness::{Client, Setup, exe};

#[test]
fn version_and_help_exit_0() {
    let out = Command::new(exe()).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("exportd {}", env!("CARGO_PKG_VERSION"))
    );
    let out = Command::new(exe()).arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("exportd serve"));
}

#[test]
fn bad_usage_exits_2_with_the_usage() {
    for args in [
        &["frobnicate"][..],
        &["serve", "--nope"],
        &["serve", "--config"],
    ] {
        let out = Command::new(exe()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("usage:"),
            "{args:?}"
        );
    }
}

#[test]
fn check_config_accepts_good_configs_and_names_the_bad_key() {
    let (status, stdout, _) = Setup::new().run(&["check-config"]);
    assert!(status.success());
    assert!(stdout.starts_with("config OK"), "{stdout}");
    let (status, _, stderr) = Setup::new()
        .config("[log]\nlevel = \"loud\"")
        .run(&["check-config"]);
    assert_eq!(status.code(), Some(2));
    assert!(
        stderr.contains("log.level: expected one of off, error, warn, info, debug, trace"),
        "{stderr}"
    );
    let (status, _, stderr) = Setup::new()
        .env("EXPORTD_SERVER_THREADS", "zero")
        .run(&["check-config"]);
    assert_eq!(status.code(), Some(2));
    assert!(
        stderr.contains("EXPORTD_SERVER_THREADS: expected a whole number"),
        "{stderr}"
    );
    let out = Command::new(exe())
        .args(["check-config", "--config", "/nonexistent/x.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.toml"));
    // The example config shipped with the repository is valid as it is.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");
    let out = Command::new(exe())
        .args(["check-config", "--config", example])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn keygen_prints_a_key_and_a_block_that_makes_it_work() {
    let out = Command::new(exe())
        .args(["keygen", "--tenant", "globex", "--environment", "live"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let key = stdout
        .lines()
        .find(|l| l.starts_with("exd_"))
        .expect("a key line")
        .to_owned();
    let block = &stdout[stdout.find("[[auth.keys]]").expect("a config block")..];
    let d = Setup::new().config(block).start();
    let v = Client::new(d.addr, Some(&key))
        .get("/v1/connections")
        .ok(200);
    assert_eq!(v["total"], 0);
    let c = Client::new(d.addr, Some(&key));
    let conn = c
        .post(
            "/v1/connections",
            crate::harness::fixtures::connection_body(),
        )
        .ok(201);
    assert_eq!(
        (conn["tenant_id"].as_str(), conn["environment_id"].as_str()),
        (Some("globex"), Some("live"))
    );
}

#[test]
fn a_port_in_use_is_a_runtime_failure_exit_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (status, _, stderr) = Setup::new()
        .env("EXPORTD_SERVER_LISTEN", &format!("127.0.0.1:{port}"))
        .run(&["serve"]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot listen on"), "{stderr}");
}
