"""Import structure of pipelines/ and schemas/: no cycles, and light modules stay light (issue 16).

The graph is read from the source (``ast``), not by importing: an edge A -> B means module A
imports B when A itself is imported (module body, ``if``/``try`` blocks included, imports under
``if TYPE_CHECKING:`` excluded). Importing ``a.b.c`` from outside package ``a.b`` runs
``a/b/__init__.py`` too, so that is an edge to ``a.b`` as well; a package's own submodules are
not counted as importing their package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipelines", "schemas")


def _modules(root: Path, packages: Iterable[str]) -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package) for every ``.py`` under the packages."""
    found: dict[str, tuple[Path, bool]] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            found[".".join(parts)] = (path, is_package)
    return found


def _load_time_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements run when the module is imported (function and class bodies excluded)."""
    for node in body:
        if isinstance(node, ast.If):
            if "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            yield from _load_time_statements(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            yield from _load_time_statements(
                node.body + node.orelse + node.finalbody
                + [s for h in node.handlers for s in h.body])
        elif isinstance(node, ast.With):
            yield from _load_time_statements(node.body)
        else:
            yield node


def _imported(module: str, is_package: bool, tree: ast.Module,
              known: dict[str, tuple[Path, bool]], *, lazy: bool) -> set[str]:
    """The known modules ``module`` imports (at import time; also in functions when ``lazy``)."""
    def owner(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    nodes = ast.walk(tree) if lazy else _load_time_statements(tree.body)
    targets: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            targets |= {t for a in node.names if (t := owner(a.name))}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                full = f"{source}.{alias.name}"
                target = full if full in known else owner(source)
                if target:
                    targets.add(target)
    edges = set(targets)
    for target in targets:
        parts = target.split(".")
        for i in range(2, len(parts)):
            ancestor = ".".join(parts[:i])
            if module != ancestor and not module.startswith(ancestor + "."):
                edges.add(ancestor)
    edges.discard(module)
    return edges


def import_graph(root: Path = ROOT, packages: Iterable[str] = PACKAGES, *,
                 lazy: bool = False) -> dict[str, set[str]]:
    """Module -> the modules of ``packages`` it imports, read from the source under ``root``."""
    known = _modules(root, packages)
    return {name: _imported(name, is_package, ast.parse(path.read_text(encoding="utf-8")),
                            known, lazy=lazy)
            for name, (path, is_package) in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_graph_sees_the_project():
    graph = import_graph()
    assert "pipelines.decisions.record" in graph
    assert "pipelines.decisions.read" in graph["pipelines.decisions.record"]
    # importing report.layout from outside the package runs pipelines/report/__init__.py too
    assert {"pipelines.report.layout", "pipelines.report"} <= graph["pipelines.decisions.read"]
    assert "pipelines.normalize.ids" in graph["schemas.clean"]


def test_no_module_of_pipelines_or_schemas_is_in_an_import_cycle():
    found = cycles(import_graph())
    assert found == [], f"import cycles: {found}"


@pytest.mark.parametrize(("user", "used"), [
    ("pipelines.schedule", "pipelines.flows"),  # the scheduler serves the flows
    ("pipelines.report.html", "pipelines.report.fairness"),  # the page shows the section
])
def test_pairs_that_once_imported_each_other_now_import_one_way_even_lazily(user, used):
    lazy = import_graph(lazy=True)
    assert used in lazy[user]
    assert user not in lazy[used]


def test_a_planted_cycle_is_found(tmp_path: Path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text('"""pkg."""\n')
    (package / "a.py").write_text("from pkg.sub.b import thing\n")
    (package / "sub" / "__init__.py").write_text("from pkg.sub import c\n")
    (package / "sub" / "b.py").write_text("thing = 1\n")
    # c -> a -> sub.b, and importing sub.b from outside pkg.sub runs sub/__init__ -> c
    (package / "sub" / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.d\n"
        "def f():\n    import pkg.d\n\nimport pkg.a\n")
    (package / "d.py").write_text("import pkg.sub.c\n")
    graph = import_graph(tmp_path, ["pkg"])
    assert cycles(graph) == [["pkg.a", "pkg.sub", "pkg.sub.c"]]
    # the TYPE_CHECKING and in-function imports of pkg.d close a cycle only when counted lazily
    assert cycles(import_graph(tmp_path, ["pkg"], lazy=True)) == [
        ["pkg.a", "pkg.d", "pkg.sub", "pkg.sub.c"]]


def _loaded_by(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    return set(done.stdout.split())


def test_importing_decisions_loads_neither_xlsxwriter_nor_the_report_writers():
    loaded = _loaded_by("import pipelines.decisions")
    assert "pipelines.decisions.record" in loaded
    assert not {"xlsxwriter", "pipelines.report.write", "pipelines.report.workbook",
                "pipelines.report.html"} & loaded


def test_the_report_writers_still_load_on_first_use():
    loaded = _loaded_by("from pipelines.report import write_reports")
    assert {"xlsxwriter", "pipelines.report.write"} <= loaded
