"""Decisions layer: the append-only ``decisions`` table, its columns and how it is read back.

Grain of ``decisions``: one row per staff decision (kind ``link`` or ``flag``). No run deletes
from it; :mod:`pipelines.decisions.record` appends to it.
"""

from __future__ import annotations

import duckdb
import polars as pl

from pipelines.warehouse.connection import table_exists
from pipelines.warehouse.ddl import create_sql, to_moment

#: ``decisions`` columns in table order (docs/architecture.md, "Published table columns")
DECISION_COLUMNS: tuple[str, ...] = (
    "decision_id", "kind", "period", "household_id", "flag", "source", "record_no", "id_norm",
    "name_norm", "person_id", "decision", "reason", "decided_by", "decided_at", "imported_at",
    "import_file", "import_sha256", "evidence",
)

#: the decisions store, declared in the warehouse's table registry
_DDL = create_sql("decisions")

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
