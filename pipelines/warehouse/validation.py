"""Pandera schemas of the published tables, generated from the table registry.

A schema checks the frame a stage writes into a table (:attr:`Table.frame_columns`): the
columns in the registry's order and no others, their polars types, nulls where the registry
allows them, the registry's value checks and a unique key. Checks that need the code's own
knowledge (the flag names, the evidence's shape) are added by the caller
(``schemas/published.py``).

Integer columns are checked as Int64 whatever their width in the table: the stages compute in
Int64 and DuckDB narrows on insert.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pandera.polars as pa
import polars as pl

from pipelines.warehouse.tables import TABLES, Check, Column

#: a ``YYYY-MM`` month
PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"

_SIMPLE: dict[str, pl.DataType] = {
    "VARCHAR": pl.String(), "JSON": pl.String(), "DOUBLE": pl.Float64(), "BIGINT": pl.Int64(),
    "INTEGER": pl.Int64(), "BOOLEAN": pl.Boolean(), "TIMESTAMPTZ": pl.Datetime("us", "UTC"),
}
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
_STRUCT = re.compile(r"STRUCT\((.*)\)")


def polars_type(duckdb_type: str) -> pl.DataType:
    """The polars type of a frame column written into a column of ``duckdb_type``.

    Raises
    ------
    ValueError
        For a DuckDB type the registry does not use.
    """
    if duckdb_type in _SIMPLE:
        return _SIMPLE[duckdb_type]
    if m := _DECIMAL.fullmatch(duckdb_type):
        return pl.Decimal(int(m.group(1)), int(m.group(2)))
    if m := _STRUCT.fullmatch(duckdb_type):
        fields = [part.strip().split(" ", 1) for part in m.group(1).split(",")]
        return pl.Struct({name: polars_type(kind) for name, kind in fields})
    raise ValueError(f"no polars type for the DuckDB type {duckdb_type}")


def _check(kind: Check) -> pa.Check:
    return {
        "period": lambda: pa.Check.str_matches(PERIOD_PATTERN),
        "nonnegative": lambda: pa.Check.ge(0),
        "at_least_one": lambda: pa.Check.ge(1),
        "positive": lambda: pa.Check.gt(0),
        "version": lambda: pa.Check.str_length(1, 64),
    }[kind]()


def _column(column: Column, extra: Sequence[pa.Check]) -> pa.Column:
    checks = ([_check(column.check)] if column.check else []) + list(extra)
    nullable = column.nullable if column.frame_nullable is None else column.frame_nullable
    return pa.Column(polars_type(column.type), checks or None, nullable=nullable)


def published_schema(name: str, *, column_checks: Mapping[str, Sequence[pa.Check]] | None = None,
                     checks: Sequence[pa.Check] = ()) -> pa.DataFrameSchema:
    """The pandera schema of the frame a stage writes into the registered table ``name``.

    Parameters
    ----------
    name
        A table of :data:`pipelines.warehouse.tables.TABLES`.
    column_checks
        More checks for some columns, by column name.
    checks
        Checks over the whole frame.

    Raises
    ------
    KeyError
        ``name`` is not registered, or ``column_checks`` names a column the frame lacks.
    """
    table = TABLES[name]
    extra = dict(column_checks or {})
    columns = {c.name: _column(c, extra.pop(c.name, ())) for c in table.frame_columns}
    if extra:
        raise KeyError(f"{name} has no frame column {sorted(extra)}")
    return pa.DataFrameSchema(columns, strict=True, ordered=True,
                              unique=list(table.key) or None, checks=list(checks) or None,
                              name=name, description=f"{table.en}（{table.zh}）")
