"""Normalisation layer: amounts, months, dates, decimals and enumerations, parsed in polars.

Each parser takes a LazyFrame whose ``text`` column holds the NFKC-normalised, trimmed value
(see :func:`trimmed`; null when blank) and adds two columns: the parsed value ``out`` (null when
blank or unparseable) and ``problem`` (null when fine, else a clerk-readable reason naming the
column and the value). Intermediate results are materialised as columns, stage by stage, so no
sub-expression is evaluated twice. Whether a problem quarantines the row is the clean stage's
decision (inputs.md, Settled details).
"""

from __future__ import annotations

import unicodedata
from datetime import date
from functools import partial

import polars as pl

#: |amount| above this many yuan is not plausible (inputs.md).
MAX_YUAN = 1_000_000_000
MAX_FEN = MAX_YUAN * 100

_AMOUNT = r"^([+-]?)(\d+)(?:\.(\d*))?$"
_MONTH = r"^(\d{4})(?:[-/.](\d{1,2})|(\d{2})|年(\d{1,2})月)$"
_DATE = (
    r"^(\d{4})(?:[-/.](\d{1,2})[-/.](\d{1,2})|(\d{2})(\d{2})|年(\d{1,2})月(\d{1,2})日)"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
)
_DECIMAL = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$"


def nfkc(raw: pl.Expr) -> pl.Expr:
    """NFKC-normalised text (full-width -> half-width), computed for non-ASCII values only.

    An ASCII string is its own NFKC form, and most delivered values (amounts, IDs, record
    numbers) are ASCII: only the others are normalised and put back in place.
    """
    return raw.map_batches(_nfkc_series, return_dtype=pl.String, is_elementwise=True)


def _nfkc_series(values: pl.Series) -> pl.Series:
    other = values.str.contains(r"[^\x00-\x7F]").fill_null(False)
    if not other.any():
        return values
    # scatter writes into its Series: work on a copy, never on the caller's column
    return values.clone().scatter(other.arg_true(), values.filter(other).str.normalize("NFKC"))


def trimmed(raw: pl.Expr) -> pl.Expr:
    """NFKC-normalised (full-width -> half-width) and trimmed text; null when blank."""
    return nfkc(raw).str.strip_chars().replace("", None)


def _says(column: str, text: str, what: str) -> pl.Expr:
    return pl.concat_str([pl.lit(f"{column} '"), pl.col(text), pl.lit(f"' {what}")])


def parse_amount(lf: pl.LazyFrame, *, text: str, out: str, problem: str, column: str) -> pl.LazyFrame:
    """Yuan text -> integer 分 (``Int64``), with its problem.

    Accepts ``1234.5``, ``1,234.50``, ``1234.50元``, ``￥1234.5``/``¥``, full-width digits (already
    folded by NFKC) and a sign (negative amounts are corrections). Blank is 0 with no problem.
    Problems: not an amount (``12a.5``, ``1e15``), more than two decimals, above 10⁹ yuan.

    Parameters
    ----------
    lf
        Frame with the trimmed text column ``text``.
    text, out, problem
        Column names: input text, parsed 分, problem.
    column
        The Chinese column name, used in the problem text.

    Returns
    -------
    pl.LazyFrame
        ``lf`` with ``out`` and ``problem`` added.
    """
    fields = f"_amount_{out}"
    lane = partial(_amount_lanes, column=column)
    lf = lf.with_columns(pl.col(text).map_batches(lane, return_dtype=_AMOUNT_FIELDS, is_elementwise=True)
                         .alias(fields))
    return lf.with_columns(pl.col(fields).struct.field("problem").alias(problem),
                           pl.col(fields).struct.field("out").alias(out)).drop(fields)


#: an amount already in its plain form: no sign but ``-``, at most 9 integer digits (so below
#: the bound), no decimals or one or two. Its value is its decimal reading, with no problem.
_PLAIN_AMOUNT = r"^-?[0-9]{1,9}(?:\.[0-9]{1,2})?$"
_AMOUNT_FIELDS = pl.Struct({"problem": pl.String, "out": pl.Int64})


