"""Stages on one delivery folder, and the loop that runs them for every folder of a run.

The stages land and clean a folder and link its records to its register; the loop reuses the
folder cache.

Split out of :mod:`pipelines.runner` (which re-exports every public name).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


def _evidence_records(ref: FolderRef) -> pl.DataFrame:
    """The folder's records with only the columns the review evidence reads (per source)."""
    from pipelines.match.rank.evidence import EVIDENCE_KINDS, KEY

    frames = []
    for source in EXTRACT_SOURCES:
        if not ref.stg(source).exists():
            continue
        have = pl.read_parquet_schema(ref.stg(source))
        wanted = dict.fromkeys(c for k in EVIDENCE_KINDS if k.source == source
                               for c in (*k.keys, *([k.close] if k.close else [])))
        frames.append(pl.read_parquet(ref.stg(source),
                                      columns=[*KEY, *(c for c in wanted if c in have)]))
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal_relaxed")


def stage_match(ctx: RunContext, ref: FolderRef, *, overrides: Path | None = None,
                linked: tuple[pl.DataFrame, Any] | None = None) -> dict:
    """Link one folder's records to that folder's own register; writes ``links.parquet``.

    ``linked`` is the folder's ``(links, estimates)`` when a cluster linked it in partitions
    (``pipelines.cluster_link``): then the folder's records are read only for the columns its
    review evidence needs, so this task holds the links, not the whole folder.
    """
    from pipelines.match import link_folder_with_model, unlinked_no_register
    from pipelines.match.model import comparison_weights, model_frame
    from pipelines.review_queue import model_path, write_evidence

    if not ref.exists:
        return {"period": ref.period, "records": 0}
    _report("match", "start", period=ref.period)
    records = _folder_records(ref) if linked is None else _evidence_records(ref)
    if records.height == 0:
        links = unlinked_no_register(records) if records.width else pl.DataFrame()
    elif not ref.register_ok:
        links = unlinked_no_register(records)
    else:
        params = ctx.matching_params()
        if linked is None:
            register = pl.read_parquet(ref.stg("register"))
            decisions = (pl.read_parquet(overrides) if overrides is not None and overrides.exists()
                         else None)
            links, estimates = link_folder_with_model(records, register, params=params,
                                                      decisions=decisions)
        else:
            links, estimates = linked
        if estimates is not None:
            model_frame(estimates, period=ref.period, params_version=params.version).write_parquet(
                model_path(ref.dir))
        links = links.with_columns(comparison_weights(links, estimates))
    if links.width:
        if "comparison_weights" not in links.columns:
            links = links.with_columns(comparison_weights(links, None))
        links.write_parquet(ref.links)
        # what this folder's ID-linked records tell the review ranking of this folder and of the
        # next month's (pipelines.review_queue): kept with the folder, so neither reads it again
        write_evidence(ref, records, links)
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
    """Land, clean and match each folder, reusing the folder cache where nothing changed.

    The month before each folder is loaded too when it is delivered and not one of ``months``
    (the review ranking reads it: :func:`_rank`); it is not part of the run's results.
    """
    from pipelines.review_queue import evidence_months

    overrides = _link_overrides(ctx)
    extra = [m for m in evidence_months(months) if (ctx.incoming / m).is_dir()]
    loaded, counts_by = _load_folders(ctx, [*months, *extra], stages, overrides=overrides,
                                      settle_seconds=settle_seconds)
    refs = [loaded[m] for m in months]
    _rank(ctx, refs, [loaded[m] for m in extra], overrides=overrides,
          rank=stages.rank or rank_in_turn)
    return refs, [counts_by[m] for m in months]


def _load_folders(ctx: RunContext, months: Sequence[str], stages: Stages, *, overrides: Path | None,
                  settle_seconds: float) -> tuple[dict[str, FolderRef], dict[str, dict]]:
    from pipelines import folder_cache

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
    refs: dict[str, FolderRef] = {}
    counts: dict[str, dict] = {}
    for m in months:
        ref, count = restored[m] if m in restored else computed[m]
        stored_key = keys.get(m)
        if m not in restored and stored_key is not None and ref.exists:
            ref.cache_key = stored_key
            folder_cache.store(ctx.warehouse, m, stored_key, ref.dir,
                               {"ref": {k: v for k, v in as_dict(ref).items()
                                        if k not in {"dir", "cache_key", "publish_key"}},
                                "counts": count})
        refs[m] = ref
        counts[m] = count
    return refs, counts


def rank_in_turn(ctx: RunContext, pairs: Sequence[tuple[FolderRef, FolderRef | None]], *,
                 overrides: Path | None) -> None:
    """Rank each (folder, month before) pair's review candidates here, one folder at a time."""
    from pipelines.review_queue import rank_folder_ref

    decisions = pl.read_parquet(overrides) if overrides is not None else None
    for ref, before in pairs:
        rank_folder_ref(ref, before, params=ctx.matching_params(), decisions=decisions)


def _rank(ctx: RunContext, refs: Sequence[FolderRef], extra: Sequence[FolderRef], *,
          overrides: Path | None, rank: Callable[..., None] = rank_in_turn) -> None:
    """Rank each folder's review candidates (issue 19), reusing the folder cache's ranking.

    A folder's ranking reads only the folder and the month before it, so it is the same in
    every run that loads it (outputs.md, "Deterministic links") and is kept with the folder:
    a steady month ranks only its new folder. ``rank(ctx, pairs, overrides=)`` ranks the
    folders the cache did not hold (in turn here, or fanned out on a cluster).
    """
    from pipelines import folder_cache
    from pipelines.periods import add_months
    from pipelines.review_queue import rank_key, ranked_path

    by_period = {r.period: r for r in [*refs, *extra]}
    _report("rank", "start")
    todo: list[tuple[FolderRef, FolderRef | None]] = []
    for ref in refs:
        if not ref.exists:
            continue
        before = by_period.get(add_months(ref.period, -1))
        ref.publish_key = rank_key(ref, before)
        kept = ref.dir / f"ranked-{ref.publish_key}.parquet"
        if ref.publish_key is not None and kept.exists():
            kept.replace(ranked_path(ref.dir))
        else:
            todo.append((ref, before))
    if todo:
        rank(ctx, todo, overrides=overrides)
    for ref, _before in todo:
        if ref.publish_key is not None and ref.cache_key is not None and ranked_path(ref.dir).exists():
            kept = ref.dir / f"ranked-{ref.publish_key}.parquet"
            shutil.copyfile(ranked_path(ref.dir), kept)
            folder_cache.store_file(ctx.warehouse, ref.period, ref.cache_key, kept, prefix="ranked-")
    ranked = sum(pl.scan_parquet(ranked_path(r.dir)).select(pl.len()).collect().item()
                 for r in refs if r.exists and ranked_path(r.dir).exists())
    # its own progress line: the ranking was much of a steady month once (benchmarks/README.md)
    _report("rank", "finish", review=ranked)
