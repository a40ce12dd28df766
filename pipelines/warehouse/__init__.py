"""The warehouse: the one package that owns the DuckDB files, their tables and their publishing.

- :mod:`~pipelines.warehouse.tables`: the table registry, every table declared once; the DDL,
  the published tables' pandera schemas and ``docs/tables.md`` are generated from it;
- :mod:`~pipelines.warehouse.ddl`: ``CREATE TABLE`` statements and :func:`ensure_schema`;
- :mod:`~pipelines.warehouse.connection`: paths and modes, the publish lock, read-only
  connections, and :func:`table_exists` / :func:`table_names`, which every module asks;
- :mod:`~pipelines.warehouse.keys`: the pseudonym key and its check value;
- :mod:`~pipelines.warehouse.publish`: the atomic publish of a run (:func:`publishing`);
- :mod:`~pipelines.warehouse.rows`: rows written from the stages' parquet files.

The names below are re-exported, loaded on first use: importing the registry alone
(``pipelines.warehouse.tables``) loads neither DuckDB nor the publish machinery.
"""

from __future__ import annotations

import importlib
import os  # noqa: F401  (tests patch ``warehouse.os.replace`` to kill a publish between renames)
from typing import TYPE_CHECKING, Any

__all__ = [
    "ANALYST_MODE", "ANALYST_PARTS_DIR_MODE", "DEFAULT_WAREHOUSE", "PARTITIONED_PREFIXES",
    "PARTITIONED_TABLES", "PARTS_DIR_MODE", "PSEUDONYM_KEY_ENV", "TABLES", "WAREHOUSE_DIR_MODE",
    "WAREHOUSE_MODE", "AnalystRefresh", "PseudonymKeyError", "WarehouseError", "analyst_parts_dir",
    "analyst_path", "check_not_locked", "check_pseudonym_key", "column_names", "connect_readonly",
    "create_sql", "declare_periods", "ensure_schema", "exclusive_lock", "find_pseudonym_key",
    "is_partitioned", "key_check_differs", "key_file", "loaded_folders", "lock_conflict_message",
    "make_directory", "mark_folder_loaded", "memory_limits", "parts_dir", "pseudonym_key",
    "PublishOutOfMemory", "publishing",
    "replace_rows_from_parquet", "resolve", "table_exists", "table_names", "to_moment",
]

#: the submodule of each re-exported name
_MODULES = {
    "connection": ("DEFAULT_WAREHOUSE", "WAREHOUSE_MODE", "ANALYST_MODE", "WAREHOUSE_DIR_MODE",
                   "PARTS_DIR_MODE", "ANALYST_PARTS_DIR_MODE", "WarehouseError", "resolve",
                   "analyst_path", "parts_dir", "analyst_parts_dir", "make_directory",
                   "exclusive_lock", "lock_conflict_message", "check_not_locked",
                   "connect_readonly", "table_names", "table_exists", "column_names"),
    "tables": ("TABLES", "PARTITIONED_TABLES", "PARTITIONED_PREFIXES", "is_partitioned"),
    "ddl": ("create_sql", "ensure_schema", "to_moment"),
    "keys": ("PSEUDONYM_KEY_ENV", "PseudonymKeyError", "key_file", "find_pseudonym_key",
             "pseudonym_key", "key_check_differs", "check_pseudonym_key"),
    "publish": ("AnalystRefresh", "publishing", "declare_periods", "memory_limits",
                "PublishOutOfMemory"),
    "rows": ("loaded_folders", "mark_folder_loaded", "replace_rows_from_parquet"),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}

if TYPE_CHECKING:
    from pipelines.warehouse.connection import (
        ANALYST_MODE,
        ANALYST_PARTS_DIR_MODE,
        DEFAULT_WAREHOUSE,
        PARTS_DIR_MODE,
        WAREHOUSE_DIR_MODE,
        WAREHOUSE_MODE,
        WarehouseError,
        analyst_parts_dir,
        analyst_path,
        check_not_locked,
        column_names,
        connect_readonly,
        exclusive_lock,
        lock_conflict_message,
        make_directory,
        parts_dir,
        resolve,
        table_exists,
        table_names,
    )
    from pipelines.warehouse.ddl import create_sql, ensure_schema, to_moment
    from pipelines.warehouse.keys import (
        PSEUDONYM_KEY_ENV,
        PseudonymKeyError,
        check_pseudonym_key,
        find_pseudonym_key,
        key_check_differs,
        key_file,
        pseudonym_key,
    )
    from pipelines.warehouse.publish import (
        AnalystRefresh,
        PublishOutOfMemory,
        declare_periods,
        memory_limits,
        publishing,
    )
    from pipelines.warehouse.rows import (
        loaded_folders,
        mark_folder_loaded,
        replace_rows_from_parquet,
    )
    from pipelines.warehouse.tables import (
        PARTITIONED_PREFIXES,
        PARTITIONED_TABLES,
        TABLES,
        is_partitioned,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name) if name in __all__ else None
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
