"""Orchestration layer: run a flow's stages on a Dask cluster (``--dask ADDRESS | local:N``).

The driver (the ``hedui`` process, with or without Prefect) keeps every decision and the
publish; the cluster only runs the coarse, independent pieces of work, as plain stage functions
submitted with distributed's ``Client``:

- per month folder: land + clean it, then match it in one task, or, for a big folder, in K
  partitions (plan, compare, decide per partition, the model fitted once in the driver:
  ``pipelines.cluster_link``); folders the folder cache restores never leave the driver;
- one task per district of an assessed month (:func:`pipelines.runner.stage_assess` with that
  one district); the driver concatenates the districts' parquet files in district order.

Why not Prefect's ``DaskTaskRunner``: a Prefect task on a Dask worker needs a Prefect API from
every worker (a real server, or an ephemeral one per worker, ~25 s and ~220 MiB each) and costs
130-160 ms; here Prefect (when used) tracks the flow and two coarse tasks in the driver, and the
workers need only the installed package and the storage.

Stages hand each other parquet paths under the run's scratch folder, so every worker must see
that folder (and ``--incoming``) at the same path: on one machine it does; on a real cluster
point ``HEDUI_SCRATCH`` at shared storage (e.g. an NFS mount) on the driver and the workers.

Failures: a worker that dies is *transient* and Dask itself reruns its tasks elsewhere (up to
``distributed.scheduler.allowed-failures`` times, default 3); an exception raised by a stage is
final, never retried, and fails the run naming the partition. Either way nothing is published.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import polars as pl

from pipelines import run_notes, runner
from pipelines.run_notes import Note

#: workers of ``local:N`` (a 2-core machine gains nothing past a few; a typo of 1000 must not fork)
MAX_LOCAL_WORKERS = 64

#: polars' allocator (jemalloc) setting for the workers of ``local:N``: a background thread hands
#: freed memory back to the system after a second. Without it a worker keeps the peak of its
#: last big task while it idles, e.g. while the driver publishes on the same machine. An
#: operator's own ``$_RJEM_MALLOC_CONF`` wins; ``dask worker`` processes take it from their
#: environment (README, "a province on a Dask cluster").
WORKER_ALLOCATOR = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0"
ALLOCATOR_ENV = "_RJEM_MALLOC_CONF"


def _worker_environment() -> dict[str, str]:
    """The environment set in each ``local:N`` worker before it starts (Dask's pre-spawn set)."""
    import dask

    env = {str(k): str(v) for k, v in
           (dask.config.get("distributed.nanny.pre-spawn-environ", None) or {}).items()}
    env.setdefault(ALLOCATOR_ENV, os.environ.get(ALLOCATOR_ENV) or WORKER_ALLOCATOR)
    return env

def _connect_timeout() -> float:
    """Seconds to wait for a scheduler (and its first worker): ``$HEDUI_DASK_CONNECT_TIMEOUT``, 10."""
    try:
        return max(1.0, float(os.environ.get("HEDUI_DASK_CONNECT_TIMEOUT", "10")))
    except ValueError:
        return 10.0


_LOCAL = re.compile(r"^local:(\d+)$")
_ADDRESS = re.compile(r"^(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+):(\d{1,5})$")


class ClusterUnavailable(runner.RunFailed):
    """The scheduler cannot be reached or the cluster cannot be started (nothing ran)."""


PartitionFailed = runner.PartitionFailed


@dataclass(frozen=True)
class DaskTarget:
    """Where to run: an existing scheduler's address, or a LocalCluster of ``workers``."""

    address: str | None = None
    workers: int | None = None

    def __str__(self) -> str:
        return self.address if self.address else f"local:{self.workers}"


def parse_target(value: str) -> DaskTarget:
    """Parse ``--dask``: ``tcp://host:port`` (or ``tls://``) or ``local:N``.

    Raises
    ------
    ValueError
        With a Chinese message, when the value is neither form (a usage error).
    """
    text = (value or "").strip()
    m = _LOCAL.match(text)
    if m:
        n = int(m.group(1))
        if not 1 <= n <= MAX_LOCAL_WORKERS:
            raise ValueError(f"--dask {text}：本机工作进程数须在 1 到 {MAX_LOCAL_WORKERS} 之间")
        return DaskTarget(workers=n)
    m = _ADDRESS.match(text)
    if m and 1 <= int(m.group(3)) <= 65535:
        return DaskTarget(address=text)
    raise ValueError(f"--dask {text or '（空）'} 无法识别：应为调度器地址 tcp://主机:端口"
                     "（如 tcp://10.0.0.5:8786），或 local:N（在本机启动 N 个工作进程）")


def _no_worker_timeout() -> float:
    """Seconds a run waits for a worker to come back when the cluster has none."""
    return 3 * _connect_timeout()


# ---------------------------------------------------------------------------------------------
# the cluster of this process's run

_active: tuple[str, object] | None = None


def current_client():
    """The client of the session open in this process; RunFailed when there is none."""
    if _active is None:
        raise runner.RunFailed("no Dask session is open in this process")
    return _active[1]


@contextmanager
def session(target: DaskTarget | str) -> Iterator[object]:
    """Connect to (or start) the cluster for one run; close what was opened on exit.

    A session already open in this process for the same target is reused (the CLI opens it
    before Prefect starts, so an unreachable scheduler fails in seconds; the flow reuses it).

    Raises
    ------
    ClusterUnavailable
        When the scheduler cannot be reached within :func:`_connect_timeout` seconds or the
        local cluster cannot start.
    """
    global _active
    target = parse_target(target) if isinstance(target, str) else target
    if _active is not None and _active[0] == str(target):
        yield _active[1]
        return
    from distributed import Client, LocalCluster

    cluster = None
    timeout = _connect_timeout()
    try:
        if target.workers:
            import dask

            # one thread per worker: polars already uses every core inside a task
            with dask.config.set({"distributed.nanny.pre-spawn-environ": _worker_environment()}):
                cluster = LocalCluster(n_workers=target.workers, threads_per_worker=1,
                                       processes=True, dashboard_address=":0",
                                       silence_logs=logging.ERROR)
            client = Client(cluster, timeout=timeout * 6)
        else:
            client = Client(target.address, timeout=timeout)
            try:
                client.wait_for_workers(1, timeout=timeout)
            except (OSError, TimeoutError) as exc:
                client.close()
                raise ClusterUnavailable(
                    f"Dask 调度器 {target} 在 {timeout:g} 秒内没有可用的工作进程：请先启动 "
                    f"dask worker {target}") from exc
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        if target.workers:
            raise ClusterUnavailable(f"无法启动本机 Dask 集群（{target}）：{type(exc).__name__}") from exc
        raise ClusterUnavailable(f"无法在 {timeout:g} 秒内连接 Dask 调度器 {target}："
                                 f"{type(exc).__name__}。请确认调度器已启动（dask scheduler）"
                                 "且地址、端口可达") from exc
    _active = (str(target), client)
    try:
        yield client
    finally:
        _active = None
        client.close()
        if cluster is not None:
            cluster.close()


def worker_count(client) -> int:
    """Workers currently connected to the scheduler."""
    return len(client.scheduler_info(n_workers=-1).get("workers", {}))


# ---------------------------------------------------------------------------------------------
# what runs on a worker (plain functions: workers import the installed package, nothing else)


def _partition_error(what: str, exc: BaseException) -> PartitionFailed:
    """The run's failure naming the partition (an unexpected error's text may quote data)."""
    from distributed.scheduler import KilledWorker

    from pipelines.rulebook import RulebookError

    if isinstance(exc, KilledWorker):
        return PartitionFailed(f"分区 {what} 的工作进程反复退出，任务已放弃（Dask 已在其他工作进程上重试）；"
                               "请检查工作节点的内存与日志")
    if isinstance(exc, ImportError):
        return PartitionFailed(f"分区 {what} 失败：工作进程无法导入 hedui 的代码（{type(exc).__name__}）；"
                               "每个工作节点须安装与本机相同版本的 hedui")
    if isinstance(exc, runner.RunFailed | RulebookError | runner.FileStillBeingWritten):
        return PartitionFailed(f"分区 {what} 失败：{exc}")
    return PartitionFailed(f"分区 {what} 失败：意外错误（{type(exc).__name__}），详见工作进程日志")


def _gather(client, futures: dict[str, Any],
            on_done: Callable[[str, Any], None] | None = None) -> dict[str, Any]:
    """Results by partition name; the first failure cancels the rest and names its partition.

    Dask reruns the tasks of a worker that dies; with no worker left at all, tasks would wait
    for one forever, so after :func:`_no_worker_timeout` seconds without any the run fails,
    naming the partitions left unfinished.
    """
    from distributed import wait

    pending = dict(futures)
    results: dict[str, Any] = {}
    alone_since: float | None = None
    while pending:
        try:
            wait(list(pending.values()), timeout=2, return_when="FIRST_COMPLETED")
        except TimeoutError:
            pass
        finished = [name for name, fut in pending.items() if fut.done()]
        for name in finished:
            fut = pending.pop(name)
            try:
                results[name] = fut.result()
            except Exception as exc:
                client.cancel(list(futures.values()))
                raise _partition_error(name, exc) from exc
            if on_done is not None:
                on_done(name, results[name])
        if not pending or finished:
            continue
        if worker_count(client) > 0:
            alone_since = None
            continue
        alone_since = alone_since or time.monotonic()
        if time.monotonic() - alone_since > _no_worker_timeout():
            client.cancel(list(futures.values()))
            raise PartitionFailed(f"Dask 集群已没有工作进程（{_no_worker_timeout():g} 秒），分区 "
                                  f"{'、'.join(pending)} 未完成；请检查工作节点后重新运行")
    return results


def _key(ctx: runner.RunContext, kind: str, part: str) -> str:
    # unique per run, readable in the scheduler's task list
    return f"hedui-{kind}-{part}-{ctx.run_id}"


def merge_notes(parts: Sequence[Sequence[Note]]) -> list[Note]:
    """The notes of an assessment split by district, as the joint assessment writes them.

    See :func:`pipelines.run_notes.merge_notes`: equal notes once, household counts summed.
    """
    return run_notes.merge_notes(parts)


def assess_on_dask(ctx: runner.RunContext, period: str, refs: Sequence[runner.FolderRef], *,
                   districts: Sequence[str] | None, tag: str = "") -> runner.AssessRef:
    """:func:`pipelines.runner.stage_assess` fanned out: one task per district, then concatenated.

    A household's assessment reads only its own members' rows, so assessing the districts apart
    gives the rows of assessing them together (tested on the sample city). Every parquet file a
    partition writes is concatenated by name, in district order.
    """
    client = current_client()
    p_ref = next((r for r in refs if r.period == period), None)
    if p_ref is None or not p_ref.register_ok:
        raise runner.RunFailed(p_ref.register_problem if p_ref else f"folder {period} was not loaded")
    if districts:
        scope = sorted(set(districts))
    else:
        reg = pl.read_parquet(p_ref.stg("register"), columns=["district_code"])
        scope = sorted(set(reg["district_code"].drop_nulls().to_list()))
    if not scope:
        # an empty register: nothing to split, the stage writes its empty tables
        return runner.stage_assess(ctx, period, refs, districts=districts, tag=tag)
    runner._report("assess", "start", period=period)
    futures = {f"assess {period} {d}": client.submit(
        runner.stage_assess, ctx, period, list(refs), districts=[d], tag=f"{tag}-district-{d}",
        key=_key(ctx, "assess", f"{period}{tag}-{d}"), pure=False) for d in scope}
    done = _gather(client, futures)
    parts: list[runner.AssessRef] = [done[f"assess {period} {d}"] for d in scope]
    out = ctx.scratch / f"assess-{period}{tag}"
    out.mkdir(parents=True, exist_ok=True)
    names = sorted({p.name for part in parts for p in part.assessments.parent.glob("*.parquet")})
    for name in names:
        frames = [pl.read_parquet(part.assessments.parent / name) for part in parts
                  if (part.assessments.parent / name).exists()]
        pl.concat(frames, how="vertical").write_parquet(out / name)
    versions = {p.rulebook_version for p in parts}
    if len(versions) != 1:  # one period, one rulebook: anything else is a bug, not data
        raise runner.RunFailed(f"{period} 各区县分区的规则版本不一致：{sorted(versions)}")
    # every path of the reference (assessments, flags, and any file a later stage adds) points
    # at the concatenated file of the same name
    paths = {f.name: out / getattr(parts[0], f.name).name for f in fields(runner.AssessRef)
             if isinstance(getattr(parts[0], f.name), Path)}
    merged = replace(parts[0], **paths, rulebook_version=versions.pop(),
                     notes=merge_notes([p.notes for p in parts]), districts=scope)
    households = pl.scan_parquet(merged.assessments).select(pl.len()).collect().item()
    flags = pl.scan_parquet(merged.flags).select(pl.len()).collect().item()
    runner._report("assess", "finish", period=period, households=households, flags=flags)
    return merged


def dask_stages(publish: Callable[..., dict] = runner.stage_publish,
                wrap: Callable[[Callable, str], Callable] | None = None) -> runner.Stages:
    """The stages of a run on the open session; ``wrap(fn, name)`` may make them Prefect tasks."""
    wrap = wrap or (lambda fn, _name: fn)
    from pipelines.cluster_link import folders_on_dask, rank_on_dask

    return runner.Stages(folders=wrap(folders_on_dask, "land-clean-match-on-dask"),
                         rank=wrap(rank_on_dask, "rank-on-dask"),
                         assess=wrap(assess_on_dask, "assess-on-dask"), publish=publish)
