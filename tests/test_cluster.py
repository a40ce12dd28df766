"""A run on a Dask cluster (``--dask``) publishes the warehouse the in-process run publishes.

Fast tests: parsing ``--dask``, the CLI's usage and unreachable-scheduler failures, merging the
districts' notes, and failure handling on an in-process (threads) Dask client. Slow tests: the
sample city through a LocalCluster of 2 workers, through a real ``dask scheduler`` with two
``dask worker`` processes on 127.0.0.1, and with one of those workers killed mid-run; each is
compared with the session's in-process sample run (every table but ``runs``, and the analyst
file). Every process a test starts is terminated by the test.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipelines import cluster, runner

from conftest import ROOT, SAMPLE, SAMPLE_PERIOD, copy_warehouse

HEDUI = [sys.executable, "-m", "pipelines.cli"]
DASK = str(Path(sys.executable).with_name("dask"))


def _env(**extra: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    env.pop("PREFECT_API_URL", None)
    return env


def _hedui(*args: str, timeout: float = 240, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*HEDUI, *args], capture_output=True, text=True, timeout=timeout,
                          env=_env(**env), cwd=ROOT, check=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _dump(warehouse: Path, *, analyst: bool = True) -> dict:
    """Every table and view but ``runs`` and the partition book, sorted.

    Of the warehouse and of its analyst file, without run ids and timestamps; sorted because row
    order is not part of the contract.
    """
    from pipelines.warehouse import analyst_path

    out = {}
    files = [("wh", warehouse)] + ([("analyst", analyst_path(warehouse))] if analyst else [])
    for label, path in files:
        con = duckdb.connect(str(path), read_only=True)
        try:
            tables = con.execute(
                # the big tables are views over per-period files (pipelines/partitions.py); the
                # book of those files names them with a random suffix: storage, not contents
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_type IN ('BASE TABLE', 'VIEW') AND table_name <> 'runs' "
                "AND NOT starts_with(table_name, '_hedui_') ORDER BY 1, 2").fetchall()
            assert tables, f"{path} has no tables"
            for schema, table in tables:
                cols = [r[0] for r in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
                    "AND table_name = ? ORDER BY ordinal_position", [schema, table]).fetchall()]
                keep = [f'"{c}"' for c in cols if c != "run_id" and not c.endswith("_at")]
                out[f"{label}.{schema}.{table}"] = con.sql(
                    f'SELECT {", ".join(keep)} FROM "{schema}"."{table}" ORDER BY ALL').fetchall()
        finally:
            con.close()
    return out


def _runs(warehouse: Path) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("SELECT status, summary FROM runs ORDER BY started_at").fetchall()
    finally:
        con.close()


def _assert_same_warehouse(got: Path, expected: Path) -> None:
    a, b = _dump(got), _dump(expected)
    assert sorted(a) == sorted(b)
    for table in b:
        assert a[table] == b[table], f"{table} differs from the in-process run"
    assert any(len(rows) > 100 for rows in b.values())


# ---------------------------------------------------------------------------------------------
# --dask values


@pytest.mark.parametrize("value, expected", [
    ("local:2", "local:2"), (" local:1 ", "local:1"), ("tcp://127.0.0.1:8786", "tcp://127.0.0.1:8786"),
    ("tcp://scheduler.example:8786", "tcp://scheduler.example:8786"),
    ("tls://10.0.0.5:8786", "tls://10.0.0.5:8786"),
])
def test_dask_targets_that_parse(value, expected):
    assert str(cluster.parse_target(value)) == expected


@pytest.mark.parametrize("value", ["", "local", "local:0", "local:x", "local:65", "127.0.0.1:8786",
                                   "tcp://127.0.0.1", "tcp://127.0.0.1:99999", "http://h:8786",
                                   "tcp://a b:1"])
def test_dask_targets_refused(value):
    with pytest.raises(ValueError, match="--dask"):
        cluster.parse_target(value)


def test_a_bad_dask_value_is_a_usage_error(tmp_path):
    wh = tmp_path / "hedui.duckdb"
    r = _hedui("monthly", "--incoming", str(SAMPLE / "incoming"), "--period", SAMPLE_PERIOD,
               "--warehouse", str(wh), "--orchestrator", "local", "--dask", "local:zwei", timeout=60)
    assert r.returncode == 2, r.stderr
    assert "无法识别" in r.stderr and "local:N" in r.stderr
    assert "Traceback" not in r.stderr
    assert not wh.exists()


def test_an_unreachable_scheduler_fails_fast_and_leaves_the_warehouse(sample_warehouse_copy):
    before = _digest(sample_warehouse_copy)
    port = _free_port()  # nothing listens there
    started = time.monotonic()
    r = _hedui("quarterly", "--incoming", str(SAMPLE / "incoming"), "--quarter", "2026Q3",
               "--warehouse", str(sample_warehouse_copy), "--orchestrator", "local",
               "--dask", f"tcp://127.0.0.1:{port}", timeout=90, HEDUI_DASK_CONNECT_TIMEOUT="2")
    assert r.returncode == 1, r.stderr
    assert f"无法在 2 秒内连接 Dask 调度器 tcp://127.0.0.1:{port}" in r.stderr
    assert "Traceback" not in r.stderr
    assert time.monotonic() - started < 60
    assert _digest(sample_warehouse_copy) == before
    assert len(_runs(sample_warehouse_copy)) == 1  # not even a failed row: nothing ran


# ---------------------------------------------------------------------------------------------
# merging the districts' notes


def test_notes_of_districts_merge_into_the_joint_notes():
    p = "2026-10"
    window = {"code": "income_source_partial", "source": "bank", "delivered": 5, "months": 6,
              "period": p}
    a = [window,
         {"code": "no_living_members", "households": 2, "period": p},
         {"code": "undecided", "flag": "HIGH_MEDICAL_EXPENSE", "households": 1, "period": p},
         {"code": "flagged", "flag": "INCOME_DROP", "households": 3, "period": p}]
    b = [window,
         {"code": "no_standard", "households": 1, "period": p},
         {"code": "undecided", "flag": "INCOME_OVER_STANDARD", "households": 4, "period": p},
         {"code": "undecided", "flag": "HIGH_MEDICAL_EXPENSE", "households": 2, "period": p},
         {"code": "flagged", "flag": "ASSETS_OVER_LIMIT", "households": 1, "period": p},
         {"code": "flagged", "flag": "INCOME_DROP", "households": 2, "period": p}]
    # the order the joint assessment writes them in: window, households, undecided, flagged
    assert cluster.merge_notes([a, b]) == [
        window,
        {"code": "no_living_members", "households": 2, "period": p},
        {"code": "no_standard", "households": 1, "period": p},
        {"code": "undecided", "flag": "INCOME_OVER_STANDARD", "households": 4, "period": p},
        {"code": "undecided", "flag": "HIGH_MEDICAL_EXPENSE", "households": 3, "period": p},
        {"code": "flagged", "flag": "ASSETS_OVER_LIMIT", "households": 1, "period": p},
        {"code": "flagged", "flag": "INCOME_DROP", "households": 5, "period": p}]


# ---------------------------------------------------------------------------------------------
# failures on an in-process Dask client (threads: a test can patch what the tasks call)


@pytest.fixture()
def thread_client(monkeypatch):
    from distributed import Client

    client = Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None)
    monkeypatch.setattr(cluster, "_active", ("threads", client))
    try:
        yield client
    finally:
        client.close()


@pytest.mark.slow
def _break_match(monkeypatch, calls: list[str]) -> None:
    real = runner.stage_match

    def broken(ctx, ref, **kw):
        calls.append(ref.period)
        if ref.period == "2026-08":
            raise runner.RunFailed("register of 2026-08 is unreadable (test)")
        return real(ctx, ref, **kw)

    monkeypatch.setattr(runner, "stage_match", broken)


def _break_rank(monkeypatch, calls: list[str]) -> None:
    from pipelines import review_queue

    real = review_queue.rank_folder_ref

    def broken(ref, before, **kw):
        calls.append(ref.period)
        if ref.period == "2026-08":
            raise runner.RunFailed("ranking of 2026-08 failed (test)")
        return real(ref, before, **kw)

    monkeypatch.setattr(review_queue, "rank_folder_ref", broken)


@pytest.mark.parametrize(("breaks", "says"), [
    (_break_match, "分区 2026-08 失败：register of 2026-08"),
    (_break_rank, "分区 2026-08（复核候选排序） 失败：ranking of 2026-08"),
], ids=["match", "ranking"])
def test_a_failed_partition_fails_the_run_naming_it_and_is_not_retried(
        thread_client, sample_warehouse_copy, monkeypatch, breaks, says):
    calls: list[str] = []
    breaks(monkeypatch, calls)
    before = _digest(sample_warehouse_copy)
    ctx = runner.RunContext.create(flow="monthly", incoming=SAMPLE / "incoming",
                                   warehouse=sample_warehouse_copy, use_cache=False)
    try:
        with pytest.raises(cluster.PartitionFailed, match=says):
            runner.execute_monthly(ctx, SAMPLE_PERIOD, districts=None, stages=cluster.dask_stages())
    finally:
        ctx.cleanup()
    assert calls.count("2026-08") == 1  # an error is final: only a lost worker is retried
    assert _digest(sample_warehouse_copy) == before


def test_an_unexpected_error_is_named_by_partition_and_type_only(thread_client, tmp_path):
    def boom(x):
        raise ValueError("110105199001011234 张三")  # data in the text must not be repeated

    futures = {"assess 2026-10 110105": thread_client.submit(boom, 1, pure=False)}
    with pytest.raises(cluster.PartitionFailed) as info:
        cluster._gather(thread_client, futures)
    assert str(info.value) == "分区 assess 2026-10 110105 失败：意外错误（ValueError），详见工作进程日志"


# ---------------------------------------------------------------------------------------------
# the sample city on a cluster


@pytest.mark.slow
def test_a_failed_link_partition_fails_the_run_naming_it(thread_client, sample_warehouse_copy,
                                                         monkeypatch):
    from pipelines import cluster_link

    real = cluster_link.compare_on_worker

    def broken(ctx, index, folder):
        if folder.parent.name == "link-2026-08" and index == 1:
            raise runner.RunFailed("partition file unreadable (test)")
        return real(ctx, index, folder)

    monkeypatch.setattr(cluster_link, "compare_on_worker", broken)
    monkeypatch.setenv(cluster_link.ENV, "3")
    before = _digest(sample_warehouse_copy)
    ctx = runner.RunContext.create(flow="monthly", incoming=SAMPLE / "incoming",
                                   warehouse=sample_warehouse_copy, use_cache=False)
    try:
        with pytest.raises(cluster.PartitionFailed,
                           match="分区 2026-08（链接分片 2/3） 失败：partition file unreadable"):
            runner.execute_monthly(ctx, SAMPLE_PERIOD, districts=None, stages=cluster.dask_stages())
    finally:
        ctx.cleanup()
    assert _digest(sample_warehouse_copy) == before


@pytest.mark.slow
def test_local_cluster_gives_the_in_process_warehouse(sample_run, tmp_path, monkeypatch):
    """Every folder's linking split in 3 partitions over the 2 workers: the same warehouse."""
    from pipelines import cluster_link

    monkeypatch.setenv(cluster_link.ENV, "3")
    monkeypatch.delenv(cluster.ALLOCATOR_ENV, raising=False)
    expected, expected_summary = sample_run
    warehouse = tmp_path / "dask" / "hedui.duckdb"
    ctx = runner.RunContext.create(flow="monthly", incoming=SAMPLE / "incoming", warehouse=warehouse)
    try:
        with cluster.session("local:2") as client:
            assert cluster.worker_count(client) == 2
            # each worker hands its freed memory back (polars' allocator setting, set before
            # the worker process started), so an idle worker does not hold its last task's peak
            assert set(client.run(os.environ.get, cluster.ALLOCATOR_ENV).values()) == {
                cluster.WORKER_ALLOCATOR}
            summary = runner.execute_monthly(ctx, SAMPLE_PERIOD, districts=None,
                                             stages=cluster.dask_stages())
    finally:
        ctx.cleanup()
    assert cluster._active is None  # the LocalCluster was stopped with the session
    _assert_same_warehouse(warehouse, expected)
    # the districts' notes merge into the joint assessment's words and counts
    assert summary["notes"] == expected_summary["notes"]
    assert summary["links"] == expected_summary["links"]
    assert summary["households_assessed"] == expected_summary["households_assessed"]


