"""Orchestration layer: which period a scheduled run checks when the operator names none.

A scheduled run fires early in a month (or quarter) and checks the one before it, counted in
Asia/Shanghai. The flows (``pipelines/flows.py``) ask this module; the scheduler
(``pipelines/schedule.py``) serves the flows. Keeping the calendar here, apart from both, is what
keeps flows and schedule from importing each other.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pipelines.periods import Period, Quarter

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
    return (Period(t.year, t.month) - 1).label


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
    # three months back lands in the previous quarter, whichever month of this one ``now`` is
    back = Period(t.year, t.month) - 3
    return Quarter(back.year, (back.month - 1) // 3 + 1).label
