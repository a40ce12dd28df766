"""What-if layer: ``hedui whatif``, a reform preview on the month's stored, linked records.

:func:`run_whatif` validates a proposed rulebook (:mod:`pipelines.whatif.proposal`) before any
work, reads P's stored register, matched records, deliveries and published results from the
warehouse (:mod:`pipelines.whatif.inputs`, read-only), assesses P under the proposal with the
same :func:`pipelines.assess.assess_period` the monthly run uses, and compares the two
(:mod:`pipelines.whatif.compare`). Writing the workbook, the HTML page and the JSON is
:mod:`pipelines.whatif.outputs`. Nothing is ever written to the warehouse.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipelines.assess import assess_period
from pipelines.periods import month_end, parse_period
from pipelines.rulebook import RulebookError
from pipelines.runner import months_to_load
from pipelines.whatif.compare import Comparison, compare, outcomes
from pipelines.whatif.inputs import (
    WhatifInputError,
    open_readonly,
    published_districts,
    read_inputs,
    read_published,
)
from pipelines.whatif.proposal import Proposal, ProposalError, load_proposal

__all__ = ["ProposalError", "WhatifError", "WhatifInputError", "WhatifResult", "run_whatif"]


class WhatifError(RuntimeError):
    """The preview could not be computed (message in Chinese)."""


@dataclass
class WhatifResult:
    """Everything the outputs need."""

    period: str
    districts: list[str]
    proposal: Proposal
    version_before: str
    version_after: str
    comparison: Comparison
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def _published_districts(warehouse: Path, period: str) -> list[str]:
    con = open_readonly(warehouse)
    try:
        return published_districts(con, period)
    finally:
        con.close()


def run_whatif(*, warehouse: Path, period: str, rules: Path,
               districts: Sequence[str] | None = None,
               adopted_rules: Path | None = None) -> WhatifResult:
    """Assess P under the proposed rulebook ``rules`` and compare with P's published results.

    Parameters
    ----------
    warehouse : Path
        The published warehouse (opened read-only).
    period : str
        P, ``YYYY-MM``.
    rules : Path
        The proposal: a whole rules folder or only the parameter files it changes.
    districts : Sequence[str], optional
        Districts to compare; all published districts of P when None.
    adopted_rules : Path, optional
        The adopted parameters folder (default: the project's ``rules/parameters``).

    Raises
    ------
    ProposalError
        The proposal is invalid (raised before the warehouse's records are read).
    WhatifInputError
        The warehouse holds no published result or register for P.
    """
    parse_period(period)
    clock = time.perf_counter()
    timings: dict[str, float] = {}
    # the proposal is checked before the warehouse is even opened
    proposal = load_proposal(rules, period=period, districts=sorted(set(districts or [])),
                             adopted_folder=adopted_rules)
    timings["validate"] = time.perf_counter() - clock
    after_rules = proposal.rulebook.at(month_end(period))
    before_rules = proposal.adopted.at(month_end(period))
    scope = sorted(set(districts)) if districts else _published_districts(warehouse, period)
    try:
        after_rules.require_districts(scope)
    except RulebookError as exc:
        raise ProposalError(f"提案规则无效，未做任何核算：{proposal.folder}：{exc}") from None
    months = months_to_load(period, after_rules)
    con = open_readonly(warehouse)
    try:
        published = read_published(con, period, scope)
        stored = read_inputs(con, period, months)
    finally:
        con.close()
    timings["read"] = time.perf_counter() - clock - timings["validate"]
    mark = time.perf_counter()
    try:
        result = assess_period(period=period, register=stored.register, facts=stored.facts,
                               deliveries=stored.deliveries, rulebook=proposal.rulebook,
                               districts=published.districts, history=stored.history)
    except RulebookError as exc:
        raise ProposalError(f"提案规则无法用于 {period}：{exc}") from None
    timings["assess"] = time.perf_counter() - mark
    mark = time.perf_counter()
    before = outcomes(published.assessments, published.flags, stored.history)
    after = outcomes(result.assessments, result.flags, stored.history)
    comparison = compare(before, after, before_flags=published.flags, after_flags=result.flags,
                         before_rules=before_rules, after_rules=after_rules)
    timings["compare"] = time.perf_counter() - mark
    versions = sorted(set(published.assessments["rulebook_version"].drop_nulls()))
    notes = []
    if stored.months_missing:
        notes.append("提案的核定窗口中以下月份的数据未存入仓库，按未交付处理："
                     + "、".join(stored.months_missing))
    if len(versions) > 1:
        notes.append(f"{period} 的已发布结果来自多个规则版本：{'、'.join(versions)}")
    if versions and before_rules.version not in versions:
        notes.append(f"已发布结果的规则版本（{'、'.join(versions)}）不是现行规则目录在 {period} 的版本"
                     f"（{before_rules.version}）：对比以已发布结果为准")
    for side, n in comparison.unknown_benefit.items():
        if n:
            label = "调整前" if side == "before" else "调整后"
            notes.append(f"{label}有 {n} 户保障金无法确定（收入未知，或渐退户缺少首次超标前一月的核定），"
                         "合计时按 0 计")
    if proposal.cases_run:
        notes.append(f"提案自带的 {proposal.cases_run} 个政策测试用例全部通过")
    notes.append("保障类别取自花名册，规则调整不改变保障类别，故不统计“保障类别变化”")
    rows_before = published.assessments.height
    if rows_before != result.assessments.height:
        notes.append(f"已发布 {rows_before} 户，按提案重新核定 {result.assessments.height} 户"
                     "（仓库中的花名册与发布时不同）")
    timings["total"] = time.perf_counter() - clock
    return WhatifResult(period=period, districts=published.districts, proposal=proposal,
                        version_before=",".join(versions) or before_rules.version,
                        version_after=after_rules.version, comparison=comparison, notes=notes,
                        timings=timings)


def changed_entries(result: WhatifResult) -> list[dict]:
    """The ``changed`` list of ``--json``: one entry per household whose flags or benefit differ."""
    from pipelines.whatif.compare import yuan

    out = []
    rows = result.comparison.changed.filter(
        pl.col("changing_flags") | pl.col("benefit_changes")).sort("household_id")
    for r in rows.iter_rows(named=True):
        b, a = yuan(r["benefit_fen_before"]), yuan(r["benefit_fen_after"])
        out.append({
            "household_id": r["household_id"], "district_code": r["district_code"],
            "flags_before": list(r["flags_before"] or []), "flags_after": list(r["flags_after"] or []),
            "benefit_before": None if b is None else float(b),
            "benefit_after": None if a is None else float(a),
        })
    return out
