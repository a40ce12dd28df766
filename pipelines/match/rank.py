"""Match layer, review queue: up to three ranked candidates per review record, with reasons.

Matching (``link_folder``) never links on name alone, so a record without a usable ID goes to
review with the best-scoring namesake as its candidate; on a big register a common name has many
namesakes and that candidate is a coin flip. This module changes what the clerk *sees*, never what
is matched: ``status``, ``person_id``, ``household_id``, ``score``, ``method`` and ``match_weight``
are left exactly as matching gave them, and only the candidate columns of ``review`` rows are
re-ranked.

The ranking weight of a (review record, register person) pair is the folder's own
Fellegi-Sunter match weight of that pair (name, ID, birth date and sex read from the record's ID
against the register's 出生日期/性别, district; the fitted model of the folder, ``score``) plus
the weight of *evidence*: a stable identifier of the record (不动产单元号, 坐落, 号牌号码,
统一社会信用代码, 待遇类型 and 发放金额, 扣缴义务人 and a close 收入额, the bank and account type
and a close 余额) seen on a record of the same source that *did* link by ID to that person in any
folder of the run. That weight is a log2 likelihood ratio, ``log2(m / u)`` with ``m`` fixed per
kind (``EVIDENCE_KINDS``) and ``u`` the share of register persons holding the value (the fewer
hold it, the stronger), as Splink's term-frequency adjustment does. When no record of the person
shares the value but one of a member of the person's household does (a co-owned unit, the
family car), a smaller household weight applies. Per record, the strongest agreeing kind counts.

Determinism: the evidence is every ID-linked record of the folders the run loaded, so the ranking
(the order of candidates shown) depends on the run's window as well as on the folder; the same
window always gives the same ranking (every sort ends on ``person_id``). The match decision itself
stays a function of the folder alone (outputs.md, "Deterministic links").
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

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
from pipelines.match.score import Estimates, score_pairs

#: link methods that mean "linked by ID" (the evidence a review record is compared with)
ID_METHODS = ("id_exact", "id_converted_15", "id_one_substitution", "id_transposition")
#: how many candidates a review record carries
TOP_N = 3
#: register persons per name key considered for ranking (matching keeps fewer)
RANK_NAME_CANDIDATES = 200
KEY = ["source", "period", "record_no"]

RANKED_SCHEMA = {
    "source": pl.String, "period": pl.String, "record_no": pl.String,
    "candidate_person_id": pl.String, "candidate_household_id": pl.String,
    "candidate_person_id_2": pl.String, "candidate_household_id_2": pl.String,
    "candidate_person_id_3": pl.String, "candidate_household_id_3": pl.String,
    "candidate_reasons": pl.String,
}


@dataclass(frozen=True)
class EvidenceKind:
    """One kind of stable identifier a record may share with ID-linked records of a person.

    Attributes
    ----------
    code : str
        Stable English code.
    label : str
        Chinese wording for the reason.
    source : str
        The extract source holding it.
    keys : tuple[str, ...]
        Clean columns that must be equal.
    close : str, optional
        A numeric clean column that must be within ``tolerance`` (relative) instead of equal.
    tolerance : float
        Relative tolerance of ``close``.
    m : float
        Assumed share of a person's own records agreeing (given the person has ID-linked
        records of that source in the window).
    household_m : float
        The same for a member of the person's household; 0 when a household member sharing the
        value says nothing about the person.
    """

    code: str
    label: str
    source: str
    keys: tuple[str, ...]
    close: str | None = None
    tolerance: float = 0.0
    m: float = 0.9
    household_m: float = 0.0


EVIDENCE_KINDS: tuple[EvidenceKind, ...] = (
    EvidenceKind("unit_no", "不动产单元号", "real_estate", ("unit_no",), household_m=0.5),
    EvidenceKind("location", "坐落", "real_estate", ("location",), household_m=0.5),
    EvidenceKind("plate_no", "号牌号码", "vehicles", ("plate_no",), household_m=0.3),
    EvidenceKind("credit_code", "统一社会信用代码", "business", ("credit_code",), household_m=0.3),
    EvidenceKind("benefit_amount", "待遇类型和发放金额", "pension", ("benefit_type", "amount_fen")),
    EvidenceKind("benefit_type", "待遇类型", "pension", ("benefit_type",), m=0.95),
    EvidenceKind("withholder_amount", "扣缴义务人和相近收入额", "tax_wages", ("withholder",),
                 close="amount_fen", tolerance=0.2, m=0.8),
    EvidenceKind("withholder", "扣缴义务人", "tax_wages", ("withholder",), m=0.9),
    EvidenceKind("account_balance", "开户行、账户类型和相近余额", "bank",
                 ("institution", "account_type"), close="balance_fen", tolerance=0.1, m=0.7),
    EvidenceKind("account", "开户行和账户类型", "bank", ("institution", "account_type"), m=0.9),
)

#: weaker kind -> the kind that implies it (same value plus an amount)
IMPLIED = {"benefit_type": "benefit_amount", "withholder": "withholder_amount",
           "account": "account_balance"}

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


@dataclass(frozen=True)
class FolderForRanking:
    """What ranking needs of one loaded folder.

    Attributes
    ----------
    period : str
    records : pl.DataFrame
        The folder's clean extract records (all sources, all columns).
    register : pl.DataFrame
        The folder's clean register.
    links : pl.DataFrame
        The folder's links as matching gave them.
    estimates : Estimates, optional
        The folder's fitted model (None for a folder without register: nothing to rank).
    """

    period: str
    records: pl.DataFrame
    register: pl.DataFrame | None
    links: pl.DataFrame
    estimates: Estimates | None


def _value_key(kind: EvidenceKind) -> pl.Expr:
    # one text key per kind; numbers as text so pension amounts compare exactly
    return pl.concat_str([pl.col(k).cast(pl.String) for k in kind.keys], separator="\x1f")


def evidence_table(folders: Sequence[FolderForRanking]) -> pl.DataFrame:
    """Every stable identifier seen on an ID-linked record of the loaded folders.

    Returns
    -------
    pl.DataFrame
        ``kind, value, amount, person_id, household_id, period``: one row per ID-linked record
        and kind it carries (``amount`` is the ``close`` column, null for exact kinds), in no
        particular order.
    """
    parts = []
    for f in folders:
        linked = f.links.filter(pl.col("status").eq("matched") & pl.col("method").is_in(ID_METHODS))
        if linked.height == 0 or f.records.height == 0:
            continue
        recs = f.records.join(linked.select(*KEY, "person_id", "household_id"), on=KEY, how="inner")
        for kind in EVIDENCE_KINDS:
            cols = [*kind.keys, *([kind.close] if kind.close else [])]
            if any(c not in recs.columns for c in cols):
                continue
            part = (recs.filter(pl.col("source") == kind.source)
                    .drop_nulls(cols)
                    .select(kind=pl.lit(kind.code), value=_value_key(kind),
                            amount=(pl.col(kind.close).cast(pl.Float64) if kind.close
                                    else pl.lit(None, pl.Float64)),
                            person_id="person_id", household_id="household_id",
                            period=pl.lit(f.period)))
            if part.height:
                parts.append(part)
    schema = {"kind": pl.String, "value": pl.String, "amount": pl.Float64, "person_id": pl.String,
              "household_id": pl.String, "period": pl.String}
    if not parts:
        return pl.DataFrame(schema=schema)
    # neither unique nor sorted: every use counts distinct persons, takes distinct sorted months,
    # or is re-sorted before ranking (a repeated row changes no count and no order)
    return pl.concat(parts).cast(schema)


@dataclass(frozen=True)
class _Index:
    """The evidence table with what every folder's ranking reads of it, computed once."""

    rows: pl.DataFrame
    per_value: pl.DataFrame
    close_sorted: pl.DataFrame


