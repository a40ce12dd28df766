"""Orchestration layer: which period a scheduled run checks when the operator names none.

A scheduled run fires early in a month (or quarter) and checks the one before it, counted in
Asia/Shanghai. The flows (``pipelines/flows.py``) ask this module; the scheduler
(``pipelines/schedule.py``) serves the flows. Keeping the calendar here, apart from both, is what
keeps flows and schedule from importing each other.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

TIMEZONE = "Asia/Shanghai"


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(ZoneInfo(TIMEZONE))).astimezone(ZoneInfo(TIMEZONE))


def previous_period(now: datetime | None = None) -> str:
    """The month before ``now``'s month in Asia/Shanghai, as ``YYYY-MM``.

    Parameters
    ----------
    now : datetime, optional
        An aware moment; the current time by default.

    Returns
    -------
    str
    """
    t = _now(now)
    y, m = (t.year, t.month - 1) if t.month > 1 else (t.year - 1, 12)
    return f"{y:04d}-{m:02d}"


def previous_quarter(now: datetime | None = None) -> str:
    """The quarter before ``now``'s quarter in Asia/Shanghai, as ``YYYYQn``.

    Parameters
    ----------
    now : datetime, optional
        An aware moment; the current time by default.

    Returns
    -------
    str
    """
    t = _now(now)
    q = (t.month - 1) // 3 + 1
    y, q = (t.year, q - 1) if q > 1 else (t.year - 1, 4)
    return f"{y:04d}Q{q}"
