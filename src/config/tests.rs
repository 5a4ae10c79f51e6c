//! Loading whole configs: defaults, the file, the environment, and every error.

use super::*;
use crate::webhooks::EventType;
use std::io::Write;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn from_text(text: &str, vars: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(text.as_bytes()).expect("write");
    load(Some(file.path()), &env(vars))
}

fn error_of(text: &str, vars: &[(&str, &str)]) -> String {
    from_text(text, vars).expect_err("should fail").to_string()
}

#[test]
fn embedded_defaults_need_no_file() {
    let c = load(None, &env(&[])).expect("defaults").config;
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.max_body_bytes, 10 * 1024 * 1024);
    assert_eq!(c.database_path, PathBuf::from("data/exportd.db"));
    assert_eq!(c.secret_key, KeySource::File("data/secret.key".into()));
    assert!(c.api_keys.is_empty());
    assert!(matches!(c.managed, Managed::Directory { .. }));
    assert_eq!(
        (c.workers, c.shutdown_timeout, c.part_size),
        (2, Duration::from_secs(30), 8 << 20)
    );
    assert_eq!(
        (c.request_timeout, c.s3_retries, c.public_url.as_deref()),
        (Duration::from_secs(60), 1, None)
    );
    assert_eq!(c.finalization_delay, Duration::from_secs(3600));
    let limits = c.http_limits();
    assert_eq!(
        (limits.max_connections, limits.max_header_bytes),
        (256, 16 * 1024)
    );
    assert_eq!(
        (
            limits.header_timeout,
            limits.body_timeout,
            limits.idle_timeout
        ),
        (
            Duration::from_secs(10),
            Duration::from_secs(30),
            Duration::from_secs(30)
        )
    );
}

#[test]
fn the_example_config_is_valid() {
    let text = include_str!("../../config.example.toml");
    let loaded = from_text(text, &[]).expect("config.example.toml must load");
    assert!(loaded.warnings.is_empty());
}

#[test]
fn environment_overrides_are_typed_by_the_default() {
    let c = from_text(
        "[server]\nlisten = \"127.0.0.1:1\"\n",
        &[
            ("EXPORTD_SERVER_LISTEN", "0.0.0.0:9000"),
            ("EXPORTD_SERVER_THREADS", "3"),
            ("EXPORTD_SCHEDULER_ALLOW_TEST_INTERVALS", "true"),
            (
                "EXPORTD_S3_ALLOWED_ENDPOINTS",
                "http://127.0.0.1:8333, http://127.0.0.1:5000",
            ),
            ("EXPORTD_MANAGED_DESTINATION_KIND", "none"),
            ("EXPORTD_BILLING_FINALIZATION_DELAY", "90m"),
            ("EXPORTD_CONFIG", "ignored.toml"),
        ],
    )
    .expect("valid")
    .config;
    assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(c.threads, 3);
    assert!(c.allow_test_intervals);
    assert_eq!(c.allowed_endpoints.0.len(), 2);
    assert_eq!(c.managed, Managed::Disabled);
    assert_eq!(c.finalization_delay, Duration::from_secs(90 * 60));
    let err = error_of("", &[("EXPORTD_SERVER_THREADS", "many")]);
    assert_eq!(
        err,
        "config: EXPORTD_SERVER_THREADS: expected a whole number, got \"many\""
    );
    let loaded = from_text("", &[("EXPORTD_SERVER_LISTN", "x")]).expect("unknown vars only warn");
    assert_eq!(loaded.warnings.len(), 1);
    assert!(loaded.warnings[0].contains("EXPORTD_SERVER_LISTN"));
}