def _index(evidence: pl.DataFrame) -> _Index:
    close_codes = [k.code for k in EVIDENCE_KINDS if k.close]
    per_value = evidence.group_by("kind", "value").agg(
        n_p=pl.col("person_id").n_unique().cast(pl.Float64),
        n_h=pl.col("household_id").n_unique().cast(pl.Float64),
        rows=pl.len().cast(pl.Float64))
    close_sorted = (evidence.filter(pl.col("kind").is_in(close_codes))
                    .select("kind", "value", amount_e=pl.col("amount").abs())
                    .sort("kind", "value", "amount_e")
                    .with_columns(pos=pl.int_range(pl.len()).over("kind", "value")
                                  .cast(pl.Float64)))
    return _Index(evidence, per_value, close_sorted)


def _record_values(records: pl.DataFrame) -> pl.DataFrame:
    """``_rid, kind, value, amount`` of the review records, one row per kind they carry."""
    parts = []
    for kind in EVIDENCE_KINDS:
        cols = [*kind.keys, *([kind.close] if kind.close else [])]
        if any(c not in records.columns for c in cols):
            continue
        part = (records.filter(pl.col("source") == kind.source).drop_nulls(cols)
                .select(RID, kind=pl.lit(kind.code), value=_value_key(kind),
                        amount=(pl.col(kind.close).cast(pl.Float64) if kind.close
                                else pl.lit(None, pl.Float64))))
        if part.height:
            parts.append(part)
    if not parts:
        return pl.DataFrame(schema={RID: pl.Int64, "kind": pl.String, "value": pl.String,
                                    "amount": pl.Float64})
    return pl.concat(parts)


