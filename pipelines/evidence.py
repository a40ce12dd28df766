"""The one encoder (and reader) of ``flags.evidence``, the JSON text each raised flag carries.

Evidence is written by :mod:`pipelines.assess` as polars string expressions, one row per flag,
and read back by :mod:`pipelines.decisions` (is a dismissed flag's evidence materially changed?)
and the reports. Its text is published and stored with staff decisions, so it must stay byte for
byte what earlier runs wrote: a changed spelling would make every dismissed flag look changed.
That is why it is encoded here by hand rather than with ``struct.json_encode``: money is written
as the decimal text of a ``Decimal(18, 2)`` (``1010.00``, never ``1010.0``), and the parameter
list of the 特困 standard threshold is joined with ``", "`` while every other list uses ``","``
— a generic JSON encoder cannot reproduce either (checked on data/sample: the golden test).

The document, in key order::

    {"flag", "period", "rulebook_version",
     "quantities": {name: number | bool | null, ...},          # money in yuan, 2 decimals
     "thresholds": {name: {"value": number | null, "parameters": [parameter names]}, ...},
     "records": [{"source", "period", "record_no", "link_method"}, ...],   # sorted
     "staff_confirmed_links": int,
     ["gradual_exit": {...}]}                                    # only when in force

The units of the quantities and thresholds are those of the parameter files each threshold names
(``rules/parameters/*.yaml``, ``unit``); money is in yuan.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

__all__ = ["document", "extra_member", "json_bool", "json_object", "json_value", "number", "parameter_items",
           "parse", "record_items", "threshold", "threshold_listed"]


# --------------------------------------------------------------------------- writing


def json_value(expr: pl.Expr) -> pl.Expr:
    """A number (or a Decimal money column) as JSON text; null as ``null``."""
    return expr.cast(pl.String).fill_null("null")


def json_bool(expr: pl.Expr) -> pl.Expr:
    """A three-valued boolean as ``true`` / ``false`` / ``null``."""
    return pl.when(expr).then(pl.lit("true")).when(~expr).then(pl.lit("false")).otherwise(pl.lit("null"))


def json_object(pairs: Mapping[str, pl.Expr | str]) -> pl.Expr:
    """A JSON object from already encoded values (an expression, or a literal JSON text)."""
    parts: list[pl.Expr] = []
    for i, (name, value) in enumerate(pairs.items()):
        parts.append(pl.lit(("{" if i == 0 else ",") + f'"{name}":'))
        parts.append(pl.lit(value) if isinstance(value, str) else value)
    parts.append(pl.lit("}" if pairs else "{}"))
    return pl.concat_str(parts)


def parameter_items(names: Iterable[str], separator: str = ",") -> str:
    """Parameter names as the items of a JSON list (without brackets)."""
    return separator.join(f'"{n}"' for n in names)


def threshold(value: pl.Expr | str, *parameters: str) -> pl.Expr:
    """``{"value": v, "parameters": [names]}``: a threshold and the parameter files it comes from.

    Parameters
    ----------
    value : pl.Expr or str
        The threshold as encoded JSON (:func:`json_value`, or a literal number text).
    *parameters : str
        Names of the parameter files (``rules/parameters/<name>.yaml``) whose values make it.
    """
    return json_object({"value": value, "parameters": f"[{parameter_items(parameters)}]"})


def threshold_listed(value: pl.Expr | str, items: pl.Expr) -> pl.Expr:
    """A threshold whose parameter names differ by row (``items``: :func:`parameter_items` text)."""
    return json_object({"value": value, "parameters": pl.concat_str([pl.lit("["), items,
                                                                      pl.lit("]")])})


def record_items(source: str = "source", period: str = "period", record_no: str = "record_no",
                 link_method: str = "link_method") -> pl.Expr:
    """One contributing record as a JSON object (for a list of ``records``)."""
    return pl.struct(source, period, record_no, link_method).struct.json_encode()


def extra_member(key: str, value: pl.Expr) -> pl.Expr:
    """``,"key":value``: a member :func:`document` appends after the fixed ones.

    ``value`` is already JSON text, e.g. the 低保渐退 state of :mod:`pipelines.gradual_exit`.
    """
    return pl.lit(f',"{key}":') + value


def document(*, flag: pl.Expr, period: str, rulebook_version: str, quantities: pl.Expr,
             thresholds: pl.Expr, records: pl.Expr, staff_confirmed: pl.Expr,
             extra: pl.Expr) -> pl.Expr:
    """The whole evidence text of one flag row.

    Parameters
    ----------
    flag : pl.Expr
        The flag's code.
    period, rulebook_version : str
        P and the version of the rules resolved at its end.
    quantities, thresholds : pl.Expr
        JSON objects (:func:`json_object`, :func:`threshold`).
    records : pl.Expr
        The records' JSON objects joined with ``,`` (null: none).
    staff_confirmed : pl.Expr
        How many of those records staff linked (null: none).
    extra : pl.Expr
        ``,"key":{...}`` members appended last (null: none).
    """
    return pl.concat_str([
        pl.lit('{"flag":"'), flag,
        pl.lit(f'","period":"{period}","rulebook_version":"{rulebook_version}","quantities":'),
        quantities, pl.lit(',"thresholds":'), thresholds,
        pl.lit(',"records":['), records.fill_null(""),
        pl.lit('],"staff_confirmed_links":'), staff_confirmed.fill_null(0).cast(pl.String),
        extra.fill_null(""), pl.lit("}"),
    ])


# --------------------------------------------------------------------------- reading


def parse(text: str | None) -> dict[str, Any] | None:
    """An evidence text as a dict; None when absent or not a JSON object."""
    if text is None:
        return None
    try:
        doc = json.loads(text)
    except (TypeError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def number(value: object) -> float | None:
    """A quantity or a threshold (its ``value``) as a finite float; None when unknown."""
    if isinstance(value, Mapping):
        value = value.get("value")
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    try:
        parsed = float(str(value))
    except ValueError:
        return None
    return parsed if math.isfinite(parsed) else None
