"""Match layer, partitions: one folder linked in K pieces, with exactly the links of ``link_folder``.

A province's month folder is too big for one worker, so its records are split into K partitions
and each is linked against only the slice of the register its records can meet:

- *records* go to ``hash(key) mod K``, the key being the repaired ID (valid or converted from 15
  digits), a checksum-invalid record's own 18 characters, or, for a record without an ID, its
  folded name (else its pinyin): namesakes without ID meet in one partition;
- *register rows* go to every partition that holds a record able to reach them through a
  blocking rule (``blocking.build_candidate_pairs``): the persons whose ID equals a record's
  ID or is one of a checksum-invalid ID's valid neighbours, the persons a record's name blocks
  keep (computed over the whole register, so the cap ``max_name_candidates`` keeps the same
  persons), and staff-confirmed persons. A register row may be copied to several partitions; a
  record is in exactly one, with every candidate it has, so its decision (the guards and the
  ambiguity margin compare its candidates) is taken in its partition: no shuffle of pairs.

Why the links are the same, step by step:

1. The order, ``_rid`` and ``_pidx`` come from :func:`pipelines.match.prepare_folder` on the whole
   folder (done once, by :func:`plan_folder`) and travel with the rows, so ties break by the
   same indices.
2. Blocking is *record-separable*: the pairs of a record depend only on that record and the
   register rows above (the name caps are per key, over the register), so blocking a partition
   finds the folder's pairs of its records. Comparison is per pair.
3. The model is fitted once per folder, never per partition: ``u`` from the folder's seeded
   random non-pairs (drawn over the whole folder's positions in :func:`plan_folder`, leaving out
   the ID-agreeing candidate pairs exactly as ``score.estimate`` does), ``m`` and the match share
   by EM on the comparison-pattern counts summed over the partitions (integer counts: the EM sees
   the same arrays as in one process). Every partition then scores with that one model.
4. Scoring and deciding are per pair and per record; the partitions' links, put back in
   ``_rid`` order, are ``link_folder``'s rows in its order.

The review ranking (``rank.py``) is not partitioned: the driver ranks the (few) review records of
the assembled links, as for an in-process run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.match import prepare_folder
from pipelines.match.blocking import (
    PIDX,
    RID,
    USABLE,
    build_candidate_pairs,
    id_neighbours,
)
from pipelines.match.compare import ID_AGREES, compare_pairs
from pipelines.match.decide import LINK_SCHEMA, decide
from pipelines.match.params import MatchParams
from pipelines.match.score import (
    Estimates,
    candidate_patterns,
    fit_estimates,
    sample_non_pairs,
    score_pairs,
    sum_patterns,
    u_from_sample,
)

PART = "_part"
_PAIRS = {RID: pl.Int64, PIDX: pl.Int64}


@dataclass(frozen=True)
class Partition:
    """One partition of a folder: its records, the register rows they can meet, decisions.

    Attributes
    ----------
    index : int
        0..K-1.
    recs : pl.DataFrame
        Prepared records (``prepare_records`` of the whole folder), ``_rid`` ascending.
    reg : pl.DataFrame
        Prepared register rows (``_pidx`` of the whole folder), ``_pidx`` ascending.
    confirmed, rejected : pl.DataFrame
        The staff decision pairs of these records.
    """

    index: int
    recs: pl.DataFrame
    reg: pl.DataFrame
    confirmed: pl.DataFrame
    rejected: pl.DataFrame

    def write(self, folder: Path) -> Path:
        """Write the partition as parquet files into ``folder`` (created); returns it."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("recs", "reg", "confirmed", "rejected"):
            getattr(self, name).write_parquet(folder / f"{name}.parquet")
        return folder

    @classmethod
    def read(cls, folder: Path, index: int) -> Partition:
        """The partition :meth:`write` wrote into ``folder``."""
        frames = {n: pl.read_parquet(folder / f"{n}.parquet")
                  for n in ("recs", "reg", "confirmed", "rejected")}
        return cls(index=index, **frames)


@dataclass(frozen=True)
class FolderPlan:
    """A folder split for linking: the partitions and the folder's u (fitted once).

    Attributes
    ----------
    partitions : list[Partition]
        The non-empty partitions (at most K).
    u : list[np.ndarray]
        u per comparison field and level (``score.FIELDS`` order).
    records, register_rows : int
        Sizes of the whole folder's prepared records and register.
    register_copies : int
        Register rows summed over the partitions (``register_rows`` or more: rows reached from
        several partitions are copied).
    """

    partitions: list[Partition]
    u: list[np.ndarray]
    records: int
    register_rows: int
    register_copies: int


def route_records(recs: pl.DataFrame, k: int) -> pl.Series:
    """Partition (0..k-1) of each prepared record: by ID, else by name (see the module doc)."""
    key = pl.coalesce(pl.col("_id_cmp"), pl.concat_str([pl.lit("name:"), pl.coalesce(
        pl.col("_name_key"), pl.col("name_pinyin"), pl.lit(""))]))
    return recs.select((key.hash(seed=0) % k).cast(pl.Int64).alias(PART)).to_series()