#[test]
fn bad_values_name_the_key_and_what_was_expected() {
    let cases = [
        (
            "[server]\nlisten = \"localhost\"",
            "config: server.listen: expected an IP address and port",
        ),
        (
            "[server]\nthreads = 0",
            "config: server.threads: expected a whole number from 1 to 256, got 0",
        ),
        (
            "[server]\nmax_connections = 0",
            "config: server.max_connections: expected a whole number from 1 to 100000, got 0",
        ),
        (
            "[server]\nheader_timeout = \"0s\"",
            "config: server.header_timeout: expected a duration from 1s to 3600s",
        ),
        (
            "[server]\nthreads = \"4\"",
            "config: server.threads: invalid type: string \"4\", expected i64",
        ),
        (
            "[server]\nlisen = \"x\"",
            "config: server.lisen: unknown field `lisen`, expected one of `listen`",
        ),
        (
            "[serverr]\nlisten = \"x\"",
            "config: serverr: unknown field `serverr`",
        ),
        (
            "[server]\nmax_connections = 0",
            "config: server.max_connections: expected a whole number from 1 to 100000, got 0",
        ),
        (
            "[server]\nheader_timeout = \"0s\"",
            "config: server.header_timeout: expected a duration from 1s to 3600s",
        ),
        (
            "[log]\nlevel = \"loud\"",
            "config: log.level: expected one of off, error",
        ),
        (
            "[[meters]]\nid = \"m\"\nevent_name = \"e\"\naggregation = \"AVG\"",
            "config: meters[0].aggregation: expected one of COUNT, SUM",
        ),
        (
            "[[meters]]\nid = \"m\"\nevent_name = \"e\"\naggregation = \"SUM\"",
            "config: meters[0].field: expected the event property",
        ),
        (
            "[[meters]]\nid = \"m\"\nevent_name = \"e\"\naggregation = \"COUNT\"\nunit_price = 0.1\ncurrency = \"USD\"",
            "config: meters[0].unit_price: expected a decimal in quotes",
        ),
        (
            "[[meters]]\nid = \"m\"\nevent_name = \"e\"\naggregation = \"COUNT\"\nunit_price = \"0.1\"",
            "config: meters[0].currency: expected the ISO 4217 code",
        ),
        (
            "[[meters]]\nid = \"m\"\nevent_name = \"e\"\naggregation = \"COUNT\"\n[[meters]]\nid = \"m\"\nevent_name = \"f\"\naggregation = \"COUNT\"",
            "config: meters[1].id: meter id \"m\" is used twice",
        ),
        (
            "[scheduler]\nshutdown_timeout = \"soon\"",
            "config: scheduler.shutdown_timeout: expected a duration",
        ),
        (
            "[scheduler]\nretry_base = \"10m\"\nretry_cap = \"1m\"",
            "config: scheduler.retry_cap: expected a duration at least as long",
        ),
        (
            "[scheduler]\nmax_consecutive_failures = 0",
            "config: scheduler.max_consecutive_failures: expected a whole number from 1",
        ),
        (
            "[scheduler]\ndelay = \"-5m\"",
            "config: scheduler.delay: expected a duration",
        ),
        (
            "[billing]\nfinalization_delay = \"soon\"",
            "config: billing.finalization_delay: expected a duration from 0s to 7776000s",
        ),
        (
            "[billing]\nfinalization_delay = \"-1h\"",
            "config: billing.finalization_delay: expected a duration",
        ),
        (
            "[billing]\nfinalisation_delay = \"1h\"",
            "config: billing.finalisation_delay: unknown field `finalisation_delay`",
        ),
        (
            "[s3]\nrequest_timeout = \"0s\"",
            "config: s3.request_timeout: expected a duration from 1s",
        ),
        (
            "[s3]\npart_size = 1024",
            "config: s3.part_size: expected a whole number from 5242880",
        ),
        (
            "[server]\npublic_url = \"ftp://x\"",
            "config: server.public_url: expected an http(s) URL",
        ),
        (
            "[secrets]\nencryption_key = \"abc\"",
            "config: secrets.encryption_key: expected 64 hex characters",
        ),
        (
            "[s3]\nallowed_endpoints = [\"minio:9000\"]",
            "config: s3.allowed_endpoints[0]: expected an http(s) origin",
        ),
        (
            "[managed_destination]\nkind = \"gcs\"",
            "config: managed_destination.kind: expected one of directory, s3, none",
        ),
        (
            "[managed_destination]\nkind = \"s3\"\nbucket = \"b-1\"",
            "config: managed_destination.access_key_id: expected a value",
        ),
        (
            "[[auth.keys]]\ntenant_id = \"t\"\nenvironment_id = \"e\"",
            "config: auth.keys[0]: expected exactly one of key_sha256 or key_env",
        ),
        (
            "[[auth.keys]]\ntenant_id = \"a/b\"\nenvironment_id = \"e\"\nkey_sha256 = \"00\"",
            "config: auth.keys[0].tenant_id: expected 1 to 50 letters",
        ),
        (
            "[[auth.keys]]\ntenant_id = \"t\"\nenvironment_id = \"e\"\nkey_sha256 = \"00\"",
            "config: auth.keys[0].key_sha256: expected the 64 hex characters",
        ),
        (
            "[[auth.keys]]\ntenant_id = \"t\"\nenvironment_id = \"e\"\nkey_env = \"NOPE\"",
            "config: auth.keys[0].key_env: expected environment variable NOPE",
        ),
        (
            "[[webhooks]]\nurl = \"https://10.0.0.1/hook\"\nsecret = \"0123456789abcdef\"",
            "config: webhooks[0].url: expected an http(s) URL that follows the endpoint_url rule",
        ),
        (
            "[[webhooks]]\nurl = \"https://93.184.216.34/hook\"",
            "config: webhooks[0]: expected exactly one of secret or secret_env",
        ),
        (
            "[[webhooks]]\nurl = \"https://93.184.216.34/hook\"\nsecret = \"short\"",
            "config: webhooks[0].secret: expected a secret of at least 16 characters",
        ),
        (
            "[[webhooks]]\nurl = \"https://93.184.216.34/hook\"\nsecret = \"0123456789abcdef\"\nevents = [\"run.started\"]",
            "config: webhooks[0].events[0]: expected one of run.completed, run.failed, task.auto_paused",
        ),
        (
            "[webhook_delivery]\nretry_base = \"1h\"\nretry_cap = \"1m\"",
            "config: webhook_delivery.retry_cap: expected a duration at least as long",
        ),
        ("[server\n", "is not valid TOML"),
    ];
    for (text, want) in cases {
        let err = error_of(text, &[]);
        assert!(err.contains(want), "{text:?}\n got: {err}\nwant: {want}");
    }
}

