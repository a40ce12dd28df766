"""Sample layer: turn a month's true records into delivered text, planting recorded corruptions.

Per (source, month) the true typed records get record numbers, then the planted rows (people not
on the register, negative corrections, re-sent and conflicting duplicates), then per-row kinds
(ID, name, amount and date corruptions, quarantine-worthy values), and finally the text columns
under their Chinese names (:mod:`pipelines.sample.render`). Every planted kind is listed in the
row's ``corruptions``; the typed values the oracle reads stay beside the text. The kinds and
rates are in :mod:`pipelines.sample.defects`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.sample import names as nm
from pipelines.sample.defects import (
    AMOUNT_FORMATS,
    DATE_FORMATS,
    ENUMS,
    ID_KINDS,
    LAYOUT,
    MONTH_FORMATS,
    NAME_KINDS,
    OPTIONAL_DATES,
    CorruptionRates,
)
from pipelines.sample.facts import BANKS
from pipelines.sample.ids import from_text, reseq_valid, to_text
from pipelines.sample.render import _render_ids, render

#: the kinds and rates live in pipelines.sample.defects and the text in pipelines.sample.render;
#: callers (the city generator, the committed sample's tests) keep importing them from here
__all__ = ["AMOUNT_FORMATS", "DATE_FORMATS", "ENUMS", "ID_KINDS", "LAYOUT", "MONTH_FORMATS",
           "NAME_KINDS", "OPTIONAL_DATES", "CorruptionRates", "_render_ids",
           "plant", "render"]


def _take(rng: np.random.Generator, eligible: np.ndarray, rate: float, rates: CorruptionRates,
          n_rows: int) -> np.ndarray:
    """Indices (subset of ``eligible``) drawn at ``rate``, at least ``rates.minimum`` in a big file."""
    k = int(rng.binomial(len(eligible), rate)) if len(eligible) else 0
    if n_rows >= rates.minimum_rows and rate > 0:
        k = max(k, rates.minimum)
    k = min(k, len(eligible))
    return rng.choice(eligible, size=k, replace=False) if k else np.array([], dtype=np.int64)


def _assign(rng: np.random.Generator, kinds: dict[str, np.ndarray], rates: CorruptionRates,
            n: int, taken: np.ndarray | None = None) -> np.ndarray:
    """One kind (or '') per row among ``kinds`` (name -> eligibility mask), mutually exclusive."""
    out = np.full(n, "", dtype=object)
    busy = np.zeros(n, dtype=bool) if taken is None else taken.copy()
    for kind, mask in kinds.items():
        idx = _take(rng, np.flatnonzero(mask & ~busy), getattr(rates, kind), rates, n)
        out[idx] = kind
        busy[idx] = True
    return out


def plant(rng: np.random.Generator, facts: pl.DataFrame, *, source: str, period: str,
          rates: CorruptionRates, known_ids: np.ndarray, first_record: int = 1) -> pl.DataFrame:
    """Plant the month's outsiders, corrections, duplicates and per-row corruption choices.

    Parameters
    ----------
    rng : numpy.random.Generator
        The city's generator.
    facts : DataFrame
        True typed records of one source and month (from ``build_facts``).
    source, period : str
        The source name and the delivery folder's month.
    rates : CorruptionRates
        How often each kind is planted.
    known_ids : numpy.ndarray
        Sorted IDs of every person of the city: planted outsiders never get one of them.
    first_record : int, optional
        Sequence number of the first 记录号 (1): a province written district by district goes on
        numbering where the previous district stopped, so that 记录号 stays unique per source and month.

    Returns
    -------
    DataFrame
        The typed records (true values after planting: a blank amount is 0) with ``record_no``,
        ``outsider``, ``extra_kind``, ``problem``, ``id_kind``, ``name_kind``, the format
        choices and ``dup`` ('', 'resent_copy', 'conflict'); text is made by :func:`render`.
    """
    code, money, req = LAYOUT[source]
    f = facts.with_columns(outsider=pl.lit("", pl.String), extra_kind=pl.lit("", pl.String))
    n0 = f.height
    # people not on the register: namesakes with their own valid ID, near-miss valid IDs
    if n0:
        ns = _take(rng, np.arange(n0), rates.outsider_namesake, rates, n0)
        nr = _take(rng, np.arange(n0), rates.outsider_near_id, rates, n0)
        other = rng.integers(0, n0, len(ns))
        ns_ids = to_text(reseq_valid(from_text(f["id18"].to_numpy()[other]), rng, known_ids))
        nr_ids = to_text(reseq_valid(from_text(f["id18"].to_numpy()[nr]), rng, known_ids))
        parts = [f,
                 f[ns].with_columns(id18=pl.Series(ns_ids, dtype=pl.String), person_id=pl.lit(None, pl.String),
                                    outsider=pl.lit("outsider_namesake")),
                 f[nr].with_columns(id18=pl.Series(nr_ids, dtype=pl.String), person_id=pl.lit(None, pl.String),
                                    outsider=pl.lit("outsider_near_id"))]
        if money and source != "bank":
            neg = _take(rng, np.arange(n0), rates.amount_negative, rates, n0)
            parts.append(f[neg].with_columns(
                [(-(pl.col(c) / 10).round(0).cast(pl.Int64) - 1).alias(c) for c in money]
            ).with_columns(extra_kind=pl.lit("amount_negative")))
        f = pl.concat(parts)
    n = f.height
    f = f.with_columns(record_no=_record_numbers(f, source, code, period, first_record))

    # row problems (exclusive), on records of register people only (planted outsiders stay clean)
    insider = (f["outsider"] == "").to_numpy()
    has_money = bool(money)
    problems: dict[str, np.ndarray] = {}
    if has_money:
        for k in ("bad_amount_text", "bad_amount_exp", "amount_too_large", "amount_three_decimals"):
            problems[k] = insider
    if req:
        problems["period_after_folder"] = insider
        problems["period_blank"] = insider
    problems["record_no_blank"] = insider
    problems["duplicate_resent"] = insider
    problems["duplicate_conflict"] = insider
    if has_money:
        problems["amount_blank"] = insider & (f["extra_kind"] == "").to_numpy()
    problem = _assign(rng, problems, rates, n)

    ids = f["id18"].to_numpy().astype(str)
    born_1900s = (f["id18"].str.slice(6, 2) == "19").to_numpy()
    id_kind = _assign(rng, {
        "id_lower_x": np.char.endswith(ids, "X"),
        "id_legacy15": born_1900s & insider,
        "id_wrong_digit": insider, "id_swap": insider, "id_blank": insider,
        "id_fullwidth": np.ones(n, bool), "id_separators": np.ones(n, bool),
    }, rates, n)
    names = f["name"].to_numpy().astype(str)
    minority = np.char.find(names, "·") >= 0
    trad = nm.traditional()
    homo = nm.homophones()
    last = f["name"].str.slice(-1).to_numpy().astype(str)
    name_kind = _assign(rng, {
        "name_separator": minority,
        "name_traditional": f["name"].str.contains_any(list(trad)).to_numpy(),
        "name_homophone": ~minority & np.isin(last, list(homo)),
        "name_truncation": np.char.str_len(names) >= 3,
        "name_spaces": np.ones(n, bool), "name_fullwidth": np.ones(n, bool),
    }, rates, n)

    fmt_amount = np.where(rng.random(n) < rates.amount_format,
                          np.array(AMOUNT_FORMATS)[rng.integers(0, len(AMOUNT_FORMATS), n)], "")
    date_kinds = MONTH_FORMATS if req == "income_month" else DATE_FORMATS
    fmt_date = np.where(rng.random(n) < rates.date_format,
                        np.array(date_kinds)[rng.integers(0, 3, n)], "")
    fmt_opt = np.where(rng.random(n) < rates.date_format,
                       np.array(DATE_FORMATS)[rng.integers(0, 3, n)], "")
    dec_unit = rng.random(n) < rates.decimal_unit
    enum_sp = rng.random(n) < rates.enum_spaces
    f = f.with_columns(
        problem=pl.Series(problem, dtype=pl.String), id_kind=pl.Series(id_kind, dtype=pl.String),
        name_kind=pl.Series(name_kind, dtype=pl.String), fmt_amount=pl.Series(fmt_amount, dtype=pl.String),
        fmt_date=pl.Series(fmt_date, dtype=pl.String), fmt_opt=pl.Series(fmt_opt, dtype=pl.String),
        dec_unit=pl.Series(dec_unit), enum_spaces=pl.Series(enum_sp), dup=pl.lit("", pl.String),
    )
    if has_money:  # a blank amount loads as 0: that is the truth the oracle must see
        f = f.with_columns([pl.when(pl.col("problem") == "amount_blank").then(0).otherwise(pl.col(c)).alias(c)
                            for c in money])

    # duplicates: a re-sent copy differs only in how the amount (or date) is written
    resent = f.filter(pl.col("problem") == "duplicate_resent").with_columns(
        dup=pl.lit("resent_copy"),
        fmt_amount=pl.when(pl.col("fmt_amount") == "").then(pl.lit("amount_thousands")).otherwise(pl.lit("")),
        fmt_date=pl.when(pl.col("fmt_date") == "").then(pl.lit(date_kinds[0])).otherwise(pl.lit("")),
    )
    conflict = f.filter(pl.col("problem") == "duplicate_conflict").with_columns(
        _conflicting(source), dup=pl.lit("conflict"))
    f = pl.concat([f.with_columns(dup=pl.when(pl.col("problem") == "duplicate_conflict")
                                  .then(pl.lit("conflict")).otherwise("dup")), resent, conflict])
    return f


def _record_numbers(f: pl.DataFrame, source: str, code: str, period: str, first: int = 1) -> pl.Series:
    """``<code><YYYYMM><seq>`` unique per source and month; banks prefix per institution."""
    yyyymm = period.replace("-", "")
    if source == "bank":
        prefix = pl.col("file_stem").replace_strict([b[0] for b in BANKS],
                                                    [f"8{i + 1}{yyyymm}" for i in range(len(BANKS))])
    else:
        prefix = pl.lit(f"{code}{yyyymm}")
    seq = pl.int_range(first, pl.len() + first).cast(pl.String).str.zfill(7)
    return f.select((prefix + seq).alias("record_no")).to_series()


def _conflicting(source: str) -> list[pl.Expr]:
    """A different value in a required column: the same 记录号 then means a data error."""
    return {
        "tax_wages": [pl.col("amount_fen") + 10_000],
        "pension": [pl.col("amount_fen") + 5_000],
        "bank": [pl.col("balance_fen") + 100_000],
        "medical": [pl.col("self_paid_fen") + 2_000],
        "real_estate": [pl.col("area_m2") + 10.0],
        "vehicles": [pl.lit("冀Z99999").alias("plate_no")],
        "business": [pl.col("capital_wan") + 1.0],
        "deaths": [pl.col("died_on") - pl.duration(days=1)],
    }[source]
