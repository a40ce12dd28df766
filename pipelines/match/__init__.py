"""Match layer: link every extract record to its register person and household, conservatively.

Public API (docs/architecture.md, "match -> links"):

- :func:`load_matching_params` reads ``rules/matching.yaml``;
- :func:`link_folder` links one folder's clean extract records to that folder's clean register:
  block (``blocking``) -> compare (``compare``) -> score (``score``) -> decide (``decide``);
- :func:`unlinked_no_register` gives the rows of a folder without a usable register.

A link depends only on the folder's records, its register, the parameters and staff decisions:
both inputs are put in a canonical order first and every random draw uses the YAML's seed.
"""

from __future__ import annotations

import polars as pl

from pipelines.match.blocking import PIDX, RID, build_candidate_pairs, prepare_records, prepare_register
from pipelines.match.compare import compare_pairs
from pipelines.match.decide import LINK_SCHEMA, decide
from pipelines.match.params import MatchingParamsError, MatchParams, load_matching_params
from pipelines.match.score import Estimates, estimate, score_pairs

__all__ = ["LINK_SCHEMA", "MatchParams", "MatchingParamsError", "link_folder",
           "link_folder_with_model", "load_matching_params", "unlinked_no_register"]

_IDENTITY = ("id_norm", "id18", "id_status", "id_birth_on", "id_sex", "name_raw", "name_norm",
             "name_pinyin")
RECORD_COLUMNS = ("source", "period", "record_no", *_IDENTITY)
REGISTER_COLUMNS = ("person_id", "household_id", *_IDENTITY, "birth_on", "sex", "district_code")
DECISION_COLUMNS = ("source", "id_norm", "name_norm", "person_id", "decision")
_KEY = ["source", "period", "record_no"]
_TYPES = {"id_birth_on": pl.Date, "birth_on": pl.Date}


def _check_columns(frame: pl.DataFrame, needed: tuple[str, ...], what: str) -> pl.DataFrame:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"link_folder: {what} lack column(s) {', '.join(missing)}")
    casts = {c: _TYPES.get(c, pl.String) for c in needed}
    return frame.select(needed).cast(pl.Schema(casts))


def _key_problem(frame: pl.DataFrame) -> str | None:
    dup = frame.group_by(_KEY).agg(n=pl.len()).filter(pl.col("n") > 1).sort(_KEY).head(1)
    if dup.height:
        s, p, r, n = dup.row(0)
        return f"records repeat the key (source {s}, period {p}, record_no {r}) {n} times"
    return None


def _sorted_by_key(records: pl.DataFrame) -> pl.DataFrame:
    """``records.sort(_KEY)``, by one joined key when that gives the same order (twice as fast).

    Joined with NUL, the lowest code point, the texts sort as the tuples do; a null or a NUL
    inside a key would break that, so such input takes the plain multi-column sort.
    """
    keys = [pl.col(k) for k in _KEY]
    joinable = records.select(pl.all_horizontal(
        [k.is_not_null() & ~k.str.contains("\x00", literal=True) for k in keys]).all()).item()
    if not joinable:
        return records.sort(_KEY)
    return (records.with_columns(pl.concat_str(keys, separator="\x00").alias("_sort_key"))
            .sort("_sort_key").drop("_sort_key"))


def _repeats_adjacent(ordered: pl.DataFrame) -> bool:
    # the first row has no predecessor (its shifted values are nulls, not a repeat)
    same = pl.all_horizontal([pl.col(k).eq_missing(pl.col(k).shift(1)) for k in _KEY])
    return bool(ordered.select((same & (pl.int_range(pl.len()) > 0)).any()).item())


def unlinked_no_register(records: pl.DataFrame) -> pl.DataFrame:
    """Links for the records of a folder whose register is missing or refused.

    Parameters
    ----------
    records : pl.DataFrame
        Clean extract records (at least ``source``, ``period``, ``record_no``).

    Returns
    -------
    pl.DataFrame
        One ``unmatched`` row per record, method ``no_register``, columns of ``LINK_SCHEMA``
        (score, weight, candidates and comparison null), sorted by source, period, record_no.
    """
    keys = _check_columns(records, tuple(_KEY), "records").sort(_KEY)
    return keys.with_columns(
        person_id=None, household_id=None, score=None,
        status=pl.lit("unmatched"), method=pl.lit("no_register"), match_weight=None,
        candidate_person_id=None, candidate_household_id=None,
        reason=pl.lit("the folder has no usable register.csv, so its records cannot be matched"),
        comparison=None,
    ).cast(pl.Schema(LINK_SCHEMA)).select(list(LINK_SCHEMA))