def _amount_lanes(texts: pl.Series, *, column: str) -> pl.Series:
    """Parse amounts in two lanes: plain ones by one decimal cast, the others by the full rules.

    The lanes give the same result for a plain value (the full rules only strip what a plain
    value does not hold); the split only saves the string rewriting on the common form.
    """
    # ``¥5``, ``5元`` and ``¥5元`` are plain too: the full rules strip one leading ¥ and one
    # trailing 元 from such a value and read the rest, just as this lane does
    bare = texts.str.strip_prefix("¥").str.strip_suffix("元")
    fen = (bare.cast(pl.Decimal(12, 2), strict=False) * 100).cast(pl.Int64)
    # a blank amount (null text) is 0 without a problem, as the full rules say
    blank = texts.is_null()
    out = pl.select(pl.when(blank).then(pl.lit(0, pl.Int64)).otherwise(fen)).to_series().alias("out")
    plain = bare.str.contains(_PLAIN_AMOUNT).fill_null(False) | blank
    out = pl.select(pl.when(plain).then(out)).to_series().alias("out")
    problem = pl.Series("problem", [None] * len(texts), dtype=pl.String)
    if not plain.all():
        where = (~plain).arg_true()
        other = _parse_amount_general(pl.DataFrame({"text": texts.filter(~plain)}).lazy(),
                                      text="text", out="out", problem="problem",
                                      column=column).collect(engine="in-memory")
        out = out.scatter(where, other.get_column("out"))
        problem = problem.scatter(where, other.get_column("problem"))
    return pl.DataFrame([problem, out]).to_struct(texts.name)


def _parse_amount_general(lf: pl.LazyFrame, *, text: str, out: str, problem: str,
                          column: str) -> pl.LazyFrame:
    """The full amount rules of :func:`parse_amount`, on every row of ``lf``."""
    body = (pl.col(text).str.replace_all(r"[,\s]", "").str.replace(r"元$", "")
            .str.replace(r"^([+-]?)[¥$]", "${1}"))
    t = f"_amt_{out}"
    lf = lf.with_columns(body.alias(t))
    # the pattern is only matched (no capture groups, which cost a slower regex engine); a
    # matching body is [sign] digits [. digits], so its parts are a slice and a split
    lf = lf.with_columns(
        pl.col(t).str.contains(_AMOUNT).fill_null(False).alias(t + "_ok"),
        pl.col(t).str.slice(0, 1).is_in(["+", "-"]).fill_null(False).alias(t + "_signed"),
    )
    ok, signed = pl.col(t + "_ok"), pl.col(t + "_signed")
    parts = (pl.when(signed).then(pl.col(t).str.slice(1)).otherwise(pl.col(t))
             .str.split_exact(".", 1))
    lf = lf.with_columns(
        pl.when(ok).then(pl.when(signed).then(pl.col(t).str.slice(0, 1)).otherwise(pl.lit("")))
        .alias(t + "_sign"),
        pl.when(ok).then(parts.struct.field("field_0")).alias(t + "_whole"),
        pl.when(ok).then(parts.struct.field("field_1")).fill_null("").alias(t + "_frac"),
    )
    whole, frac = pl.col(t + "_whole"), pl.col(t + "_frac")
    lf = lf.with_columns(
        # more than 12 integer digits is far beyond the bound and would overflow an Int64
        (whole.str.strip_chars_start("0").str.len_chars() > 12).alias(t + "_long"),
        (whole.str.slice(-12).cast(pl.Int64, strict=False) * 100
         + frac.str.pad_end(2, "0").str.slice(0, 2).cast(pl.Int64, strict=False)).alias(t + "_mag"),
    )
    mag = pl.col(t + "_mag")
    lf = lf.with_columns(
        pl.when(pl.col(text).is_null()).then(None)
        .when(whole.is_null()).then(_says(column, text, "is not an amount"))
        .when(frac.str.len_chars() > 2).then(_says(column, text, "has more than two decimals"))
        .when(pl.col(t + "_long") | (mag > MAX_FEN)).then(_says(column, text, f"is above {MAX_YUAN:,} yuan"))
        .alias(problem)
    )
    lf = lf.with_columns(
        pl.when(pl.col(text).is_null()).then(pl.lit(0, pl.Int64))
        .when(pl.col(problem).is_not_null()).then(None)
        .when(pl.col(t + "_sign") == "-").then(-mag).otherwise(mag).cast(pl.Int64).alias(out)
    )
    return lf.drop(t, t + "_ok", t + "_signed", t + "_sign", t + "_whole", t + "_frac", t + "_long",
                   t + "_mag")


