"""What-if layer, comparison and costing of a proposed rulebook.

Each household's status and monthly benefit before and after the proposal, what changed, by
which parameter, and the totals by district.

**Status** of a household in P (from its assessment and flags):

- 低保 and 特困: *eligible* unless ASSETS_OVER_LIMIT, PROPERTY_OVER_LIMIT or
  INCOME_OVER_STANDARD is raised; a 低保 household whose only income flag is in 渐退
  (``gradual_exit.in_gradual_exit``) is *in gradual exit* instead of not eligible;
- 低保边缘, 支出型困难, 监测对象: *eligible* (for 低保) when ELIGIBLE_NOT_ENROLLED is raised;
- a household with no living member is not eligible.

**Monthly benefit** (costing, rules/README.md "Costing"): 低保 (and a not-enrolled household
eligible for 低保: what 低保 would pay it) (S − income per capita) × living members, floored at
0; 特困 T × living members (the basic-living standard is paid in full); in 渐退 the benefit of
the last month before the first month over S, from the warehouse's assessment of that month
(unknown when the warehouse lacks it); 0 when not eligible. Unknown income leaves the benefit
unknown (null); totals count it as 0 and say how many.

Money is carried in integer 分 and reported in yuan.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from pipelines.gradual_exit import EVIDENCE_KEY, PARAMETER
from pipelines.periods import add_months
from pipelines.rulebook import DIBAO_STANDARD, TEKUN_RATIO, TEKUN_STANDARD, Rules

ELIGIBLE, GRADUAL_EXIT, NOT_ELIGIBLE = "eligible", "gradual_exit", "not_eligible"
STATUS_LABELS = {ELIGIBLE: "符合保障条件", GRADUAL_EXIT: "渐退期内", NOT_ELIGIBLE: "不符合保障条件"}
ENROLLED = ("低保", "特困")
NOT_ENROLLED = ("低保边缘", "支出型困难", "监测对象")

#: parameters that change the income quantities every income condition compares
INCOME_PARAMETERS = ("income_window_months", "employment_cost_deduction_rate")
STANDARD_PARAMETERS = (DIBAO_STANDARD, TEKUN_STANDARD, TEKUN_RATIO)

#: what a changed household's parameter column says when the adopted and proposed rulebooks
#: agree (the published results were made with a third rulebook)
UNKNOWN_PARAMETER = "（已发布结果所用规则与现行规则不同，无法指明参数）"

#: the transitions counted per district and programme (column -> Chinese label)
TRANSITIONS = {
    "newly_eligible": "新增符合条件",
    "no_longer_eligible": "不再符合条件",
    "entering_gradual_exit": "进入渐退",
    "changing_flags": "标记变化",
}


def outcomes(assessments: pl.DataFrame, flags: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
    """Per household: flags raised (sorted names), 渐退 state, status and monthly benefit in 分.

    Parameters
    ----------
    assessments : pl.DataFrame
        ``assessments`` rows of P (published columns).
    flags : pl.DataFrame
        ``household_id, flag, evidence`` of P.
    history : pl.DataFrame
        Earlier assessments (``pipelines.gradual_exit.HISTORY_COLUMNS``), for the benefit kept
        in 渐退.

    Returns
    -------
    pl.DataFrame
        ``household_id, district_code, urban_rural, programme, living_members,
        income_per_capita, flags, in_gradual_exit, first_month_over, status, benefit_fen``.
    """
    f = flags.select("household_id", "flag", pl.col("evidence").cast(pl.String))
    by_hh = f.group_by("household_id").agg(pl.col("flag").sort().alias("flags"))
    income = f.filter(pl.col("flag") == "INCOME_OVER_STANDARD").select(
        "household_id",
        pl.col("evidence").str.json_path_match(f"$.{EVIDENCE_KEY}.in_gradual_exit")
        .eq("true").fill_null(False).alias("in_gradual_exit"),
        pl.col("evidence").str.json_path_match(f"$.{EVIDENCE_KEY}.first_month_over")
        .alias("first_month_over"),
    )
    a = (assessments.select("household_id", "district_code", "urban_rural", "programme",
                            pl.col("living_members").cast(pl.Int64), "income_per_capita", "standard")
         .join(by_hh, on="household_id", how="left", maintain_order="left")
         .join(income, on="household_id", how="left", maintain_order="left")
         .with_columns(pl.col("flags").fill_null(pl.lit([], dtype=pl.List(pl.String))),
                       pl.col("in_gradual_exit").fill_null(False)))
    kept = _kept_benefit(a, history)
    a = a.join(kept, on="household_id", how="left", maintain_order="left")

    def has(flag: str) -> pl.Expr:
        return pl.col("flags").list.contains(flag)

    alive = pl.col("living_members") > 0
    programme = pl.col("programme")
    disqualified = has("ASSETS_OVER_LIMIT") | has("PROPERTY_OVER_LIMIT")
    status = (
        pl.when(~alive).then(pl.lit(NOT_ELIGIBLE))
        .when(programme.is_in(ENROLLED) & disqualified).then(pl.lit(NOT_ELIGIBLE))
        .when(programme.is_in(ENROLLED) & has("INCOME_OVER_STANDARD"))
        .then(pl.when((programme == "低保") & pl.col("in_gradual_exit"))
              .then(pl.lit(GRADUAL_EXIT)).otherwise(pl.lit(NOT_ELIGIBLE)))
        .when(programme.is_in(ENROLLED)).then(pl.lit(ELIGIBLE))
        .when(programme.is_in(NOT_ENROLLED) & has("ELIGIBLE_NOT_ENROLLED")).then(pl.lit(ELIGIBLE))
        .otherwise(pl.lit(NOT_ELIGIBLE))
    )
    s_fen = _fen(pl.col("standard"))
    gap = (s_fen - _fen(pl.col("income_per_capita"))).clip(lower_bound=0)
    living = pl.col("living_members")
    benefit = (
        pl.when(pl.col("status") == NOT_ELIGIBLE).then(pl.lit(0, dtype=pl.Int64))
        .when(pl.col("status") == GRADUAL_EXIT).then(pl.col("kept_benefit_fen"))
        .when(programme == "特困").then(s_fen * living)
        .otherwise(gap * living)  # null when income per capita is unknown
    )
    return a.with_columns(status.alias("status")).with_columns(
        benefit.cast(pl.Int64).alias("benefit_fen")).drop("kept_benefit_fen")


def _fen(expr: pl.Expr) -> pl.Expr:
    return (expr.cast(pl.Decimal(18, 2)) * 100).cast(pl.Int64)


def _kept_benefit(a: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
    """The 低保 benefit of the month before the first month over S, for households in 渐退."""
    ge = a.filter(pl.col("in_gradual_exit") & pl.col("first_month_over").is_not_null()).select(
        "household_id",
        pl.col("first_month_over").map_elements(lambda m: add_months(m, -1), return_dtype=pl.String)
        .alias("period"))
    if ge.height == 0 or history.height == 0:
        return pl.DataFrame(schema={"household_id": pl.String, "kept_benefit_fen": pl.Int64})
    h = history.filter(pl.col("programme") == "低保").select(
        "period", "household_id",
        ((_fen(pl.col("standard")) - _fen(pl.col("income_per_capita"))).clip(lower_bound=0)
         * pl.col("living_members").cast(pl.Int64)).alias("kept_benefit_fen"))
    return ge.join(h, on=["household_id", "period"], how="left").select(
        "household_id", "kept_benefit_fen")


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` returns."""

    households: pl.DataFrame  # every household in scope, before and after
    changed: pl.DataFrame  # the households whose flags or benefit differ, with the parameters
    summary: pl.DataFrame  # per district and programme
    changed_parameters: list[str]
    unknown_benefit: dict[str, int]  # before/after: households whose benefit is unknown


