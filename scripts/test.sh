#!/usr/bin/env bash
# Runs every test. The first time (and whenever .ci/requirements.txt changes) it installs the
# pinned Python test tools into .ci/venv, and (whenever tests/sdk/js/package-lock.json changes)
# the pinned JavaScript SDK into tests/sdk/js/node_modules; then it runs cargo test with them.
# Extra arguments go to cargo test (e.g. scripts/test.sh --test it lifecycle).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.ci/venv
requirements=.ci/requirements.txt
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$requirements" "$venv/installed-requirements.txt"; then
  echo "scripts/test.sh: installing the Python test tools into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/installed-requirements.txt"
fi
export EXPORTD_TEST_VENV="$PWD/$venv"

# The official JavaScript SDK for tests/it/sdk.rs, pinned (with the zod npm resolved) by
# tests/sdk/js/package-lock.json. Installed the first time, and again when the lock changes.
js=tests/sdk/js
if [ ! -f "$js/node_modules/.package-lock.json" ] || [ "$js/package-lock.json" -nt "$js/node_modules/.package-lock.json" ]; then
  echo "scripts/test.sh: installing the JavaScript SDK into $js/node_modules" >&2
  (cd "$js" && npm ci --no-audit --no-fund --loglevel=error)
fi

# Every daemon the suite starts leaves its log here, and the secrets the suite used; the last
# step checks that no log line holds one.
suite="${CARGO_TARGET_DIR:-target}/tmp/suite"
rm -rf "$suite"

cargo test --locked "$@"
cargo test --locked --test it -- --ignored --exact --nocapture suite_logs::no_log_line_of_the_suite_holds_a_secret
