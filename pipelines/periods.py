"""Month arithmetic on ``YYYY-MM`` periods: windows, month ends, quarters."""

from __future__ import annotations

import calendar
import re
from datetime import date

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


def parse_period(text: str) -> tuple[int, int]:
    """``'2026-10'`` -> ``(2026, 10)``; a ValueError naming the text otherwise."""
    m = _PERIOD.match(text.strip())
    if not m:
        raise ValueError(f"period {text!r} is not of the form YYYY-MM")
    return int(m.group(1)), int(m.group(2))


def add_months(period: str, n: int) -> str:
    """The period ``n`` months after ``period`` (before it when ``n`` is negative)."""
    y, m = parse_period(period)
    k = y * 12 + (m - 1) + n
    return f"{k // 12:04d}-{k % 12 + 1:02d}"


def month_start(period: str) -> date:
    """The first day of ``period``."""
    y, m = parse_period(period)
    return date(y, m, 1)


def month_end(period: str) -> date:
    """The last day of ``period``."""
    y, m = parse_period(period)
    return date(y, m, calendar.monthrange(y, m)[1])


def window(period: str, months: int) -> list[str]:
    """The ``months`` periods ending with ``period``, oldest first."""
    if months < 1:
        raise ValueError("a window has at least one month")
    return [add_months(period, -k) for k in range(months - 1, -1, -1)]


def quarter_months(quarter: str) -> list[str]:
    """``'2026Q3'`` -> ``['2026-07', '2026-08', '2026-09']``."""
    m = _QUARTER.match(quarter.strip().upper())
    if not m:
        raise ValueError(f"quarter {quarter!r} is not of the form YYYYQn")
    y, q = int(m.group(1)), int(m.group(2))
    return [f"{y:04d}-{3 * (q - 1) + k:02d}" for k in (1, 2, 3)]
