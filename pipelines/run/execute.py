"""Composing the stages into a monthly or quarterly run.

One definition serves the local run, the Prefect flows and the Dask cluster (each supplies its
own :class:`Stages`).

A run first builds its frozen plan (:mod:`pipelines.plan`: the period parsed once, the rules
loaded and resolved once, the folders to load) and hands it to every stage in the run's context.

Split out of :mod:`pipelines.runner` (which re-exports every public name).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from pipelines.deliveries import delivery_changes
from pipelines.periods import Period, Quarter
from pipelines.plan import RuleFiles, build_plan
from pipelines.run.assessing import stage_assess
from pipelines.run.context import (
    AssessRef,
    FolderRef,
    PartitionFailed,
    RunContext,
    RunFailed,
)
from pipelines.run.folders import _load_and_match, stage_land_clean, stage_match
from pipelines.run.publish import build_summary, input_entries, stage_publish


@dataclass
class Stages:
    """The stage callables a run uses: plain functions, or their Prefect task wrappers."""

    land_clean: Callable[..., FolderRef] = stage_land_clean
    match: Callable[..., dict] = stage_match
    assess: Callable[..., AssessRef] = stage_assess
    publish: Callable[..., dict] = stage_publish
    #: ``folders(ctx, months, overrides=, settle_seconds=) -> {month: (FolderRef, counts)}``:
    #: land+clean+match several folders at once (a cluster); None: land_clean, match in turn
    folders: Callable[..., dict[str, tuple[FolderRef, dict]]] | None = None
    #: ``rank(ctx, [(folder, month before)], overrides=)``: rank review candidates of several
    #: folders (a cluster: one task per folder); None: one folder at a time, here
    rank: Callable[..., None] | None = None


def _precheck(ctx: RunContext, periods_required: Sequence[str]) -> None:
    from pipelines import warehouse as wh

    # before any work: a warehouse whose pseudonym key is lost is refused, not silently re-keyed
    wh.check_pseudonym_key(ctx.warehouse, rekey=ctx.rekey)
    if not ctx.incoming.is_dir():
        raise RunFailed(f"--incoming {ctx.incoming} is not a directory")
    for p in periods_required:
        if not (ctx.incoming / p).is_dir():
            raise RunFailed(f"the folder of the period being checked, {ctx.incoming / p}, is missing")


def _require_register(refs: Sequence[FolderRef], period: str) -> None:
    ref = next(r for r in refs if r.period == period)
    if not ref.register_ok:
        raise RunFailed(ref.register_problem or f"register.csv of {period} could not be loaded")


def _planned(ctx: RunContext, kind: str, label: Period | Quarter) -> RunContext:
    """The run's context carrying its plan, built once (the caller's ``ctx`` is unchanged).

    A plan the context already holds for this very run (the Prefect head start built it, and
    landed and matched folders under it) is kept: building it again would read the rules twice
    and could disagree with what was done ahead if a rule file changed meanwhile.
    """
    if ctx.plan is not None and ctx.plan.kind == kind and ctx.plan.label == label.label:
        return ctx
    plan = build_plan(kind, label, RuleFiles.of(ctx.rules_dir, ctx.matching_file))
    return dataclasses.replace(ctx, plan=plan)


def execute_monthly(ctx: RunContext, period: str, *, districts: Sequence[str] | None,
                    stages: Stages | None = None, settle_seconds: float = 0.0) -> dict:
    """Run the monthly cross-check of ``period``; returns the summary. Raises RunFailed."""
    stages = stages or Stages()
    p = Period.parse(period)
    _precheck(ctx, [p.label])
    ctx = _planned(ctx, "monthly", p)
    plan = ctx.plan
    assert plan is not None
    refs, counts = _load_and_match(ctx, plan.folders, stages, settle_seconds=settle_seconds)
    _require_register(refs, p.label)
    assessed = [stages.assess(ctx, p.label, refs, districts=districts)]
    summary = build_summary(refs, counts, assessed)
    summary["delivery_changes"] = delivery_changes(input_entries(refs), periods=[p.label],
                                                   rulebook=plan.rulebook)
    summary.update(period=p.label, districts=list(districts) if districts else "all",
                   rulebook_version=assessed[0].rulebook_version)
    published = stages.publish(ctx, refs, assessed, period_label=p.label, districts=districts,
                               summary=summary)
    summary.update(published)
    return summary


def quarter_summary_frame(quarter: str, assessed: Sequence[AssessRef],
                          prior: AssessRef | None) -> pl.DataFrame:
    """``quarter_summary`` rows: households flagged in any month, and those new this quarter."""
    flags = pl.concat([pl.read_parquet(a.flags).select("household_id", "district_code", "flag")
                       for a in assessed], how="vertical_relaxed").unique()
    grouped = flags.group_by("district_code", "flag").agg(
        pl.col("household_id").n_unique().cast(pl.Int64).alias("households_flagged"))
    if prior is None:
        new = grouped.select("district_code", "flag", pl.lit(None, pl.Int64).alias("households_new"))
    else:
        before = pl.read_parquet(prior.flags).select("household_id", "flag").unique()
        new = (flags.join(before, on=["household_id", "flag"], how="anti")
               .group_by("district_code", "flag")
               .agg(pl.col("household_id").n_unique().cast(pl.Int64).alias("households_new")))
        new = grouped.select("district_code", "flag").join(new, on=["district_code", "flag"],
                                                           how="left").with_columns(
            pl.col("households_new").fill_null(0))
    return (grouped.join(new, on=["district_code", "flag"], how="left")
            .with_columns(pl.lit(quarter).alias("quarter"))
            .select("quarter", "district_code", "flag", "households_flagged", "households_new")
            .sort("district_code", "flag"))


def execute_quarterly(ctx: RunContext, quarter: str, *, stages: Stages | None = None,
                      settle_seconds: float = 0.0) -> dict:
    """Assess every month of ``quarter`` over all districts and add ``quarter_summary``."""
    stages = stages or Stages()
    q = Quarter.parse(quarter)
    months = [m.label for m in q.months]
    _precheck(ctx, months)
    ctx = _planned(ctx, "quarterly", q)
    plan = ctx.plan
    assert plan is not None and plan.prior is not None
    prior_month = plan.prior.label
    refs, counts = _load_and_match(ctx, plan.folders, stages, settle_seconds=settle_seconds)
    for m in months:
        _require_register(refs, m)
    assessed = [stages.assess(ctx, m, refs, districts=None) for m in months]
    prior_ref = next(r for r in refs if r.period == prior_month)
    prior = None
    if prior_ref.register_ok:
        try:
            prior = stages.assess(ctx, prior_month, refs, districts=None, tag="-prior")
        except PartitionFailed:
            raise  # a lost or failed partition is a failed run, not a month without register
        except RunFailed:
            prior = None
    qs = quarter_summary_frame(q.label, assessed, prior)
    summary = build_summary(refs, counts, assessed)
    summary["delivery_changes"] = delivery_changes(input_entries(refs), periods=months,
                                                   rulebook=plan.rulebook)
    summary.update(period=q.label, districts="all", months=months,
                   prior_month_assessed=prior is not None,
                   rulebook_version=",".join(sorted({a.rulebook_version for a in assessed})))
    published = stages.publish(ctx, refs, assessed, period_label=q.label, districts=None,
                               summary=summary, quarter_summary=qs, quarter=q.label)
    summary.update(published)
    summary["quarter_summary"] = qs.to_dicts()
    return summary
