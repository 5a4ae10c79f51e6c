#!/usr/bin/env bash
# Runs every test. The first time (and whenever .ci/requirements.txt changes) it installs the
# pinned Python test tools into .ci/venv; then it runs cargo test with them available.
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

# Every daemon the suite starts leaves its log here, and the secrets the suite used; the last
# step checks that no log line holds one.
suite="${CARGO_TARGET_DIR:-target}/tmp/suite"
rm -rf "$suite"

cargo test --locked "$@"
cargo test --locked --test it -- --ignored --exact --nocapture suite_logs::no_log_line_of_the_suite_holds_a_secret
