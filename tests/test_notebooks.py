"""Report layer tests: the analyst notebooks run headless, top to bottom, on the fixture warehouse."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from helpers.report_fixture import build_warehouse

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


def _run_in_process(notebook: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch):
    """Run a notebook's app in this process: (cell outputs, definitions)."""
    import importlib.util

    monkeypatch.setenv("HEDUI_WAREHOUSE", str(warehouse))
    spec = importlib.util.spec_from_file_location(f"nb_{notebook.stem}", notebook)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app.run()


def test_monthly_overview_shows_the_district_table_once(warehouse: Path, monkeypatch) -> None:
    import polars as pl

    outputs, defs = _run_in_process(ROOT / "notebooks" / "monthly_overview.py", warehouse, monkeypatch)
    # a cell ending in the frame showed it a second time, above the same table with its chart
    assert [o for o in outputs if isinstance(o, pl.DataFrame)] == []
    assert "评估户数" in defs["overview"].columns and "收入超过保障标准" in defs["overview"].columns


_LATIN_WORD = re.compile(r"[A-Za-z]{3,}")


def _texts(spec: object) -> list[str]:
    """Every title and field name in a Vega-Lite spec, and every text value of its data."""
    found: list[str] = []
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key in ("title", "field", "text") and isinstance(value, str):
                found.append(value)
            elif key == "$schema":
                continue
            else:
                found += _texts(value)
    elif isinstance(spec, list):
        for item in spec:
            found += _texts(item)
    return found


@pytest.mark.parametrize(("notebook", "charts"), [
    ("monthly_overview", ("flag_chart", "trend_chart", "distance_chart")),
    ("matching_quality", ("rate_chart", "score_chart", "queue_chart")),
])
def test_chart_titles_fields_and_labels_are_chinese(warehouse: Path, monkeypatch, notebook: str,
                                                    charts: tuple[str, ...]) -> None:
    _outputs, defs = _run_in_process(ROOT / "notebooks" / f"{notebook}.py", warehouse, monkeypatch)
    for name in charts:
        spec = defs[name].to_dict()
        english = [t for t in _texts(spec) if _LATIN_WORD.search(t.replace("count", ""))]
        assert english == [], name
        data = json.dumps(spec.get("datasets", {}), ensure_ascii=False)
        for code in ("INCOME_OVER_STANDARD", "\"matched\"", "\"tax_wages\""):
            assert code not in data, (name, code)


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium "
                    "(apt-get install -y --no-install-recommends chromium fonts-noto-cjk)")
def test_marimo_run_serves_the_notebook_with_nothing_fetched_from_the_network(warehouse: Path) -> None:
    """The README's offline way to read a notebook: ``marimo run`` (an exported page needs a CDN)."""
    import socket
    import time

    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HEDUI_WAREHOUSE": str(warehouse)}
    server = subprocess.Popen([sys.executable, "-m", "marimo", "run", "--headless", "--no-token",
                               "--port", str(port), str(ROOT / "notebooks" / "monthly_overview.py")],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "marimo run did not start"
                time.sleep(0.5)
        requests: list[str] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            try:
                page = browser.new_page()
                page.on("request", lambda r: requests.append(r.url))
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_selector("text=阈值敏感性", timeout=90_000)
                body = page.inner_text("body")
            finally:
                browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "月度概况" in body and "标记分布" in body
    outside = {u for u in requests if not u.startswith((f"http://127.0.0.1:{port}", "data:", "blob:"))}
    assert outside == set()