#[test]
fn api_keys_from_hashes_and_environment() {
    let hash = crate::secrets::to_hex(&crate::auth::hash_key("a-key-of-enough-length"));
    let text = format!(
        "[[auth.keys]]\nname = \"ci\"\ntenant_id = \"acme\"\nenvironment_id = \"prod\"\nkey_sha256 = \"{hash}\"\n\
         [[auth.keys]]\ntenant_id = \"acme\"\nenvironment_id = \"dev\"\nkey_env = \"DEV_KEY\"\n"
    );
    let c = from_text(&text, &[("DEV_KEY", "another-key-long-enough")])
        .expect("valid")
        .config;
    let ring = crate::auth::KeyRing::new(c.api_keys);
    let p = ring
        .authenticate("a-key-of-enough-length")
        .expect("accepted");
    assert_eq!(
        (
            p.tenant_id.as_str(),
            p.environment_id.as_str(),
            p.key_name.as_str()
        ),
        ("acme", "prod", "ci")
    );
    assert_eq!(
        ring.authenticate("another-key-long-enough")
            .map(|p| p.key_name.as_str()),
        Some("key-1")
    );
    let dup = format!(
        "{text}[[auth.keys]]\ntenant_id = \"x\"\nenvironment_id = \"y\"\nkey_sha256 = \"{hash}\"\n"
    );
    let err = from_text(&dup, &[("DEV_KEY", "another-key-long-enough")])
        .expect_err("duplicate")
        .to_string();
    assert!(err.contains("already configured as auth.keys[0]"), "{err}");
}

#[test]
fn webhooks_take_their_secret_from_the_environment_and_never_show_it() {
    let text = "[s3]\nallowed_endpoints = [\"http://127.0.0.1:8999\"]\n\
                [[webhooks]]\nurl = \"http://127.0.0.1:8999/hooks/a\"\nsecret_env = \"HOOK_SECRET\"\n\
                [[webhooks]]\nurl = \"https://93.184.216.34/b\"\nsecret = \"inline-secret-0123456789\"\nevents = [\"task.auto_paused\"]\n";
    let secret = "env-secret-0123456789";
    let c = from_text(
        text,
        &[
            ("HOOK_SECRET", secret),
            ("EXPORTD_WEBHOOK_DELIVERY_RETRY_BASE", "5s"),
        ],
    )
    .expect("valid")
    .config;
    assert_eq!(c.webhooks.len(), 2);
    assert_eq!(
        c.webhooks[0].events,
        EventType::ALL,
        "all events by default"
    );
    assert_eq!(c.webhooks[1].events, [EventType::TaskAutoPaused]);
    assert_eq!(c.webhooks[0].url.path(), "/hooks/a");
    assert_eq!(c.webhook_delivery.retry_base, Duration::from_secs(5));
    assert_eq!(c.webhook_delivery.retry_cap, Duration::from_secs(600));
    let shown = format!("{c:?} {c}");
    assert!(!shown.contains(secret) && !shown.contains("inline-secret"));
    let err = from_text(text, &[])
        .expect_err("unset variable")
        .to_string();
    assert!(
        err.contains("webhooks[0].secret_env: expected environment variable HOOK_SECRET"),
        "{err}"
    );
    let dup = format!(
        "{text}[[webhooks]]\nurl = \"https://93.184.216.34/b\"\nsecret = \"inline-secret-0123456789\"\n"
    );
    let err = from_text(&dup, &[("HOOK_SECRET", secret)])
        .expect_err("duplicate")
        .to_string();
    assert!(
        err.contains("webhooks[2].url: the same URL is already configured as webhooks[1]"),
        "{err}"
    );
}

#[test]
fn missing_config_file_is_an_error_that_names_it() {
    let err = load(Some(Path::new("/nonexistent/exportd.toml")), &env(&[])).expect_err("missing");
    assert!(err.to_string().contains("/nonexistent/exportd.toml"));
}
