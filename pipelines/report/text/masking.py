"""Report layer: masking names and ID numbers, and the width a text takes in Excel.

Polars expressions for the per-row work: a clerk's workbook and a household's notice show
``张*`` and ``1201**********1234`` unless a workbook is explicitly made with full identity.
"""

from __future__ import annotations

import polars as pl

#: separators between the parts of a minority name (inputs.md lists these as seen in practice)
_NAME_SEPARATORS = "·.•・．"
#: East Asian wide and full-width ranges: a character from these takes two columns in Excel
_WIDE = (
    r"[\u1100-\u115F\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA000-\uA4CF"
    r"\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6]"
)


def mask_id(expr: pl.Expr) -> pl.Expr:
    """Mask an ID number in the middle: first 4 and last 4 characters stay.

    An 18-character ID becomes ``1201**********1234``; a value of 8 characters or fewer is
    starred whole. Null or blank gives null.

    Parameters
    ----------
    expr : pl.Expr
        String expression holding ID numbers.
    """
    text = expr.str.strip_chars()
    text = pl.when(text != "").then(text)
    n = text.str.len_chars()
    stars = pl.lit("*").repeat_by(n - 8).list.join("")
    return (
        pl.when(n > 8)
        .then(pl.concat_str([text.str.head(4), stars, text.str.tail(4)]))
        .otherwise(pl.lit("*").repeat_by(n).list.join(""))
    )


def mask_name(expr: pl.Expr) -> pl.Expr:
    """Mask a person's name: the first character (or a minority name's first part) stays.

    ``张三丰`` becomes ``张**``; ``买买提·艾力`` becomes ``买买提·**`` (separators kept, the parts after
    the first starred). Whitespace is dropped; null or blank gives null.

    Parameters
    ----------
    expr : pl.Expr
        String expression holding names.
    """
    text = expr.str.replace_all(r"\s+", "")
    text = pl.when(text != "").then(text)
    sep = f"[{_NAME_SEPARATORS}]"
    head = pl.coalesce(
        text.str.extract(f"^([^{_NAME_SEPARATORS}]+{sep})", 1), text.str.slice(0, 1)
    )
    rest = text.str.slice(head.str.len_chars()).str.replace_all(f"[^{_NAME_SEPARATORS}]", "*")
    return pl.concat_str([head, rest])


def display_width(expr: pl.Expr) -> pl.Expr:
    """Columns a text takes in Excel: a CJK or full-width character counts 2, others 1.

    Parameters
    ----------
    expr : pl.Expr
        Any expression; it is cast to text, null counts 0.
    """
    text = expr.cast(pl.String).fill_null("")
    return text.str.len_chars() + text.str.count_matches(_WIDE)
