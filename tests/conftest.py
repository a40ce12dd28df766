"""Shared fixtures: an isolated, quiet Prefect home, and one monthly run on data/sample/.

The environment is set before any test imports Prefect, so no test talks to a server the
developer happens to have configured.
"""

from __future__ import annotations

import os
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
    return sample_run[0]


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
