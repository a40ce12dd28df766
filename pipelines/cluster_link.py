"""Orchestration layer: land, clean and match month folders on a Dask cluster.

A big folder's linking is split into partitions (``pipelines.match.partition``).

The driver submits the work in phases, each phase's tasks all at once (so a worker runs one task
per thread, and a folder's pieces spread over the cluster):

1. land + clean, one task per folder (``runner.stage_land_clean``);
2. for a folder linked in K > 1 partitions: *plan* (one task: the folder's canonical order, the
   records' partitions, the register rows each partition needs, the folder's u), written as
   parquet under ``scratch/link-<period>/part-<i>/``;
3. *compare*, one task per partition: block and compare its pairs; it returns the comparison
   pattern counts (a few hundred rows) and keeps the pairs in its folder;
4. the driver fits the folder's model once (EM on the summed counts, with the plan's u);
5. *decide*, one task per partition: score with that model and decide its records' links;
6. *finish*, one task per folder: ``runner.stage_match`` with the assembled links (model file,
   comparison weights, ``links.parquet``, counts), or, for a folder not split, the plain stage.

Every task reads and writes parquet on the scratch storage, so Dask can rerun the task of a
worker that died anywhere. How many partitions: ``$HEDUI_LINK_PARTITIONS`` (a positive integer,
or ``auto``: one per worker when the folder holds at least :data:`AUTO_MIN_ROWS` delivered
rows, else 1).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from pipelines import runner

#: delivered rows from which ``auto`` splits a folder's linking (below, one task links it faster)
AUTO_MIN_ROWS = 1_000_000
ENV = "HEDUI_LINK_PARTITIONS"


def partitions_for(rows_in: int, workers: int) -> int:
    """How many partitions link a folder of ``rows_in`` delivered rows on ``workers`` workers.

    Raises
    ------
    runner.RunFailed
        With a Chinese message when ``$HEDUI_LINK_PARTITIONS`` is neither ``auto`` nor 1..1024.
    """
    value = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if value == "auto":
        return max(1, workers) if rows_in >= AUTO_MIN_ROWS else 1
    if value.isdigit() and 1 <= int(value) <= 1024:
        return int(value)
    raise runner.RunFailed(f"环境变量 {ENV}={value} 无法识别：应为 auto 或 1 到 1024 之间的整数")


@dataclass(frozen=True)
class PlanRef:
    """What the plan task wrote: the partitions' folders and the folder's u."""

    period: str
    base: Path
    parts: list[tuple[int, Path]]
    u: list[np.ndarray]
    records: int
    register_rows: int
    register_copies: int


def _base(ctx: runner.RunContext, period: str) -> Path:
    # outside the folder's own directory: the folder cache stores that directory as it is
    return ctx.scratch / f"link-{period}"


def _params(ctx: runner.RunContext):
    # the run plan's values, resolved on the last day of the run's last month (as stage_match)
    return ctx.matching_params()


def plan_on_worker(ctx: runner.RunContext, ref: runner.FolderRef, overrides: Path | None,
                   k: int) -> PlanRef | None:
    """Split one landed folder for linking.

    None when there is nothing to split (no register, no records): the finish task then runs
    the plain match stage.
    """
    from pipelines.match.partition import plan_folder

    if not (ref.exists and ref.register_ok):
        return None
    records = runner._folder_records(ref)
    if records.height == 0:
        return None
    register = pl.read_parquet(ref.stg("register"))
    decisions = pl.read_parquet(overrides) if overrides is not None and overrides.exists() else None
    plan = plan_folder(records, register, params=_params(ctx), k=k, decisions=decisions)
    if plan is None:
        return None
    base = _base(ctx, ref.period)
    shutil.rmtree(base, ignore_errors=True)  # a rerun after a lost worker starts clean
    parts = [(p.index, p.write(base / f"part-{p.index}")) for p in plan.partitions]
    return PlanRef(period=ref.period, base=base, parts=parts, u=plan.u, records=plan.records,
                   register_rows=plan.register_rows, register_copies=plan.register_copies)


def compare_on_worker(ctx: runner.RunContext, index: int, folder: Path) -> pl.DataFrame:
    """Block and compare one partition; keeps its pairs, returns their pattern counts."""
    from pipelines.match.partition import Partition, compare_partition

    compared, patterns = compare_partition(Partition.read(folder, index), params=_params(ctx))
    compared.write_parquet(folder / "compared.parquet")
    return patterns


def decide_on_worker(ctx: runner.RunContext, index: int, folder: Path, estimates) -> Path:
    """Score one partition's pairs with the folder's model and decide its records' links."""
    from pipelines.match.partition import Partition, decide_partition

    part = Partition.read(folder, index)
    links = decide_partition(part, pl.read_parquet(folder / "compared.parquet"), estimates,
                             params=_params(ctx))
    links.write_parquet(folder / "links.parquet")
    return folder / "links.parquet"


