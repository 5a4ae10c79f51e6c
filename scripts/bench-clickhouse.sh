#!/usr/bin/env bash
# Benchmarks the Flexprice source's ClickHouse side (issue 16): N meter_usage rows (10,000,000
# by default) of one window exported as `events` (CSV, gzip -6) by exportd to SeaweedFS, against
# `clickhouse-client --query "SELECT ... FORMAT CSVWithNames" | gzip -6 | aws s3 cp -` of the
# same rows (FINAL, same order) in the same run, and exportd's peak RSS for a 1,000,000-row and
# an N-row window. One run of each (a 10M load takes minutes); the table goes to stdout and to
# target/bench/clickhouse.md.
#
#   scripts/bench.sh clickhouse [--rows N]
#
# scripts/bench.sh builds exportd, installs the tools and passes --exportd, --test-python
# (SeaweedFS) and --aws. This script starts Debian's ClickHouse 18.16 and PostgreSQL 15 (the
# customers exportd looks up) on free loopback ports in a temporary directory, loads them with
# the fixture's schemas (tests/flexprice/), and stops everything at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

rows=10000000
exportd='' python='' aws=''
while [ $# -gt 0 ]; do
  case $1 in
    --rows) rows=$2; shift 2 ;;
    --exportd) exportd=$2; shift 2 ;;
    --test-python) python=$2; shift 2 ;;
    --aws) aws=$2; shift 2 ;;
    *) echo "bench-clickhouse.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$exportd" ] && [ -x "$python" ] && [ -x "$aws" ] || {
  echo "usage: scripts/bench.sh clickhouse [--rows N]" >&2; exit 2; }
small=1000000
[ "$rows" -lt "$small" ] && small=$rows
pgbin=/usr/lib/postgresql/15/bin