def parse_month(lf: pl.LazyFrame, *, text: str, out: str, problem: str, column: str,
                latest: str | None = None) -> pl.LazyFrame:
    """Month text -> ``'YYYY-MM'``, with its problem.

    Accepts ``2026-10``, ``2026/10``, ``202610``, ``2026年10月``. Problems: blank, not a month,
    later than ``latest`` (the delivery folder's month).

    Parameters
    ----------
    lf
        Frame with the trimmed text column ``text``.
    text, out, problem
        Column names: input text, parsed month, problem.
    column
        The Chinese column name, used in the problem text.
    latest
        ``'YYYY-MM'``: a later month is a problem.

    Returns
    -------
    pl.LazyFrame
        ``lf`` with ``out`` and ``problem`` added.
    """
    t = f"_mon_{out}"
    lf = lf.with_columns(pl.col(text).str.extract_groups(_MONTH).alias(t))
    lf = lf.with_columns(
        pl.col(t).struct.field("1").alias(t + "_y"),
        pl.coalesce(pl.col(t).struct.field("2"), pl.col(t).struct.field("3"),
                    pl.col(t).struct.field("4")).cast(pl.Int32, strict=False).alias(t + "_m"),
    )
    ok = pl.col(t + "_y").is_not_null() & pl.col(t + "_m").is_between(1, 12)
    lf = lf.with_columns(
        pl.when(ok).then(pl.concat_str([pl.col(t + "_y"), pl.lit("-"),
                                        pl.col(t + "_m").cast(pl.String).str.zfill(2)])).alias(out)
    )
    verdict = (pl.when(pl.col(text).is_null()).then(pl.lit(f"{column} is blank"))
               .when(pl.col(out).is_null()).then(_says(column, text, "is not a month")))
    if latest is not None:
        verdict = verdict.when(pl.col(out) > pl.lit(latest)).then(
            _says(column, text, f"is after the delivery month {latest}"))
    return lf.with_columns(verdict.alias(problem)).drop(t, t + "_y", t + "_m")


def parse_date(lf: pl.LazyFrame, *, text: str, out: str, problem: str | None, column: str,
               latest: date | None = None) -> pl.LazyFrame:
    """Date text -> ``Date``, with its problem.

    Accepts ``2026-10-03``, ``2026/10/3``, ``20261003``, ``2026年10月3日`` (a trailing time of
    day, as an XLSX date-time cell gives, is ignored).

    Parameters
    ----------
    lf
        Frame with the trimmed text column ``text``.
    text, out
        Column names: input text, parsed date.
    problem
        Column name for the problem (blank, not a date, after ``latest``), or None for a date
        no rule uses: then blank and unparseable values are simply null.
    column
        The Chinese column name, used in the problem text.
    latest
        A later date is a problem (the end of the delivery folder's month).

    Returns
    -------
    pl.LazyFrame
        ``lf`` with ``out`` (and ``problem``) added.
    """
    t = f"_day_{out}"
    lf = lf.with_columns(pl.col(text).str.extract_groups(_DATE).alias(t))
    field = pl.col(t).struct.field
    lf = lf.with_columns(
        pl.concat_str([field("1"), pl.lit("-"),
                       pl.coalesce(field("2"), field("4"), field("6")).str.zfill(2), pl.lit("-"),
                       pl.coalesce(field("3"), field("5"), field("7")).str.zfill(2)])
        .str.to_date("%Y-%m-%d", strict=False).alias(out)
    ).drop(t)
    if problem is None:
        return lf
    verdict = (pl.when(pl.col(text).is_null()).then(pl.lit(f"{column} is blank"))
               .when(pl.col(out).is_null()).then(_says(column, text, "is not a date")))
    if latest is not None:
        verdict = verdict.when(pl.col(out) > pl.lit(latest)).then(
            _says(column, text, f"is after the end of the delivery month ({latest})"))
    return lf.with_columns(verdict.alias(problem))


def parse_decimal(lf: pl.LazyFrame, *, text: str, out: str, problem: str, column: str,
                  units: tuple[str, ...] = ()) -> pl.LazyFrame:
    """Decimal text (a trailing unit accepted) -> ``Float64``, with its problem.

    Parameters
    ----------
    lf
        Frame with the trimmed text column ``text``.
    text, out, problem
        Column names: input text, parsed number, problem.
    column
        The Chinese column name, used in the problem text.
    units
        Accepted unit suffixes, e.g. ``('万元', '万')`` (their NFKC forms are accepted too).

    Returns
    -------
    pl.LazyFrame
        ``lf`` with ``out`` and ``problem`` added; blank is null without a problem.
    """
    body = pl.col(text).str.replace_all(r"[,\s]", "")
    forms = {unicodedata.normalize("NFKC", u) for u in units} | set(units)
    for unit in sorted(forms, key=len, reverse=True):
        body = body.str.strip_suffix(unit)
    t = f"_dec_{out}"
    lf = lf.with_columns(body.alias(t))
    ok = pl.col(t).str.contains(_DECIMAL).fill_null(False)
    return lf.with_columns(
        pl.when(ok).then(pl.col(t).cast(pl.Float64, strict=False)).alias(out),
        pl.when(pl.col(text).is_not_null() & ~ok).then(_says(column, text, "is not a number")).alias(problem),
    ).drop(t)


def plain_text(raw: pl.Expr) -> pl.Expr:
    """Free text: trimmed, null when blank (content otherwise kept as delivered)."""
    text = raw.str.strip_chars()
    return pl.when(text.str.len_chars() > 0).then(text)
