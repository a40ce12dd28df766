"""Report layer: how a notice writes months, dates, amounts and parameter values."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from pipelines.periods import parse_period
from pipelines.report.text import format_yuan


def month_text(period: str | None) -> str:
    """``'2026-10'`` -> ``'2026年10月'``; None gives ``'月份不详'``."""
    if not period:
        return "月份不详"
    year, month = parse_period(period[:7])
    return f"{year}年{month}月"


def date_text(day: date | None) -> str:
    """A date as ``2026年7月1日``; None gives ``'日期不详'``."""
    if day is None:
        return "日期不详"
    return f"{day.year}年{day.month}月{day.day}日"


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _plain_number(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if "." in text else f"{int(value):,}"


def _parameter_value_text(value: Decimal | None, unit: str) -> str:
    if value is None:
        return "已停止执行"
    if unit == "ratio":
        return f"{_plain_number(value * 100)}%"
    if unit == "yuan_per_person_month":
        return f"每人每月 {format_yuan(value)} 元"
    if unit == "yuan":
        return f"{format_yuan(value)} 元"
    if unit == "wan_yuan":
        return f"{_plain_number(value)} 万元"
    if unit in {"months", "months_of_standard"}:
        return f"{_plain_number(value)} 个月"
    if unit == "units":
        return f"{_plain_number(value)} 套"
    if unit == "vehicles":
        return f"{_plain_number(value)} 辆"
    return _plain_number(value)
