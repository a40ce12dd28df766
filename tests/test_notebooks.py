"""Report layer tests: the analyst notebooks run headless, top to bottom, on the fixture warehouse."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from test_report_fixture import build_warehouse

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = build_warehouse(tmp_path_factory.mktemp("wh") / "hedui.duckdb")
    # the notebooks open the analyst file beside it: the fixture's analyst tables, alone
    con = duckdb.connect(str(path))
    con.execute(f"ATTACH '{path.with_name('hedui-analyst.duckdb')}' AS a")
    con.execute("CREATE SCHEMA a.analyst")
    for (table,) in con.execute("SELECT table_name FROM information_schema.tables "
                                "WHERE table_catalog = 'hedui' AND table_schema = 'analyst'").fetchall():
        con.execute(f"CREATE TABLE a.analyst.{table} AS SELECT * FROM hedui.analyst.{table}")
    con.close()
    return path


def _run(notebook: Path, warehouse: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HEDUI_WAREHOUSE": str(warehouse)}
    # marimo runs every cell when the file is executed as a script and exits 1 when one fails
    return subprocess.run([sys.executable, str(notebook)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=240, check=False)


def test_the_two_notebooks_of_the_brief_exist() -> None:
    assert {"monthly_overview.py", "matching_quality.py"} <= {p.name for p in NOTEBOOKS}


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(notebook: Path, warehouse: Path, tmp_path: Path) -> None:
    done = _run(notebook, warehouse, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_reads_only_the_analyst_tables(notebook: Path) -> None:
    source = notebook.read_text(encoding="utf-8")
    tables = re.findall(r"\b(?:FROM|JOIN)\s+([A-Za-z_][\w.]*)", source)
    assert tables, "no query found"
    assert [t for t in tables if not t.startswith("analyst.")] == []
    assert "read_only=True" in source and "HEDUI_WAREHOUSE" in source


@pytest.mark.slow
def test_a_failing_cell_fails_the_run(tmp_path: Path) -> None:
    # a warehouse without the analyst schema: the first query fails, and so must the run
    bare = tmp_path / "bare.duckdb"
    duckdb.connect(str(bare)).close()
    duckdb.connect(str(tmp_path / "bare-analyst.duckdb")).close()
    done = _run(ROOT / "notebooks" / "monthly_overview.py", bare, tmp_path)
    assert done.returncode != 0
    assert "analyst" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_the_sample_citys_real_warehouse(notebook: Path, sample_warehouse: Path,
                                                          tmp_path: Path) -> None:
    done = _run(notebook, sample_warehouse, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_the_notebooks_open_the_analyst_file_not_the_warehouse(warehouse: Path, tmp_path: Path) -> None:
    import shutil

    # a full warehouse with no analyst tables in it, and the analyst file beside it
    full = tmp_path / "city.duckdb"
    duckdb.connect(str(full)).close()
    shutil.copyfile(warehouse.with_name("hedui-analyst.duckdb"), tmp_path / "city-analyst.duckdb")
    done = _run(ROOT / "notebooks" / "monthly_overview.py", full, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    for notebook in NOTEBOOKS:
        assert '"-analyst.duckdb"' in notebook.read_text(encoding="utf-8"), notebook.name
