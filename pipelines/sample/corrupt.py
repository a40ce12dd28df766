"""Sample layer: turn a month's true records into delivered text, planting recorded corruptions.

Per (source, month) the true typed records get record numbers, then the planted rows (people not
on the register, negative corrections, re-sent and conflicting duplicates), then per-row kinds
(ID, name, amount and date corruptions, quarantine-worthy values), and finally the text columns
under their Chinese names. Every planted kind is listed in the row's ``corruptions``; the typed
values the oracle reads stay beside the text.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import polars as pl

from pipelines.periods import add_months, month_end
from pipelines.sample import names as nm
from pipelines.sample.facts import BANKS
from pipelines.sample.ids import from_text, legacy15, reseq_valid, to_text


@dataclass(frozen=True)
class CorruptionRates:
    """Share of a file's rows that get each planted kind (see data/sample/README.md).

    Rows of one (source, month) get at most one ID kind, one name kind and one row problem.
    ``minimum`` plants each applicable kind at least that many times in every (source, month)
    with at least ``minimum_rows`` rows, so that a small city still shows every kind.
    """

    id_fullwidth: float = 0.01
    id_separators: float = 0.01
    id_lower_x: float = 0.3  # of the IDs that end in X
    id_legacy15: float = 0.006
    id_wrong_digit: float = 0.008
    id_swap: float = 0.008
    id_blank: float = 0.004
    name_spaces: float = 0.01
    name_fullwidth: float = 0.006
    name_traditional: float = 0.01
    name_homophone: float = 0.008
    name_separator: float = 0.5  # of the minority names
    name_truncation: float = 0.004
    amount_format: float = 0.25  # spread over the non-default amount formats
    amount_blank: float = 0.004
    amount_negative: float = 0.004
    date_format: float = 0.25  # spread over the non-ISO month/date formats
    decimal_unit: float = 0.2
    enum_spaces: float = 0.01
    bad_amount_text: float = 0.001
    bad_amount_exp: float = 0.001
    amount_too_large: float = 0.001
    amount_three_decimals: float = 0.001
    period_after_folder: float = 0.001
    period_blank: float = 0.001
    record_no_blank: float = 0.0005
    duplicate_resent: float = 0.004
    duplicate_conflict: float = 0.002
    outsider_namesake: float = 0.01
    outsider_near_id: float = 0.005
    minimum: int = 1
    minimum_rows: int = 40

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("minimum", "minimum_rows"):
                if not isinstance(v, int) or v < 0:
                    raise ValueError(f"CorruptionRates.{f.name} must be a non-negative integer, got {v!r}")
            elif not (0.0 <= float(v) <= 1.0):
                raise ValueError(f"CorruptionRates.{f.name} must be a share between 0 and 1, got {v!r}")


#: source -> (digit code of its record numbers, money columns, the month/date column a rule needs)
LAYOUT: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "tax_wages": ("1", ("amount_fen",), "income_month"),
    "pension": ("2", ("amount_fen",), "income_month"),
    "real_estate": ("3", (), None),
    "vehicles": ("4", (), None),
    "business": ("5", (), None),
    "bank": ("8", ("balance_fen",), None),
    "medical": ("6", ("total_fen", "self_paid_fen"), "settled_on"),
    "deaths": ("7", (), "died_on"),
}
OPTIONAL_DATES = {"real_estate": "registered_on", "vehicles": "first_registered_on", "bank": "queried_on"}
ENUMS = {"pension": "benefit_type", "real_estate": "usage", "vehicles": "vehicle_status",
         "business": "role", "bank": "account_type"}
AMOUNT_FORMATS = ("amount_short", "amount_thousands", "amount_yuan_suffix", "amount_currency", "amount_fullwidth")
MONTH_FORMATS = ("month_slash", "month_compact", "month_chinese")
DATE_FORMATS = ("date_slash", "date_compact", "date_chinese")
ID_KINDS = ("id_fullwidth", "id_separators", "id_lower_x", "id_legacy15", "id_wrong_digit", "id_swap", "id_blank")
NAME_KINDS = ("name_spaces", "name_fullwidth", "name_traditional", "name_homophone", "name_separator",
              "name_truncation")
_AMOUNT_PROBLEMS = ["bad_amount_text", "bad_amount_exp", "amount_too_large", "amount_three_decimals", "amount_blank"]


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
          rates: CorruptionRates, known_ids: np.ndarray) -> pl.DataFrame:
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
    f = f.with_columns(record_no=_record_numbers(f, source, code, period))

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


def _record_numbers(f: pl.DataFrame, source: str, code: str, period: str) -> pl.Series:
    """``<code><YYYYMM><seq>`` unique per source and month; banks prefix per institution."""
    yyyymm = period.replace("-", "")
    if source == "bank":
        prefix = pl.col("file_stem").replace_strict([b[0] for b in BANKS],
                                                    [f"8{i + 1}{yyyymm}" for i in range(len(BANKS))])
    else:
        prefix = pl.lit(f"{code}{yyyymm}")
    seq = pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(7)
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


def render(rng: np.random.Generator, f: pl.DataFrame, *, source: str, period: str) -> pl.DataFrame:
    """Write the planted records as delivered text.

    Parameters
    ----------
    rng : numpy.random.Generator
        The city's generator (positions of wrong digits, separators, …).
    f : DataFrame
        Output of :func:`plant`.
    source, period : str
        The source name and the delivery folder's month.

    Returns
    -------
    DataFrame
        ``f`` plus ``id_raw``, ``name_raw``, ``<column>_text`` for every parsed column,
        ``record_no_text``, ``kinds`` (';'-joined planted kinds) and ``expected``
        ('link' | 'quarantine' | 'duplicate'; re-sent copies are settled after shuffling).
    """
    code, money, req = LAYOUT[source]
    n = f.height
    out = f
    # identity
    id_raw = _render_ids(rng, f["id18"].to_numpy().astype(str), f["id_kind"].to_numpy().astype(str))
    name_raw = _render_names(rng, f["name"].to_numpy().astype(str), f["name_kind"].to_numpy().astype(str))
    out = out.with_columns(id_raw=pl.Series(id_raw, dtype=pl.String), name_raw=pl.Series(name_raw, dtype=pl.String))
    # a re-sent copy repeats the original's ID and name exactly as first written
    first = out.filter((pl.col("problem") == "duplicate_resent") & (pl.col("dup") != "resent_copy")).select(
        "record_no", pl.col("id_raw").alias("_id_first"), pl.col("name_raw").alias("_name_first"))
    copy = pl.col("dup") == "resent_copy"
    out = out.join(first, on="record_no", how="left", maintain_order="left").with_columns(
        id_raw=pl.when(copy).then("_id_first").otherwise("id_raw"),
        name_raw=pl.when(copy).then("_name_first").otherwise("name_raw"),
    ).drop("_id_first", "_name_first")
    # money
    cols: list[pl.Expr] = []
    for c in money:
        cols.append(_amount_text(pl.col(c), pl.col("fmt_amount"), pl.col("problem")).alias(c + "_text"))
    if req == "income_month":
        cols.append(_month_text(pl.col(req), pl.col("fmt_date"), pl.col("problem"), period).alias(req + "_text"))
    elif req:
        cols.append(_date_text(pl.col(req), pl.col("fmt_date"), pl.col("problem"), period).alias(req + "_text"))
    if source in OPTIONAL_DATES:
        c = OPTIONAL_DATES[source]
        cols.append(_date_text(pl.col(c), pl.col("fmt_opt"), pl.lit(""), period).alias(c + "_text"))
    if source == "real_estate":
        cols.append(pl.when("dec_unit").then(pl.format("{}平方米", pl.col("area_m2").round(2)))
                    .otherwise(pl.col("area_m2").round(2).cast(pl.String)).alias("area_m2_text"))
    if source == "business":
        cols.append(pl.when("dec_unit").then(pl.format("{}万元", pl.col("capital_wan")))
                    .otherwise(pl.col("capital_wan").cast(pl.String)).alias("capital_wan_text"))
    if source in ENUMS:
        c = ENUMS[source]
        cols.append(pl.when("enum_spaces").then(pl.format(" {} ", pl.col(c))).otherwise(pl.col(c)).alias(c + "_text"))
    out = out.with_columns(cols)
    out = out.with_columns(
        record_no_text=pl.when(pl.col("problem") == "record_no_blank").then(pl.lit("")).otherwise("record_no"),
        kinds=pl.concat_list(
            pl.col("outsider"), pl.col("extra_kind"), pl.col("problem"), pl.col("id_kind"), pl.col("name_kind"),
            # a format is only recorded where it was written (a planted bad value replaces it)
            pl.when(pl.lit(bool(money)) & ~pl.col("problem").is_in(_AMOUNT_PROBLEMS)).then("fmt_amount")
            .otherwise(pl.lit("")),
            pl.when(pl.lit(bool(req)) & (pl.col("problem") != "period_blank"))
            .then("fmt_date").otherwise(pl.lit("")),
            pl.when(pl.col("dec_unit") & pl.lit(source in ("real_estate", "business"))).then(pl.lit("decimal_unit"))
            .otherwise(pl.lit("")),
            pl.when(pl.col("enum_spaces") & pl.lit(source in ENUMS)).then(pl.lit("enum_spaces")).otherwise(pl.lit("")),
        ).list.eval(pl.element().filter(pl.element() != "")).list.join(";"),
    )
    quarantine = pl.col("problem").is_in(["bad_amount_text", "bad_amount_exp", "amount_too_large",
                                          "amount_three_decimals", "period_after_folder", "period_blank",
                                          "record_no_blank"]) | (pl.col("dup") == "conflict")
    return out.with_columns(
        expected=pl.when(quarantine).then(pl.lit("quarantine"))
        .when(pl.col("dup") == "resent_copy").then(pl.lit("duplicate")).otherwise(pl.lit("link")),
    )


def _render_ids(rng: np.random.Generator, ids: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """Delivered ID text per row: the true ID with its planted ID kind applied (vectorised)."""
    n = len(ids)
    out = ids.astype("U18").astype(object)
    digit_kinds = ("id_legacy15", "id_wrong_digit", "id_swap")  # a tuple: the draw order is fixed
    for k in digit_kinds:
        pick = np.flatnonzero(kind == k)
        if not len(pick):
            continue
        d = from_text(ids[pick])
        r = np.arange(len(pick))
        if k == "id_legacy15":
            out[pick] = legacy15(d)
            continue
        if k == "id_wrong_digit":
            pos = rng.integers(0, 17, len(pick))
            d[r, pos] = (d[r, pos] + rng.integers(1, 10, len(pick))) % 10
        else:
            pos = rng.integers(0, 16, len(pick))
            for _ in range(16):  # move on to the next position whose neighbours differ
                pos = np.where(d[r, pos] == d[r, pos + 1], (pos + 1) % 16, pos)
            a, b = d[r, pos].copy(), d[r, pos + 1].copy()
            d[r, pos], d[r, pos + 1] = b, a
        out[pick] = to_text(d)
    sep = np.array([" ", "-", "  "])[rng.integers(0, 3, n)]
    frame = pl.DataFrame({"id": out.astype(str), "kind": kind.astype(str), "sep": sep})
    i = pl.col("id")
    return frame.select(
        pl.when(pl.col("kind") == "id_fullwidth").then(i.str.replace_many(list("0123456789X"), list("０１２３４５６７８９Ｘ")))
        .when(pl.col("kind") == "id_separators").then(
            pl.concat_str(i.str.slice(0, 6), "sep", i.str.slice(6, 8), "sep", i.str.slice(14)))
        .when(pl.col("kind") == "id_lower_x").then(i.str.to_lowercase())
        .when(pl.col("kind") == "id_blank").then(pl.lit(""))
        .otherwise(i)
    ).to_series().to_numpy().astype(str)


def _render_names(rng: np.random.Generator, names: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """Delivered name text per row: the true name with its planted name kind applied (vectorised)."""
    n = len(names)
    trad = nm.traditional()
    homo = nm.homophones()
    frame = pl.DataFrame({
        "name": names.astype(str), "kind": kind.astype(str),
        "where": rng.integers(0, 3, n),
        "sep": np.array(nm.SEPARATORS)[rng.integers(0, len(nm.SEPARATORS), n)],
    })
    s, k = pl.col("name"), pl.col("kind")
    last = s.str.slice(-1)
    return frame.select(
        pl.when(k == "name_spaces").then(
            pl.when(pl.col("where") == 0).then(pl.concat_str(pl.lit(" "), s))
            .when(pl.col("where") == 1).then(pl.concat_str(s.str.slice(0, 1), pl.lit(" "), s.str.slice(1)))
            .otherwise(pl.concat_str(s, pl.lit("  "))))
        .when(k == "name_fullwidth").then(pl.concat_str(s.str.slice(0, 1), pl.lit("\u3000"), s.str.slice(1)))
        .when(k == "name_traditional").then(s.str.replace_many(list(trad), list(trad.values())))
        .when(k == "name_homophone").then(pl.concat_str(
            s.str.head(-1), last.replace_strict(list(homo), list(homo.values()), default=last)))
        .when((k == "name_separator") & s.str.contains("·", literal=True)).then(pl.concat_str(
            s.str.split_exact("·", 1).struct.field("field_0"), "sep",
            s.str.split_exact("·", 1).struct.field("field_1")))
        .when(k == "name_truncation").then(s.str.head(-1))
        .otherwise(s)
    ).to_series().to_numpy().astype(str)


def _plain(fen: pl.Expr) -> pl.Expr:
    a = fen.abs()
    return pl.format("{}{}.{}", pl.when(fen < 0).then(pl.lit("-")).otherwise(pl.lit("")),
                     a // 100, (a % 100).cast(pl.String).str.zfill(2))


def _thousands(fen: pl.Expr) -> pl.Expr:
    a = fen.abs()
    y = a // 100
    sign = pl.when(fen < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    g = lambda e: e.cast(pl.String).str.zfill(3)  # noqa: E731
    body = (pl.when(y >= 1_000_000).then(pl.format("{},{},{}", y // 1_000_000, g((y // 1000) % 1000), g(y % 1000)))
            .when(y >= 1000).then(pl.format("{},{}", y // 1000, g(y % 1000)))
            .otherwise(y.cast(pl.String)))
    return pl.format("{}{}.{}", sign, body, (a % 100).cast(pl.String).str.zfill(2))


def _short(fen: pl.Expr) -> pl.Expr:
    return _plain(fen).str.strip_chars_end("0").str.strip_chars_end(".")


def _amount_text(fen: pl.Expr, fmt: pl.Expr, problem: pl.Expr) -> pl.Expr:
    plain = _plain(fen)
    fw = plain.str.replace_many(list("0123456789"), list("０１２３４５６７８９"))
    return (
        pl.when(problem == "amount_blank").then(pl.lit(""))
        .when(problem == "bad_amount_text").then(plain.str.replace(".", "a.", literal=True))
        .when(problem == "bad_amount_exp").then(pl.format("{}e{}", fen.abs() // 100 % 9 + 1, fen.abs() % 7 + 9))
        .when(problem == "amount_too_large").then(_plain(fen.abs() + 123_456_789_000))
        .when(problem == "amount_three_decimals").then(pl.format("{}5", plain))
        .when(fmt == "amount_short").then(_short(fen))
        .when(fmt == "amount_thousands").then(_thousands(fen))
        .when(fmt == "amount_yuan_suffix").then(pl.format("{}元", plain))
        .when(fmt == "amount_currency").then(pl.format("￥{}", _short(fen)))
        .when(fmt == "amount_fullwidth").then(fw)
        .otherwise(plain)
    )


def _month_text(month: pl.Expr, fmt: pl.Expr, problem: pl.Expr, period: str) -> pl.Expr:
    m = pl.when(problem == "period_after_folder").then(pl.lit(add_months(period, 1))).otherwise(month)
    y, mm = m.str.slice(0, 4), m.str.slice(5, 2)
    return (
        pl.when(problem == "period_blank").then(pl.lit(""))
        .when(fmt == "month_slash").then(pl.format("{}/{}", y, mm))
        .when(fmt == "month_compact").then(pl.format("{}{}", y, mm))
        .when(fmt == "month_chinese").then(pl.format("{}年{}月", y, mm.cast(pl.Int32)))
        .otherwise(m)
    )


def _date_text(day: pl.Expr, fmt: pl.Expr, problem: pl.Expr, period: str) -> pl.Expr:
    d = pl.when(problem == "period_after_folder").then(
        pl.lit(month_end(period)) + pl.duration(days=3)).otherwise(day)
    return (
        pl.when(problem == "period_blank").then(pl.lit(""))
        .when(d.is_null()).then(pl.lit(""))
        .when(fmt == "date_slash").then(pl.format("{}/{}/{}", d.dt.year(), d.dt.month(), d.dt.day()))
        .when(fmt == "date_compact").then(d.dt.strftime("%Y%m%d"))
        .when(fmt == "date_chinese").then(pl.format("{}年{}月{}日", d.dt.year(), d.dt.month(), d.dt.day()))
        .otherwise(d.dt.strftime("%Y-%m-%d"))
    )