work=$(mktemp -d /tmp/exportd-bench-ch-XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/pg/postmaster.pid" ] && setpriv --reuid=postgres --regid=postgres --init-groups \
    "$pgbin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ms() { date +%s%3N; }

# --- SeaweedFS, through the tests' supervisor (it stops the server when its stdin closes).
coproc S3 { "$python" tests/s3/serve.py seaweedfs; }
pids+=($S3_PID)
read -r s3_line <&"${S3[0]}"
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$s3_line" "$1"; }
endpoint=$(field endpoint)
export AWS_ACCESS_KEY_ID=$(field access_key) AWS_SECRET_ACCESS_KEY=$(field secret_key) AWS_DEFAULT_REGION=us-east-1
"$aws" --endpoint-url "$endpoint" s3 mb s3://bench >/dev/null

# --- ClickHouse 18.16: the fixture's shape (tests/it/flexprice/clickhouse.rs), one read-only user.
http=$(free_port) tcp=$(free_port) inter=$(free_port)
password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkdir -p "$work"/ch/{data,tmp,user_files,format_schemas,log}
cat >"$work/ch/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$work/ch/log/server.log</log><errorlog>$work/ch/log/error.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$http</http_port><tcp_port>$tcp</tcp_port><interserver_http_port>$inter</interserver_http_port>
  <path>$work/ch/data/</path><tmp_path>$work/ch/tmp/</tmp_path>
  <user_files_path>$work/ch/user_files/</user_files_path><format_schema_path>$work/ch/format_schemas/</format_schema_path>
  <users_config>$work/ch/users.xml</users_config>
  <default_profile>default</default_profile><default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>134217728</mark_cache_size>
</yandex>
EOF
cat >"$work/ch/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>8000000000</max_memory_usage></default>
            <readonly><readonly>2</readonly></readonly></profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default>
    <exportd><password>$password</password><networks><ip>127.0.0.1</ip></networks><profile>readonly</profile><quota>default</quota></exportd>
  </users>
  <quotas><default></default></quotas>
</yandex>
EOF
/usr/sbin/clickhouse-server --config-file="$work/ch/config.xml" >"$work/ch/log/stdout" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http/ping" >/dev/null && break; sleep 0.1; done
ch() { clickhouse-client --host 127.0.0.1 --port "$tcp" --multiquery "$@"; }
ch --query "CREATE DATABASE flexprice"
sed 's/{database}/flexprice/g' tests/flexprice/clickhouse-18.16-prod.sql | ch
from=1760572800 # 2025-10-16T00:00:00Z: the events span that day
load() { # tenant, rows
  sed -e "s/{database}/flexprice/g; s/{tag}/$1/g; s/{tenant}/$1/g; s/{env}/prod/g" \
      -e "s/{n}/$2/g; s/{from}/$from/g; s/{span}/86400/g; s/{qty_type}/Decimal(18, 8)/g" \
      tests/flexprice/ch_bulk_meter_usage.sql | ch
}
echo "bench-clickhouse: loading $small + $rows meter_usage rows" >&2
load small "$small"
load big "$rows"
# ClickHouse merges the new parts in the background for a while after a large insert. exportd
# runs first and the pipeline last, so without this wait only exportd's export shared the
# cores with those merges (a run at 06:08 UTC: 64 s, against 49 s on merged parts).
for _ in $(seq 600); do
  [ "$(ch --query "SELECT count() FROM system.merges")" = 0 ] && break
  sleep 0.5
done

# --- PostgreSQL 15: the customers behind the rows' external ids, a SELECT-only role.
pg_port=$(free_port)
mkdir -p "$work/pg" "$work/pgsock" && chown postgres:postgres "$work/pg" "$work/pgsock"
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
as_pg "$pgbin/initdb" -D "$work/pg" -A trust -U postgres >/dev/null
as_pg "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pgsock/log" -w \
  -o "-p $pg_port -k $work/pgsock -c listen_addresses=127.0.0.1" start >/dev/null
psql() { as_pg /usr/lib/postgresql/15/bin/psql -q -h "$work/pgsock" -p "$pg_port" -U postgres -v ON_ERROR_STOP=1 "$@"; }
psql -c "CREATE DATABASE flexprice"
{
  cat tests/flexprice/postgres_schema.sql
  for t in small big; do
    echo "INSERT INTO customers (id, tenant_id, environment_id, external_id, name, created_at, updated_at)
          SELECT 'cus_${t}_' || n, '$t', 'prod', 'bulk-' || n, 'Bulk ' || n, now(), now()
          FROM generate_series(0, 999) n;"
  done
  echo "CREATE ROLE exportd_ro LOGIN PASSWORD '$password';
        GRANT USAGE ON SCHEMA public TO exportd_ro;
        GRANT SELECT ON ALL TABLES IN SCHEMA public TO exportd_ro;"
} | psql -d flexprice >/dev/null

# --- exportd: one fresh daemon per window, so its peak RSS is that export's.
key=exd_bench_key_0123456789abcdefghijklmnop
sha=$(printf %s "$key" | sha256sum | cut -d' ' -f1)
export EXPORTD_CLICKHOUSE_PASSWORD=$password
export EXPORTD_BENCH_PG_URL="postgres://exportd_ro:$password@127.0.0.1:$pg_port/flexprice?sslmode=disable"
window='{"start_time": "2025-10-16T00:00:00Z", "end_time": "2025-10-17T00:00:00Z"}'
exportd_once() { # tenant → "wall_ms peak_rss_kib rows cpu_seconds"
  local tenant=$1 dir=$work/exportd-$1 port
  port=$(free_port)
  mkdir -p "$dir/data"
  cat >"$dir/exportd.toml" <<EOF
[server]
listen = "127.0.0.1:$port"
[storage]
data_dir = "$dir/data"
[s3]
allowed_endpoints = ["$endpoint"]
[[auth.keys]]
name = "bench"
tenant_id = "$tenant"
environment_id = "prod"
key_sha256 = "$sha"
[source]
kind = "flexprice"
postgres_url_env = "EXPORTD_BENCH_PG_URL"
clickhouse_url = "http://127.0.0.1:$http"
clickhouse_database = "flexprice"
clickhouse_user = "exportd"
clickhouse_password_env = "EXPORTD_CLICKHOUSE_PASSWORD"
EOF
  "$exportd" serve --config "$dir/exportd.toml" >"$dir/log" 2>&1 &
  local pid=$!
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
  api() { curl -sf -X "$1" -H "x-api-key: $key" -H 'content-type: application/json' \
            "http://127.0.0.1:$port$2" ${3:+--data "$3"}; }
  local conn task run status started wall peak
  conn=$(api POST /v1/connections "{\"name\": \"s3\", \"provider_type\": \"s3\",
    \"encrypted_secret_data\": {\"aws_access_key_id\": \"$AWS_ACCESS_KEY_ID\", \"aws_secret_access_key\": \"$AWS_SECRET_ACCESS_KEY\"}}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  task=$(api POST /v1/tasks/scheduled "{\"connection_id\": \"$conn\", \"entity_type\": \"events\", \"interval\": \"daily\",
    \"job_config\": {\"bucket\": \"bench\", \"region\": \"us-east-1\", \"endpoint_url\": \"$endpoint\", \"use_path_style\": true,
      \"encryption\": \"none\", \"compression\": \"gzip\", \"compression_level\": 6, \"key_prefix\": \"exportd-$tenant\"}}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  started=$(ms)
  run=$(api POST "/v1/tasks/scheduled/$task/run" "$window" | python3 -c 'import json,sys; print(json.load(sys.stdin)["workflow_id"])')
  # Polled with curl alone, 5 times a second: a python3 per poll (20 a second) took about a
  # tenth of the 2 cores from the export being measured.
  until api GET "/v1/tasks/$run" | grep -qE '"task_status": ?"(COMPLETED|FAILED)"'; do sleep 0.2; done
  wall=$(( $(ms) - started ))
  status=$(api GET "/v1/tasks/$run" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["task_status"], r.get("total_records"))')
  peak=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  # CPU seconds (user + system) the daemon spent: what it takes from the cores ClickHouse
  # shares with it here.
  cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" || true
  [ "${status%% *}" = COMPLETED ] || { echo "exportd's export failed: $status (see $dir/log)" >&2; cat "$dir/log" >&2; exit 1; }
  echo "$wall $peak ${status#* } $cpu"
}

pipeline_once() { # tenant → wall ms
  local started
  started=$(ms)
  clickhouse-client --host 127.0.0.1 --port "$tcp" --user exportd --password "$password" --database flexprice --query "
    SELECT id, tenant_id, environment_id, external_customer_id, meter_id, event_name, source,
           timestamp, ingested_at, qty_total, properties, unique_hash
    FROM meter_usage FINAL
    WHERE tenant_id = '$1' AND environment_id = 'prod'
      AND ingested_at >= toDateTime('2025-10-16 00:00:00') AND ingested_at < toDateTime('2025-10-17 00:00:00')
    ORDER BY ingested_at, id, meter_id
    FORMAT CSVWithNames" | gzip -6 | "$aws" --endpoint-url "$endpoint" s3 cp - "s3://bench/pipeline-$1.csv.gz"
  echo $(( $(ms) - started ))
}

echo "bench-clickhouse: exporting" >&2
read -r small_wall small_rss small_rows _ < <(exportd_once small)
read -r big_wall big_rss big_rows big_cpu < <(exportd_once big)
big_pipe=$(pipeline_once big)
secs() { awk -v m="$1" 'BEGIN { printf "%.1f s", m / 1000 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
ratio=$(awk -v a="$big_wall" -v b="$big_pipe" 'BEGIN { printf "%.2f", a / b }')
mkdir -p target/bench
{
  echo "| ClickHouse → SeaweedFS, events, gzip -6 (ClickHouse $(clickhouse-client --version | awk '{print $NF}'), one run each) | value |"
  echo "|---|---|"
  echo "| exportd, $big_rows rows: wall time | $(secs "$big_wall") |"
  echo "| clickhouse-client FORMAT CSVWithNames \\| gzip -6 \\| aws s3 cp -, same rows: wall time | $(secs "$big_pipe") |"
  echo "| exportd / pipeline | ${ratio}× |"
  echo "| exportd CPU time (user + system), $big_rows rows | $big_cpu s |"
  echo "| exportd peak RSS, $small_rows rows | $(mib "$small_rss") |"
  echo "| exportd peak RSS, $big_rows rows | $(mib "$big_rss") |"
} | tee target/bench/clickhouse.md
