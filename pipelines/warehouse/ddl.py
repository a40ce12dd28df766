"""The warehouse's DDL, generated from the table registry (:mod:`pipelines.warehouse.tables`).

:func:`ensure_schema` creates every registered table a warehouse lacks, adds the columns a later
release declared (``migrate=True``) to warehouses made before them, drops those a later release
moved elsewhere (:data:`RETIRED`), and converts the moments
that older releases kept as naive UTC. It runs on every publish's working copy, so a warehouse
of any earlier release is brought up to date by its next run.
"""

from __future__ import annotations

import duckdb

from pipelines.warehouse.tables import TABLES, Table

#: columns older releases stored as naive-UTC ``TIMESTAMP``: converted to moments once
_WERE_NAIVE = (("decisions", "decided_at"), ("decisions", "imported_at"), ("flags", "decided_at"))
#: columns an older release had and this one moved elsewhere: dropped from older warehouses.
#: The review queue's order depends on the run's window, so it left the monthly ``links`` rows
#: (which must be the same in every run that loads their folder) for ``review_queue``.
RETIRED = (("links", "review_pending"), ("links", "queue_rank"))


def create_sql(table: Table | str) -> str:
    """The ``CREATE TABLE IF NOT EXISTS`` statement of a registered table."""
    t = TABLES[table] if isinstance(table, str) else table
    body = ",\n    ".join(c.ddl() for c in t.columns)
    return f"CREATE TABLE IF NOT EXISTS {t.name} (\n    {body})"


def migrate_sql(table: Table | str) -> list[str]:
    """The ``ALTER TABLE … ADD COLUMN IF NOT EXISTS`` statements of a table's later columns."""
    t = TABLES[table] if isinstance(table, str) else table
    return [f"ALTER TABLE {t.name} ADD COLUMN IF NOT EXISTS {c.name} {c.type}"
            for c in t.columns if c.migrate]


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the registered tables when missing and bring older warehouses up to date.

    The ``analyst`` schema of releases before the analyst file is dropped: analysts read
    ``<stem>-analyst.duckdb``, and a second copy in the full warehouse would only drift.
    """
    for table in TABLES.values():
        con.execute(create_sql(table))
        for statement in migrate_sql(table):
            con.execute(statement)
    for table_name, column in RETIRED:
        con.execute(f"ALTER TABLE {table_name} DROP COLUMN IF EXISTS {column}")
    for table_name, column in _WERE_NAIVE:
        to_moment(con, table_name, column)
    con.execute("DROP SCHEMA IF EXISTS analyst CASCADE")


def to_moment(con: duckdb.DuckDBPyConnection, table: str, column: str) -> None:
    """Turn a naive-UTC ``TIMESTAMP`` column into ``TIMESTAMPTZ`` (no-op when it already is)."""
    found = con.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = ? AND column_name = ?", [table, column]).fetchall()
    if found and found[0][0] == "TIMESTAMP":
        con.execute(f"ALTER TABLE {table} ALTER {column} SET DATA TYPE TIMESTAMPTZ "
                    f"USING timezone('UTC', {column})")
