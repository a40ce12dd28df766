"""Sample layer: a month's records as delivered text, with the planted defects applied.

:func:`render` writes the text columns under their Chinese names (IDs, names, amounts, months and
dates as the row's planted kinds say); the typed values the oracle reads stay beside the text.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.periods import add_months, month_end
from pipelines.sample import names as nm
from pipelines.sample.defects import _AMOUNT_PROBLEMS, ENUMS, LAYOUT, OPTIONAL_DATES
from pipelines.sample.ids import from_text, legacy15, to_text


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
