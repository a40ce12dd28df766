"""Match layer, review queue: ranking the candidates of each review record, with reasons.

The ranking weight of a (review record, register person) pair is the folder's own match weight
of that pair plus the weight of the evidence (:mod:`pipelines.match.rank.evidence`). Only the
candidate columns of ``review`` rows change (:func:`apply_ranking`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import polars as pl

from pipelines.match import decision_pairs
from pipelines.match.blocking import (
    PIDX,
    RID,
    build_candidate_pairs,
    prepare_records,
    prepare_register,
)
from pipelines.match.compare import NAME_AGREES, compare_pairs
from pipelines.match.params import MatchParams
from pipelines.match.rank.evidence import (
    KEY,
    FolderForRanking,
    _evidence_reasons,
    _Index,
    _index,
    _rare_holders,
    _record_values,
    _value_counts,
    _weights,
    evidence_table,
)
from pipelines.match.score import score_pairs

#: how many candidates a review record carries
TOP_N = 3
#: register persons per name key considered for ranking (matching keeps fewer)
RANK_NAME_CANDIDATES = 200


RANKED_SCHEMA = {
    "source": pl.String, "period": pl.String, "record_no": pl.String,
    "candidate_person_id": pl.String, "candidate_household_id": pl.String,
    "candidate_person_id_2": pl.String, "candidate_household_id_2": pl.String,
    "candidate_person_id_3": pl.String, "candidate_household_id_3": pl.String,
    "candidate_reasons": pl.String,
}


_NAME_WORDS = {"exact": "姓名相同", "folded": "姓名相同（繁简或分隔符不同）", "pinyin_same": "姓名同音",
               "truncation": "姓名为截断", "jw_high": "姓名读音相近", "jw_mid": "姓名读音略近",
               "different": "姓名不同"}
_ID_WORDS = {"equal": "身份证号相同", "converted_15": "身份证号（15位转换后）相同",
             "one_substitution": "身份证号差一位数字", "transposition": "身份证号相邻两位颠倒",
             "other": "身份证号不同"}
_THREE_WORDS = {"birth": ("出生日期与证件号一致", "出生日期与证件号不符"),
                "sex": ("性别与证件号一致", "性别与证件号不符"),
                "district": ("证件号区县码与户籍区县一致", "证件号区县码与户籍区县不同")}
_ACCEPTABLE_NAMES = (*NAME_AGREES, "jw_high", "jw_mid")


def _level_reasons() -> pl.Expr:
    parts = [pl.col("name").replace_strict(_NAME_WORDS, default=None, return_dtype=pl.String),
             pl.col("id").replace_strict(_ID_WORDS, default=None, return_dtype=pl.String)]
    for field, (same, differ) in _THREE_WORDS.items():
        parts.append(pl.when(pl.col(field) == "equal").then(pl.lit(same))
                     .when(pl.col(field) == "different").then(pl.lit(differ)))
    return pl.concat_list(parts).list.drop_nulls()


def rank_folder(folder: FolderForRanking, evidence: pl.DataFrame | pl.LazyFrame | _Index, *,
                params: MatchParams,
                decisions: pl.DataFrame | None = None, top_n: int = TOP_N) -> pl.DataFrame:
    """Ranked candidates of one folder's review records.

    Parameters
    ----------
    folder : FolderForRanking
    evidence : pl.DataFrame or pl.LazyFrame
        :func:`evidence_table` of the folders whose evidence ranks this one; as a LazyFrame
        (the evidence files scanned) only its rows carrying a value of a review record are
        ever read into memory.
    params : MatchParams
    decisions : pl.DataFrame, optional
        Staff link decisions (as for ``link_folder``): a rejected (record, person) pair is
        never proposed.
    top_n : int
        Candidates kept per record.

    Returns
    -------
    pl.DataFrame
        One row per review record (``RANKED_SCHEMA``), sorted by source, period, record_no:
        the candidates in rank order (null where fewer exist) and ``candidate_reasons``, a JSON
        list with, per candidate, ``rank``, ``person_id``, ``household_id``, ``weight`` (the
        ranking weight), ``match_weight`` (the folder model's), ``evidence_weight`` and
        ``reasons`` (Chinese; never an ID number or a name).
    """
    review_keys = folder.links.filter(pl.col("status") == "review").select(
        *KEY, "candidate_person_id")
    if review_keys.height == 0 or folder.register is None or folder.estimates is None:
        return pl.DataFrame(schema=RANKED_SCHEMA)
    recs = prepare_records(folder.records.join(review_keys, on=KEY, how="semi").sort(KEY))
    reg = prepare_register(folder.register.filter(pl.col("person_id").is_not_null())
                           .sort("person_id", "household_id", "id_norm", nulls_last=True))
    blocked = build_candidate_pairs(recs, reg, max_name_candidates=RANK_NAME_CANDIDATES)

    values = _record_values(recs)
    carried = values.select("kind", "value").unique()
    # only the rows carrying a value some review record of this folder carries: every count and
    # join below is per (kind, value), so indexing only those gives the same ranking, cheaper
    if isinstance(evidence, _Index):
        index = evidence
        evidence = index.rows.join(carried, on=["kind", "value"], how="semi")
    else:
        index = _index(evidence.lazy().join(carried.lazy(), on=["kind", "value"], how="semi")
                       .collect())
        evidence = index.rows  # already only the carried values
    counts = _value_counts(values, index)
    found = (_rare_holders(values, counts, evidence)
             .join(reg.select(PIDX, "person_id"), on="person_id", how="inner"))
    # matching's own candidate always stays in the pool, whatever the blocks find
    previous = (recs.select(RID, *KEY).join(review_keys, on=KEY)
                .join(reg.select(PIDX, candidate_person_id="person_id"), on="candidate_person_id")
                .select(RID, PIDX, block=pl.lit("matching")))
    pool = (pl.concat([blocked, found.select(RID, PIDX, block=pl.lit("evidence")), previous],
                      how="vertical_relaxed")
            .unique([RID, PIDX], keep="first", maintain_order=True)
            .join(decision_pairs(decisions, recs, reg)[1], on=[RID, PIDX], how="anti")
            .sort(RID, PIDX))
    scored = score_pairs(compare_pairs(pool, recs, reg, params=params), folder.estimates)
    weights = _weights(counts, n_persons=reg.height, n_households=reg["household_id"].n_unique())
    evidence_by_pair = _evidence_reasons(pool, values, evidence, weights, reg)
    ranked = (scored.join(evidence_by_pair, on=[RID, PIDX], how="left")
              .join(reg.select(PIDX, "person_id", "household_id"), on=PIDX)
              .with_columns(evidence_weight=pl.col("evidence_weight").fill_null(0.0),
                            evidence_reasons=pl.col("evidence_reasons")
                            .fill_null(pl.lit([], dtype=pl.List(pl.String))))
              .with_columns(weight=pl.col("match_weight") + pl.col("evidence_weight"))
              # a person found only through evidence must still bear some likeness of name
              .filter((pl.col("block") != "evidence") | pl.col("name").is_in(_ACCEPTABLE_NAMES))
              .sort([RID, "weight", "person_id"], descending=[False, True, False])
              .with_columns(rank=pl.int_range(1, pl.len() + 1).over(RID))
              .filter(pl.col("rank") <= top_n)
              .with_columns(reasons=pl.concat_list("evidence_reasons", _level_reasons())))

    def as_json(rows: list[dict]) -> str:
        return json.dumps([{"rank": r["rank"], "person_id": r["person_id"],
                            "household_id": r["household_id"],
                            "weight": _round(r["weight"]), "match_weight": _round(r["match_weight"]),
                            "evidence_weight": _round(r["evidence_weight"]),
                            "reasons": list(r["reasons"])} for r in rows], ensure_ascii=False)

    per_record: dict[int, list[dict]] = {}
    for row in ranked.select(RID, "rank", "person_id", "household_id", "weight", "match_weight",
                             "evidence_weight", "reasons").iter_rows(named=True):
        per_record.setdefault(row[RID], []).append(row)
    out = []
    for rid, key in zip(recs[RID].to_list(), recs.select(KEY).iter_rows(), strict=True):
        rows = per_record.get(rid, [])
        entry = dict(zip(KEY, key, strict=True))
        for i in range(min(top_n, 3)):
            suffix = "" if i == 0 else f"_{i + 1}"
            entry[f"candidate_person_id{suffix}"] = rows[i]["person_id"] if i < len(rows) else None
            entry[f"candidate_household_id{suffix}"] = rows[i]["household_id"] if i < len(rows) else None
        entry["candidate_reasons"] = as_json(rows) if rows else None
        out.append(entry)
    return pl.DataFrame(out, schema=RANKED_SCHEMA).sort(KEY)


def _round(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 3)


def rank_review_candidates(folders: Sequence[FolderForRanking], *, params: MatchParams,
                           decisions: pl.DataFrame | None = None,
                           evidence: pl.DataFrame | pl.LazyFrame | None = None
                           ) -> dict[str, pl.DataFrame]:
    """Ranked candidates of every review record of the loaded folders.

    Parameters
    ----------
    folders : Sequence[FolderForRanking]
        Every folder the run loaded (the evidence is drawn from all of them).
    params : MatchParams
    decisions : pl.DataFrame, optional
        Staff link decisions.
    evidence : pl.DataFrame or pl.LazyFrame, optional
        :func:`evidence_table` of every folder the run loaded (or scanned from its files), when
        the caller built it folder by folder (then each folder's ``records`` need hold only its review records: ranking
        reads no other); None: built here from ``folders``.

    Returns
    -------
    dict[str, pl.DataFrame]
        Period -> :func:`rank_folder` output.
    """
    table = evidence_table(folders) if evidence is None else evidence
    return {f.period: rank_folder(f, table, params=params, decisions=decisions) for f in folders}


def apply_ranking(links: pl.DataFrame, ranked: pl.DataFrame) -> pl.DataFrame:
    """``links`` with its review rows' candidates replaced by the ranked ones.

    Every other column, and every non-review row, is left as it was; rows gain
    ``candidate_person_id_2/_3``, ``candidate_household_id_2/_3`` and ``candidate_reasons``
    (null outside review).
    """
    extra = [c for c in RANKED_SCHEMA if c not in KEY]
    base = links.drop([c for c in extra if c in links.columns and c not in
                       ("candidate_person_id", "candidate_household_id")])
    joined = base.join(ranked.rename({c: f"_r_{c}" for c in extra}), on=KEY, how="left",
                       maintain_order="left")
    review = pl.col("status") == "review"
    has = pl.col("_r_candidate_reasons").is_not_null()
    return joined.with_columns(
        candidate_person_id=pl.when(review & has).then(pl.col("_r_candidate_person_id"))
        .otherwise(pl.col("candidate_person_id")),
        candidate_household_id=pl.when(review & has).then(pl.col("_r_candidate_household_id"))
        .otherwise(pl.col("candidate_household_id")),
        **{c: pl.when(review).then(pl.col(f"_r_{c}")) for c in extra
           if c not in ("candidate_person_id", "candidate_household_id")},
    ).drop([f"_r_{c}" for c in extra])