#: an exact value held by at most this many persons also brings its holders into the pool
RARE_VALUE_PERSONS = 20


def _within(amount: str, other: str) -> pl.Expr:
    kinds = {k.code: k.tolerance for k in EVIDENCE_KINDS if k.close}
    tol = pl.col("kind").replace_strict(kinds, default=0.0, return_dtype=pl.Float64)
    a, b = pl.col(amount), pl.col(other)
    return a.is_null() | ((a - b).abs() <= tol * pl.max_horizontal(a.abs(), b.abs()))


def _value_counts(values: pl.DataFrame, index: _Index) -> pl.DataFrame:
    """Per review record and kind, how many persons (households) hold an agreeing value.

    Exact kinds are counted per value; for a close kind (a balance, a wage) the ID-linked rows
    with the same key whose amount lies in the record's tolerance band are counted by binary
    search (``join_asof`` on the sorted amounts) and turned into persons with the key's
    rows-per-person ratio, so no record is joined with every account of its bank.

    Returns ``_rid, kind, n_p, n_h`` (Float64, at least 1 where any holder exists).
    """
    close_codes = [k.code for k in EVIDENCE_KINDS if k.close]
    schema = {RID: pl.Int64, "kind": pl.String, "n_p": pl.Float64, "n_h": pl.Float64}
    per_value = index.per_value
    exact = (values.filter(~pl.col("kind").is_in(close_codes))
             .join(per_value, on=["kind", "value"], how="inner").select(RID, "kind", "n_p", "n_h"))
    close_vals = values.filter(pl.col("kind").is_in(close_codes))
    if close_vals.height == 0:
        return exact.cast(schema)
    band = close_vals.with_columns(
        tol=pl.col("kind").replace_strict({k.code: k.tolerance for k in EVIDENCE_KINDS if k.close},
                                          return_dtype=pl.Float64))
    # |a - b| <= tol * max(|a|, |b|): for a >= 0 that is a(1 - tol) <= b <= a / (1 - tol)
    band = band.with_columns(
        lo=pl.col("amount").abs() * (1 - pl.col("tol")),
        hi=pl.col("amount").abs() / (1 - pl.col("tol")).clip(lower_bound=1e-9))
    ev = index.close_sorted
    lo = band.sort("lo").join_asof(ev, left_on="lo", right_on="amount_e", by=["kind", "value"],
                                   strategy="forward", check_sortedness=False).select(RID, "kind", pos_lo="pos")
    hi = band.sort("hi").join_asof(ev, left_on="hi", right_on="amount_e", by=["kind", "value"],
                                   strategy="backward", check_sortedness=False).select(RID, "kind", pos_hi="pos")
    counted = (band.select(RID, "kind", "value").join(lo, on=[RID, "kind"]).join(hi, on=[RID, "kind"])
               .with_columns(rows_in=(pl.col("pos_hi") - pl.col("pos_lo") + 1))
               .filter(pl.col("rows_in") > 0)
               .join(per_value, on=["kind", "value"])
               .select(RID, "kind",
                       n_p=(pl.col("rows_in") * pl.col("n_p") / pl.col("rows")).clip(lower_bound=1.0),
                       n_h=(pl.col("rows_in") * pl.col("n_h") / pl.col("rows")).clip(lower_bound=1.0)))
    return pl.concat([exact.cast(schema), counted.cast(schema)])


