"""Test support for comparing warehouses: the contract tables and a run-independent dump of one.

Shared by tests/test_flows.py, tests/test_head_start.py, tests/test_review_queue.py and
tests/test_deterministic_links.py.
"""

from __future__ import annotations

import duckdb

CONTRACT_TABLES = ("links", "quarantine", "assessments", "flags", "quarter_summary", "decisions")


def table_dump(path, table):
    """Every row of ``table`` in ``path``, sorted, without ``run_id`` and the ``*_at`` times."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        cols = [r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema='main' "
            "AND table_name=? ORDER BY ordinal_position", [table]).fetchall()]
        keep = [c for c in cols if c != "run_id" and not c.endswith("_at")]
        return con.sql(f"SELECT {', '.join(keep)} FROM {table} ORDER BY ALL").fetchall()
    finally:
        con.close()


def published(path, sql: str, params: dict | None = None):
    """The rows of ``sql`` on the warehouse ``path``, read-only, as a polars frame."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.sql(sql, params=params).pl()
    finally:
        con.close()
