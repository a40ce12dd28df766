"""Stage: assess and flag one period from the folders of its window (its run plan's rules).

Split out of :mod:`pipelines.runner` (which re-exports every public name).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from pipelines.run.context import AssessRef, FolderRef, RunContext, RunFailed, _report


def deliveries_frame(refs: Sequence[FolderRef]) -> pl.DataFrame:
    """``period, source, files_accepted, files_refused`` for folders whose register loaded."""
    rows = []
    for ref in refs:
        if not (ref.exists and ref.register_ok):
            continue
        for f in ref.files:
            if f.get("role") != "extract":
                continue
            rows.append({"period": ref.period, "source": f["source"],
                         "accepted": bool(f["accepted"])})
    schema = {"period": pl.String, "source": pl.String, "files_accepted": pl.Int64,
              "files_refused": pl.Int64}
    if not rows:
        return pl.DataFrame(schema=schema)
    df = pl.DataFrame(rows)
    return (df.group_by("period", "source")
              .agg(pl.col("accepted").sum().cast(pl.Int64).alias("files_accepted"),
                   (~pl.col("accepted")).sum().cast(pl.Int64).alias("files_refused"))
              .sort("period", "source"))


def _facts(refs: Sequence[FolderRef], persons: pl.DataFrame | None = None) -> dict[str, pl.DataFrame]:
    """Clean rows of every loaded folder whose link is ``matched``, with person_id and method.

    Only rows of ``persons`` (a ``person_id`` column) when given, and only the columns the
    assessment reads (:func:`pipelines.assess.fact_columns`): the names, ID numbers and other
    columns of the clean layer were most of the stage's memory and no rule reads them.

    Folder by folder, source by source, each joined eagerly to its folder's matched links of that
    source: at 100,000 households one lazy query over all six folders held twice the memory (and
    twice the CPU) of the rows it returned. The rows' order is not part of the result (every
    consumer sums integers or sorts).
    """
    from pipelines.assess import fact_columns

    facts: dict[str, list[pl.DataFrame]] = {}
    for ref in refs:
        if not ref.links.exists():
            continue
        links = (pl.scan_parquet(ref.links)
                 .filter(pl.col("status") == "matched")
                 .select("source", "period", "record_no", "person_id",
                         pl.col("method").alias("link_method")))
        if persons is not None:
            links = links.join(persons.lazy(), on="person_id", how="semi", maintain_order="left")
        matched = links.collect()
        for source in ref.sources:
            if not ref.stg(source).exists():
                continue
            rows = pl.read_parquet(ref.stg(source), columns=list(fact_columns(source)))
            facts.setdefault(source, []).append(rows.join(
                matched.filter(pl.col("source") == source), on=["source", "period", "record_no"],
                how="inner"))
    return {s: pl.concat(frames, how="diagonal_relaxed") for s, frames in facts.items()}


def stage_assess(ctx: RunContext, period: str, refs: Sequence[FolderRef], *,
                 districts: Sequence[str] | None, tag: str = "") -> AssessRef:
    """Assess and flag ``period`` from the folders of its window; writes two parquet files."""
    from pipelines import gradual_exit
    from pipelines.assess import assess_period
    from pipelines.review_queue import (
        accepted_facts,
        pending_review,
        touched_households,
    )
    from schemas.published import ASSESSMENTS, FLAGS_TABLE

    _report("assess", "start", period=period)
    by_period = {r.period: r for r in refs}
    p_ref = by_period.get(period)
    if p_ref is None or not p_ref.register_ok:
        raise RunFailed(p_ref.register_problem if p_ref else f"folder {period} was not loaded")
    # the run's plan: P's rules resolved once, the folders of its window (W and INCOME_DROP's)
    plan = ctx.month_plan(period)
    rules = plan.rules
    register = pl.read_parquet(p_ref.stg("register"))
    scope = sorted(set(districts) if districts else set(register["district_code"].drop_nulls()))
    window_refs = [by_period[m] for m in plan.folders if m in by_period]
    # a district partition reads only its own persons' rows: the others' would be dropped by
    # assess_period's joins on person_id anyway, so the rows are the same, the memory smaller
    persons = (register.filter(pl.col("district_code").is_in(scope)).select("person_id").unique()
               if districts else None)
    facts = _facts(window_refs, persons)
    history = None
    if gradual_exit.months_in_force(rules):
        # 低保渐退 counts from the first month over S in the earlier assessments
        history = gradual_exit.earlier_assessments(ctx.warehouse, ctx.scratch, period)
    result = assess_period(period=plan.period, register=register, facts=facts,
                           deliveries=deliveries_frame(window_refs), rules=rules,
                           districts=scope, history=history)
    out = ctx.scratch / f"assess-{period}{tag}"
    out.mkdir(parents=True, exist_ok=True)
    # the published tables' contract, enforced before anything can reach the warehouse
    ASSESSMENTS.validate(result.assessments).write_parquet(out / "assessments.parquet")
    FLAGS_TABLE.validate(result.flags)
    # issue 19: assess again with every review record accepted as proposed; pending beside flags
    # (only the households review records touch: a household's outcome depends on its own members)
    with_review = accepted_facts(window_refs, facts)
    touched = register.filter(pl.col("household_id").is_in(touched_households(with_review, register)))
    accepted = (assess_period(period=plan.period, register=touched, facts=with_review,
                              deliveries=deliveries_frame(window_refs), rules=rules,
                              districts=scope) if touched.height else
                type(result)(assessments=result.assessments.head(0), flags=result.flags.head(0),
                             notes=[]))
    flags, pending_records, uncertain = pending_review(
        result, accepted, accepted_facts_by_source=with_review, register=register)
    flags.write_parquet(out / "flags.parquet")
    pending_records.write_parquet(out / "pending_records.parquet")
    uncertain.write_parquet(out / "uncertain.parquet")
    version = rules.version
    _report("assess", "finish", period=period, households=result.assessments.height,
            flags=result.flags.height)
    return AssessRef(period=period, assessments=out / "assessments.parquet",
                     flags=out / "flags.parquet", rulebook_version=version,
                     notes=list(result.notes), districts=scope,
                     pending_records=out / "pending_records.parquet",
                     uncertain=out / "uncertain.parquet")

