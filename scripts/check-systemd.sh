#!/usr/bin/env bash
# Checks systemd/exportd.service: `systemd-analyze verify` must be clean, and prints the
# `systemd-analyze security` exposure score (the README quotes it). Installs systemd from
# Debian when systemd-analyze is missing. The unit's ExecStart names the installed binary,
# /usr/local/bin/exportd; the check points it at the one cargo built instead.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "scripts/check-systemd.sh: installing systemd (Debian) for systemd-analyze" >&2
  apt-get update -qq && apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi

cargo build --locked --bin exportd
exe="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/debug/exportd"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s#/usr/local/bin/exportd#$exe#" systemd/exportd.service > "$work/exportd.service"

# verify prints its findings and exits non-zero on errors; warnings are findings too.
out=$(systemd-analyze verify "$work/exportd.service" 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then
  echo "systemd-analyze verify systemd/exportd.service:"
  echo "$out"
  exit 1
fi
echo "systemd-analyze verify systemd/exportd.service: clean"
systemd-analyze security --offline=true "$work/exportd.service" 2>&1 | grep 'Overall exposure level'
