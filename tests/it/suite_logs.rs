//! After the whole suite: no line any daemon logged holds a secret the suite used. Ignored in
//! a plain `cargo test` (it must run after every other test); scripts/test.sh runs it last.

use crate::harness::fixtures::{SECRET_ACCESS_KEY, SECRET_KEY_ID, SESSION_TOKEN};
use crate::harness::{KEY_PROD, KEY_STAGING, suite_dir};

#[test]
#[ignore = "run by scripts/test.sh after the rest of the suite"]
fn no_log_line_of_the_suite_holds_a_secret() {
    let dir = suite_dir();
    let noted = std::fs::read_to_string(dir.join("secrets")).unwrap_or_default();
    let mut secrets: Vec<&str> = vec![
        KEY_PROD,
        KEY_STAGING,
        SECRET_KEY_ID,
        SECRET_ACCESS_KEY,
        SESSION_TOKEN,
        crate::webhooks::SECRET,
    ];
    secrets.extend(noted.lines().filter(|s| s.len() >= 8));
    let logs: Vec<_> = std::fs::read_dir(dir.join("logs"))
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        !logs.is_empty(),
        "no daemon logs in {}: run the suite first (scripts/test.sh does)",
        dir.display()
    );
    let mut lines = 0;
    for path in &logs {
        let text = std::fs::read_to_string(path).unwrap();
        for line in text.lines() {
            lines += 1;
            for secret in &secrets {
                assert!(
                    !line.contains(secret),
                    "{} holds a secret ({}...): {line}",
                    path.display(),
                    &secret[..4]
                );
            }
        }
    }
    eprintln!(
        "checked {lines} log lines in {} files for {} secrets",
        logs.len(),
        secrets.len()
    );
}
