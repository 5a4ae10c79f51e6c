#!/usr/bin/env bash
# Benchmarks exportd (SPEC 9): export of N events (CSV with gzip and with zstd, and Parquet) to SeaweedFS and
# to a directory against the shell pipeline `sqlite3 -csv | gzip -6 | aws s3 cp -` and against
# gzip, pigz and zstd of the same CSV, bulk ingest, API latency and idle CPU, and N invoices
# read from a PostgreSQL 15 of its own (Flexprice as the source) against
# `psql \copy | gzip -6 | aws s3 cp -`.
# Each figure is the median of --runs runs (min and max beside it); the table goes to stdout
# and to target/bench/results.md.
#
#   scripts/bench.sh [--rows N] [--runs K] [--only export,ingest,api,idle,flexprice] [--idle-seconds S]
#   scripts/bench.sh clickhouse [--rows N]    (the Flexprice ClickHouse source: bench-clickhouse.sh)
#
# It installs what it needs: sqlite3, pigz and zstd from Debian (apt-get) if missing, the
# pinned test tools (SeaweedFS) into .ci/venv as scripts/test.sh does (or uses
# $EXPORTD_TEST_VENV), and awscli into .ci/bench-venv. Takes about 10 minutes with the defaults (1,000,000 rows, 3 runs).
set -euo pipefail
cd "$(dirname "$0")/.."

# sqlite3 for the shell pipeline; pigz and zstd for the compression floors.
missing=()
for tool in sqlite3 pigz zstd; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "scripts/bench.sh: installing ${missing[*]} (Debian)" >&2
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Installs requirements file $2 into venv $1 unless it already holds exactly that file.
venv_with() {
  local venv=$1 requirements=$2
  if [ ! -x "$venv/bin/python" ] || ! cmp -s "$requirements" "$venv/installed-requirements.txt"; then
    echo "scripts/bench.sh: installing $requirements into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$venv/installed-requirements.txt"
  fi
}

if [ -n "${EXPORTD_TEST_VENV:-}" ]; then
  test_venv=$EXPORTD_TEST_VENV
else
  test_venv=.ci/venv
  venv_with "$test_venv" .ci/requirements.txt
fi
bench_venv=.ci/bench-venv
venv_with "$bench_venv" .ci/bench-requirements.txt

cargo build --release --locked -p exportd -p exportd-bench
target=${CARGO_TARGET_DIR:-target}
if [ "${1:-}" = clickhouse ]; then
  shift
  exec scripts/bench-clickhouse.sh --exportd "$target/release/exportd" \
    --test-python "$test_venv/bin/python" --aws "$bench_venv/bin/aws" "$@"
fi
exec "$target/release/exportd-bench" \
  --exportd "$target/release/exportd" \
  --test-python "$test_venv/bin/python" \
  --aws "$bench_venv/bin/aws" \
  --sqlite3 "$(command -v sqlite3)" \
  --work "$target/bench/work" \
  --out "$target/bench/results.md" \
  "$@"