def _capped(left: pl.DataFrame, right: pl.DataFrame, keys: list[str], cap: int) -> pl.DataFrame:
    """The register rows a name block keeps for any of ``left``'s keys: ``_pidx`` plus keys.

    The same selection as ``build_candidate_pairs``' ``by_keys`` (first ``cap`` rows by
    ``_pidx`` per key) over the whole register: a partition holding these rows keeps them too.
    """
    wanted = left.select(*keys).drop_nulls(keys).unique()
    return (right.select(PIDX, *keys).drop_nulls(keys)
            .join(wanted, on=keys, how="semi")
            .sort(PIDX)
            .filter(pl.int_range(pl.len()).over(keys) < cap))


def register_needs(recs: pl.DataFrame, reg: pl.DataFrame, confirmed: pl.DataFrame, *,
                   cap: int) -> pl.DataFrame:
    """``_part, _pidx``: each register row every partition needs, by the blocking rules.

    Parameters
    ----------
    recs : pl.DataFrame
        Prepared records with their partition in ``_part``.
    reg : pl.DataFrame
        The whole prepared register.
    confirmed : pl.DataFrame
        Staff-confirmed ``_rid, _pidx`` pairs of the folder.
    cap : int
        ``max_name_candidates``.

    Returns
    -------
    pl.DataFrame
        Unique ``_part, _pidx`` rows.
    """
    status = pl.col("_status")
    reg_ids = reg.filter(pl.col("_id18").is_not_null()).select(PIDX, "_id18")
    usable = recs.filter(status.is_in(USABLE) & pl.col("_id_cmp").is_not_null())
    bad = recs.filter((status == "bad_checksum") & pl.col("_id_cmp").is_not_null())
    no_id = recs.filter(~status.is_in(USABLE) | pl.col("_id_cmp").is_null())
    off_register = usable.join(reg_ids, left_on="_id_cmp", right_on="_id18", how="anti")
    parts = [
        usable.select(PART, "_id_cmp").unique()
        .join(reg_ids, left_on="_id_cmp", right_on="_id18").select(PART, PIDX),
        confirmed.join(recs.select(RID, PART), on=RID).select(PART, PIDX),
    ]
    if bad.height:
        neighbours = id_neighbours(bad["_id_cmp"])
        parts.append(neighbours.join(bad.select(PART).with_row_index("index")
                                     .with_columns(pl.col("index").cast(pl.Int64)), on="index")
                     .join(reg_ids, left_on="neighbour", right_on="_id18").select(PART, PIDX))
    reg_named = reg.select(PIDX, "_name_key", "name_pinyin", "_birth_key", "_id18")
    reg_no_id = reg_named.filter(pl.col("_id18").is_null())
    for left, right, keys in ((bad, reg_named, ["_name_key", "_birth_key"]),
                              (bad, reg_named, ["name_pinyin", "_birth_key"]),
                              (no_id, reg_named, ["_name_key"]),
                              (no_id, reg_named, ["name_pinyin"]),
                              (off_register, reg_no_id, ["_name_key"]),
                              (off_register, reg_no_id, ["name_pinyin"])):
        if left.height:
            kept = _capped(left, right, keys, cap)
            parts.append(left.select(PART, *keys).drop_nulls(keys).unique()
                         .join(kept, on=keys).select(PART, PIDX))
    return pl.concat([p.cast({PART: pl.Int64, PIDX: pl.Int64}) for p in parts]).unique()


def folder_u(recs: pl.DataFrame, reg: pl.DataFrame, confirmed: pl.DataFrame, *,
             params: MatchParams) -> list[np.ndarray]:
    """The folder's u, as ``score.estimate`` computes it, without the folder's candidate pairs.

    ``estimate`` leaves the ID-agreeing candidate pairs out of the random sample. A pair's
    levels are the same whether it was drawn or blocked, so only the drawn pairs that agree on
    ID can be such candidates; blocking just their records (record-separable) says which are.
    """
    sample = sample_non_pairs(recs.height, reg.height, size=params.u_sample_pairs, seed=params.seed)
    if sample.height == 0:
        return u_from_sample(None, params=params)
    compared = compare_pairs(sample, recs, reg, params=params)
    agree = compared.filter(pl.col("id").is_in(ID_AGREES)).select(RID, PIDX).unique()
    if agree.height:
        rids = agree.select(RID).unique()
        mine = recs.join(rids, on=RID, how="semi")
        blocked = build_candidate_pairs(mine, reg, max_name_candidates=params.max_name_candidates,
                                        confirmed=confirmed.join(rids, on=RID, how="semi"))
        drop = agree.join(blocked.select(RID, PIDX), on=[RID, PIDX], how="semi")
        compared = compared.join(drop, on=[RID, PIDX], how="anti", maintain_order="left")
    return u_from_sample(compared, params=params)


