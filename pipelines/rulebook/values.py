"""Rules layer: reading the dated values of a parameter file (dates ascending, numbers or words)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from pipelines.rulebook.parameter import Parameter, RulebookError, Value


def parse_dated(parameter: Parameter, dated: Any, where: str) -> tuple[tuple[date, Value], ...]:
    """Dated values for ``parameter`` (its kind's values), validated as a parameter file's are.

    Parameters
    ----------
    parameter : Parameter
        The parameter the values are for (its ``kind`` decides how they are read).
    dated : Any
        A mapping of effective dates to values, ascending.
    where : str
        How an error message names the values.

    Raises
    ------
    RulebookError
        Naming ``where`` and the date when a date or value is not one.
    """
    return _dated(dated, where, _as_words if parameter.kind == "words" else _as_number)


def _dated(dated: Any, where: str, parse: Any = None) -> tuple[tuple[date, Value], ...]:
    parse = parse or _as_number
    if not isinstance(dated, dict) or not dated:
        raise RulebookError(f"{where} must map effective dates to values")
    out: list[tuple[date, Value]] = []
    for raw_day, raw_value in dated.items():
        day = _as_date(raw_day, where)
        if out and day <= out[-1][0]:
            raise RulebookError(f"{where}.{raw_day}: dates must ascend ({day} after {out[-1][0]})")
        out.append((day, parse(raw_value, f"{where}.{raw_day}")))
    return tuple(out)


def _as_date(raw: Any, where: str) -> date:
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise RulebookError(f"{where}: key {raw!r} is not a date (YYYY-MM-DD)") from None


def _as_number(raw: Any, where: str) -> Decimal | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise RulebookError(f"{where}: value {raw!r} is not a number")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise RulebookError(f"{where}: value {raw!r} is not a number") from None
    if not value.is_finite():
        raise RulebookError(f"{where}: value {raw!r} is not a finite number")
    return value


def _as_words(raw: Any, where: str) -> tuple[str, ...] | None:
    """A ``kind: words`` value: a non-empty list of non-empty words (None ends the parameter)."""
    if raw is None:
        return None
    if (not isinstance(raw, list) or not raw
            or not all(isinstance(w, str) and w.strip() for w in raw)):
        raise RulebookError(f"{where}: value {raw!r} is not a list of words")
    words = tuple(w.strip() for w in raw)
    if len(set(words)) != len(words):
        raise RulebookError(f"{where}: value {raw!r} names a word twice")
    return words
