"""Shared fixtures: an isolated, quiet Prefect home, and one monthly run on data/sample/.

The environment is set before any test imports Prefect, so no test talks to a server the
developer happens to have configured.

The sample city's monthly run (20-40 s) is done once per test session (``sample_run``); tests
that only read it take ``sample_warehouse``, tests that write to it take ``sample_warehouse_copy``
(a private copy of the warehouse, its key file and its folder cache, as a second run would find
them). A test that needs a different run builds its own and carries ``@pytest.mark.slow``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
SAMPLE_PERIOD = "2026-10"

_PREFECT_HOME = tempfile.mkdtemp(prefix="hedui-prefect-")
for _k, _v in {
    "PREFECT_HOME": _PREFECT_HOME,
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "HEDUI_PSEUDONYM_KEY": "test-key-not-a-secret",
}.items():
    os.environ[_k] = _v
os.environ.pop("PREFECT_API_URL", None)


def run_local_monthly(incoming: Path, period: str, warehouse: Path, districts=None) -> dict:
    """One monthly run through the plain stage functions (no Prefect)."""
    from pipelines import runner

    ctx = runner.RunContext.create(flow="monthly", incoming=incoming, warehouse=warehouse)
    try:
        return runner.execute_monthly(ctx, period, districts=districts)
    finally:
        ctx.cleanup()


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> tuple[Path, dict]:
    """The sample city's monthly run for 2026-10 into a fresh warehouse: (path, summary)."""
    warehouse = tmp_path_factory.mktemp("sample-warehouse") / "hedui.duckdb"
    summary = run_local_monthly(SAMPLE / "incoming", SAMPLE_PERIOD, warehouse)
    return warehouse, summary


@pytest.fixture(scope="session")
def sample_warehouse(sample_run) -> Path:
    """The session's sample warehouse, read-only: a test that writes takes a copy."""
    return sample_run[0]


def copy_warehouse(warehouse: Path, into: Path) -> Path:
    """Copy ``warehouse`` with what lives beside it into folder ``into``; returns the new path.

    The key file of the analyst pseudonyms (``<name>.key``, when there is one), the big tables'
    partition files (``.<name>.parts/``) and the folder cache (``.cache/``) come along, so a run on the copy behaves as a second run on the original.
    Scratch folders of runs (``.work/``) do not.
    """
    into.mkdir(parents=True, exist_ok=True)
    target = into / warehouse.name
    shutil.copyfile(warehouse, target)
    key = warehouse.with_name(warehouse.name + ".key")
    if key.exists():
        shutil.copy2(key, target.with_name(target.name + ".key"))
    cache = warehouse.parent / ".cache"
    if cache.is_dir():
        shutil.copytree(cache, into / ".cache")
    # the big tables' per-period parquet files (pipelines/partitions.py) belong to the warehouse
    parts = warehouse.with_name(f".{warehouse.name}.parts")
    if parts.is_dir():
        shutil.copytree(parts, target.with_name(f".{target.name}.parts"))
    return target


@pytest.fixture()
def sample_warehouse_copy(sample_warehouse, tmp_path) -> Path:
    """A private, writable copy of the session's sample warehouse (with key file and cache)."""
    return copy_warehouse(sample_warehouse, tmp_path / "copy")


def read_delivered_csv(path: Path):
    """A delivered CSV as text columns, whatever its encoding (UTF-8, BOM, GB18030)."""
    import io

    import polars as pl

    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    return pl.read_csv(io.StringIO(text), infer_schema=False)