def compare(before: pl.DataFrame, after: pl.DataFrame, *, before_flags: pl.DataFrame,
            after_flags: pl.DataFrame, before_rules: Rules, after_rules: Rules) -> Comparison:
    """Join the two :func:`outcomes` frames and count what changed.

    Parameters
    ----------
    before, after : pl.DataFrame
        :func:`outcomes` under the adopted (published) and the proposed rulebook.
    before_flags, after_flags : pl.DataFrame
        ``household_id, flag, evidence`` of each side (the parameters a flag names).
    before_rules, after_rules : Rules
        Both rulebooks resolved at the end of P.
    """
    keep = ["household_id", "flags", "status", "benefit_fen", "income_per_capita",
            "in_gradual_exit"]
    j = after.select("household_id", "district_code", "urban_rural", "programme",
                     "living_members", *[pl.col(c).alias(f"{c}_after") for c in keep[1:]]).join(
        before.select("household_id", *[pl.col(c).alias(f"{c}_before") for c in keep[1:]]),
        on="household_id", how="left", maintain_order="left")
    was, now = pl.col("status_before"), pl.col("status_after")
    j = j.with_columns(
        (was.eq(NOT_ELIGIBLE) & now.eq(ELIGIBLE)).fill_null(False).alias("newly_eligible"),
        (was.is_in([ELIGIBLE, GRADUAL_EXIT]) & now.eq(NOT_ELIGIBLE)).fill_null(False)
        .alias("no_longer_eligible"),
        (was.ne(GRADUAL_EXIT) & now.eq(GRADUAL_EXIT)).fill_null(False).alias("entering_gradual_exit"),
        pl.col("flags_before").ne_missing(pl.col("flags_after")).alias("changing_flags"),
        pl.col("benefit_fen_before").ne_missing(pl.col("benefit_fen_after")).alias("benefit_changes"),
    ).with_columns(
        (pl.col("changing_flags") | pl.col("benefit_changes") | was.ne_missing(now)).alias("changed"),
        (pl.col("benefit_fen_after").fill_null(0) - pl.col("benefit_fen_before").fill_null(0))
        .alias("benefit_diff_fen"),
    )
    changed_params = _changed_parameters(before_rules, after_rules)
    changed = j.filter(pl.col("changed"))
    reasons = _reasons(changed, before_flags, after_flags, before_rules, after_rules, changed_params)
    changed = changed.join(reasons, on="household_id", how="left", maintain_order="left")
    summary = _summary(j)
    unknown = {"before": int(j["benefit_fen_before"].is_null().sum()),
               "after": int(j["benefit_fen_after"].is_null().sum())}
    return Comparison(households=j, changed=changed, summary=summary,
                      changed_parameters=sorted(changed_params), unknown_benefit=unknown)


