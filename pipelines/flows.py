"""Orchestration layer: the Prefect flows (monthly, quarterly) and their deployments.

The flows only compose the stage functions of :mod:`pipelines.runner` as tasks; every decision
lives in the stages. Tasks pass small references (folder refs with parquet paths, counts).
With no ``PREFECT_API_URL`` the flows run against Prefect's ephemeral local server; under
``hedui serve`` they run against a real server.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from pipelines import runner
from pipelines.summary import summary_markdown


def _retry_only_while_delivering(task_, task_run, state) -> bool:  # noqa: ANN001 - Prefect hook
    """Retry landing only when a file was still being written; never on a data error."""
    try:
        state.result()
    except runner.FileStillBeingWritten:
        return True
    except Exception:  # noqa: BLE001 - any other failure is final
        return False
    return False


land_clean_task = task(
    runner.stage_land_clean, name="land-and-clean", cache_policy=NO_CACHE, retries=3,
    retry_delay_seconds=20, retry_condition_fn=_retry_only_while_delivering,
    task_run_name="land-and-clean-{period}")
match_task = task(runner.stage_match, name="match", cache_policy=NO_CACHE)
assess_task = task(runner.stage_assess, name="assess-and-flag", cache_policy=NO_CACHE,
                   task_run_name="assess-{period}")
publish_task = task(runner.stage_publish, name="publish", cache_policy=NO_CACHE)

PREFECT_STAGES = runner.Stages(land_clean=land_clean_task, match=match_task, assess=assess_task,
                               publish=publish_task)

#: files modified more recently than this are treated as still arriving (scheduled runs)
SETTLE_SECONDS = 30.0


def _artifact(kind: str, label: str, summary: dict) -> None:
    key = f"hedui-{kind}-{label}".lower().replace("_", "-")
    create_markdown_artifact(markdown=summary_markdown(summary), key=key,
                             description=f"hedui {kind} cross-check summary for {label}")


@flow(name="hedui-monthly", log_prints=False)
def monthly_flow(incoming: str, period: str, districts: list[str] | None = None,
                 warehouse: str | None = None, settle_seconds: float = 0.0,
                 use_cache: bool = True, rules_dir: str | None = None) -> dict:
    """The monthly cross-check of ``period`` for ``districts`` (all when None)."""
    from pipelines import warehouse as wh

    ctx = runner.RunContext.create(flow="monthly", incoming=Path(incoming),
                                   warehouse=wh.resolve(warehouse), use_cache=use_cache,
                                   rules_dir=Path(rules_dir) if rules_dir else None)
    try:
        summary = runner.execute_monthly(ctx, period, districts=districts, stages=PREFECT_STAGES,
                                         settle_seconds=settle_seconds)
    finally:
        ctx.cleanup()
    _artifact("monthly", period + ("-" + "-".join(districts) if districts else ""), summary)
    return summary


@flow(name="hedui-quarterly", log_prints=False)
def quarterly_flow(incoming: str, quarter: str, warehouse: str | None = None,
                   settle_seconds: float = 0.0, use_cache: bool = True,
                   rules_dir: str | None = None) -> dict:
    """The quarterly city-wide screening: every month of ``quarter``, every district."""
    from pipelines import warehouse as wh

    ctx = runner.RunContext.create(flow="quarterly", incoming=Path(incoming),
                                   warehouse=wh.resolve(warehouse), use_cache=use_cache,
                                   rules_dir=Path(rules_dir) if rules_dir else None)
    try:
        summary = runner.execute_quarterly(ctx, quarter, stages=PREFECT_STAGES,
                                           settle_seconds=settle_seconds)
    finally:
        ctx.cleanup()
    _artifact("quarterly", quarter, summary)
    return summary


@flow(name="hedui-scheduled-monthly")
def scheduled_monthly_flow(incoming: str, warehouse: str | None = None) -> dict:
    """Scheduled entry: checks the month before the one the scheduler fires in (Asia/Shanghai)."""
    from pipelines.schedule import previous_period

    return monthly_flow(incoming=incoming, period=previous_period(), warehouse=warehouse,
                        settle_seconds=SETTLE_SECONDS)


@flow(name="hedui-scheduled-quarterly")
def scheduled_quarterly_flow(incoming: str, warehouse: str | None = None) -> dict:
    """Scheduled entry: screens the quarter that ended before the scheduler fires."""
    from pipelines.schedule import previous_quarter

    return quarterly_flow(incoming=incoming, quarter=previous_quarter(), warehouse=warehouse,
                          settle_seconds=SETTLE_SECONDS)
