"""Match layer, review queue: the evidence that ranks a review record's candidates.

A stable identifier of a review record (不动产单元号, 坐落, 号牌号码, 统一社会信用代码, 待遇类型
and 发放金额, 扣缴义务人 and a close 收入额, the bank and account type and a close 余额) seen on
a record of the same source that *did* link by ID to a register person, in any folder of the run.
Its weight is ``log2(m / u)``: ``m`` fixed per kind (:data:`EVIDENCE_KINDS`), ``u`` the share of
register persons holding the value; a smaller household weight applies when only a member of
the person's household holds it. :mod:`pipelines.match.rank.candidates` adds it to the match
weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from pipelines.match.blocking import (
    PIDX,
    RID,
)
from pipelines.match.score import Estimates

#: link methods that mean "linked by ID" (the evidence a review record is compared with)
ID_METHODS = ("id_exact", "id_converted_15", "id_one_substitution", "id_transposition")


KEY = ["source", "period", "record_no"]


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
    return pl.concat(parts).cast(pl.Schema(schema))


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
        return exact.cast(pl.Schema(schema))
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
    return pl.concat([exact.cast(pl.Schema(schema)), counted.cast(pl.Schema(schema))])


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


#: (record, candidate) pairs whose evidence is weighed at once: a province's folder has millions
#: of pairs, and each joins its record's values and its person's evidence
EVIDENCE_CHUNK_PAIRS = 1_000_000


def _evidence_reasons(pool: pl.DataFrame, values: pl.DataFrame, evidence: pl.DataFrame,
                      weights: pl.DataFrame, reg: pl.DataFrame) -> pl.DataFrame:
    """Per (record, candidate): the evidence weight and its reasons.

    Weighed for whole records at a time, at most about :data:`EVIDENCE_CHUNK_PAIRS` pairs per
    chunk (a record's pairs never split: every value below is per record and candidate).

    Returns ``_rid, _pidx, evidence_weight, evidence_reasons`` (list of Chinese texts).
    """
    if pool.height <= EVIDENCE_CHUNK_PAIRS:
        return _evidence_reasons_of(pool, values, evidence, weights, reg)
    chunk_of = (pool.group_by(RID).len().sort(RID)
                .select(RID, _chunk=(pl.col("len").cum_sum() - pl.col("len")) // EVIDENCE_CHUNK_PAIRS))
    pool = pool.join(chunk_of, on=RID)
    parts = [_evidence_reasons_of(part.drop("_chunk"), values, evidence, weights, reg)
             for part in pool.partition_by("_chunk", maintain_order=True)]
    return pl.concat(parts, how="vertical_relaxed")


def _evidence_reasons_of(pool: pl.DataFrame, values: pl.DataFrame, evidence: pl.DataFrame,
                         weights: pl.DataFrame, reg: pl.DataFrame) -> pl.DataFrame:
    """:func:`_evidence_reasons` of one chunk of pairs."""
    labels = {k.code: k.label for k in EVIDENCE_KINDS}
    order = {k.code: i for i, k in enumerate(EVIDENCE_KINDS)}
    cand = (pool.select(RID, PIDX).join(reg.select(PIDX, "person_id", "household_id"), on=PIDX)
            .join(values, on=RID))
    # only the evidence of the pool's persons (households) can join below: filtered first, so
    # neither join hashes the whole evidence (the same rows join)
    of_persons = evidence.join(cand.select("person_id").unique(), on="person_id", how="semi")
    of_households = evidence.join(cand.select("household_id").unique(), on="household_id",
                                  how="semi")
    months = pl.col("periods").list.head(3).list.join("、")
    tolerance = pl.col("kind").replace_strict(
        {k.code: k.tolerance for k in EVIDENCE_KINDS}, return_dtype=pl.Float64)
    distance = ((pl.col("amount") - pl.col("amount_e")).abs()
                / pl.max_horizontal(pl.col("amount").abs(), pl.col("amount_e").abs(), pl.lit(1.0)))
    person = (cand.join(of_persons.select("kind", "value", "person_id", "period", amount_e="amount"),
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
    household = (cand.join(of_households.select("kind", "value", "household_id", "period",
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
