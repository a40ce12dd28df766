"""Rows of the warehouse written from the stages' parquet files, and which folders are loaded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from pipelines.warehouse.connection import column_names, table_exists


def loaded_folders(con: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    """``period -> cache_key`` of the folders whose rows the warehouse holds."""
    return dict(con.execute("SELECT period, cache_key FROM loaded_folders").fetchall())


def mark_folder_loaded(con: duckdb.DuckDBPyConnection, period: str, cache_key: str | None) -> None:
    """Record which cache key a folder's published rows came from (null: unknown, reload)."""
    con.execute("DELETE FROM loaded_folders WHERE period = ?", [period])
    con.execute("INSERT INTO loaded_folders VALUES (?, ?, now())", [period, cache_key])


def replace_rows_from_parquet(con: duckdb.DuckDBPyConnection, table: str, parquet: Sequence[Path],
                              *, where: str, params: Sequence[object]) -> None:
    """Delete the rows selected by ``where`` and insert the parquet files' rows, by column name.

    The table is created from the first file's schema when it does not exist yet (raw and staging
    layers, whose columns the source registry fixes).
    """
    files = [str(p) for p in parquet if Path(p).exists()]
    exists = table_exists(con, table)
    if exists:
        con.execute(f"DELETE FROM {table} WHERE {where}", list(params))
    if not files:
        return
    if exists:
        _add_missing_columns(con, table, files)
    else:
        from pipelines.warehouse.publish import work_catalog
        from pipelines.warehouse.tables import is_partitioned

        # inside a publish, a new per-period table is held in memory like a checked-out one
        temp = "TEMP " if is_partitioned(table) and work_catalog(con) == "temp" else ""
        con.execute(f"CREATE {temp}TABLE {table} AS SELECT * FROM read_parquet(?, union_by_name=true) "
                    "LIMIT 0", [files])
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet(?, union_by_name=true)", [files])


def _add_missing_columns(con: duckdb.DuckDBPyConnection, table: str, files: list[str]) -> None:
    have = set(column_names(con, table))
    incoming = con.execute("DESCRIBE SELECT * FROM read_parquet(?, union_by_name=true)", [files]).fetchall()
    for name, dtype, *_ in incoming:
        if name not in have:
            con.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {dtype}')
