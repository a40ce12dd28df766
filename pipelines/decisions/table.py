"""Decisions layer: the append-only ``decisions`` table, its columns and how it is read back.

Grain of ``decisions``: one row per staff decision (kind ``link`` or ``flag``). No run deletes
from it; :mod:`pipelines.decisions.record` appends to it.
"""

from __future__ import annotations

import duckdb
import polars as pl

#: ``decisions`` columns in table order (docs/architecture.md, "Published table columns")
DECISION_COLUMNS: tuple[str, ...] = (
    "decision_id", "kind", "period", "household_id", "flag", "source", "record_no", "id_norm",
    "name_norm", "person_id", "decision", "reason", "decided_by", "decided_at", "imported_at",
    "import_file", "import_sha256", "evidence",
)

_DDL = """
CREATE TABLE IF NOT EXISTS decisions (
    decision_id   BIGINT    NOT NULL PRIMARY KEY,
    kind          VARCHAR   NOT NULL CHECK (kind IN ('link', 'flag')),
    period        VARCHAR   NOT NULL,
    household_id  VARCHAR,
    flag          VARCHAR,
    source        VARCHAR,
    record_no     VARCHAR,
    id_norm       VARCHAR,
    name_norm     VARCHAR,
    person_id     VARCHAR,
    decision      VARCHAR   NOT NULL CHECK (decision IN
                      ('confirmed', 'rejected', 'verified', 'dismissed', 'referred')),
    reason        VARCHAR,
    decided_by    VARCHAR   NOT NULL,
    decided_at    TIMESTAMPTZ NOT NULL,
    imported_at   TIMESTAMPTZ NOT NULL,
    import_file   VARCHAR   NOT NULL,
    import_sha256 VARCHAR   NOT NULL,
    evidence      VARCHAR
)
"""

DECISION_SCHEMA: dict[str, pl.DataType] = {
    "decision_id": pl.Int64(), "kind": pl.String(), "period": pl.String(),
    "household_id": pl.String(), "flag": pl.String(), "source": pl.String(),
    "record_no": pl.String(), "id_norm": pl.String(), "name_norm": pl.String(),
    "person_id": pl.String(), "decision": pl.String(), "reason": pl.String(),
    "decided_by": pl.String(), "decided_at": pl.Datetime("us", "UTC"),
    "imported_at": pl.Datetime("us", "UTC"),
    "import_file": pl.String(), "import_sha256": pl.String(), "evidence": pl.String(),
}


def ensure_decisions_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create the append-only ``decisions`` table when it does not exist.

    ``decided_at`` and ``imported_at`` are moments (TIMESTAMPTZ): a table from before they were
    had them as naive UTC and is converted once, keeping every moment.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The warehouse connection. An existing table keeps its rows.
    """
    con.execute(_DDL)
    for column in ("decided_at", "imported_at"):
        to_moment(con, "decisions", column)


def to_moment(con: duckdb.DuckDBPyConnection, table: str, column: str) -> None:
    """Turn a naive-UTC ``TIMESTAMP`` column into ``TIMESTAMPTZ`` (no-op when it already is)."""
    found = con.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = ? AND column_name = ?", [table, column]).fetchall()
    if found and found[0][0] == "TIMESTAMP":
        con.execute(f"ALTER TABLE {table} ALTER {column} SET DATA TYPE TIMESTAMPTZ "
                    f"USING timezone('UTC', {column})")


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether ``table`` exists in the connection's current schema.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The warehouse connection.
    table : str
        The table's name.

    Returns
    -------
    bool
    """
    found = con.sql(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_name = ?", params=[table]
    ).fetchall()
    return bool(found[0][0])


def existing_decisions(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every recorded decision, in recording order.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The warehouse; an empty frame when it has no ``decisions`` table.

    Returns
    -------
    pl.DataFrame
        The columns :data:`DECISION_COLUMNS`, typed as the table stores them.
    """
    if not table_exists(con, "decisions"):
        return pl.DataFrame(schema=DECISION_SCHEMA)
    cols = ", ".join(DECISION_COLUMNS)
    return con.sql(f"SELECT {cols} FROM decisions ORDER BY decision_id").pl().cast(
        DECISION_SCHEMA)
