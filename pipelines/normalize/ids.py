"""Normalisation layer: resident ID numbers (居民身份证号) as vectorised polars expressions.

GB 11643: 6-digit area code, 8-digit birth date, 3-digit sequence (odd = male), and an
ISO 7064 MOD 11-2 check character (``X`` for 10). Legacy 15-digit numbers have no century
and no check character; they convert to 18 digits with century 19.
"""

from __future__ import annotations

from functools import lru_cache

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
    return body.map_batches(check_digits, return_dtype=pl.String, is_elementwise=True)


#: the 17 body digits in three chunks (digits, weights): the weighted digit sum of every value
#: of a chunk is tabulated once, so a body costs three lookups instead of 17 divisions
_CHUNKS: tuple[tuple[int, tuple[int, ...]], ...] = ((6, WEIGHTS[:6]), (6, WEIGHTS[6:12]), (5, WEIGHTS[12:]))


@lru_cache(maxsize=1)
def _chunk_tables() -> tuple[pl.Series, ...]:
    tables = []
    for digits, weights in _CHUNKS:
        value = np.arange(10 ** digits, dtype=np.int64)
        total = np.zeros_like(value)
        for j, weight in enumerate(weights):
            total += (value // 10 ** (digits - 1 - j)) % 10 * weight
        tables.append(pl.Series(total.astype(np.int32)))
    return tuple(tables)


def _check_of_number(number: pl.Expr) -> pl.Expr:
    """Check character of a 17-digit body already parsed to Int64 (null stays null).

    No per-row Python: the body is cut into three chunks by integer division and each chunk's
    weighted digit sum is looked up (:data:`_CHUNKS`). ``number`` should be a column.
    """
    first, second, third = _chunk_tables()
    total = (pl.lit(first).gather(number // 10 ** 11)
             + pl.lit(second).gather((number // 10 ** 5) % 10 ** 6)
             + pl.lit(third).gather(number % 10 ** 5))
    return (total % 11).replace_strict(dict(enumerate(CHECK_CHARS)), return_dtype=pl.String)


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
    # most delivered IDs are already clean: fold only the others, and put them back in place
    delivered = frame.get_column(raw)
    standard = delivered.str.contains(r"^(?:[0-9]{17}[0-9X]|[0-9]{15})$").fill_null(False)
    folded = delivered.clone()
    if not standard.all():
        odd = delivered.filter(~standard)
        folded = folded.scatter((~standard).arg_true(),
                                pl.select(clean_text_expr(pl.lit(odd))).to_series())
    staged = frame.with_columns(folded.alias("_id_text")).lazy().with_columns(
        _id_is15=text.str.contains(_ID15).fill_null(False),
        _id_pattern18=text.str.contains(_ID18).fill_null(False),
    ).with_columns(
        _id_body=pl.when(pl.col("_id_is15"))
        .then(pl.concat_str([text.str.slice(0, 6), pl.lit("19"), text.str.slice(6, 9)]))
        .when(pl.col("_id_pattern18")).then(text.str.slice(0, 17)),
    ).with_columns(
        # the body is 17 ASCII digits or null, so it parses to Int64 exactly
        _id_number=pl.col("_id_body").cast(pl.Int64, strict=False),
    ).with_columns(_id_check=_check_of_number(pl.col("_id_number")))
    status = (
        pl.when(text.is_null()).then(pl.lit("blank"))
        .when(pl.col("_id_is15")).then(pl.lit("converted_15"))
        .when(pl.col("_id_pattern18") & (pl.col("_id_check") == text.str.slice(17, 1))).then(pl.lit("valid"))
        .when(pl.col("_id_pattern18")).then(pl.lit("bad_checksum"))
        .otherwise(pl.lit("malformed"))
    )
    if excel_number is not None:
        status = pl.when(pl.col(excel_number).fill_null(False)).then(pl.lit("excel_number")).otherwise(status)
    usable = pl.col("id18").is_not_null()
    typed = staged.with_columns(
        id_norm=pl.when(pl.col("_id_is15")).then(pl.concat_str([pl.col("_id_body"), pl.col("_id_check")]))
        .otherwise(text),
        id_status=status,
    ).with_columns(
        id18=pl.when(pl.col("id_status").is_in(list(USABLE_STATUSES))).then(pl.col("id_norm")),
    ).with_columns(
        # an ID's digits 7–14 (birth date) and 17 (sex) are its body's: read from the number
        _id_ymd=pl.when(usable).then((pl.col("_id_number") // 1000) % 10 ** 8),
        id_sex=pl.when(usable).then(
            pl.when(pl.col("_id_number") % 2 == 1).then(pl.lit("男")).otherwise(pl.lit("女"))),
    ).collect(engine="in-memory")
    # birth dates repeat: each distinct one is parsed once (as birth_on_expr does) and mapped back
    days = typed.select(pl.col("_id_ymd").unique().drop_nulls()).with_columns(
        _id_birth=pl.col("_id_ymd").cast(pl.String).str.zfill(8).str.to_date("%Y%m%d", strict=False))
    return typed.with_columns(
        id_birth_on=pl.col("_id_ymd").replace_strict(days.get_column("_id_ymd"), days.get_column("_id_birth"),
                                                     default=None, return_dtype=pl.Date),
    ).select([*frame.columns, "id_norm", "id_status", "id18", "id_birth_on", "id_sex"])


def birth_on_expr(id18: pl.Expr) -> pl.Expr:
    """Birth date encoded in an 18-digit ID (digits 7–14); null when not a real date."""
    return id18.str.slice(6, 8).str.to_date("%Y%m%d", strict=False)


def sex_expr(id18: pl.Expr) -> pl.Expr:
    """``'男'`` when the 17th digit is odd, ``'女'`` when even, null without an ID."""
    digit = id18.str.slice(16, 1).cast(pl.Int64, strict=False)
    return pl.when(digit.is_null()).then(None).when(digit % 2 == 1).then(pl.lit("男")).otherwise(pl.lit("女"))