@pytest.mark.slow
def test_the_prefect_flow_on_a_local_cluster_gives_the_in_process_warehouse(
        sample_warehouse, tmp_path):
    """The default orchestrator: Prefect in the driver, folders and districts on the workers.

    Prefect runs the flow in the driver (one ephemeral server, none on the workers); the folders
    and districts run on the LocalCluster's workers.
    """
    warehouse = tmp_path / "prefect" / "hedui.duckdb"
    r = _hedui("monthly", "--incoming", str(SAMPLE / "incoming"), "--period", SAMPLE_PERIOD,
               "--warehouse", str(warehouse), "--dask", "local:2", timeout=400,
               PREFECT_HOME=str(tmp_path / "prefect-home"))
    assert r.returncode == 0, r.stderr
    assert "Dask local:2：2 个工作进程" in r.stdout
    assert "Traceback" not in r.stderr
    _assert_same_warehouse(warehouse, sample_warehouse)
    assert [row[0] for row in _runs(warehouse)] == ["succeeded"]


@pytest.mark.slow
def test_quarterly_on_a_local_cluster_gives_the_in_process_warehouse(tmp_path):
    """Quarterly: every month and the prior month assessed by district on the workers."""
    from pipelines.periods import quarter_months

    warehouses = {}
    for label, dask in (("inprocess", None), ("dask", "local:2")):
        warehouse = tmp_path / label / "hedui.duckdb"
        ctx = runner.RunContext.create(flow="quarterly", incoming=SAMPLE / "incoming",
                                       warehouse=warehouse)
        try:
            if dask is None:
                summary = runner.execute_quarterly(ctx, "2026Q3")
            else:
                with cluster.session(dask):
                    summary = runner.execute_quarterly(ctx, "2026Q3", stages=cluster.dask_stages())
        finally:
            ctx.cleanup()
        warehouses[label] = (warehouse, summary)
    (a, sa), (b, sb) = warehouses["inprocess"], warehouses["dask"]
    _assert_same_warehouse(b, a)
    assert sb["quarter_summary"] == sa["quarter_summary"] and sa["quarter_summary"]
    assert sb["prior_month_assessed"] == sa["prior_month_assessed"]
    assert sb["notes"] == sa["notes"]
    assert sb["months"] == quarter_months("2026Q3")


