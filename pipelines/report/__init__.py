"""Report layer: district review workbooks and the period's HTML report.

:func:`write_reports` is what ``hedui report`` calls. It opens the warehouse read-only, writes one
Excel workbook per district for the clerks (``hedui-<period>-<district>.xlsx``), a city-level
workbook with the quarantined rows when no district was named (``hedui-<period>-all.xlsx``) and
one self-contained HTML report (``hedui-<period>.html``). Workbooks with names and ID numbers in
full (``full_identity``) are named ``hedui-<period>-<district>-实名.xlsx``.

The writers live in :mod:`pipelines.report.write` and are loaded on first use: modules that only
need the workbook's words (``layout``) or the sentences (``text``) — decisions, notices, fairness —
import this package without loading xlsxwriter or the HTML renderer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.report.data import ReportError

if TYPE_CHECKING:
    from pipelines.report.write import CITY, FULL_IDENTITY_SUFFIX, write_reports

__all__ = ["CITY", "FULL_IDENTITY_SUFFIX", "ReportError", "write_reports"]

_WRITERS = frozenset({"CITY", "FULL_IDENTITY_SUFFIX", "write_reports"})


def __getattr__(name: str) -> Any:
    """Load :mod:`pipelines.report.write` when one of its names is first asked for (PEP 562)."""
    if name in _WRITERS:
        from pipelines.report import write

        return getattr(write, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
