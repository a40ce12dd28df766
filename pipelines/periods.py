"""Month arithmetic on ``YYYY-MM`` periods: windows, month ends, quarters."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
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


# --------------------------------------------------------------------------- value types
#
# A run parses its period text once (:class:`Period` / :class:`Quarter`, in
# :mod:`pipelines.plan`); the string helpers above stay for callers that hold labels.


@dataclass(frozen=True, order=True)
class Period:
    """One calendar month, the unit every delivery folder and assessment is about.

    Ordered and hashable; ``p + n`` / ``p - n`` move by months, ``p - q`` is the number of
    months from ``q`` to ``p``.

    Attributes
    ----------
    year, month : int
        The month (``month`` in 1..12).
    """

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1 <= self.year <= 9999:
            raise ValueError(f"period {self.year}-{self.month} is not a month of the calendar")

    @classmethod
    def parse(cls, text: str | Period) -> Period:
        """``'2026-10'`` -> ``Period(2026, 10)``; a ValueError naming the text otherwise."""
        if isinstance(text, Period):
            return text
        return cls(*parse_period(text))

    @property
    def label(self) -> str:
        """``'YYYY-MM'``: the folder name and the ``period`` of every table."""
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        """The first day of the month."""
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        """The day the rulebook and every dated parameter file are resolved on for P."""
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def _index(self) -> int:
        return self.year * 12 + self.month - 1

    def __add__(self, months: int) -> Period:
        if not isinstance(months, int):
            return NotImplemented
        k = self._index() + months
        return Period(k // 12, k % 12 + 1)

    def __sub__(self, other: int | Period):  # -> Period | int
        if isinstance(other, Period):
            return self._index() - other._index()
        if isinstance(other, int):
            return self + (-other)
        return NotImplemented

    def prev(self, months: int = 1) -> Period:
        """The month ``months`` before this one."""
        return self - months

    def window(self, months: int) -> tuple[Period, ...]:
        """The ``months`` periods ending with this one, oldest first."""
        if months < 1:
            raise ValueError("a window has at least one month")
        return tuple(self - k for k in range(months - 1, -1, -1))

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True, order=True)
class Quarter:
    """A calendar quarter ``YYYYQn`` and its three months."""

    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Quarter:
        """``'2026Q3'`` -> ``Quarter(2026, 3)``; a ValueError naming the text otherwise."""
        m = _QUARTER.match(text.strip().upper())
        if not m:
            raise ValueError(f"quarter {text!r} is not of the form YYYYQn")
        return cls(int(m.group(1)), int(m.group(2)))

    @property
    def label(self) -> str:
        """The label ``YYYYQn``."""
        return f"{self.year:04d}Q{self.number}"

    @property
    def months(self) -> tuple[Period, Period, Period]:
        """The quarter's three months, in order."""
        first = Period(self.year, 3 * (self.number - 1) + 1)
        return (first, first + 1, first + 2)

    def __str__(self) -> str:
        return self.label
