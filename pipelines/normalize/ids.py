"""Normalisation layer: resident ID numbers (居民身份证号) as vectorised polars expressions.

GB 11643: 6-digit area code, 8-digit birth date, 3-digit sequence (odd = male), and an
ISO 7064 MOD 11-2 check character (``X`` for 10). Legacy 15-digit numbers have no century
and no check character; they convert to 18 digits with century 19.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

#: ISO 7064 MOD 11-2 weights of the 17 body digits.
WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
#: Check character by weighted sum mod 11.
CHECK_CHARS = "10X98765432"

_WEIGHTS = np.array(WEIGHTS, dtype=np.int64)
_CHECK_SERIES = pl.Series("check", list(CHECK_CHARS), dtype=pl.String)

ID_STATUSES: tuple[str, ...] = (
    "valid", "converted_15", "bad_checksum", "malformed", "blank", "excel_number",
)
USABLE_STATUSES: tuple[str, ...] = ("valid", "converted_15")

_ID18 = r"^[0-9]{17}[0-9X]$"
_ID15 = r"^[0-9]{15}$"


def check_digit(s17: str) -> str:
    """The MOD 11-2 check character of a 17-digit body.

    Parameters
    ----------
    s17
        The first 17 digits of an 18-digit ID number.

    Returns
    -------
    str
        One of ``0``–``9`` or ``X``.
    """
    if len(s17) != 17 or not s17.isascii() or not s17.isdigit():
        raise ValueError("an ID body is exactly 17 ASCII digits")
    total = sum(int(c) * w for c, w in zip(s17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def check_digits(bodies: pl.Series) -> pl.Series:
    """Vectorised MOD 11-2 check characters of a String series of 17-digit bodies.

    The bodies are weighed as one ``(n, 17)`` byte matrix (numpy), with no per-row Python;
    rows that are not exactly 17 ASCII digits give null.

    Parameters
    ----------
    bodies
        String series.

    Returns
    -------
    pl.Series
        String series of check characters, same length and name.
    """
    ok = bodies.str.contains(r"^[0-9]{17}$").fill_null(False)
    if bodies.len() == 0 or not ok.any():
        return pl.Series(bodies.name, [None] * bodies.len(), dtype=pl.String)
    filled = pl.select(pl.when(ok).then(bodies).otherwise(pl.lit("0" * 17))).to_series()
    arrow = pc.cast(filled.to_arrow(), pa.large_string())
    if isinstance(arrow, pa.ChunkedArray):
        arrow = arrow.combine_chunks()
    offsets = np.frombuffer(arrow.buffers()[1], dtype=np.int64)[arrow.offset: arrow.offset + len(arrow) + 1]
    digits = np.frombuffer(arrow.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]].reshape(-1, 17)
    remainders = ((digits.astype(np.int64) - ord("0")) @ _WEIGHTS) % 11
    chars = _CHECK_SERIES.gather(pl.Series(remainders.astype(np.uint32)))
    return pl.select(pl.when(ok).then(chars)).to_series().alias(bodies.name)


def check_digit_expr(body: pl.Expr) -> pl.Expr:
    """Vectorised MOD 11-2 check character of a String expression of 17 digits.

    Parameters
    ----------
    body
        String expression; rows that are not 17 digits give null.

    Returns
    -------
    pl.Expr
        String expression with the check character.
    """
    digits = body.str.contains(r"^[0-9]{17}$").fill_null(False)
    return pl.when(digits).then(_check_of_digits(body))


def _check_of_digits(body: pl.Expr) -> pl.Expr:
    """Check character of a body known to be 17 ASCII digits (else null), in integer arithmetic.

    17 digits fit an Int64, so the body is parsed once and its digits are taken by division:
    no per-row Python, no detour through numpy, and the expression stays inside one lazy query.
    """
    number = body.cast(pl.Int64, strict=False)
    total = pl.sum_horizontal([(number // 10 ** (16 - i)) % 10 * w for i, w in enumerate(WEIGHTS)])
    return pl.when(number.is_not_null()).then(
        (total % 11).replace_strict(dict(enumerate(CHECK_CHARS)), return_dtype=pl.String))


def is_valid_id18(id_expr: pl.Expr) -> pl.Expr:
    """Boolean expression: an 18-character ID with the right pattern and check character.

    Parameters
    ----------
    id_expr
        String expression of normalised IDs (see :func:`clean_text_expr`).

    Returns
    -------
    pl.Expr
        True for valid IDs, False otherwise (including null input).
    """
    pattern = id_expr.str.contains(_ID18).fill_null(False)
    return pattern & (check_digit_expr(id_expr.str.slice(0, 17)) == id_expr.str.slice(17, 1)).fill_null(False)


def clean_text_expr(raw: pl.Expr) -> pl.Expr:
    """Half-width, separators removed, upper-case ``X``; null when nothing is left.

    Parameters
    ----------
    raw
        String expression of IDs as delivered.

    Returns
    -------
    pl.Expr
        String expression.
    """
    text = raw.str.normalize("NFKC").str.replace_all(r"[^0-9A-Za-z]", "").str.to_uppercase()
    return pl.when(text.str.len_chars() > 0).then(text).otherwise(None)


def add_id_columns(frame: pl.DataFrame, *, raw: str, excel_number: str | None = None) -> pl.DataFrame:
    """Add the clean identity columns computed from the raw ID column ``raw``.

    Computed in stages (each intermediate a column), so no sub-expression is evaluated twice.

    Parameters
    ----------
    frame
        Frame holding the IDs as delivered (String).
    raw
        Name of that column.
    excel_number
        Optional name of a Boolean column, True where an XLSX cell held the ID as a number
        (Excel already rounded it: the ID is unusable, status ``excel_number``).

    Returns
    -------
    pl.DataFrame
        ``frame`` with ``id_norm, id_status, id18, id_birth_on, id_sex`` added.
    """
    text = pl.col("_id_text")
    # most delivered IDs are already clean: fold only the distinct others, then map them back
    standard = pl.col(raw).str.contains(r"^(?:[0-9]{17}[0-9X]|[0-9]{15})$").fill_null(False)
    odd = frame.lazy().filter(~standard).select(pl.col(raw).unique()).collect(engine="in-memory")
    folded = odd.with_columns(clean_text_expr(pl.col(raw)).alias("_id_text")).drop_nulls(raw)
    repaired = pl.col(raw).replace_strict(folded.get_column(raw), folded.get_column("_id_text"),
                                          default=None, return_dtype=pl.String)
    staged = frame.lazy().with_columns(
        pl.when(standard).then(pl.col(raw)).otherwise(repaired).alias("_id_text")
    ).with_columns(
        _id_is15=text.str.contains(_ID15).fill_null(False),
        _id_pattern18=text.str.contains(_ID18).fill_null(False),
    ).with_columns(
        _id_body=pl.when(pl.col("_id_is15"))
        .then(pl.concat_str([text.str.slice(0, 6), pl.lit("19"), text.str.slice(6, 9)]))
        .when(pl.col("_id_pattern18")).then(text.str.slice(0, 17)),
    ).with_columns(_id_check=_check_of_digits(pl.col("_id_body")))
    status = (
        pl.when(text.is_null()).then(pl.lit("blank"))
        .when(pl.col("_id_is15")).then(pl.lit("converted_15"))
        .when(pl.col("_id_pattern18") & (pl.col("_id_check") == text.str.slice(17, 1))).then(pl.lit("valid"))
        .when(pl.col("_id_pattern18")).then(pl.lit("bad_checksum"))
        .otherwise(pl.lit("malformed"))
    )
    if excel_number is not None:
        status = pl.when(pl.col(excel_number).fill_null(False)).then(pl.lit("excel_number")).otherwise(status)
    staged = staged.with_columns(
        id_norm=pl.when(pl.col("_id_is15")).then(pl.concat_str([pl.col("_id_body"), pl.col("_id_check")]))
        .otherwise(text),
        id_status=status,
    ).with_columns(
        id18=pl.when(pl.col("id_status").is_in(list(USABLE_STATUSES))).then(pl.col("id_norm")),
    ).with_columns(
        id_birth_on=birth_on_expr(pl.col("id18")),
        _id_digit17=pl.col("id18").str.slice(16, 1).cast(pl.Int64, strict=False),
    ).with_columns(
        id_sex=pl.when(pl.col("_id_digit17").is_null()).then(None)
        .when(pl.col("_id_digit17") % 2 == 1).then(pl.lit("男")).otherwise(pl.lit("女")),
    )
    return staged.drop("_id_text", "_id_is15", "_id_pattern18", "_id_body", "_id_check",
                       "_id_digit17").collect(engine="in-memory")


def birth_on_expr(id18: pl.Expr) -> pl.Expr:
    """Birth date encoded in an 18-digit ID (digits 7–14); null when not a real date."""
    return id18.str.slice(6, 8).str.to_date("%Y%m%d", strict=False)


def sex_expr(id18: pl.Expr) -> pl.Expr:
    """``'男'`` when the 17th digit is odd, ``'女'`` when even, null without an ID."""
    digit = id18.str.slice(16, 1).cast(pl.Int64, strict=False)
    return pl.when(digit.is_null()).then(None).when(digit % 2 == 1).then(pl.lit("男")).otherwise(pl.lit("女"))
