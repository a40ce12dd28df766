"""A run's head start: folders landed and matched while Prefect starts, taken over by the flow.

The hand-over is tested on stand-in stages (they count their calls), so these tests need neither
data nor Prefect; one slow test runs the default command on data/sample/ through Prefect and
compares its warehouse with the plain local run's.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipelines import head_start as ahead
from pipelines import runner

from conftest import ROOT, SAMPLE, SAMPLE_PERIOD

MONTHS = ["2026-08", "2026-09", "2026-10"]


@pytest.fixture()
def stages(monkeypatch):
    """Stand-in land and match stages that record every call."""
    calls: list[tuple[str, str]] = []
    fail: dict[tuple[str, str], BaseException] = {}

    def land(ctx, period, *, settle_seconds=0.0):
        calls.append(("land", period))
        if ("land", period) in fail:
            raise fail.pop(("land", period))
        return runner.FolderRef(period=period, dir=ctx.scratch / period, exists=True)

    def match(ctx, ref, *, overrides=None):
        calls.append(("match", ref.period))
        if ("match", ref.period) in fail:
            raise fail.pop(("match", ref.period))
        return {"period": ref.period, "matched": 1}

    monkeypatch.setattr(runner, "stage_land_clean", land)
    monkeypatch.setattr(runner, "stage_match", match)
    return calls, fail


@pytest.fixture()
def run(tmp_path):
    incoming = tmp_path / "incoming"
    for m in MONTHS:
        (incoming / m).mkdir(parents=True)
        (incoming / m / "register.csv").write_text("户编号\n", encoding="utf-8")
    ctx = runner.RunContext.create(flow="monthly", incoming=incoming,
                                   warehouse=tmp_path / "w" / "hedui.duckdb")
    token = ahead.register(ctx)
    yield token, ctx
    ahead.discard(token)


def test_the_flow_takes_over_what_was_landed_and_matched_ahead(stages, run):
    calls, _ = stages
    token, ctx = run
    assert ahead.run_ahead(token, MONTHS, stop=lambda: False) == MONTHS
    assert calls == [(s, m) for m in MONTHS for s in ("land", "match")]
    calls.clear()
    # the flow adopts the very context (run_id, scratch) and its tasks recompute nothing
    assert ahead.adopt(token) is ctx
    for m in MONTHS:
        ref = ahead.land_clean(ctx, m)
        assert ref.period == m and ref.dir == ctx.scratch / m
        assert ahead.match(ctx, ref) == {"period": m, "matched": 1}
    assert calls == []
    # each result is handed over once: a second call (a task retry) runs the stage
    ahead.land_clean(ctx, MONTHS[0])
    assert calls == [("land", MONTHS[0])]


def test_the_head_start_stops_when_prefect_is_ready(stages, run):
    calls, _ = stages
    token, ctx = run
    ready = iter([False, False, True])  # asked before the run, before landing, before matching
    assert ahead.run_ahead(token, MONTHS, stop=lambda: next(ready)) == [MONTHS[0]]
    assert calls == [("land", MONTHS[0])]
    ref = ahead.land_clean(ctx, MONTHS[0])
    ahead.match(ctx, ref)
    ahead.land_clean(ctx, MONTHS[1])
    # the folder not matched ahead, and the one not reached, are done by the tasks as before
    assert calls == [("land", MONTHS[0]), ("match", MONTHS[0]), ("land", MONTHS[1])]


def test_a_stage_failure_is_raised_by_the_flows_task_and_a_retry_runs_the_stage(stages, run):
    calls, fail = stages
    token, ctx = run
    fail[("land", MONTHS[1])] = runner.FileStillBeingWritten("2026-09/register.csv was modified")
    assert ahead.run_ahead(token, MONTHS, stop=lambda: False) == [MONTHS[0]]
    # the head start ended at the failure: 2026-10 was not touched
    assert ("land", MONTHS[2]) not in calls
    with pytest.raises(runner.FileStillBeingWritten, match="register.csv"):
        ahead.land_clean(ctx, MONTHS[1])
    assert ahead.land_clean(ctx, MONTHS[1]).period == MONTHS[1]
    assert calls[-1] == ("land", MONTHS[1])


def test_a_match_result_is_only_used_for_the_folder_it_was_computed_from(stages, run):
    calls, _ = stages
    token, ctx = run
    ahead.run_ahead(token, MONTHS[:1], stop=lambda: False)
    calls.clear()
    # the flow landed the folder again (e.g. restored it): the match ahead is not its result
    other = runner.FolderRef(period=MONTHS[0], dir=ctx.scratch / MONTHS[0], exists=True)
    ahead.match(ctx, other)
    assert calls == [("match", MONTHS[0])]


def test_folders_the_cache_holds_are_not_landed_ahead(stages, run):
    from pipelines import folder_cache

    calls, _ = stages
    token, ctx = run
    # the key the flow's land stage uses (pipelines/run/folders.py)
    key = folder_cache.folder_key(ctx.incoming / MONTHS[0], matching_file=None, overrides=None,
                                  matching_version=ctx.matching_params().version)
    entry = folder_cache.cache_dir(ctx.warehouse) / MONTHS[0] / key
    entry.mkdir(parents=True)
    (entry / "ref.json").write_text("{}", encoding="utf-8")
    assert ahead.run_ahead(token, MONTHS, stop=lambda: False) == MONTHS[1:]
    assert ("land", MONTHS[0]) not in calls


def test_an_unadopted_run_leaves_no_scratch_and_an_adopted_one_is_the_flows_to_clean(tmp_path):
    make = lambda: runner.RunContext.create(
        flow="monthly", incoming=tmp_path, warehouse=tmp_path / "w" / "hedui.duckdb")
    ctx = make()
    token = ahead.register(ctx)
    ahead.discard(token)
    assert not ctx.scratch.exists()
    assert ahead.adopt(token) is None  # a flow without a head start creates its own context

    ctx = make()
    token = ahead.register(ctx)
    assert ahead.adopt(token) is ctx
    ahead.discard(token)
    assert ctx.scratch.exists()  # the flow removes it after publishing
    ctx.cleanup()


def test_the_folders_a_run_reads_are_the_window_and_for_a_quarter_the_month_before(tmp_path):
    def started(flow):
        return ahead.register(runner.RunContext.create(
            flow=flow, incoming=tmp_path, warehouse=tmp_path / "w" / "hedui.duckdb"))

    token = started("monthly")
    monthly = ahead.folders_of(token, "monthly", "2026-10")
    assert monthly[-1] == "2026-10" and "2026-05" in monthly and monthly == sorted(monthly)
    # the plan is kept with the run: the stages run ahead read the flow's resolved values
    adopted = ahead.adopt(token)
    assert adopted is not None and adopted.plan is not None and adopted.plan.label == "2026-10"
    adopted.cleanup()
    ahead.discard(token)
    token = started("quarterly")
    quarterly = ahead.folders_of(token, "quarterly", "2026Q3")
    assert "2026-06" in quarterly and quarterly[-1] == "2026-09" and quarterly == sorted(quarterly)
    ahead.discard(token)


def test_a_prefect_that_cannot_start_is_reported_by_wait(monkeypatch):
    from prefect.server.api import server

    def broken(self, timeout=None):
        raise RuntimeError("Timed out while attempting to connect to ephemeral Prefect API server.")

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(server.SubprocessASGIServer, "start", broken)
    warm = ahead.PrefectWarmup.start()
    with pytest.raises(ahead.PrefectUnavailable, match="Timed out"):
        warm.wait()
    assert warm.ready()


def test_the_ephemeral_server_alone_logs_only_critical_records_at_the_root(monkeypatch):
    from prefect.server.api import server

    seen = {}

    def start(self, timeout=None):
        seen["level"] = os.environ.get("PREFECT_LOGGING_ROOT_LEVEL")

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_LOGGING_ROOT_LEVEL", raising=False)
    monkeypatch.setattr(server.SubprocessASGIServer, "start", start)
    ahead.PrefectWarmup.start().wait()
    assert seen == {"level": "CRITICAL"}
    assert "PREFECT_LOGGING_ROOT_LEVEL" not in os.environ  # this process logs as before


@pytest.mark.slow
def test_the_default_command_through_prefect_gives_the_local_runs_warehouse(tmp_path,
                                                                             sample_warehouse):
    from helpers.warehouse_dump import CONTRACT_TABLES
    from helpers.warehouse_dump import table_dump as _table_dump

    warehouse = tmp_path / "hedui.duckdb"
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "monthly", "--incoming",
                           str(SAMPLE / "incoming"), "--period", SAMPLE_PERIOD, "--warehouse",
                           str(warehouse)], cwd=ROOT, capture_output=True, text=True, timeout=900,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    # every folder landed and matched exactly once, whether ahead of the flow or by its tasks
    from pipelines.cli.app import STAGE_WORDS

    for stage in ("land", "match"):  # as the console words them: 落地, 匹配
        lines = [ln.split()[2] for ln in done.stdout.splitlines()
                 if ln.startswith("✓") and ln.split()[1] == STAGE_WORDS[stage]]
        assert sorted(lines) == sorted(set(lines)) and SAMPLE_PERIOD in lines, done.stdout
    for table in CONTRACT_TABLES:
        assert _table_dump(warehouse, table) == _table_dump(sample_warehouse, table), table
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    runs = con.execute("SELECT status, count(*) FROM runs GROUP BY ALL").fetchall()
    con.close()
    assert runs == [("succeeded", 1)]
    assert not (tmp_path / ".work").exists() or not any((tmp_path / ".work").iterdir())


def test_a_command_that_ends_before_prefect_is_up_leaves_no_server_behind(monkeypatch):
    from prefect.server.api import server

    started = []
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(server.SubprocessASGIServer, "start",
                        lambda self, timeout=None: started.append(self))
    warm = ahead.PrefectWarmup()
    warm.close()  # e.g. Ctrl-C while landing, before the thread reached the server
    warm._thread.start()
    warm.wait()
    assert started == []
