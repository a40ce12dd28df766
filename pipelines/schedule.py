"""Orchestration layer: what the scheduler runs and when (Asia/Shanghai).

Monthly: on the 5th at 02:00 for the previous month (departments deliver in the first days).
Quarterly: on the 10th of January, April, July and October at 03:00 for the quarter just ended.

Both deployments take an optional ``period`` / ``quarter`` parameter, so an operator can re-run a
chosen month or quarter from the Prefect UI ("Run → Custom run"); left empty, a run checks the
month (quarter) before the one it fires in.
"""

from __future__ import annotations

import asyncio
import signal

# the calendar of a scheduled run is its own module, so flows need not import this one
from pipelines.firing import TIMEZONE, previous_period, previous_quarter

__all__ = ["MONTHLY_CRON", "QUARTERLY_CRON", "TIMEZONE", "build_deployments", "previous_period",
           "previous_quarter", "serve", "validate_cron"]

MONTHLY_CRON = "0 2 5 * *"
QUARTERLY_CRON = "0 3 10 1,4,7,10 *"


def validate_cron(expression: str) -> str:
    """Return ``expression`` when it is a 5-field cron expression Prefect accepts.

    Raises
    ------
    ValueError
        Naming the expression, in Chinese (the operator typed it).
    """
    from prefect._internal.schemas.validators import validate_cron_string

    try:
        ok = len(expression.split()) == 5 and bool(validate_cron_string(expression))
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"计划表达式 {expression!r} 不是有效的 cron（5 个字段，例如 \"0 2 5 * *\"）")
    return expression


def build_deployments(*, incoming: str, warehouse: str | None,
                      monthly_cron: str = MONTHLY_CRON,
                      quarterly_cron: str = QUARTERLY_CRON) -> list:
    """The two scheduled deployments: monthly for the previous month, quarterly for the last quarter.

    Parameters
    ----------
    incoming, warehouse
        Fixed parameters of every run of both deployments.
    monthly_cron, quarterly_cron
        Cron expressions in Asia/Shanghai; the defaults are the production schedule. Other values
        are for trying a schedule (a test serves ``* * * * *`` to see a run within a minute).
    """
    from prefect.schedules import Cron

    from pipelines.flows import scheduled_monthly_flow, scheduled_quarterly_flow

    params = {"incoming": incoming, "warehouse": warehouse}
    monthly = scheduled_monthly_flow.to_deployment(
        name="hedui-monthly", parameters={**params, "period": None},
        schedule=Cron(monthly_cron, timezone=TIMEZONE),
        description="Monthly cross-check, all districts: of `period` (YYYY-MM) when given, else "
                    "of the month before the run fires (Asia/Shanghai).")
    quarterly = scheduled_quarterly_flow.to_deployment(
        name="hedui-quarterly", parameters={**params, "quarter": None},
        schedule=Cron(quarterly_cron, timezone=TIMEZONE),
        description="Quarterly city-wide screening: of `quarter` (YYYYQn) when given, else of the "
                    "quarter that ended before the run fires (Asia/Shanghai).")
    return [monthly, quarterly]


async def _serve_until_stopped(deployments: list, on_started) -> None:
    """Serve ``deployments`` until SIGTERM or SIGINT, then let the runner pause them.

    Prefect's own SIGTERM handler calls ``sys.exit`` from inside the event loop, which abandons
    coroutines half-started ("coroutine … was never awaited"). Instead the runner's task is
    cancelled, so its ``async with`` exits normally: schedules paused, processes reaped.
    """
    from prefect.runner import Runner

    runner = Runner(pause_on_shutdown=True)
    for deployment in deployments:
        await runner.aadd_deployment(deployment)
    loop = asyncio.get_running_loop()
    start = asyncio.create_task(runner.start())
    # runner.start() installs its own SIGTERM handler before its first await; replace it after
    await asyncio.sleep(0)
    stopping: list[int] = []

    def _stop(signum: int) -> None:
        if not stopping:
            stopping.append(signum)
            start.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _stop, sig)
    on_started()
    try:
        await start
    except asyncio.CancelledError:
        if not stopping:
            raise
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def serve(*, incoming: str, warehouse: str | None, monthly_cron: str = MONTHLY_CRON,
          quarterly_cron: str = QUARTERLY_CRON, on_started=None) -> None:
    """Register both deployments with their cron schedules and serve them until SIGTERM/SIGINT.

    On SIGTERM (or Ctrl-C) the runner pauses both schedules and returns; a run in progress is
    stopped with it and shows as crashed or cancelled in the UI.
    """
    deployments = build_deployments(incoming=incoming, warehouse=warehouse,
                                    monthly_cron=monthly_cron, quarterly_cron=quarterly_cron)
    asyncio.run(_serve_until_stopped(deployments, on_started or (lambda: None)))
