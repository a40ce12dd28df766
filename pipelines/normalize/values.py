"""Normalisation layer: amounts, months, dates, decimals and enumerations as polars expressions.

Each parser returns a pair of expressions: the parsed value (null when blank or unparseable)
and a *problem* (null when fine, else a clerk-readable reason naming the column and value).
Whether a problem quarantines the row is the clean stage's decision (inputs.md, Settled details).
"""

from __future__ import annotations

import unicodedata

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


def trimmed(raw: pl.Expr) -> pl.Expr:
    """NFKC-normalised (full-width -> half-width) and trimmed text; null when blank."""
    text = raw.str.normalize("NFKC").str.strip_chars()
    return pl.when(text.str.len_chars() > 0).then(text)


def _quote(raw: pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit("'"), raw.str.strip_chars(), pl.lit("'")])


def amount_fen(raw: pl.Expr, *, column: str) -> tuple[pl.Expr, pl.Expr]:
    """Yuan text -> integer 分, and the problem with it.

    Accepts ``1234.5``, ``1,234.50``, ``1234.50元``, ``￥1234.5``/``¥``, full-width digits, a
    sign (negative amounts are corrections). Blank is 0 with no problem.

    Parameters
    ----------
    raw
        String expression of amounts as delivered.
    column
        The Chinese column name, used in the problem text.

    Returns
    -------
    tuple[pl.Expr, pl.Expr]
        ``(fen Int64, problem String)``; fen is null exactly when problem is not null.
    """
    text = trimmed(raw)
    body = (
        text.str.replace_all(r"[,\s]", "")
        .str.replace(r"元$", "")
        .str.replace(r"^([+-]?)[¥$]", "$1")
    )
    sign = body.str.extract(_AMOUNT, 1)
    whole = body.str.extract(_AMOUNT, 2)
    frac = body.str.extract(_AMOUNT, 3).fill_null("")
    parsed = whole.is_not_null()
    too_precise = parsed & (frac.str.len_chars() > 2)
    # more than 12 integer digits is far beyond the plausibility bound and would overflow
    too_long = parsed & (whole.str.strip_chars_start("0").str.len_chars() > 12)
    magnitude = (
        whole.str.slice(-12).cast(pl.Int64, strict=False) * 100
        + frac.str.pad_end(2, "0").str.slice(0, 2).cast(pl.Int64, strict=False)
    )
    signed = pl.when(sign == "-").then(-magnitude).otherwise(magnitude)
    too_big = parsed & (too_long | (magnitude > MAX_FEN))
    problem = (
        pl.when(text.is_null()).then(None)
        .when(~parsed).then(pl.concat_str([pl.lit(column + " "), _quote(raw), pl.lit(" is not an amount")]))
        .when(too_precise).then(pl.concat_str([pl.lit(column + " "), _quote(raw),
                                                pl.lit(" has more than two decimals")]))
        .when(too_big).then(pl.concat_str([pl.lit(column + " "), _quote(raw),
                                            pl.lit(f" is above {MAX_YUAN:,} yuan")]))
    )
    value = pl.when(text.is_null()).then(pl.lit(0, pl.Int64)).when(problem.is_null()).then(signed)
    return value.cast(pl.Int64), problem


def month_text(raw: pl.Expr, *, column: str, latest: str | None = None,
               required: bool = True) -> tuple[pl.Expr, pl.Expr]:
    """Month text -> ``'YYYY-MM'``, and the problem with it.

    Accepts ``2026-10``, ``2026/10``, ``202610``, ``2026年10月``.

    Parameters
    ----------
    raw
        String expression of months as delivered.
    column
        The Chinese column name, used in the problem text.
    latest
        ``'YYYY-MM'``: a later month is a problem (after the delivery folder's month).
    required
        Whether blank is a problem.

    Returns
    -------
    tuple[pl.Expr, pl.Expr]
        ``(month String, problem String)``.
    """
    text = trimmed(raw)
    year = text.str.extract(_MONTH, 1)
    month = pl.coalesce(text.str.extract(_MONTH, 2), text.str.extract(_MONTH, 3),
                        text.str.extract(_MONTH, 4)).cast(pl.Int32, strict=False)
    ok = year.is_not_null() & month.is_between(1, 12)
    value = pl.when(ok).then(pl.concat_str([year, pl.lit("-"), month.cast(pl.String).str.zfill(2)]))
    problem = (
        pl.when(text.is_null()).then(pl.lit(f"{column} is blank") if required else None)
        .when(~ok).then(pl.concat_str([pl.lit(column + " "), _quote(raw), pl.lit(" is not a month")]))
    )
    if latest is not None:
        problem = problem.when(value > pl.lit(latest)).then(
            pl.concat_str([pl.lit(column + " "), _quote(raw),
                           pl.lit(f" is after the delivery month {latest}")]))
    return value, problem


