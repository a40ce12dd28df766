"""Orchestration layer: a run's head start — folders landed and matched while Prefect starts.

With the default orchestrator, ``hedui monthly``/``quarterly`` pay Prefect's start-up before the
first task can run: importing Prefect and starting its ephemeral local server take 8–20 s on a
2-core machine (more under load), and nothing else happened meanwhile. The command now starts
Prefect in a background thread (:class:`PrefectWarmup`) and, in the meantime, runs the first
stages of the run itself (:func:`run_ahead`): landing, cleaning and matching the window's
folders into the run's scratch folder, with the very stage functions the flow's tasks call.
These stages only write the run's private scratch folder (and print the progress lines); the
warehouse is written by the publish stage alone, inside the flow, as before.

When Prefect is ready the flow is entered with the run's token. It adopts the run's context
(:func:`adopt`: same ``run_id``, start time and scratch folder) and its ``land-and-clean`` and
``match`` tasks (:func:`land_clean`, :func:`match`) return what the head start already computed
— or raise the exception it met, so a failure is reported, retried (a file still being
delivered) and recorded in ``runs`` by the flow exactly as if the task had met it. Folders not
reached before Prefect was ready are processed by the tasks as usual. Which folders a run reads
is still decided by the flow: a folder landed ahead that the flow does not ask for is unused,
one it asks for and the head start did not reach is landed by the task.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pipelines import runner


@dataclass
class _Outcome:
    """What one stage of one folder gave ahead of the flow: its value or its exception."""

    value: object = None
    error: BaseException | None = None

    def result(self) -> object:
        if self.error is not None:
            raise self.error
        return self.value


@dataclass
class HeadStart:
    """A run started before its flow: the run's context and the stages done so far."""

    ctx: runner.RunContext
    landed: dict[str, _Outcome] = field(default_factory=dict)
    #: month → (the FolderRef it was matched from, the outcome of matching it)
    matched: dict[str, tuple[object, _Outcome]] = field(default_factory=dict)
    adopted: bool = False


_RUNS: dict[str, HeadStart] = {}
_LOCK = threading.Lock()


def register(ctx: runner.RunContext) -> str:
    """Keep ``ctx`` for the flow of this process to adopt; returns its token (the run_id)."""
    with _LOCK:
        _RUNS[ctx.run_id] = HeadStart(ctx)
    return ctx.run_id


def adopt(token: str | None) -> runner.RunContext | None:
    """The context of the run started ahead under ``token``; None when there is none.

    There is none for a flow run by a deployment, or in another process: the flow then creates
    its own.
    """
    with _LOCK:
        run = _RUNS.get(token or "")
        if run is None:
            return None
        run.adopted = True
        return run.ctx


def discard(token: str) -> None:
    """Forget the run; its scratch folder is removed unless a flow adopted it.

    A flow that adopted it removes it in its own ``finally``, after publishing.
    """
    with _LOCK:
        run = _RUNS.pop(token, None)
    if run is not None and not run.adopted:
        run.ctx.cleanup()


def _run_of(ctx: runner.RunContext) -> HeadStart | None:
    with _LOCK:
        return _RUNS.get(ctx.run_id)


# ---------------------------------------------------------------------------------------------
# the stage functions the flow's tasks wrap


def land_clean(ctx: runner.RunContext, period: str, *,
               settle_seconds: float = 0.0) -> runner.FolderRef:
    """:func:`pipelines.runner.stage_land_clean`, or its result computed ahead.

    A result computed ahead is used once: a retry of the task lands the folder again.
    """
    run = _run_of(ctx)
    with _LOCK:
        ahead = run.landed.pop(period, None) if run is not None else None
    if ahead is not None:
        return ahead.result()  # type: ignore[return-value]
    return runner.stage_land_clean(ctx, period, settle_seconds=settle_seconds)


def match(ctx: runner.RunContext, ref: runner.FolderRef, *, overrides: Path | None = None) -> dict:
    """:func:`pipelines.runner.stage_match`, or its result computed ahead for this very folder."""
    run = _run_of(ctx)
    with _LOCK:
        ahead = run.matched.pop(ref.period, None) if run is not None else None
    if ahead is not None and ahead[0] is ref:
        return ahead[1].result()  # type: ignore[return-value]
    return runner.stage_match(ctx, ref, overrides=overrides)


# ---------------------------------------------------------------------------------------------
# running ahead


def folders_of(token: str, flow: str, label: str) -> list[str]:
    """The folders a ``monthly`` (label YYYY-MM) or ``quarterly`` (YYYYQn) run reads, oldest first.

    They come from the run's plan (:mod:`pipelines.plan`), which is built here and kept with the
    run: the stages run ahead resolve their matching parameters on the same day as the flow's.
    """
    from pipelines.plan import RuleFiles, build_plan

    with _LOCK:
        run = _RUNS[token]
    ctx = run.ctx
    plan = build_plan(flow, label, RuleFiles.of(ctx.rules_dir, ctx.matching_file))
    with _LOCK:
        run.ctx = dataclasses.replace(ctx, plan=plan)
    return list(plan.folders)


