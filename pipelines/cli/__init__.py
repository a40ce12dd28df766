"""Command layer: ``hedui``, the command verification staff and the scheduler run.

Exit codes: 0 success (bad rows and files are quarantined, not failures); 1 a failure the
contract names (missing folder or register, district without a standard, warehouse missing, not
writable or held by another process, an invalid decisions file, an output folder that cannot be
written); 2 wrong usage (a malformed period or quarter, an unknown district code, a bad option).

Everything that can be checked without running is checked before Prefect starts, so a named
failure takes well under a second and prints one Chinese line, never a traceback.

Modules: :mod:`~pipelines.cli.app` (the Typer app, consoles, options), :mod:`~pipelines.cli.checks`
(fail-fast checks), :mod:`~pipelines.cli.run` (running a flow, Prefect's start-up off the
critical path), :mod:`~pipelines.cli.commands` (monthly, quarterly, report, sample, serve),
:mod:`~pipelines.cli.records` (notice, whatif, decisions import), :mod:`~pipelines.cli.zh` (the
command classes that make every ``--help`` Chinese). ``hedui`` is
``pipelines.cli:app``; ``python -m pipelines.cli`` runs it too.
"""

from __future__ import annotations

from pipelines.cli import commands, records  # noqa: F401 - registers the commands on app
from pipelines.cli.app import Orchestrator, app, console, decisions_app, err, main
from pipelines.cli.checks import (
    check_dask,
    check_districts,
    check_incoming,
    check_period,
    check_quarter,
    check_warehouse_readable,
    check_warehouse_writable,
)
from pipelines.cli.commands import monthly, quarterly, report, sample, serve
from pipelines.cli.records import decisions_import, notice, whatif

__all__ = [
    "Orchestrator", "app", "check_dask", "check_districts", "check_incoming", "check_period",
    "check_quarter", "check_warehouse_readable", "check_warehouse_writable", "console",
    "decisions_app", "decisions_import", "err", "main", "monthly", "notice", "quarterly",
    "report", "sample", "serve", "whatif",
]
