"""Orchestration layer: what the scheduler runs and when (Asia/Shanghai).

Monthly: on the 5th at 02:00 for the previous month (departments deliver in the first days).
Quarterly: on the 10th of January, April, July and October at 03:00 for the quarter just ended.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

TIMEZONE = "Asia/Shanghai"
MONTHLY_CRON = "0 2 5 * *"
QUARTERLY_CRON = "0 3 10 1,4,7,10 *"


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(ZoneInfo(TIMEZONE))).astimezone(ZoneInfo(TIMEZONE))


def previous_period(now: datetime | None = None) -> str:
    """The month before ``now``'s month in Asia/Shanghai, as ``YYYY-MM``."""
    t = _now(now)
    y, m = (t.year, t.month - 1) if t.month > 1 else (t.year - 1, 12)
    return f"{y:04d}-{m:02d}"


def previous_quarter(now: datetime | None = None) -> str:
    """The quarter before ``now``'s quarter in Asia/Shanghai, as ``YYYYQn``."""
    t = _now(now)
    q = (t.month - 1) // 3 + 1
    y, q = (t.year, q - 1) if q > 1 else (t.year - 1, 4)
    return f"{y:04d}Q{q}"


def build_deployments(*, incoming: str, warehouse: str | None) -> list:
    """The two scheduled deployments: monthly for the previous month, quarterly for the last quarter."""
    from prefect.schedules import Cron

    from pipelines.flows import scheduled_monthly_flow, scheduled_quarterly_flow

    params = {"incoming": incoming, "warehouse": warehouse}
    monthly = scheduled_monthly_flow.to_deployment(
        name="hedui-monthly", parameters=params,
        schedule=Cron(MONTHLY_CRON, timezone=TIMEZONE),
        description="Monthly cross-check of the previous month, all districts.")
    quarterly = scheduled_quarterly_flow.to_deployment(
        name="hedui-quarterly", parameters=params,
        schedule=Cron(QUARTERLY_CRON, timezone=TIMEZONE),
        description="Quarterly city-wide screening of the quarter just ended.")
    return [monthly, quarterly]


def serve(*, incoming: str, warehouse: str | None) -> None:  # pragma: no cover - long-running
    """Register both deployments with their cron schedules and serve them until stopped."""
    from prefect import serve as prefect_serve

    prefect_serve(*build_deployments(incoming=incoming, warehouse=warehouse))