def run_ahead(token: str, months: Sequence[str], *, stop: Callable[[], bool]) -> list[str]:
    """Land and match ``months`` in turn until ``stop()`` is true (checked between stages).

    Folders the folder cache holds are skipped (the flow restores them). An exception of a
    stage is kept for the flow's task to raise and ends the head start; any other (reading the
    staff's link decisions, hashing a folder) just ends it: the flow meets it again and
    reports it as it always did. Returns the months landed.
    """
    from pipelines import folder_cache

    run = _RUNS[token]
    ctx = run.ctx
    done: list[str] = []
    if stop():
        return done
    try:
        overrides = runner._link_overrides(ctx)  # the flow computes the same file again
    except Exception:  # noqa: BLE001 - see above
        return done
    for m in months:
        folder = ctx.incoming / m
        if stop():
            break
        try:
            cached = ctx.use_cache and folder.is_dir() and (
                folder_cache.cache_dir(ctx.warehouse) / m / folder_cache.folder_key(
                    folder, matching_file=ctx.matching_file, overrides=overrides,
                    matching_version=ctx.matching_params().version)
                / "ref.json").exists()
        except Exception:  # noqa: BLE001 - see above
            break
        if cached:
            continue
        try:
            ref = runner.stage_land_clean(ctx, m)
        except Exception as exc:  # noqa: BLE001 - raised again by the flow's task
            run.landed[m] = _Outcome(error=exc)
            break
        run.landed[m] = _Outcome(ref)
        done.append(m)
        if stop():
            break
        try:
            counts = runner.stage_match(ctx, ref, overrides=overrides)
        except Exception as exc:  # noqa: BLE001 - raised again by the flow's task
            run.matched[m] = (ref, _Outcome(error=exc))
            break
        run.matched[m] = (ref, _Outcome(counts))
    return done


# ---------------------------------------------------------------------------------------------
# Prefect, started in the background


@contextmanager
def _server_root_logging(level: str) -> Iterator[None]:
    """Set the ephemeral server's root log level (it inherits the environment when started).

    Stopped as the command exits, the server may log library errors through the root logger
    (SQLAlchemy's pool finalising a connection of a request cut short, with a traceback): noise
    about a server going away that the operator cannot act on. Only the server process gets
    the level; this process's logging was configured when Prefect was imported.
    """
    name = "PREFECT_LOGGING_ROOT_LEVEL"
    if name in os.environ:  # an explicit setting wins
        yield
        return
    os.environ[name] = level
    try:
        yield
    finally:
        os.environ.pop(name, None)


class PrefectUnavailable(RuntimeError):
    """Prefect could not be imported or its ephemeral server did not start."""


class PrefectWarmup:
    """Imports Prefect and the flows and starts the ephemeral server in a background thread.

    The server is the same object Prefect's client starts on first use
    (``SubprocessASGIServer()`` is one instance per process), so the flow finds it running.
    With ``PREFECT_API_URL`` set (a real server) only the imports are done ahead. Prefect's
    settings are read on import: set the environment before :meth:`start`.
    """

    def __init__(self) -> None:
        self._done = threading.Event()
        self._closed = threading.Event()
        self._error: BaseException | None = None
        self._t0 = time.perf_counter()
        #: seconds from start() until Prefect was ready; seconds wait() blocked
        self.took = 0.0
        self.waited = 0.0
        self._thread = threading.Thread(target=self._run, name="hedui-prefect-start", daemon=True)

    @classmethod
    def start(cls) -> PrefectWarmup:
        """A warmup whose background thread has been started."""
        warm = cls()
        warm._thread.start()
        return warm

    def _run(self) -> None:
        try:
            from prefect.settings import (
                PREFECT_API_URL,
                PREFECT_SERVER_EPHEMERAL_ENABLED,
            )

            from pipelines import flows  # noqa: F401 - the import is the point

            if not PREFECT_API_URL.value() and PREFECT_SERVER_EPHEMERAL_ENABLED.value():
                from prefect.server.api.server import SubprocessASGIServer

                # a run that ended meanwhile (Ctrl-C, a failure before the flow) must not leave
                # a server behind: once started, Prefect's own atexit handler stops it
                if not self._closed.is_set():
                    with _server_root_logging("CRITICAL"):
                        SubprocessASGIServer().start()
        except BaseException as exc:  # noqa: BLE001 - reported by wait() in the main thread
            self._error = exc
        finally:
            self.took = time.perf_counter() - self._t0
            self._done.set()

    def ready(self) -> bool:
        """True once Prefect is imported and its server answers (or failed to)."""
        return self._done.is_set()

    def close(self) -> None:
        """The command is ending: a server not yet started is not started any more."""
        self._closed.set()

    def wait(self) -> None:
        """Block until Prefect is ready; raise :class:`PrefectUnavailable` if it failed."""
        t0 = time.perf_counter()
        self._thread.join()
        self.waited = time.perf_counter() - t0
        if self._error is not None:
            raise PrefectUnavailable(f"{type(self._error).__name__}: {self._error}") from self._error
