"""Static checks CI runs before the suite: ruff, mypy, and how test modules import each other.

ruff and mypy read their settings from pyproject.toml ([tool.ruff], [tool.mypy]); .ci/run runs the
same two commands as a step of their own, so a finding fails CI even when the suite is run with
``-m "not slow"`` or on a subset of files. The checks run the tools of the interpreter running the
tests (``sys.executable -m``), i.e. the versions requirements.lock pins.

A test module never imports another test module: code shared by several test files lives in
``tests/helpers/`` (or is a fixture of ``tests/conftest.py``), so each test file can be renamed,
split or run on its own.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

#: what `ruff check` covers (the same list as .ci/run's lint step)
RUFF_PATHS = ("pipelines", "schemas", "tests", "scripts", "benchmarks")
#: what mypy type-checks (the same as .ci/run's lint step and [tool.mypy] files)
MYPY_PATHS = ("pipelines",)
#: modules of tests/ that test modules may import (they hold no tests)
SHARED = {"conftest", "helpers"}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=False)


def test_ruff_finds_nothing() -> None:
    r = _run("ruff", "check", "--output-format", "concise", *RUFF_PATHS)
    if r.returncode != 0:
        pytest.fail(f"ruff check {' '.join(RUFF_PATHS)} (exit {r.returncode}):\n{r.stdout}{r.stderr}",
                    pytrace=False)


def test_mypy_finds_nothing() -> None:
    r = _run("mypy", *MYPY_PATHS)
    findings = [line for line in r.stdout.splitlines() if ": error:" in line]
    if r.returncode != 0:
        pytest.fail(f"mypy {' '.join(MYPY_PATHS)} (exit {r.returncode}), {len(findings)} errors:\n"
                    + "\n".join(findings or [r.stdout + r.stderr]), pytrace=False)


def imports_of_test_modules(tests_dir: Path) -> list[str]:
    """Imports of a test module found in the Python files of ``tests_dir``, as ``file:line: module``.

    Parameters
    ----------
    tests_dir
        The folder to scan, recursively (``tests/``); ``import test_x``, ``from test_x import y``
        and ``from tests.test_x import y`` count, wherever they stand in a file.

    Returns
    -------
    list[str]
        One entry per offending import, sorted; empty when every import is allowed.
    """
    test_modules = {p.stem for p in tests_dir.rglob("test_*.py")}
    found = []
    for path in sorted(tests_dir.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.ImportFrom) and node.level > 0:  # from . import test_x
                names = [node.module or a.name for a in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                head = parts[1] if parts[0] == "tests" and len(parts) > 1 else parts[0]
                if head in test_modules and head not in SHARED:
                    found.append(f"{path.relative_to(tests_dir)}:{node.lineno}: {name}")
    return found


def test_no_test_module_imports_another() -> None:
    found = imports_of_test_modules(ROOT / "tests")
    assert not found, ("test modules import other test modules; move what they share to "
                       "tests/helpers/ or a conftest fixture:\n" + "\n".join(found))


@pytest.mark.parametrize("source", [
    "from test_a import thing\n",
    "import test_a\n",
    "import tests.test_a as a\n",
    "from tests.test_a import thing\n",
    "def f():\n    from test_a import thing\n    return thing\n",
])
def test_the_import_scan_finds_a_planted_import(tmp_path: Path, source: str) -> None:
    (tmp_path / "test_a.py").write_text("thing = 1\n", encoding="utf-8")
    (tmp_path / "test_b.py").write_text(source, encoding="utf-8")
    assert [f.split(":")[0] for f in imports_of_test_modules(tmp_path)] == ["test_b.py"]


def test_the_import_scan_allows_conftest_helpers_and_the_code(tmp_path: Path) -> None:
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "conftest.py").write_text("ROOT = None\n", encoding="utf-8")
    (tmp_path / "test_b.py").write_text(
        "from conftest import ROOT\nfrom helpers.match_frames import record\nimport helpers\n"
        "from pipelines.match import link\nimport test_data_not_a_module_here\n", encoding="utf-8")
    assert imports_of_test_modules(tmp_path) == []
