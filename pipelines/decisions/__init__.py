"""Decisions layer: staff decisions from the district workbooks, kept from month to month.

Clerks fill the decision columns of the workbook that ``hedui report`` writes
(``pipelines/report/layout.py``): on the flags sheet 处理结果/处理说明/经办人 for each
(期间, 户编号, 标记代码), on the review sheet 核对结论/处理说明/经办人 for each record waiting in
review. ``import_decisions`` validates every row of such a workbook (or a CSV of one sheet's
columns) against the warehouse and appends the decisions to ``decisions``, an append-only table
that no run deletes from. Two consumers read it back:

- the matcher, through :func:`link_overrides`: a confirmed identity links without review in later
  months (method ``confirmed``); a rejected (identity, person) pair is never matched;
- the flag publisher, through :func:`load_flag_decisions` and :func:`annotate_flags`: a
  dismissed flag stays dismissed while its evidence is materially unchanged and is re-raised when
  it changes (``rules/decisions.yaml``). Decisions never remove a row from ``flags``.

Grain of ``decisions``: one row per staff decision (kind ``link`` or ``flag``).

The package is split by idea: ``params`` (the re-raise parameters), ``table`` (the table and
reading it back), ``read`` (the workbook or CSV), ``validate`` (checks against the warehouse),
``record`` (the import), ``carry`` (carrying flag decisions forward, re-raising) and
``overrides`` (link decisions for the matcher). Importing it loads neither the report package's
writers nor xlsxwriter.
"""

from __future__ import annotations

from pipelines.decisions.carry import annotate_flags, load_flag_decisions
from pipelines.decisions.overrides import link_overrides
from pipelines.decisions.params import DEFAULT_PARAMS_PATH, load_decision_params
from pipelines.decisions.read import (
    ROW_COLUMNS,
    DecisionImportError,
    read_decision_file,
)
from pipelines.decisions.record import ImportResult, import_decisions
from pipelines.decisions.table import (
    _DDL,
    DECISION_COLUMNS,
    ensure_decisions_table,
    to_moment,
)

__all__ = [
    "DECISION_COLUMNS",
    "DEFAULT_PARAMS_PATH",
    "ROW_COLUMNS",
    "_DDL",
    "DecisionImportError",
    "ImportResult",
    "annotate_flags",
    "ensure_decisions_table",
    "import_decisions",
    "link_overrides",
    "load_decision_params",
    "load_flag_decisions",
    "read_decision_file",
    "to_moment",
]