def _rare_holders(values: pl.DataFrame, counts: pl.DataFrame, evidence: pl.DataFrame) -> pl.DataFrame:
    """``_rid, person_id`` of persons holding a rare exact value of the record (pool additions)."""
    close_codes = [k.code for k in EVIDENCE_KINDS if k.close]
    rare = counts.filter(~pl.col("kind").is_in(close_codes)
                         & (pl.col("n_p") <= RARE_VALUE_PERSONS)).select(RID, "kind")
    return (values.join(rare, on=[RID, "kind"], how="semi")
            .join(evidence.select("kind", "value", "person_id"), on=["kind", "value"])
            .select(RID, "person_id").unique())


def _weights(counts: pl.DataFrame, n_persons: int, n_households: int) -> pl.DataFrame:
    """log2(m / u) of each (record, kind) for person- and household-level agreement."""
    kinds = {k.code: k for k in EVIDENCE_KINDS}
    m = pl.col("kind").replace_strict({c: k.m for c, k in kinds.items()}, return_dtype=pl.Float64)
    hm = pl.col("kind").replace_strict({c: k.household_m for c, k in kinds.items()},
                                       return_dtype=pl.Float64)
    # u = share of register persons (households) holding the value; w_scale = log2(m * N), so
    # that a close kind can narrow n_p to the candidate's own distance (``_evidence_reasons``)
    return counts.with_columns(
        w_scale=(m * n_persons).log(2),
        w_person=(m * n_persons / pl.col("n_p")).log(2).clip(lower_bound=0.0),
        w_household=pl.when(hm > 0).then((hm * n_households / pl.col("n_h")).log(2)
                                         .clip(lower_bound=0.0)).otherwise(None))