def decision_pairs(decisions: pl.DataFrame | None, recs: pl.DataFrame,
                   reg: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Staff decisions as ``(confirmed, rejected)`` (record, register person) index pairs.

    Matching and the review ranking both read them: a rejected pairing is never linked nor
    offered again.
    """
    empty = pl.DataFrame(schema={RID: pl.Int64, PIDX: pl.Int64})
    if decisions is None or decisions.height == 0:
        return empty, empty
    dec = _check_columns(decisions, DECISION_COLUMNS, "decisions")
    bad = dec.filter(~pl.col("decision").is_in(["confirmed", "rejected"]))
    if bad.height:
        raise ValueError(f"link_folder: decisions hold unknown decision values "
                         f"{sorted(set(bad['decision'].to_list()), key=str)}")
    if "scope" not in dec.columns:
        dec = dec.with_columns(scope=pl.lit("identity"), period=pl.lit(None, pl.String),
                               record_no=pl.lit(None, pl.String))
    # identity decisions follow the same delivered ID and name from the same source; record
    # decisions pin the one record a clerk decided, so re-loading its folder asks nothing again
    by_identity = dec.filter(pl.col("scope") == "identity").join(
        recs.select(RID, "source", "id_norm", "name_norm"),
        on=["source", "id_norm", "name_norm"], nulls_equal=True)
    by_record = dec.filter(pl.col("scope") == "record").join(
        recs.select(RID, "source", "period", "record_no"), on=["source", "period", "record_no"])
    pairs = (pl.concat([by_identity.select(RID, "person_id", "decision"),
                        by_record.select(RID, "person_id", "decision")])
             .join(reg.select(PIDX, "person_id"), on="person_id")
             .select(RID, PIDX, "decision").unique().sort(RID, PIDX))
    # a pair both confirmed and rejected (decisions changed over time) is treated as rejected
    rejected = pairs.filter(pl.col("decision") == "rejected").select(RID, PIDX)
    confirmed = (pairs.filter(pl.col("decision") == "confirmed").select(RID, PIDX)
                 .join(rejected, on=[RID, PIDX], how="anti"))
    return confirmed, rejected


def prepare_folder(records: pl.DataFrame, register: pl.DataFrame, decisions: pl.DataFrame | None
                   ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame] | None:
    """The folder in matching's canonical order: ``(recs, reg, confirmed, rejected)``.

    ``_rid`` / ``_pidx`` are the rows' positions in that order, so a folder linked in partitions
    (``pipelines.match.partition``) keeps the same indices, random sample and tie-breaks. None
    when there are no records. Raises ValueError as :func:`link_folder` documents.
    """
    rec_in = _check_columns(records, RECORD_COLUMNS, "records")
    reg_in = _check_columns(register, REGISTER_COLUMNS, "register")
    if rec_in.height == 0:
        return None
    ordered = _sorted_by_key(rec_in)
    # after sorting, a repeated key sits next to its copy: one linear pass instead of a group-by
    # (which is then run, on the rare failing input only, to name the first repeated key)
    if _repeats_adjacent(ordered):
        raise ValueError(f"link_folder: {_key_problem(rec_in)}")
    recs = prepare_records(ordered)
    # a row without person_id cannot be linked to (the cleaner quarantines such rows anyway)
    reg = prepare_register(reg_in.filter(pl.col("person_id").is_not_null())
                           .sort("person_id", "household_id", "id_norm", nulls_last=True))
    confirmed, rejected = decision_pairs(decisions, recs, reg)
    return recs, reg, confirmed, rejected


def link_folder(records: pl.DataFrame, register: pl.DataFrame, *, params: MatchParams,
                decisions: pl.DataFrame | None = None) -> pl.DataFrame:
    """Link one folder's extract records to its register.

    Parameters
    ----------
    records : pl.DataFrame
        The folder's clean extract records (all sources): ``source, period, record_no, id_norm,
        id18, id_status, id_birth_on, id_sex, name_raw, name_norm, name_pinyin`` at least.
    register : pl.DataFrame
        The same folder's clean register: the identity columns plus ``person_id,
        household_id, birth_on, sex, district_code``.
    params : MatchParams
        From :func:`load_matching_params`.
    decisions : pl.DataFrame, optional
        Staff link decisions: ``source, id_norm, name_norm, person_id, decision``
        (``confirmed`` / ``rejected``). A confirmed identity links to its person when that
        person is on this register; a rejected (identity, person) pair is never matched.

    Returns
    -------
    pl.DataFrame
        One row per record, sorted by source, period, record_no, with the columns of
        ``LINK_SCHEMA``: ``person_id``/``household_id`` only when matched, ``score`` the match
        probability (1.0 for an equal usable ID with an agreeing name or a staff
        confirmation, null without candidate), ``candidate_*`` for matched and review rows,
        ``reason`` for review and unmatched rows, ``comparison`` the best pair's levels (JSON).

    Raises
    ------
    ValueError
        When a required column is missing or two records share (source, period, record_no).
    """
    return link_folder_with_model(records, register, params=params, decisions=decisions)[0]


def link_folder_with_model(records: pl.DataFrame, register: pl.DataFrame, *, params: MatchParams,
                           decisions: pl.DataFrame | None = None
                           ) -> tuple[pl.DataFrame, Estimates | None]:
    """:func:`link_folder`, also returning the folder's fitted model (m, u, prior, EM iterations).

    Parameters
    ----------
    records, register, params, decisions
        As for :func:`link_folder`.

    Returns
    -------
    tuple[pl.DataFrame, Estimates | None]
        The links (exactly those of :func:`link_folder`) and the estimates their scores came
        from; None when the folder has no records (nothing was fitted).
    """
    prepared = prepare_folder(records, register, decisions)
    if prepared is None:
        return pl.DataFrame(schema=LINK_SCHEMA), None
    recs, reg, confirmed, rejected = prepared
    pairs = build_candidate_pairs(recs, reg, max_name_candidates=params.max_name_candidates,
                                  confirmed=confirmed)
    compared = compare_pairs(pairs, recs, reg, params=params)
    estimates = estimate(compared, recs, reg, params=params)
    scored = score_pairs(compared, estimates)
    links = decide(scored, recs, reg, params=params, confirmed=confirmed, rejected=rejected)
    return links, estimates