def date_value(raw: pl.Expr, *, column: str, latest: object | None = None,
               required: bool = True) -> tuple[pl.Expr, pl.Expr]:
    """Date text -> Date, and the problem with it.

    Accepts ``2026-10-03``, ``2026/10/3``, ``20261003``, ``2026年10月3日`` (a trailing time of
    day, as an XLSX date-time cell gives, is ignored).

    Parameters
    ----------
    raw
        String expression of dates as delivered.
    column
        The Chinese column name, used in the problem text.
    latest
        A ``datetime.date``: a later date is a problem (after the folder's month end).
    required
        Whether blank and unparseable values are problems (dates a rule needs). When False
        the problem is always null and unparseable values become null.

    Returns
    -------
    tuple[pl.Expr, pl.Expr]
        ``(Date, problem String)``.
    """
    text = trimmed(raw)
    year = text.str.extract(_DATE, 1)
    month = pl.coalesce(text.str.extract(_DATE, 2), text.str.extract(_DATE, 4), text.str.extract(_DATE, 6))
    day = pl.coalesce(text.str.extract(_DATE, 3), text.str.extract(_DATE, 5), text.str.extract(_DATE, 7))
    iso = pl.concat_str([year, pl.lit("-"), month.str.zfill(2), pl.lit("-"), day.str.zfill(2)])
    value = iso.str.to_date("%Y-%m-%d", strict=False)
    if not required:
        return value, pl.lit(None, pl.String)
    problem = (
        pl.when(text.is_null()).then(pl.lit(f"{column} is blank"))
        .when(value.is_null()).then(pl.concat_str([pl.lit(column + " "), _quote(raw), pl.lit(" is not a date")]))
    )
    if latest is not None:
        problem = problem.when(value > pl.lit(latest)).then(
            pl.concat_str([pl.lit(column + " "), _quote(raw), pl.lit(f" is after the delivery month's end {latest}")]))
    return value, problem


def decimal_value(raw: pl.Expr, *, column: str, units: tuple[str, ...] = ()) -> tuple[pl.Expr, pl.Expr]:
    """Decimal text (a trailing unit accepted) -> Float64, and the problem with it.

    Parameters
    ----------
    raw
        String expression as delivered.
    column
        The Chinese column name, used in the problem text.
    units
        Accepted unit suffixes, e.g. ``('万元', '万')``.

    Returns
    -------
    tuple[pl.Expr, pl.Expr]
        ``(Float64, problem String)``; blank is null without a problem.
    """
    text = trimmed(raw)
    body = text.str.replace_all(r"[,\s]", "")
    forms = {unicodedata.normalize("NFKC", u) for u in units} | set(units)
    for unit in sorted(forms, key=len, reverse=True):
        body = body.str.strip_suffix(unit)
    ok = body.str.contains(_DECIMAL).fill_null(False)
    value = pl.when(ok).then(body.cast(pl.Float64, strict=False))
    problem = pl.when(text.is_not_null() & ~ok).then(
        pl.concat_str([pl.lit(column + " "), _quote(raw), pl.lit(" is not a number")]))
    return value, problem


def enum_text(raw: pl.Expr) -> pl.Expr:
    """An enumerated value as compared: NFKC-normalised and trimmed (null when blank)."""
    return trimmed(raw)


def plain_text(raw: pl.Expr) -> pl.Expr:
    """Free text: trimmed, null when blank (content otherwise kept as delivered)."""
    text = raw.str.strip_chars()
    return pl.when(text.str.len_chars() > 0).then(text)
