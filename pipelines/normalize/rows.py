"""Normalisation layer: the typed columns of one source's landed rows, in one lazy query.

Identity columns keep their delivered text (``id_raw``, ``name_raw``; :mod:`ids` and :mod:`names`
add the clean ones); amounts and decimals are parsed from their NFKC-trimmed text; months, dates
and enumerations, which repeat a few values, are parsed once per distinct value and joined back.
Each problem of a value is collected into ``_value_problems``; ``_key`` (when asked) is the
comparison key of re-sent copies (inputs.md, "Order of the row checks", 3).
"""

from __future__ import annotations

from typing import TypedDict

import polars as pl

from pipelines.land import EXCEL_ID
from pipelines.normalize import ids, names, values
from pipelines.periods import month_end
from pipelines.sources import Column, Source

_KEY_NULL = "\x00"


class _Names(TypedDict):
    """The column names every ``values.parse_*`` call of a column takes."""

    text: str
    out: str
    column: str


def parse_rows(raw: pl.DataFrame, src: Source, *, period: str, need_key: bool) -> pl.DataFrame:
    """Typed columns, ``_value_problems`` and (when ``need_key``) the comparison key ``_key``.

    Parameters
    ----------
    raw
        Landed rows of one source (Chinese column names, ``_id_excel_number``).
    src
        The source.
    period
        The folder's month ``'YYYY-MM'``: the bound of months and rule dates.
    need_key
        Whether to build ``_key`` (only when some 记录号 repeats).

    Returns
    -------
    pl.DataFrame
        ``raw`` with the typed columns (English names) and ``_value_problems`` added.
    """
    lf = raw.lazy()
    texts = [pl.col(c.zh).alias(c.en) for c in src.columns if c.kind in ("id", "name")]
    texts += [values.trimmed(pl.col(c.zh)).alias(f"_t_{c.en}") for c in src.columns
              if c.kind in ("money", "decimal")]
    texts += [values.plain_text(pl.col(c.zh)).alias(c.en) for c in src.columns
              if c.kind == "text" and not c.enum]
    lf = lf.with_columns(texts)
    # months, dates and enumerations repeat a few values: parse each distinct value once
    distinct_kinds = ("month", "date_req", "date_opt")
    for col in src.columns:
        if col.kind in distinct_kinds or col.enum:
            lf = _join_parsed_distinct(lf, raw, col, period=period)
    staged = set(lf.collect_schema().names())
    problems: list[str] = []
    key_parts: list[pl.Expr] = []
    for col in src.columns:
        if col.kind in ("id", "name"):
            continue
        text, problem = f"_t_{col.en}", f"_p_{col.en}"
        options: _Names = {"text": text, "out": col.en, "column": col.zh}
        if col.kind == "money":
            lf = values.parse_amount(lf, problem=problem, **options)
        elif col.kind == "decimal":
            lf = values.parse_decimal(lf, problem=problem, units=col.units, **options)
        elif col.kind in ("month", "date_req"):
            pass  # parsed on distinct values above
        else:
            problem = ""
        parsed = pl.col(col.en).cast(pl.String)
        if problem:
            problems.append(problem)
            parsed = pl.when(pl.col(problem).is_null()).then(parsed)
        # copies are compared on clean values; an unparseable value by its trimmed text
        key_parts.append(pl.coalesce(parsed, pl.col(text)) if text in staged else parsed)
    joined = (pl.concat_str([pl.col(p) for p in problems], separator="; ", ignore_nulls=True)
              if problems else pl.lit(None, pl.String))
    lf = lf.with_columns(pl.when(joined != "").then(joined).alias("_value_problems"))
    if need_key:
        lf = lf.with_columns(
            pl.concat_str([p.fill_null(_KEY_NULL) for p in key_parts], separator="\x1f").alias("_key"))
    lf = lf.drop([c for c in lf.collect_schema().names() if c.startswith(("_t_", "_p_"))])
    typed = lf.collect(engine="in-memory")
    typed = ids.add_id_columns(typed, raw="id_raw", excel_number=EXCEL_ID)
    typed = names.add_name_columns(typed, raw="name_raw")
    if not need_key:
        return typed
    return typed.with_columns(
        pl.concat_str([pl.col("_key"), pl.col("id_norm").fill_null(_KEY_NULL),
                       pl.col("name_norm").fill_null(_KEY_NULL)], separator="\x1f")
    )


def _join_parsed_distinct(lf: pl.LazyFrame, raw: pl.DataFrame, col: Column, *,
                          period: str) -> pl.LazyFrame:
    """Parse a low-cardinality column on its distinct values and join the result back."""
    text, problem = f"_t_{col.en}", f"_p_{col.en}"
    distinct = raw.lazy().select(pl.col(col.zh).unique()).with_columns(
        values.trimmed(pl.col(col.zh)).alias(text))
    options: _Names = {"text": text, "out": col.en, "column": col.zh}
    if col.kind == "month":
        distinct = values.parse_month(distinct, problem=problem, latest=period, **options)
    elif col.kind == "date_req":
        distinct = values.parse_date(distinct, problem=problem, latest=month_end(period), **options)
    elif col.kind == "date_opt":
        distinct = values.parse_date(distinct, problem=None, **options)
    else:  # an enumeration: compared after NFKC and trimming
        distinct = distinct.with_columns(pl.col(text).alias(col.en))
    table = distinct.collect(engine="in-memory")
    return lf.join(table.lazy(), on=col.zh, how="left", nulls_equal=True, maintain_order="left")