def _evidence_reasons(pool: pl.DataFrame, values: pl.DataFrame, evidence: pl.DataFrame,
                      weights: pl.DataFrame, reg: pl.DataFrame) -> pl.DataFrame:
    """Per (record, candidate): the evidence weight and its reasons.

    Returns ``_rid, _pidx, evidence_weight, evidence_reasons`` (list of Chinese texts).
    """
    labels = {k.code: k.label for k in EVIDENCE_KINDS}
    order = {k.code: i for i, k in enumerate(EVIDENCE_KINDS)}
    cand = (pool.select(RID, PIDX).join(reg.select(PIDX, "person_id", "household_id"), on=PIDX)
            .join(values, on=RID))
    months = pl.col("periods").list.head(3).list.join("、")
    tolerance = pl.col("kind").replace_strict(
        {k.code: k.tolerance for k in EVIDENCE_KINDS}, return_dtype=pl.Float64)
    distance = ((pl.col("amount") - pl.col("amount_e")).abs()
                / pl.max_horizontal(pl.col("amount").abs(), pl.col("amount_e").abs(), pl.lit(1.0)))
    person = (cand.join(evidence.select("kind", "value", "person_id", "period", amount_e="amount"),
                        on=["kind", "value", "person_id"])
              .filter(_within("amount", "amount_e"))
              .group_by(RID, PIDX, "kind").agg(periods=pl.col("period").unique().sort(),
                                               distance=distance.min())
              .join(weights.select(RID, "kind", "n_p", "w_scale", w_band="w_person"),
                    on=[RID, "kind"])
              # a close kind: the persons holding a value as close as this candidate's are about
              # n_p * distance / tolerance of those in the band (uniform within the band), so a
              # nearer balance or wage weighs more; never more than one holder's weight
              .with_columns(w=pl.when(pl.col("distance").is_not_null() & (tolerance > 0))
                            .then((pl.col("w_scale") - (pl.col("n_p") * pl.col("distance")
                                                        / tolerance).clip(lower_bound=1.0).log(2))
                                  .clip(lower_bound=pl.col("w_band")))
                            .otherwise(pl.col("w_band")))
              .with_columns(level=pl.lit(0),
                            text=pl.format("同一{}：{} 已按身份证号匹配此人",
                                           pl.col("kind").replace_strict(labels), months)))
    household = (cand.join(evidence.select("kind", "value", "household_id", "period",
                                           holder="person_id", amount_e="amount"),
                           on=["kind", "value", "household_id"])
                 .filter((pl.col("holder") != pl.col("person_id")) & _within("amount", "amount_e"))
                 .group_by(RID, PIDX, "kind").agg(periods=pl.col("period").unique().sort())
                 .join(weights.select(RID, "kind", w="w_household"), on=[RID, "kind"])
                 .filter(pl.col("w").is_not_null())
                 .with_columns(level=pl.lit(1),
                               text=pl.format("同一{}：{} 已按身份证号匹配同户成员",
                                              pl.col("kind").replace_strict(labels), months)))
    cols = [RID, PIDX, "kind", "w", "level", "text"]
    both = pl.concat([person.select(cols), household.select(cols)])
    if both.height == 0:
        return pl.DataFrame(schema={RID: pl.Int64, PIDX: pl.Int64, "evidence_weight": pl.Float64,
                                    "evidence_reasons": pl.List(pl.String)})
    # a kind implied by a stronger one of the same pair says nothing more: not repeated
    stronger = both.filter(pl.col("kind").is_in(list(IMPLIED.values()))).select(
        RID, PIDX, "level", _implied=pl.col("kind").replace_strict(
            {v: k for k, v in IMPLIED.items()}, return_dtype=pl.String))
    both = both.join(stronger, left_on=[RID, PIDX, "level", "kind"],
                     right_on=[RID, PIDX, "level", "_implied"], how="anti")
    # a person's own record outweighs a household member's; per record the strongest kind counts
    both = both.with_columns(_order=pl.col("kind").replace_strict(order, return_dtype=pl.Int64))
    return (both.sort([RID, PIDX, "level", "w", "_order"], descending=[False, False, False, True, False])
            .group_by(RID, PIDX, maintain_order=True)
            .agg(evidence_weight=pl.col("w").max(), evidence_reasons=pl.col("text")))


def _level_reasons() -> pl.Expr:
    parts = [pl.col("name").replace_strict(_NAME_WORDS, default=None, return_dtype=pl.String),
             pl.col("id").replace_strict(_ID_WORDS, default=None, return_dtype=pl.String)]
    for field, (same, differ) in _THREE_WORDS.items():
        parts.append(pl.when(pl.col(field) == "equal").then(pl.lit(same))
                     .when(pl.col(field) == "different").then(pl.lit(differ)))
    return pl.concat_list(parts).list.drop_nulls()


def rank_folder(folder: FolderForRanking, evidence: pl.DataFrame | _Index, *, params: MatchParams,
                decisions: pl.DataFrame | None = None, top_n: int = TOP_N) -> pl.DataFrame:
    """Ranked candidates of one folder's review records.

    Parameters
    ----------
    folder : FolderForRanking
    evidence : pl.DataFrame
        :func:`evidence_table` of every folder the run loaded.
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
    index = evidence if isinstance(evidence, _Index) else _index(evidence)
    # only the rows carrying a value some review record of this folder carries
    evidence = index.rows.join(values.select("kind", "value").unique(), on=["kind", "value"],
                               how="semi")
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
    for rid, key in zip(recs[RID].to_list(), recs.select(KEY).iter_rows()):
        rows = per_record.get(rid, [])
        entry = dict(zip(KEY, key))
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
                           decisions: pl.DataFrame | None = None) -> dict[str, pl.DataFrame]:
    """Ranked candidates of every review record of the loaded folders.

    Parameters
    ----------
    folders : Sequence[FolderForRanking]
        Every folder the run loaded (the evidence is drawn from all of them).
    params : MatchParams
    decisions : pl.DataFrame, optional
        Staff link decisions.

    Returns
    -------
    dict[str, pl.DataFrame]
        Period -> :func:`rank_folder` output.
    """
    evidence = _index(evidence_table(folders))
    return {f.period: rank_folder(f, evidence, params=params, decisions=decisions) for f in folders}


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
