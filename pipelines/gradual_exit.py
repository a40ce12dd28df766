"""Assess layer, 低保渐退: the gradual-exit state of a 低保 household whose wages lift it over S.

A 低保 household whose monthly income per capita exceeds S *because of wage income* keeps its
benefit for a transition period of ``gradual_exit_months`` (N) months instead of leaving at once
(the seeds: Tianjin's revised 《社会救助家庭经济状况核定办法》 added 就业成本扣减 and 低保渐退).
The period is counted in calendar months from the first month over S:

- **wage-driven** in P: the household is 低保, INCOME_OVER_STANDARD is raised for P, wages
  counted in W (a tax_wages delivery and a positive wage sum), and its benefit income alone
  (pension sum ÷ months of W with a pension delivery ÷ living members, rounded once to the 分)
  is at most S: without the wages it would not be over S;
- **first month over S** F: walking back from P-1 through the warehouse's earlier assessments,
  every month whose assessment shows the household as 低保 with income per capita above its
  standard extends the run back; the first month that shows it at or under S (or not 低保, or
  off the register of an assessed month) ends it. A month for which the warehouse holds no
  assessment of the household's district at all (no run) neither extends nor ends the run;
- **month k of N**: k = P − F + 1 (calendar months). The household is in 渐退 while k ≤ N; its
  last month of benefit is F + N − 1.

The INCOME_OVER_STANDARD flag is raised exactly as rules.md says; its evidence gains
``gradual_exit: {month, months, first_month_over, last_benefit_month, in_gradual_exit}`` for a
wage-driven household when N > 0. With N = 0 (the default rulebook until a city adopts 渐退)
nothing is added and nothing changes.

Pure: frames in, frames out; no I/O except :func:`earlier_assessments`, which reads the
published warehouse (read-only) and the current run's scratch results.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.periods import add_months, parse_period
from pipelines.rulebook import RulebookError, Rules

#: the dated parameter (rules/parameters/gradual_exit_months.yaml)
PARAMETER = "gradual_exit_months"
#: the evidence key of INCOME_OVER_STANDARD
EVIDENCE_KEY = "gradual_exit"
#: the columns :func:`annotate` reads from earlier assessments
HISTORY_COLUMNS = ("period", "household_id", "district_code", "programme", "living_members",
                   "income_per_capita", "standard")

_I = pl.Int128


def months_in_force(rules: Rules) -> int:
    """N, the 渐退 months in force (0 when the rulebook has no such parameter).

    Raises
    ------
    RulebookError
        When the value is not a whole number of months at least 0.
    """
    raw = rules.values.get(PARAMETER, Decimal(0))
    if raw != raw.to_integral_value() or raw < 0:
        raise RulebookError(f"{PARAMETER} in force on {rules.day} is {raw}: it must be a whole "
                            "number of months, at least 0")
    return int(raw)


def _months_between(first: str, last: str) -> int:
    y1, m1 = parse_period(first)
    y2, m2 = parse_period(last)
    return (y2 - y1) * 12 + (m2 - m1)


def empty_history() -> pl.DataFrame:
    """A history frame with no rows (the schema :func:`annotate` expects)."""
    return pl.DataFrame(schema={"period": pl.String, "household_id": pl.String,
                                "district_code": pl.String, "programme": pl.String,
                                "living_members": pl.Int64,
                                "income_per_capita": pl.Decimal(18, 2),
                                "standard": pl.Decimal(18, 2)})


def first_month_over(household: str, district: str | None, period: str,
                     over_by_month: Mapping[str, bool | None],
                     assessed: set[tuple[str, str | None]], earliest: str | None) -> str:
    """F for one household over S in ``period`` (see the module docstring).

    Parameters
    ----------
    household, district : str
        The household and its district in P.
    period : str
        P.
    over_by_month : Mapping[str, bool | None]
        Month -> whether the household's stored assessment of that month is 低保 and over its
        standard (None: income unknown, which ends the run like "not over").
    assessed : set of (month, district)
        The months and districts the warehouse holds any assessment for.
    earliest : str or None
        The earliest month of the history (the walk stops there).
    """
    first = period
    month = add_months(period, -1)
    while earliest is not None and month >= earliest:
        if month in over_by_month:
            if over_by_month[month] is not True:
                break
            first = month
        elif (month, district) in assessed:
            break  # the district was assessed that month without this household
        month = add_months(month, -1)
    return first


def annotate(hh: pl.DataFrame, *, period: str, rules: Rules, history: pl.DataFrame | None,
             wage_months: int, pension_months: int) -> pl.DataFrame:
    """Add ``gradual_exit_json`` (JSON text or null) to the assessment's household frame.

    Parameters
    ----------
    hh : pl.DataFrame
        The assessment's households after their conditions: ``household_id, district_code,
        programme, living_members, wage_sum, benefit_sum, s_fen, f_INCOME_OVER_STANDARD``.
    period : str
        P.
    rules : Rules
        The rulebook in force at the end of P.
    history : pl.DataFrame or None
        Earlier assessments (``HISTORY_COLUMNS``; rows of P and later are ignored).
    wage_months, pension_months : int
        Months of W with a tax_wages / pension delivery.

    Returns
    -------
    pl.DataFrame
        ``hh`` with ``gradual_exit_json``: null unless N > 0 and the household is wage-driven
        over S in P.
    """
    n = months_in_force(rules)
    if n == 0 or hh.height == 0:
        return hh.with_columns(pl.lit(None, dtype=pl.String).alias("gradual_exit_json"))
    living = pl.col("living_members").cast(_I)
    ben = pl.col("benefit_sum").cast(_I)
    if pension_months:
        den = living * pension_months
        ben_pc = ben.sign() * ((ben.abs() * 2 + den) // (den * 2))
    else:
        ben_pc = pl.lit(0, dtype=_I)
    wage_counted = (pl.col("wage_sum") > 0) if wage_months else pl.lit(False)
    driven = hh.filter(
        (pl.col("programme") == "低保") & pl.col("f_INCOME_OVER_STANDARD")
        & (pl.col("living_members") > 0) & wage_counted & (ben_pc <= pl.col("s_fen"))
    ).select("household_id", "district_code")
    states: dict[str, str] = {}
    if driven.height:
        hist = history if history is not None else empty_history()
        hist = hist.filter(pl.col("period") < period).select(
            pl.col("period").cast(pl.String), pl.col("household_id").cast(pl.String),
            pl.col("district_code").cast(pl.String),
            ((pl.col("programme") == "低保")
             & (pl.col("income_per_capita") > pl.col("standard"))).alias("over"),
        )
        assessed = set(hist.select("period", "district_code").unique().iter_rows())
        earliest = str(hist["period"].min()) if hist.height else None
        mine = hist.join(driven.select("household_id"), on="household_id", how="semi")
        by_household: dict[str, dict[str, bool | None]] = {}
        for month, hid, over in mine.select("period", "household_id", "over").iter_rows():
            by_household.setdefault(hid, {})[month] = over
        for hid, district in driven.iter_rows():
            first = first_month_over(hid, district, period, by_household.get(hid, {}), assessed,
                                     earliest)
            k = _months_between(first, period) + 1
            states[hid] = json.dumps({
                "month": k, "months": n, "first_month_over": first,
                "last_benefit_month": add_months(first, n - 1), "in_gradual_exit": k <= n,
            }, separators=(",", ":"))
    mapping = pl.DataFrame({"household_id": list(states), "gradual_exit_json": list(states.values())},
                           schema={"household_id": pl.String, "gradual_exit_json": pl.String})
    return hh.join(mapping, on="household_id", how="left", maintain_order="left")


def state_of(evidence: str | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The ``gradual_exit`` object of an INCOME_OVER_STANDARD evidence, or None."""
    if isinstance(evidence, str):
        try:
            evidence = json.loads(evidence)
        except ValueError:
            return None
    if not isinstance(evidence, Mapping):
        return None
    state = evidence.get(EVIDENCE_KEY)
    return dict(state) if isinstance(state, Mapping) else None