def plan_folder(records: pl.DataFrame, register: pl.DataFrame, *, params: MatchParams, k: int,
                decisions: pl.DataFrame | None = None) -> FolderPlan | None:
    """Split one folder for linking in ``k`` partitions and fit its u once.

    Parameters
    ----------
    records, register, decisions
        As for :func:`pipelines.match.link_folder`.
    params : MatchParams
    k : int
        Number of partitions (at least 1); empty ones are left out.

    Returns
    -------
    FolderPlan or None
        None when the folder has no records (``link_folder`` returns no links then).

    Raises
    ------
    ValueError
        As ``link_folder`` (missing column, repeated record key), or when ``k < 1``.
    """
    if k < 1:
        raise ValueError(f"plan_folder: k must be at least 1, got {k}")
    prepared = prepare_folder(records, register, decisions)
    if prepared is None:
        return None
    recs, reg, confirmed, rejected = prepared
    recs = recs.with_columns(route_records(recs, k))
    needs = register_needs(recs, reg, confirmed, cap=params.max_name_candidates)
    partitions = []
    for i in range(k):
        mine = recs.filter(pl.col(PART) == i).drop(PART)
        if mine.height == 0:
            continue
        rids = mine.select(RID)
        rows = needs.filter(pl.col(PART) == i).select(PIDX)
        partitions.append(Partition(
            index=i, recs=mine, reg=reg.join(rows, on=PIDX, how="semi", maintain_order="left"),
            confirmed=confirmed.join(rids, on=RID, how="semi"),
            rejected=rejected.join(rids, on=RID, how="semi")))
    u = folder_u(recs.drop(PART), reg, confirmed, params=params)
    return FolderPlan(partitions=partitions, u=u, records=recs.height, register_rows=reg.height,
                      register_copies=sum(p.reg.height for p in partitions))


def compare_partition(part: Partition, *, params: MatchParams
                      ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Block and compare one partition: its compared pairs and their pattern counts."""
    pairs = build_candidate_pairs(part.recs, part.reg, max_name_candidates=params.max_name_candidates,
                                  confirmed=part.confirmed)
    compared = compare_pairs(pairs, part.recs, part.reg, params=params)
    return compared, candidate_patterns(compared)


def fit_folder(u: list[np.ndarray], patterns: Iterable[pl.DataFrame], *,
               params: MatchParams) -> Estimates:
    """The folder's model from its u and every partition's pattern counts (EM once)."""
    return fit_estimates(u, sum_patterns(list(patterns)), params=params)


def decide_partition(part: Partition, compared: pl.DataFrame, estimates: Estimates, *,
                     params: MatchParams) -> pl.DataFrame:
    """Score with the folder's model and decide: links of the partition's records plus ``_rid``."""
    links = decide(score_pairs(compared, estimates), part.recs, part.reg, params=params,
                   confirmed=part.confirmed, rejected=part.rejected)
    return links.with_columns(part.recs[RID])


def assemble(parts: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """The folder's links from the partitions' :func:`decide_partition` outputs, in ``_rid`` order."""
    frames = [p for p in parts if p.height]
    if not frames:
        return pl.DataFrame(schema=LINK_SCHEMA)
    return pl.concat(frames).sort(RID).drop(RID).cast(pl.Schema(LINK_SCHEMA)).select(list(LINK_SCHEMA))


Mapper = Callable[[Callable, list], list]


def link_folder_partitioned(records: pl.DataFrame, register: pl.DataFrame, *, params: MatchParams,
                            k: int, decisions: pl.DataFrame | None = None,
                            mapper: Mapper | None = None) -> tuple[pl.DataFrame, Estimates | None]:
    """:func:`pipelines.match.link_folder_with_model` computed in ``k`` partitions.

    Parameters
    ----------
    records, register, params, decisions
        As for ``link_folder``.
    k : int
        Number of partitions.
    mapper : callable, optional
        ``mapper(fn, items) -> results`` runs ``fn`` over the partitions (default: in turn);
        a cluster passes its own.

    Returns
    -------
    tuple[pl.DataFrame, Estimates | None]
        The same links and model as ``link_folder_with_model``.
    """
    mapper = mapper or (lambda fn, items: [fn(x) for x in items])
    plan = plan_folder(records, register, params=params, k=k, decisions=decisions)
    if plan is None:
        return pl.DataFrame(schema=LINK_SCHEMA), None
    compared = mapper(lambda part: compare_partition(part, params=params), plan.partitions)
    estimates = fit_folder(plan.u, [c[1] for c in compared], params=params)
    links = mapper(lambda item: decide_partition(item[0], item[1][0], estimates, params=params),
                   list(zip(plan.partitions, compared, strict=True)))
    return assemble(links), estimates
