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

#[test]
fn check_config_applies_the_rules_serve_applies() {
    // serve refuses a non-loopback address without keys; so does check-config, alike.
    let open = Setup::new()
        .without_keys()
        .env("EXPORTD_SERVER_LISTEN", "0.0.0.0:0");
    let (status, stdout, stderr) = open.run(&["check-config"]);
    assert_eq!(status.code(), Some(2), "{stdout}{stderr}");
    assert!(!stdout.contains("config OK"), "{stdout}");
    let (served, _, serve_stderr) = open.run(&["serve"]);
    assert_eq!(served.code(), Some(2));
    let refusal =
        "no API keys are configured and server.listen (0.0.0.0:0) is not a loopback address";
    assert!(stderr.contains(refusal), "{stderr}");
    assert!(serve_stderr.contains(refusal), "{serve_stderr}");
    // With keys, the same address is fine.
    let (status, stdout, _) = Setup::new()
        .env("EXPORTD_SERVER_LISTEN", "0.0.0.0:0")
        .run(&["check-config"]);
    assert!(
        status.success() && stdout.starts_with("config OK"),
        "{stdout}"
    );
}

/// Runs `exportd <args>` with no config in `dir`, as a user in some other directory would.
fn run_bare(dir: &std::path::Path, args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let out = Command::new(exe())
        .args(args)
        .env_remove("EXPORTD_CONFIG")
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn commands_that_need_a_servers_state_refuse_to_make_a_new_one() {
    let empty = tempfile::tempdir().unwrap();
    let export = [
        "export",
        "--task",
        "schtask_x",
        "--start",
        "2025-10-16T10:00:00Z",
        "--end",
        "2025-10-16T11:00:00Z",
    ];
    for args in [&export[..], &["keygen", "--development"]] {
        let (status, stdout, stderr) = run_bare(empty.path(), args);
        assert_eq!(status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains("no database at data/exportd.db: pass --config"),
            "{args:?}: {stderr}"
        );
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
    let left: Vec<_> = std::fs::read_dir(empty.path()).unwrap().collect();
    assert!(left.is_empty(), "nothing was created: {left:?}");
}

#[test]
fn the_export_command_applies_the_apis_rules_to_a_deleted_task() {
    let d = Setup::new().start();
    let c = d.prod();
    let id = crate::harness::fixtures::task(&c);
    c.delete(&format!("/v1/tasks/scheduled/{id}")).ok(200);
    let api = c
        .post(
            &format!("/v1/tasks/scheduled/{id}/run"),
            serde_json::json!({}),
        )
        .error(400);
    let (status, log, dir) = d.terminate();
    assert!(status.success(), "{log}");
    let (status, stdout, stderr) = Setup::new().run_in(
        dir.path(),
        &[
            "export",
            "--task",
            &id,
            "--start",
            "2025-10-16T10:00:00Z",
            "--end",
            "2025-10-16T11:00:00Z",
        ],
    );
    assert_eq!(status.code(), Some(2), "{stdout}{stderr}");
    assert!(stdout.is_empty(), "no run: {stdout}");
    assert!(
        stderr.contains(api["message"].as_str().unwrap()),
        "{stderr}"
    );
    // Nothing was recorded either.
    let again = Setup::new().in_dir(dir).start();
    let runs = again
        .prod()
        .get(&format!("/v1/tasks?scheduled_task_id={id}"))
        .ok(200);
    assert_eq!(runs["pagination"]["total"], 0, "{runs}");
}

fn key_in(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with("exd_"))
        .unwrap_or_else(|| panic!("no key in {text}"))
        .to_owned()
}

#[test]
fn the_log_says_which_keys_are_on_and_a_lost_development_key_can_be_replaced() {
    let d = Setup::new().without_keys().start();
    let first = key_in(&d.log());
    assert!(
        d.log().contains("API keys: no [[auth.keys]] configured, so only the development key is on (tenant default, environment development, made now)"),
        "{}",
        d.log()
    );
    let (status, log, dir) = d.terminate();
    assert!(status.success(), "{log}");

    // Lost: a new one replaces it, in the server's own state.
    let (status, stdout, stderr) = Setup::new()
        .without_keys()
        .run_in(dir.path(), &["keygen", "--development"]);
    assert!(status.success(), "{stdout}{stderr}");
    let second = key_in(&stdout);
    assert_ne!(first, second);
    let d = Setup::new().without_keys().in_dir(dir).start();
    assert!(
        d.log().contains("only the development key is on (tenant default, environment development, made on an earlier start"),
        "{}",
        d.log()
    );
    assert!(!d.log().contains(&second), "the new key is not logged");
    d.client(Some(&first)).get("/v1/connections").error(401);
    d.client(Some(&second)).get("/v1/connections").ok(200);
    let (_, _, dir) = d.terminate();

    // With [[auth.keys]] the development key is off, and the log says so at start.
    let d = Setup::new().in_dir(dir).start();
    assert!(
        d.log().contains("API keys: 2 from [[auth.keys]]: prod (acme/prod), staging (acme/staging); the development key is off (the one made on an earlier start works again only without [[auth.keys]])"),
        "{}",
        d.log()
    );
    d.client(Some(&second)).get("/v1/connections").error(401);
    d.prod().get("/v1/connections").ok(200);
    let (_, _, dir) = d.terminate();
    // ...and keygen --development says why it will not help.
    let (status, stdout, stderr) = Setup::new().run_in(dir.path(), &["keygen", "--development"]);
    assert_eq!(status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("the development key is off because [[auth.keys]] are configured"),
        "{stderr}"
    );
}