def _summary(j: pl.DataFrame) -> pl.DataFrame:
    persons = pl.col("living_members")
    aggs: list[pl.Expr] = [pl.len().cast(pl.Int64).alias("households"),
                           persons.sum().cast(pl.Int64).alias("persons")]
    for t in TRANSITIONS:
        aggs += [pl.col(t).sum().cast(pl.Int64).alias(f"{t}_households"),
                 persons.filter(pl.col(t)).sum().cast(pl.Int64).alias(f"{t}_persons")]
    aggs += [pl.col("benefit_fen_before").fill_null(0).sum().cast(pl.Int64).alias("benefit_before_fen"),
             pl.col("benefit_fen_after").fill_null(0).sum().cast(pl.Int64).alias("benefit_after_fen")]
    out = j.group_by("district_code", "programme").agg(aggs).with_columns(
        (pl.col("benefit_after_fen") - pl.col("benefit_before_fen")).alias("benefit_diff_fen"))
    return out.sort("district_code", "programme")


def _changed_parameters(before: Rules, after: Rules) -> set[str]:
    """Global parameters whose value differs, plus S and T when any district's value differs."""
    names = set(before.values) | set(after.values)
    out = {n for n in names if before.values.get(n) != after.values.get(n)}
    if dict(before.standards) != dict(after.standards):
        out.add(DIBAO_STANDARD)
    if dict(before.tekun_standards) != dict(after.tekun_standards):
        out.add(TEKUN_STANDARD)
    return out


def _household_changed(key: tuple[str, str], before: Rules, after: Rules,
                       changed: set[str]) -> set[str]:
    """The changed parameters that apply to a household of ``key`` (district, 城乡类别)."""
    out = {n for n in changed if n not in (DIBAO_STANDARD, TEKUN_STANDARD)}
    if before.standards.get(key) != after.standards.get(key):
        out.add(DIBAO_STANDARD)
    if before.tekun_standards.get(key) != after.tekun_standards.get(key):
        out.add(TEKUN_STANDARD if key in after.tekun_from_table or key in before.tekun_from_table
                else TEKUN_RATIO if TEKUN_RATIO in changed else DIBAO_STANDARD)
    return out


def _named(evidence: Iterable[str]) -> set[str]:
    names: set[str] = set()
    for text in evidence:
        try:
            doc = json.loads(text)
        except (TypeError, ValueError):
            continue
        for entry in (doc.get("thresholds") or {}).values():
            if isinstance(entry, dict):
                names.update(p for p in entry.get("parameters") or [] if isinstance(p, str))
    return names


def _reasons(changed: pl.DataFrame, before_flags: pl.DataFrame, after_flags: pl.DataFrame,
             before: Rules, after: Rules, changed_params: set[str]) -> pl.DataFrame:
    """Per changed household: the changed parameters behind its change (sorted, comma-joined)."""
    ids = changed.select("household_id")
    ev_before = before_flags.join(ids, on="household_id", how="semi")
    ev_after = after_flags.join(ids, on="household_id", how="semi")
    evidence: dict[tuple[str, str], list[str]] = {}
    for frame in (ev_before, ev_after):
        for hid, flag, text in frame.select("household_id", "flag", "evidence").iter_rows():
            evidence.setdefault((hid, flag), []).append(text)
    rows = []
    for r in changed.iter_rows(named=True):
        hid = r["household_id"]
        applicable = _household_changed((r["district_code"], r["urban_rural"]), before, after,
                                        changed_params)
        moved = set(r["flags_before"] or []) ^ set(r["flags_after"] or [])
        relevant = _named(t for f in moved for t in evidence.get((hid, f), []))
        if r["income_per_capita_before"] != r["income_per_capita_after"]:
            relevant.update(INCOME_PARAMETERS)
        if r["benefit_changes"]:
            relevant.update(STANDARD_PARAMETERS)
        if r["in_gradual_exit_before"] != r["in_gradual_exit_after"]:
            relevant.add(PARAMETER)
        found = (relevant & applicable) or applicable
        # nothing differs between the two rulebooks: the published results came from another one
        rows.append({"household_id": hid,
                     "parameters": ", ".join(sorted(found)) or UNKNOWN_PARAMETER})
    return pl.DataFrame(rows, schema={"household_id": pl.String, "parameters": pl.String})


def yuan(fen: int | None) -> Decimal | None:
    """分 as yuan with two decimals."""
    return None if fen is None else (Decimal(int(fen)) / 100).quantize(Decimal("0.01"))
