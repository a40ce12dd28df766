"""Orchestration layer: the Prefect flows (monthly, quarterly) and their deployments.

The flows only compose the stage functions of :mod:`pipelines.runner` as tasks; every decision
lives in the stages. Tasks pass small references (folder refs with parquet paths, counts).
With no ``PREFECT_API_URL`` the flows run against Prefect's ephemeral local server; under
``hedui serve`` they run against a real server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from pipelines import head_start as ahead
from pipelines import runner
from pipelines.summary import summary_markdown


def _retry_only_while_delivering(task_, task_run, state) -> bool:
    """Retry landing only when a file was still being written; never on a data error."""
    try:
        state.result()
    except runner.FileStillBeingWritten:
        return True
    except Exception:  # noqa: BLE001 - any other failure is final
        return False
    return False


# land and match return a folder's result computed while Prefect started, when there is one
# (pipelines.head_start); otherwise they run the stage
land_clean_task = task(
    name="land-and-clean", cache_policy=NO_CACHE, retries=3,
    retry_delay_seconds=20, retry_condition_fn=_retry_only_while_delivering,
    task_run_name="land-and-clean-{period}")(ahead.land_clean)
match_task = task(name="match", cache_policy=NO_CACHE)(ahead.match)
assess_task = task(name="assess-and-flag", cache_policy=NO_CACHE,
                   task_run_name="assess-{period}")(runner.stage_assess)
publish_task = task(name="publish", cache_policy=NO_CACHE)(runner.stage_publish)

PREFECT_STAGES = runner.Stages(land_clean=land_clean_task, match=match_task, assess=assess_task,
                               publish=publish_task)


@contextmanager
def _stages(dask: str | None) -> Iterator[runner.Stages]:
    """The flow's stages: Prefect tasks in this process, or (``dask``) the cluster's fan-out.

    With ``dask``, the fan-out of :mod:`pipelines.cluster` runs as two driver-side tasks whose
    work runs on the Dask workers.
    """
    if not dask:
        yield PREFECT_STAGES
        return
    from pipelines import cluster

    with cluster.session(dask):
        yield cluster.dask_stages(publish=publish_task, wrap=lambda fn, name: task(
            name=name, cache_policy=NO_CACHE)(fn))

#: files modified more recently than this are treated as still arriving (scheduled runs)
SETTLE_SECONDS = 30.0


def _artifact(kind: str, label: str, summary: dict) -> None:
    key = f"hedui-{kind}-{label}".lower().replace("_", "-")
    create_markdown_artifact(markdown=summary_markdown(summary), key=key,
                             description=f"hedui {kind} cross-check summary for {label}")


def failure_message(exc: BaseException) -> str | None:
    """The ``runs.message`` of a failed run, or None when the failure must not be recorded.

    A named failure (missing folder or register, district without a standard, a rulebook error)
    keeps its message; an unexpected error is recorded by its type only, because its text may
    quote delivered data. A warehouse that cannot be written cannot take a row either.
    """
    from pipelines import warehouse as wh
    from pipelines.rulebook import RulebookError

    if isinstance(exc, wh.WarehouseError):
        return None
    if isinstance(exc, runner.RunFailed | RulebookError | runner.FileStillBeingWritten):
        return str(exc)
    return f"unexpected error ({type(exc).__name__}); see the Prefect flow run log"


def _record_failure(ctx: runner.RunContext, label: str, districts: list[str] | None,
                    exc: BaseException) -> None:
    """Append the ``failed`` row of this run (its own run_id and start time) to ``runs``."""
    message = failure_message(exc)
    if message is not None:
        runner.record_failure(ctx, period_label=label, districts=districts, message=message)


@flow(name="hedui-monthly", log_prints=False)
def monthly_flow(incoming: str, period: str, districts: list[str] | None = None,
                 warehouse: str | None = None, settle_seconds: float = 0.0,
                 use_cache: bool = True, rekey: bool = False,
                 rules_dir: str | None = None, dask: str | None = None,
                 head_start: str | None = None) -> dict:
    """The monthly cross-check of ``period`` for ``districts`` (all when None).

    ``dask``: run the folders and districts on that Dask scheduler (``tcp://host:port``) or
    ``local:N``; ``head_start``: the token of the run ``hedui`` began while Prefect started (same
    process).
    """
    from pipelines import warehouse as wh

    ctx = ahead.adopt(head_start) or runner.RunContext.create(
        flow="monthly", incoming=Path(incoming), warehouse=wh.resolve(warehouse),
        use_cache=use_cache, rekey=rekey, rules_dir=Path(rules_dir) if rules_dir else None)
    try:
        with _stages(dask) as stages:
            summary = runner.execute_monthly(ctx, period, districts=districts, stages=stages,
                                             settle_seconds=settle_seconds)
    except Exception as exc:
        _record_failure(ctx, period, districts, exc)
        raise
    finally:
        ctx.cleanup()
    _artifact("monthly", period + ("-" + "-".join(districts) if districts else ""), summary)
    return summary


@flow(name="hedui-quarterly", log_prints=False)
def quarterly_flow(incoming: str, quarter: str, warehouse: str | None = None,
                   settle_seconds: float = 0.0, use_cache: bool = True, rekey: bool = False,
                   rules_dir: str | None = None, dask: str | None = None,
                   head_start: str | None = None) -> dict:
    """The quarterly city-wide screening: every month of ``quarter``, every district.

    ``dask`` and ``head_start`` are as in :func:`monthly_flow`.
    """
    from pipelines import warehouse as wh

    ctx = ahead.adopt(head_start) or runner.RunContext.create(
        flow="quarterly", incoming=Path(incoming), warehouse=wh.resolve(warehouse),
        use_cache=use_cache, rekey=rekey, rules_dir=Path(rules_dir) if rules_dir else None)
    try:
        with _stages(dask) as stages:
            summary = runner.execute_quarterly(ctx, quarter, stages=stages,
                                               settle_seconds=settle_seconds)
    except Exception as exc:
        _record_failure(ctx, quarter, None, exc)
        raise
    finally:
        ctx.cleanup()
    _artifact("quarterly", quarter, summary)
    return summary


@flow(name="hedui-scheduled-monthly")
def scheduled_monthly_flow(incoming: str, warehouse: str | None = None,
                           period: str | None = None) -> dict:
    """Scheduled entry: checks ``period`` (YYYY-MM) when given, else the month before.

    The month before is the one before the month the scheduler fires in (Asia/Shanghai). An
    operator re-runs a chosen month by giving ``period``.
    """
    from pipelines.firing import previous_period
    from pipelines.periods import parse_period

    period = (period or "").strip() or previous_period()
    parse_period(period)
    return monthly_flow(incoming=incoming, period=period, warehouse=warehouse,
                        settle_seconds=SETTLE_SECONDS)


@flow(name="hedui-scheduled-quarterly")
def scheduled_quarterly_flow(incoming: str, warehouse: str | None = None,
                             quarter: str | None = None) -> dict:
    """Scheduled entry: screens ``quarter`` (YYYYQn) when given, else the last quarter.

    The last quarter is the one that ended before the scheduler fires (Asia/Shanghai).
    """
    from pipelines.firing import previous_quarter
    from pipelines.periods import quarter_months

    quarter = (quarter or "").strip().upper() or previous_quarter()
    quarter_months(quarter)
    return quarterly_flow(incoming=incoming, quarter=quarter, warehouse=warehouse,
                          settle_seconds=SETTLE_SECONDS)
