"""Reads a Parquet file written by exportd with two independent readers, pyarrow and DuckDB,
and prints what each saw as one JSON object (exact values as strings), for tests/it/parquet.rs.

usage: read_parquet.py FILE [--summary]   (--summary: counts and sums only, for big files)
"""

import calendar
import decimal
import json
import sys

import duckdb
import pyarrow.parquet as pq


def main():
    path = sys.argv[1]
    summary = "--summary" in sys.argv[2:]
    f = pq.ParquetFile(path)
    meta = f.metadata
    arrow = f.schema_arrow
    out = {
        "pyarrow": {
            "columns": [[field.name, str(field.type), field.nullable] for field in arrow],
            "parquet_types": [
                [c.name, c.physical_type, str(c.logical_type)] for c in f.schema
            ],
            "num_rows": meta.num_rows,
            "row_groups": [meta.row_group(i).num_rows for i in range(meta.num_row_groups)],
            "compression": sorted(
                {
                    meta.row_group(i).column(j).compression
                    for i in range(meta.num_row_groups)
                    for j in range(meta.num_columns)
                }
            ),
            "created_by": meta.created_by,
        }
    }
    if not summary:
        table = f.read()
        rows = []
        for row in table.to_pylist():
            rows.append({k: cell(v) for k, v in row.items()})
        out["pyarrow"]["rows"] = rows

    con = duckdb.connect()
    described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()
    out["duckdb"] = {"columns": [[name, kind] for name, kind, *_ in described]}
    names = [name for name, *_ in described]
    if summary:
        # Sums as text: exact, whatever the size.
        exprs = ["count(*)::VARCHAR"] + [
            f'count("{n}")::VARCHAR' for n in names
        ]
        out["duckdb"]["counts"] = list(
            con.execute(f"SELECT {', '.join(exprs)} FROM read_parquet(?)", [path]).fetchone()
        )
    else:
        # Every cell as DuckDB prints it, timestamps as epoch milliseconds.
        exprs = []
        for name, kind, *_ in described:
            if kind.startswith("TIMESTAMP"):
                exprs.append(f'epoch_ms("{name}")::VARCHAR')
            else:
                exprs.append(f'"{name}"::VARCHAR')
        rows = con.execute(f"SELECT {', '.join(exprs)} FROM read_parquet(?)", [path]).fetchall()
        out["duckdb"]["rows"] = [dict(zip(names, r)) for r in rows]
    json.dump(out, sys.stdout)


def cell(v):
    """pyarrow's Python value as exact text: Decimal keeps its scale, datetimes become epoch
    milliseconds with their zone checked to be UTC."""
    if v is None:
        return None
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    if hasattr(v, "tzinfo") and hasattr(v, "timestamp"):
        assert v.utcoffset() is not None and v.utcoffset().total_seconds() == 0, v
        return str(calendar.timegm(v.utctimetuple()) * 1000 + v.microsecond // 1000)
    return str(v)


if __name__ == "__main__":
    main()
