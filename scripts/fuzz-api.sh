#!/usr/bin/env bash
# Fuzzes the running API against its own description: builds exportd (debug), starts it on a
# free loopback port with a throwaway data directory and API key, and runs schemathesis on
# /openapi.json. Fails on any 5xx and on any answer the document does not describe.
# The first time (and whenever .ci/fuzz-requirements.txt changes) it installs the pinned
# schemathesis into .ci/fuzz-venv. FUZZ_EXAMPLES (default 30) bounds the cases per operation;
# extra arguments go to `schemathesis run` (e.g. --include-path-regex '^/v1/wallets').
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.ci/fuzz-venv
requirements=.ci/fuzz-requirements.txt
if [ ! -x "$venv/bin/schemathesis" ] || ! cmp -s "$requirements" "$venv/installed-requirements.txt"; then
  echo "scripts/fuzz-api.sh: installing schemathesis into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/installed-requirements.txt"
fi

cargo build --locked --bin exportd
target_dir="${CARGO_TARGET_DIR:-target}"
exe="$(cd "$target_dir" && pwd)/debug/exportd"

work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# A free port: bind port 0, read what the kernel chose, release it for exportd.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
export EXPORTD_FUZZ_API_KEY="fuzz-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
cat >"$work/exportd.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
threads = 4

[storage]
data_dir = "$work/data"

[[auth.keys]]
name = "fuzz"
tenant_id = "fuzz"
environment_id = "fuzz"
key_env = "EXPORTD_FUZZ_API_KEY"

[managed_destination]
kind = "directory"
path = "exports"
TOML

"$exe" serve --config "$work/exportd.toml" >"$work/exportd.log" 2>&1 &
pid=$!
# The venv's Python rather than curl, which a fresh machine may lack.
healthy() {
  "$venv/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$base/healthz"
}
for _ in $(seq 1 100); do
  if healthy 2>/dev/null; then
    break
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "scripts/fuzz-api.sh: exportd did not start:" >&2
    cat "$work/exportd.log" >&2
    exit 1
  fi
  sleep 0.1
done
healthy

# One worker: on Python 3.11.7 two threads in ast.parse (hypothesis reads lambdas' source)
# can fail with "SystemError: AST constructor recursion depth mismatch" (CPython gh-106905).
# Run from the temporary directory so schemathesis' and hypothesis' caches stay out of the tree.
status=0
root="$PWD"
(cd "$work" && "$root/$venv/bin/schemathesis" run "$base/openapi.json" \
  --header "x-api-key: $EXPORTD_FUZZ_API_KEY" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${FUZZ_EXAMPLES:-30}" \
  --phases examples,coverage,fuzzing,stateful \
  --workers 1 \
  --seed "${FUZZ_SEED:-1}" \
  --no-color \
  "$@") || status=$?

if grep -q ' ERROR \|panicked' "$work/exportd.log"; then
  echo "scripts/fuzz-api.sh: exportd logged errors:" >&2
  grep ' ERROR \|panicked' "$work/exportd.log" | head -50 >&2
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "scripts/fuzz-api.sh: schemathesis found problems (exit $status)" >&2
fi
exit "$status"