class _Cluster:
    """A ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, killed on close."""

    def __init__(self, workers: int, log_dir: Path) -> None:
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []
        try:
            self.scheduler = self._spawn("scheduler", [
                DASK, "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                "--no-dashboard", "--dashboard-address", "127.0.0.1:0"])
            self.workers = [self._spawn(f"worker{i}", [
                DASK, "worker", self.address, "--nthreads", "1", "--nworkers", "1",
                "--no-dashboard", "--host", "127.0.0.1", "--no-nanny"]) for i in range(workers)]
        except BaseException:
            self.close()
            raise

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = (self.log_dir / f"{name}.log").open("w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=_env(),
                             start_new_session=True)
        self.procs.append(p)
        return p

    def client(self):
        from distributed import Client

        return Client(self.address, timeout=60)

    def close(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=30)


@pytest.fixture()
def real_cluster(tmp_path):
    c = _Cluster(2, tmp_path)
    try:
        with c.client() as client:
            client.wait_for_workers(2, timeout=90)
        yield c
    finally:
        c.close()


def _monthly_on(address: str, warehouse: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [*HEDUI, "monthly", "--incoming", str(SAMPLE / "incoming"), "--period", SAMPLE_PERIOD,
         "--warehouse", str(warehouse), "--orchestrator", "local", "--dask", address],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(**kw), cwd=ROOT)


@pytest.mark.slow
def test_a_scheduler_without_workers_fails_fast_and_leaves_the_warehouse(
        sample_warehouse_copy, tmp_path):
    before = _digest(sample_warehouse_copy)
    c = _Cluster(0, tmp_path)
    try:
        r = _hedui("monthly", "--incoming", str(SAMPLE / "incoming"), "--period", SAMPLE_PERIOD,
                   "--warehouse", str(sample_warehouse_copy), "--orchestrator", "local",
                   "--dask", c.address, timeout=120, HEDUI_DASK_CONNECT_TIMEOUT="5")
    finally:
        c.close()
    assert r.returncode == 1, r.stderr
    assert f"Dask 调度器 {c.address} 在 5 秒内没有可用的工作进程" in r.stderr
    assert "Traceback" not in r.stderr
    assert _digest(sample_warehouse_copy) == before


@pytest.mark.slow
def test_a_real_scheduler_and_two_workers_give_the_in_process_warehouse(
        sample_warehouse, real_cluster, tmp_path):
    warehouse = tmp_path / "real" / "hedui.duckdb"
    proc = _monthly_on(real_cluster.address, warehouse, HEDUI_LINK_PARTITIONS="2")
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "Dask tcp://127.0.0.1" in out and "2 个工作进程" in out
    _assert_same_warehouse(warehouse, sample_warehouse)


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_survived_with_the_same_warehouse(
        sample_warehouse, real_cluster, tmp_path):
    warehouse = tmp_path / "kill" / "hedui.duckdb"
    proc = _monthly_on(real_cluster.address, warehouse, HEDUI_LINK_PARTITIONS="3")
    killed = None
    try:
        with real_cluster.client() as client:
            deadline = time.monotonic() + 180
            while killed is None and time.monotonic() < deadline and proc.poll() is None:
                busy = {w: keys for w, keys in client.processing().items()
                        if any(str(k).startswith("hedui-") for k in keys)}
                if busy:
                    victim = min(busy)
                    pid = client.run(os.getpid, workers=[victim])[victim]
                    os.kill(pid, signal.SIGKILL)
                    killed = victim
                    break
                time.sleep(0.2)
        _out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert killed is not None, "no hedui task was seen running on a worker"
    assert proc.returncode == 0, err
    _assert_same_warehouse(warehouse, sample_warehouse)


@pytest.mark.slow
def test_when_every_worker_is_lost_the_run_fails_cleanly(sample_warehouse, tmp_path):
    """With no worker left the run cannot finish.

    It fails naming the lost partition and leaves the warehouse as it was (a copy of the
    sample's, so a failed row could be recorded).
    """
    warehouse = copy_warehouse(sample_warehouse, tmp_path / "lost")
    shutil.rmtree(warehouse.parent / ".cache", ignore_errors=True)  # make the folders run
    before = _dump(warehouse, analyst=False)  # the copy has no analyst file
    c = _Cluster(1, tmp_path)
    try:
        with c.client() as client:
            client.wait_for_workers(1, timeout=90)
            # 3 s to connect, so the run gives up 9 s after its last worker is gone
            proc = _monthly_on(c.address, warehouse, HEDUI_DASK_CONNECT_TIMEOUT="3")
            try:
                deadline = time.monotonic() + 180
                while time.monotonic() < deadline and proc.poll() is None:
                    if any(str(k).startswith("hedui-")
                           for keys in client.processing().values() for k in keys):
                        c.workers[0].kill()
                        break
                    time.sleep(0.2)
                out, err = proc.communicate(timeout=240)
            finally:
                proc.kill()
    finally:
        c.close()
    assert proc.returncode == 1, out + err
    assert "Dask 集群已没有工作进程（9 秒），分区 2026-" in err and "仓库未改动" in err
    assert "Traceback" not in err
    assert _dump(warehouse, analyst=False) == before
    assert [r[0] for r in _runs(warehouse)] == ["succeeded", "failed"]