def sentence(evidence: str | Mapping[str, Any] | None) -> str:
    """The workbook's sentence on 渐退 for an INCOME_OVER_STANDARD flag ('' when none applies)."""
    state = state_of(evidence)
    if not state:
        return ""
    y, m = parse_period(str(state["last_benefit_month"]))
    if state.get("in_gradual_exit"):
        return (f"；因务工收入超过标准，处于低保渐退期第 {state['month']} 个月（共 {state['months']} "
                f"个月），保障金发放至 {y} 年 {m} 月")
    return (f"；因务工收入超过标准已满 {state['months']} 个月渐退期，保障金已于 {y} 年 {m} 月"
            "停发")


def earlier_assessments(warehouse: Path | None, scratch: Path | None, period: str,
                        districts: list[str] | None = None) -> pl.DataFrame:
    """Assessments before ``period``: the published warehouse's, overlaid by this run's own.

    A quarterly run assesses its months in order before publishing any of them, so a later
    month reads the earlier months of the same run from ``scratch/assess-<month>*/``.

    Parameters
    ----------
    warehouse : Path or None
        The published warehouse (read-only; absent is fine).
    scratch : Path or None
        The current run's scratch folder.
    period : str
        P; only months before it are read.
    districts : list of str, optional
        Restrict to these districts.
    """
    from pipelines import warehouse as wh

    parse_period(period)
    cols = ", ".join(HISTORY_COLUMNS)
    frames: list[pl.DataFrame] = []
    if warehouse is not None and Path(warehouse).exists():
        con = wh.connect_readonly(warehouse)
        try:
            if wh.table_exists(con, "assessments"):
                # P is a parsed YYYY-MM, safe to inline (a relation takes no parameters here)
                frames.append(con.sql(
                    f"SELECT {cols} FROM assessments WHERE period < '{period}'").pl())
        finally:
            con.close()
    own: list[pl.DataFrame] = []
    if scratch is not None and Path(scratch).is_dir():
        for file in sorted(Path(scratch).glob("assess-*/assessments.parquet")):
            part = pl.read_parquet(file, columns=list(HISTORY_COLUMNS))
            own.append(part.filter(pl.col("period") < period))
    out = empty_history()
    if frames:
        out = pl.concat([out, frames[0].cast(out.schema)], how="vertical")
    if own:
        mine = pl.concat([o.cast(out.schema) for o in own], how="vertical").unique()
        out = pl.concat([out.join(mine.select("period").unique(), on="period", how="anti"), mine])
    if districts:
        out = out.filter(pl.col("district_code").is_in(districts))
    return out
