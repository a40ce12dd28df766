"""Stages on one delivery folder, and the loop that runs them for every folder of a run.

The stages land and clean a folder and link its records to its register; the loop reuses the
folder cache.

Split out of :mod:`pipelines.runner` (which re-exports every public name).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from pipelines.run.context import (
    FolderRef,
    RunContext,
    _assert_folder_settled,
    _report,
    as_dict,
)
from pipelines.sources import EXTRACT_SOURCES

if TYPE_CHECKING:
    from pipelines.run.execute import Stages


def stage_land_clean(ctx: RunContext, period: str, *, settle_seconds: float = 0.0) -> FolderRef:
    """Land and clean one month folder into ``scratch/<period>/`` parquet files."""
    from pipelines.clean import load_folder

    folder = ctx.incoming / period
    out = ctx.scratch / period
    out.mkdir(parents=True, exist_ok=True)
    ref = FolderRef(period=period, dir=out, exists=folder.is_dir())
    if not ref.exists:
        ref.register_problem = f"folder {period} is absent from {ctx.incoming.name}/"
        return ref
    _assert_folder_settled(folder, settle_seconds=settle_seconds)
    _report("land", "start", period=period)
    load = load_folder(folder, period=period)
    ref.register_ok = load.register is not None
    ref.register_problem = load.register_problem
    ref.notes = list(load.notes)
    if load.register is not None:
        load.register.write_parquet(ref.stg("register"))
    for source, frame in load.extracts.items():
        frame.write_parquet(ref.stg(source))
    for source, frame in load.raw.items():
        frame.with_columns(pl.lit(period).alias("period")).write_parquet(ref.raw(source))
    load.quarantine.write_parquet(ref.quarantine)
    ref.files = load.files.with_columns(pl.lit(period).alias("period")).to_dicts()
    ref.sources = sorted(load.extracts)
    _report("land", "finish", period=period, files=len(ref.files),
            rows_in=sum(int(f["rows_in"] or 0) for f in ref.files),
            rows_quarantined=sum(int(f["rows_quarantined"] or 0) for f in ref.files))
    return ref


# ---------------------------------------------------------------------------------------------
# stage: match one folder


def _folder_records(ref: FolderRef) -> pl.DataFrame:
    frames = [pl.read_parquet(ref.stg(s)) for s in EXTRACT_SOURCES if ref.stg(s).exists()]
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal_relaxed")


def stage_match(ctx: RunContext, ref: FolderRef, *, overrides: Path | None = None,
                link: Callable[..., tuple] | None = None) -> dict:
    """Link one folder's records to that folder's own register; writes ``links.parquet``.

    ``link`` replaces ``link_folder_with_model`` (same arguments and result): a cluster links
    a big folder in partitions (``pipelines.cluster_link``) and hands the links in here.
    """
    from pipelines.match import link_folder_with_model, unlinked_no_register
    from pipelines.match.model import comparison_weights, model_frame
    from pipelines.review_queue import model_path

    if not ref.exists:
        return {"period": ref.period, "records": 0}
    _report("match", "start", period=ref.period)
    records = _folder_records(ref)
    if records.height == 0:
        links = unlinked_no_register(records) if records.width else pl.DataFrame()
    elif not ref.register_ok:
        links = unlinked_no_register(records)
    else:
        register = pl.read_parquet(ref.stg("register"))
        decisions = pl.read_parquet(overrides) if overrides is not None and overrides.exists() else None
        params = ctx.matching_params()
        links, estimates = (link or link_folder_with_model)(records, register, params=params,
                                                           decisions=decisions)
        if estimates is not None:
            model_frame(estimates, period=ref.period, params_version=params.version).write_parquet(
                model_path(ref.dir))
        links = links.with_columns(comparison_weights(links, estimates))
    if links.width:
        if "comparison_weights" not in links.columns:
            links = links.with_columns(comparison_weights(links, None))
        links.write_parquet(ref.links)
    counts = (links.group_by("status").len().to_dicts() if links.width else [])
    by_status = {c["status"]: int(c["len"]) for c in counts}
    _report("match", "finish", period=ref.period, **by_status)
    return {"period": ref.period, "records": records.height, **by_status}


def _link_overrides(ctx: RunContext) -> Path | None:
    """Staff link decisions from the published warehouse, as parquet for the match stage."""
    from pipelines import warehouse as wh
    from pipelines.decisions import link_overrides

    if not ctx.warehouse.exists():
        return None
    con = wh.connect_readonly(ctx.warehouse)
    try:
        if not wh.table_exists(con, "decisions"):
            return None
        overrides = link_overrides(con)
    finally:
        con.close()
    if overrides.height == 0:
        return None
    path = ctx.scratch / "link_overrides.parquet"
    overrides.write_parquet(path)
    return path

def _load_and_match(ctx: RunContext, months: Sequence[str], stages: Stages, *,
                    settle_seconds: float) -> tuple[list[FolderRef], list[dict]]:
    """Land, clean and match each folder, reusing the folder cache where nothing changed."""
    from pipelines import folder_cache

    overrides = _link_overrides(ctx)
    restored: dict[str, tuple[FolderRef, dict]] = {}
    keys: dict[str, str] = {}
    for m in months:
        folder = ctx.incoming / m
        if ctx.use_cache and folder.is_dir():
            _assert_folder_settled(folder, settle_seconds=settle_seconds)
            key = folder_cache.folder_key(folder, matching_file=ctx.matching_file, overrides=overrides,
                                          matching_version=ctx.matching_params().version)
            keys[m] = key
            meta = folder_cache.restore(ctx.warehouse, m, key, ctx.scratch / m)
            if meta is not None:
                ref = FolderRef(**{**meta["ref"], "dir": ctx.scratch / m, "cache_key": key})
                restored[m] = (ref, meta["counts"])
                _report("reuse", "start", period=m)
                _report("reuse", "finish", period=m, **{k: v for k, v in meta["counts"].items()
                                                        if k not in {"period"}})
    # the folders to process are independent of each other: in turn, or fanned out (Dask)
    todo = [m for m in months if m not in restored]
    if stages.folders is not None:
        computed = stages.folders(ctx, todo, overrides=overrides, settle_seconds=settle_seconds)
    else:
        computed = {}
        for m in todo:
            ref = stages.land_clean(ctx, m, settle_seconds=settle_seconds)
            computed[m] = (ref, stages.match(ctx, ref, overrides=overrides))
    refs: list[FolderRef] = []
    counts: list[dict] = []
    for m in months:
        ref, count = restored[m] if m in restored else computed[m]
        stored_key = keys.get(m)
        if m not in restored and stored_key is not None and ref.exists:
            ref.cache_key = stored_key
            folder_cache.store(ctx.warehouse, m, stored_key, ref.dir,
                               {"ref": {k: v for k, v in as_dict(ref).items()
                                        if k not in {"dir", "cache_key"}}, "counts": count})
        refs.append(ref)
        counts.append(count)
    # issue 19: rank review candidates with the evidence of every folder loaded (not cached:
    # the ranking depends on the window, the links themselves do not)
    from pipelines.review_queue import rank_folders
    _report("rank", "start")
    ranked = rank_folders(refs, params=ctx.matching_params(),
                          decisions=pl.read_parquet(overrides) if overrides is not None else None)
    # its own progress line: a steady month spends much of its time here (benchmarks/README.md)
    _report("rank", "finish", review=sum(ranked.values()))
    return refs, counts

