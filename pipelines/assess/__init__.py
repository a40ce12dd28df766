"""Assess layer: household quantities and flags for one period P under the rulebook in force.

Implements ``contract/rules.md`` (its Settled details included) as vectorised polars over the
households of P's register:

- records count for the household their ``person_id`` belongs to on P's register, over the
  *living* members (register rows of P less anyone linked to a death record of a folder of W dated
  on or before the end of P);
- each income source's sum over W is divided by the months of W in which that source was
  delivered; money is summed in integer 分 and carried as exact fractions, and a per-capita
  figure is rounded once, half away from zero, to the 分 before it is compared; other figures
  (INCOME_DROP averages, medical amounts) are compared exactly;
- an unknown quantity (a snapshot source missing from P's folder, income with neither income
  source delivered in W) is null, and flag conditions use SQL's three-valued logic: a flag is
  raised only when its condition is TRUE from what is known. A partial bank delivery makes assets
  a lower bound.

Evidence (``flags.evidence``, JSON text) per flag: ``flag``, ``period``, ``rulebook_version``,
``quantities`` (assessment column names, plus ``wage_income``, ``benefit_income``,
``medical_out_of_pocket``, ``household_income_w``, ``avg_last3``, ``avg_prev3``,
``vehicles_counted``, ``businesses_counted``, ``assets_lower_bound`` where used; money as a JSON
number in yuan with two decimals), ``thresholds`` (name -> ``{value, parameters}``), ``records``
(every matched record whose value entered the condition: ``{source, period, record_no,
link_method}``, ``period`` being the delivery folder) and ``staff_confirmed_links`` (how many of
those records were linked by a staff decision, ``link_method = 'confirmed'``).

``missing_sources`` lists, comma-separated in source order, the income and event sources
delivered in no month of W and the snapshot sources not delivered in P's folder, plus
``bank_partial`` when some but not all bank files of P were accepted (assets are then a lower
bound).

The package is pure: frames in, frames out; no I/O. Notes never carry an ID number or a name.

It is split by idea: :mod:`~pipelines.assess.context` (what P's run delivered, the register and
facts in scope), :mod:`~pipelines.assess.quantities` (household quantities and the flags'
conditions), :mod:`~pipelines.assess.money` (exact money), :mod:`~pipelines.assess.outputs` (the
published frames, their evidence encoded by :mod:`pipelines.evidence`, and the run's notes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from pipelines import gradual_exit
from pipelines.assess.context import (
    _Context,
    _facts,
    _households,
    _persons,
    _register_in_scope,
    fact_columns,
)
from pipelines.assess.money import _round_half_away as _round_half_away  # tests read it
from pipelines.assess.outputs import _assessments_frame, _flags_frame, _notes
from pipelines.assess.quantities import (
    _conditions,
    _income,
    _medical,
    _snapshots,
    _standards_frame,
)
from pipelines.flags import FLAGS, load_flag_programmes
from pipelines.periods import Period
from pipelines.rulebook import Rulebook, Rules
from pipelines.run_notes import Note

__all__ = ["ASSESSMENT_COLUMNS", "FLAGS", "FLAG_COLUMNS", "Assessment", "assess_period",
           "fact_columns"]

#: the published ``assessments`` columns, in order (docs/architecture.md)
ASSESSMENT_COLUMNS = (
    "period", "household_id", "district_code", "urban_rural", "programme", "members",
    "living_members", "income_per_capita", "assets_per_capita", "residential_units", "standard",
    "wage_income", "benefit_income", "medical_out_of_pocket", "household_income_w",
    "missing_sources", "rulebook_version",
)
FLAG_COLUMNS = ("period", "household_id", "district_code", "flag", "evidence", "rulebook_version")

@dataclass(frozen=True)
class Assessment:
    """What :func:`assess_period` returns.

    Attributes
    ----------
    assessments : pl.DataFrame
        One row per household in scope (``ASSESSMENT_COLUMNS``).
    flags : pl.DataFrame
        One row per household and flag raised (``FLAG_COLUMNS``); ``evidence`` is JSON text.
    notes : list[Note]
        The run's notes (:mod:`pipelines.run_notes`: missing sources, flags held back, flags
        raised), each a code and its counts; no IDs or names.
    """

    assessments: pl.DataFrame
    flags: pl.DataFrame
    notes: list[Note]


def assess_period(
    *,
    period: str | Period,
    register: pl.DataFrame,
    facts: dict[str, pl.DataFrame],
    deliveries: pl.DataFrame,
    rulebook: Rulebook | None = None,
    districts: Sequence[str] | None = None,
    history: pl.DataFrame | None = None,
    rules: Rules | None = None,
) -> Assessment:
    """Assess every household of P's register (in the districts named) and raise its flags.

    Parameters
    ----------
    period : str or Period
        P, ``'YYYY-MM'`` (or already parsed, as a run's plan holds it).
    register : pl.DataFrame
        P's clean register (``household_id, person_id, district_code, urban_rural, programme,
        disability_grade, serious_illness`` at least).
    facts : dict[str, pl.DataFrame]
        Source -> matched clean rows of every loaded folder, with ``person_id`` and
        ``link_method``. A source absent from the dict has no matched rows.
    deliveries : pl.DataFrame
        ``period, source, files_accepted, files_refused``, one row per (folder, source).
    rulebook : Rulebook, optional
        Resolved at the end of P; not needed when ``rules`` is given.
    districts : Sequence[str], optional
        The districts in scope; all districts of the register when None.
    history : pl.DataFrame, optional
        Earlier assessments (``pipelines.gradual_exit.HISTORY_COLUMNS``), read only when
        ``gradual_exit_months`` is in force (低保渐退, :mod:`pipelines.gradual_exit`).
    rules : Rules, optional
        The rulebook already resolved on the last day of P (a run's plan,
        :mod:`pipelines.plan`); it must be resolved on that day.

    Returns
    -------
    Assessment

    Raises
    ------
    RulebookError
        When a district in scope has no standard in force at the end of P.
    """
    month = Period.parse(period)
    period = month.label
    day = month.last_day
    if rules is None:
        if rulebook is None:
            raise ValueError("assess_period needs the rulebook or the rules resolved at the end of P")
        rules = rulebook.at(day)
    elif rules.day != day:
        raise ValueError(f"rules resolved on {rules.day}, not on the last day of {period} ({day})")
    ctx = _Context.build(month, rules, deliveries, load_flag_programmes(rules))

    reg = _register_in_scope(register, districts)
    scope = set(districts) if districts is not None else set(reg["district_code"].drop_nulls())
    rules.require_districts(scope)

    persons = _persons(reg, _facts(facts, "deaths", ctx), ctx)
    hh = _households(persons, ctx)
    # households are keyed by their row in ``hh`` from here on (integer joins and group-bys)
    persons = persons.join(hh.select("household_id", "hh_idx"), on="household_id", how="left")
    living = persons.filter(~pl.col("is_dead")).select("person_id", "hh_idx")

    contrib: list[pl.DataFrame] = []
    hh = _income(hh, facts, living, ctx, contrib)
    hh = _snapshots(hh, facts, living, ctx, contrib)
    hh = _medical(hh, facts, living, ctx, contrib)
    contrib.append(persons.filter(pl.col("is_dead")).select(
        "hh_idx", pl.lit("death").alias("cat"), pl.col("death_records"),
    ).explode("death_records").unnest("death_records"))
    hh = hh.join(_standards_frame(rules), on=["district_code", "urban_rural"], how="left")
    hh = _conditions(hh, ctx)
    hh = gradual_exit.annotate(hh, period=period, rules=rules, history=history,
                               wage_months=ctx.months_delivered["tax_wages"],
                               pension_months=ctx.months_delivered["pension"])

    assessments = _assessments_frame(hh, ctx)
    flags = _flags_frame(hh, pl.concat(contrib, how="vertical"), ctx)
    notes = _notes(hh, flags, ctx)
    return Assessment(assessments=assessments, flags=flags, notes=notes)