def finish_on_worker(ctx: runner.RunContext, ref: runner.FolderRef, overrides: Path | None,
                     plan: PlanRef | None, estimates) -> dict:
    """The folder's match stage: with the partitions' links, or plainly when not split."""
    from pipelines.match.partition import assemble

    if plan is None:
        return runner.stage_match(ctx, ref, overrides=overrides)
    links = assemble([pl.read_parquet(folder / "links.parquet") for _i, folder in plan.parts])
    counts = runner.stage_match(ctx, ref, overrides=overrides, linked=(links, estimates))
    shutil.rmtree(plan.base, ignore_errors=True)
    return counts


def _rows_in(ref: runner.FolderRef) -> int:
    return sum(int(f.get("rows_in") or 0) for f in ref.files)


def folders_on_dask(ctx: runner.RunContext, months: Sequence[str], *, overrides: Path | None,
                    settle_seconds: float) -> dict[str, tuple[runner.FolderRef, dict]]:
    """Land, clean and match ``months`` on the cluster (see the module doc for the phases)."""
    from pipelines import cluster
    from pipelines.match.partition import fit_folder

    client = cluster.current_client()
    if not months:
        return {}
    partitions_for(0, 1)  # a bad $HEDUI_LINK_PARTITIONS fails before any work
    for m in months:
        runner._report("folder", "start", period=m)

    def submit(fn, kind: str, part: str, *args, **kwargs):
        return client.submit(fn, *args, **kwargs, key=cluster._key(ctx, kind, part), pure=False)

    lands = cluster._gather(client, {m: submit(runner.stage_land_clean, "land", m, ctx, m,
                                               settle_seconds=settle_seconds) for m in months})
    workers = cluster.worker_count(client)
    ks = {m: partitions_for(_rows_in(lands[m]), workers) for m in months}
    plans = cluster._gather(client, {
        f"{m}（链接划分）": submit(plan_on_worker, "plan", m, ctx, lands[m], overrides, ks[m])
        for m in months if ks[m] > 1})
    plan_of = {m: plans.get(f"{m}（链接划分）") for m in months}

    def each_part(kind: str, fn, extra):
        futures = {}
        for m, plan in plan_of.items():
            for i, folder in plan.parts if plan else []:
                name = f"{m}（链接分片 {i + 1}/{ks[m]}）"
                futures[name] = submit(fn, kind, f"{m}-{i}", ctx, i, folder, *extra(m))
        return cluster._gather(client, futures)

    patterns = each_part("compare", compare_on_worker, lambda m: ())
    params = _params(ctx)
    estimates = {m: fit_folder(plan.u, [patterns[f"{m}（链接分片 {i + 1}/{ks[m]}）"]
                                        for i, _f in plan.parts], params=params)
                 for m, plan in plan_of.items() if plan}
    each_part("decide", decide_on_worker, lambda m: (estimates[m],))

    def finished(m: str, count: dict[str, Any]) -> None:
        runner._report("folder", "finish", period=m,
                       **{k: v for k, v in count.items() if k != "period"})

    counts = cluster._gather(client, {
        m: submit(finish_on_worker, "match", m, ctx, lands[m], overrides, plan_of[m],
                  estimates.get(m)) for m in months}, finished)
    return {m: (lands[m], counts[m]) for m in months}


def _rank_on_worker(ctx: runner.RunContext, ref: runner.FolderRef, before: runner.FolderRef | None,
                    overrides: Path | None) -> int:
    from pipelines.review_queue import rank_folder_ref

    decisions = pl.read_parquet(overrides) if overrides is not None else None
    return rank_folder_ref(ref, before, params=_params(ctx), decisions=decisions)


def rank_on_dask(ctx: runner.RunContext, pairs: Sequence[tuple[runner.FolderRef, runner.FolderRef | None]],
                 *, overrides: Path | None) -> None:
    """Rank review candidates on the cluster: one task per folder (its ``ranked.parquet``).

    A folder's ranking holds its review records and the evidence rows of it and the month
    before, so the driver holds none of them; a failed task fails the run naming its folder.
    """
    from pipelines import cluster

    client = cluster.current_client()
    cluster._gather(client, {
        f"{ref.period}（复核候选排序）": client.submit(
            _rank_on_worker, ctx, ref, before, overrides,
            key=cluster._key(ctx, "rank", ref.period), pure=False)
        for ref, before in pairs})
