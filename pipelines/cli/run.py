"""Running a monthly or quarterly cross-check: through Prefect (default) or locally."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.markup import escape

from pipelines.cli.app import Orchestrator, _fail, _progress, console, stage_line


def _quiet_prefect(level: str = "WARNING") -> None:
    """Offline, quiet Prefect defaults; explicit environment settings win.

    Must run before anything imports prefect: its settings are read on import.
    """
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", level)
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if not os.environ.get("PREFECT_API_URL"):
        # the ephemeral server is a child process that writes to our stderr; stopped as the
        # command exits, it logs tracebacks about events it could not flush (of a server that
        # is going away): nothing the operator can act on
        os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
    # hedui itself uses no SQLAlchemy: in this process only Prefect's client does, and a pooled
    # connection finalised while the command exits is logged with a traceback (seen under heavy
    # load): nothing the operator can act on
    logging.getLogger("sqlalchemy.pool").setLevel(logging.CRITICAL)


def mute_stderr_at_exit() -> None:
    """After the command's last line, nothing more reaches the operator's stderr.

    Registered when a command has used Prefect, after Prefect registered its own exit hooks,
    so it runs first (``atexit`` runs last-registered first). While the interpreter stops,
    Prefect's client and ephemeral server tear down: pooled database connections finalised
    during garbage collection and asyncio tasks destroyed while pending print tracebacks
    (seen under load in the CLI tests), after hedui's own summary or failure line, about
    nothing the operator can act on.
    """
    import atexit
    import sys

    def mute() -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)

    atexit.register(mute)



# ---------------------------------------------------------------------------------------------
# running


class _HideNamedFailures(logging.Filter):
    """Drop Prefect's log records about a failure hedui reports itself in one line.

    When a flow fails, Prefect's engine logs the exception with its traceback (flow run and
    task run loggers) before the exception reaches the command; for a failure hedui can name,
    the operator should see hedui's sentence only.
    """

    def __init__(self, kinds: tuple[type[BaseException], ...]) -> None:
        super().__init__()
        self.kinds = kinds
        self.names = tuple(k.__name__ for k in kinds)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], self.kinds):
            return False
        if record.levelno >= logging.ERROR:
            text = record.getMessage()
            if any(name in text for name in self.names):
                return False
        return True


def _prefect_handlers() -> set[logging.Handler]:
    names = ["", *(n for n in logging.Logger.manager.loggerDict if n.startswith("prefect"))]
    return {h for n in names for h in getattr(logging.getLogger(n), "handlers", [])}


@contextmanager
def _prefect_failures_hidden(kinds: tuple[type[BaseException], ...]) -> Iterator[None]:
    quiet = _HideNamedFailures(kinds)
    handlers = _prefect_handlers()
    for h in handlers:
        h.addFilter(quiet)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(quiet)



@contextmanager
def _cluster(dask) -> Iterator[None]:
    """Open the Dask session before anything runs: an unreachable scheduler fails in seconds."""
    if dask is None:
        yield
        return
    from pipelines import cluster

    with _quiet_distributed(), cluster.session(dask) as client:
        console.print(f"Dask {dask}：{cluster.worker_count(client)} 个工作进程")
        yield


@contextmanager
def _quiet_distributed() -> Iterator[None]:
    """Keep ``distributed``'s log of a worker's loss (which it recovers from) off the console.

    ``distributed`` logs it at WARNING: the operator sees hedui's own line when a run fails, not
    the scheduler's chatter.
    """
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _through_prefect(flow_name: str, warm, *, incoming: Path, label: str,
                     districts: list[str] | None, target: Path, use_cache: bool, rekey: bool,
                     rules_dir: Path | None, dask, named: tuple[type[BaseException], ...]) -> dict:
    """Run the flow once Prefect is up.

    Meanwhile (no ``dask``) land and match the window's folders in this thread, for the flow's
    tasks to take over (:mod:`pipelines.head_start`).
    """
    from pipelines import head_start as ahead
    from pipelines import runner
    from pipelines import warehouse as wh
    from pipelines.rulebook import RulebookError

    token = None
    if dask is None:
        token = ahead.register(runner.RunContext.create(
            flow=flow_name, incoming=incoming, warehouse=target, use_cache=use_cache,
            rekey=rekey, rules_dir=rules_dir))
    try:
        if token is not None:
            try:
                months = ahead.folders_of(token, flow_name, label)
            except (RulebookError, runner.RunFailed, ValueError):
                months = []  # the flow meets the same error, records and reports it
            ahead.run_ahead(token, months, stop=warm.ready)
        warm.wait()
        # what Prefect's start-up cost this run, and how much of it the run waited for
        console.print(stage_line("prefect", "", warm.took,
                                 f"与落地同时启动；运行为此等待 {warm.waited:.1f} 秒"))
        from prefect.settings import (
            PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
            temporary_settings,
        )

        from pipelines import flows

        args: dict[str, Any] = {
            "incoming": str(incoming), "warehouse": str(target), "use_cache": use_cache,
            "rekey": rekey, "rules_dir": str(rules_dir) if rules_dir else None,
            "dask": str(dask) if dask is not None else None, "head_start": token}
        # the flow records its own failed row in `runs` (same run_id and start time)
        with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), \
                _prefect_failures_hidden((*named, wh.WarehouseError)):
            if flow_name == "monthly":
                return flows.monthly_flow(period=label, districts=districts, **args)
            return flows.quarterly_flow(quarter=label, **args)
    finally:
        if token is not None:
            ahead.discard(token)


def _run(flow_name: str, *, incoming: Path, label: str, districts: list[str] | None,
         target: Path, orchestrator: Orchestrator, use_cache: bool = True,
         rekey: bool = False, rules: Path | None = None, dask=None) -> dict:
    from pipelines import head_start as ahead
    from pipelines import runner
    from pipelines import warehouse as wh
    from pipelines.rulebook import RulebookError, load_rulebook, parameters_folder

    rules_dir = parameters_folder(rules) if rules is not None else None
    what = {"monthly": "月度核对", "quarterly": "季度筛查"}.get(flow_name, flow_name)
    console.print(f"hedui {flow_name}（{what}）{label} → 仓库 [bold]{escape(str(target))}[/bold]")
    named = (runner.RunFailed, RulebookError)
    warm = None
    try:
        # a lost or different pseudonym key is refused before Prefect starts or anything loads
        wh.check_pseudonym_key(target, rekey=rekey)
        if rules_dir is not None:
            load_rulebook(rules_dir)  # an invalid --rules is refused, naming file and key
        if orchestrator is Orchestrator.prefect:
            # Prefect's import and ephemeral server (8-20 s here) start in the background
            # while this thread opens the cluster or lands the first folders
            _quiet_prefect()
            warm = ahead.PrefectWarmup.start()
        with _cluster(dask), _progress():
            if warm is not None:
                return _through_prefect(flow_name, warm, incoming=incoming, label=label,
                                        districts=districts, target=target,
                                        use_cache=use_cache, rekey=rekey,
                                        rules_dir=rules_dir, dask=dask, named=named)
            ctx = runner.RunContext.create(flow=flow_name, incoming=incoming, warehouse=target,
                                           use_cache=use_cache, rekey=rekey, rules_dir=rules_dir)
            stages = None
            if dask is not None:
                from pipelines import cluster

                stages = cluster.dask_stages()
            try:
                if flow_name == "monthly":
                    return runner.execute_monthly(ctx, label, districts=districts, stages=stages)
                return runner.execute_quarterly(ctx, label, stages=stages)
            except named as exc:
                runner.record_failure(ctx, period_label=label, districts=districts,
                                      message=str(exc))
                raise
            finally:
                ctx.cleanup()
    except named as exc:
        from pipelines.reasons import reason_zh

        # a refused register is worded by the loader in English (runs.message keeps that text)
        _fail(f"运行失败，仓库未改动：{reason_zh(str(exc))}")
    except wh.PseudonymKeyError as exc:
        _fail(str(exc))
    except wh.WarehouseError as exc:
        _fail(f"无法写入仓库：{exc}")
    except PermissionError as exc:
        _fail(f"没有权限：{exc.filename or exc}（{exc.strerror}）")
    except ahead.PrefectUnavailable as exc:
        _fail(f"Prefect 未能启动，本次未运行，仓库未改动（{str(exc)[:300]}）。"
              "可改用 --orchestrator local 运行同样的步骤，或设置 PREFECT_API_URL 使用常驻的 Prefect 服务器")
    finally:
        if warm is not None:
            warm.close()
            mute_stderr_at_exit()
    raise AssertionError("unreachable")

