"""Runs ClickHouse SQL on chdb-core (ClickHouse 26.x in process) against Flexprice's modern
schema, for exportd's tests (tests/it/flexprice/clickhouse.rs, ChDb::assert_same_on_chdb).

Usage: python chdb_check.py JOB.json OUT.json

JOB.json:
  {"databases": [{"name": "fx_...", "schema": "/path/clickhouse-modern-dev.sql",
                  "statements": ["INSERT INTO fx_....meter_usage ...", ...]}],
   "queries": [{"database": "fx_...", "sql": "SELECT ..."}, ...]}
Each database is created with the DDL file (comment lines dropped, statements split on ';',
`{database}` replaced by its name), then its statements run in order. Each query then runs
in its database (`USE`) with output format TabSeparated.

OUT.json:
  {"version": "26.9...", "setup_error": null or "...",
   "results": [{"ok": true, "tsv": "..."} or {"ok": false, "error": "..."}, ...]}
"""

import json
import os
import shutil
import sys
import tempfile

# Times in the data set are UTC; ClickHouse reads the zone from TZ.
os.environ["TZ"] = "UTC"

from chdb import session  # noqa: E402 - after TZ


def ddl(path, database):
    with open(path, encoding="utf-8") as f:
        code = "\n".join(line for line in f.read().splitlines() if not line.lstrip().startswith("--"))
    for statement in code.split(";"):
        if statement.strip():
            yield statement.strip().replace("{database}", database)


def text(result):
    data = result.bytes() if hasattr(result, "bytes") else result.data()
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


def main():
    job_path, out_path = sys.argv[1], sys.argv[2]
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    work = tempfile.mkdtemp(prefix="exportd-chdb-")
    out = {"version": None, "setup_error": None, "results": []}
    try:
        s = session.Session(work)
        out["version"] = text(s.query("SELECT version()", "TabSeparated")).strip()
        try:
            for db in job["databases"]:
                s.query(f"CREATE DATABASE IF NOT EXISTS `{db['name']}`")
                for statement in ddl(db["schema"], db["name"]):
                    s.query(statement)
                for statement in db["statements"]:
                    s.query(statement)
        except Exception as e:  # noqa: BLE001 - reported to the test
            out["setup_error"] = str(e)
        if out["setup_error"] is None:
            for q in job["queries"]:
                try:
                    if q.get("database"):
                        s.query(f"USE `{q['database']}`")
                    result = s.query(q["sql"], "TabSeparated")
                    out["results"].append({"ok": True, "tsv": text(result)})
                except Exception as e:  # noqa: BLE001 - reported per query
                    out["results"].append({"ok": False, "error": str(e)})
        s.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
