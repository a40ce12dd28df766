"""The hedui command as staff and the scheduler run it: real processes, real kills, real readers."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from conftest import ROOT, SAMPLE, SAMPLE_PERIOD, read_delivered_csv, run_local_monthly


def _hedui(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, **kwargs)


def _spawn(*args):
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _identities():
    """Every ID number and name on the sample's register of the period (to look for leaks)."""
    reg = read_delivered_csv(SAMPLE / "incoming" / SAMPLE_PERIOD / "register.csv")
    ids = [v for v in reg["身份证号"].drop_nulls().to_list() if len(v.strip()) >= 15]
    names = [v for v in reg["姓名"].drop_nulls().to_list() if len(v.strip()) >= 2]
    return ids, names


@pytest.mark.slow
def test_monthly_command_prints_a_summary_and_no_identity(tmp_path):
    warehouse = tmp_path / "hedui.duckdb"
    done = _hedui("monthly", "--incoming", SAMPLE / "incoming", "--period", SAMPLE_PERIOD,
                  "--warehouse", warehouse, "--orchestrator", "local")
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert "记录匹配：已匹配" in out and "隔离行数" in out and str(warehouse) in out
    ids, names = _identities()
    assert not [i for i in ids if i in out]
    assert not [n for n in names if n in out]


@pytest.mark.parametrize(("args", "code", "text"), [
    (["--period", "2026-13"], 2, "月份 13 超出范围"),
    (["--period", "2031-01"], 1, "2031-01"),
])
def test_monthly_command_exit_codes(tmp_path, args, code, text):
    done = _hedui("monthly", "--incoming", SAMPLE / "incoming", *args,
                  "--warehouse", tmp_path / "w.duckdb", "--orchestrator", "local")
    assert done.returncode == code
    assert text in done.stderr


@pytest.mark.slow
def test_a_run_killed_mid_publish_leaves_the_warehouse_as_it_was(tmp_path):
    warehouse = tmp_path / "hedui.duckdb"
    run_local_monthly(SAMPLE / "incoming", "2026-09", warehouse)
    before = _digest(warehouse)
    analyst_before = _digest(tmp_path / "hedui-analyst.duckdb")
    proc = _spawn("monthly", "--incoming", SAMPLE / "incoming", "--period", SAMPLE_PERIOD,
                  "--warehouse", warehouse, "--orchestrator", "local")
    deadline = time.monotonic() + 300
    killed_in_publish = False
    while time.monotonic() < deadline and proc.poll() is None:
        # the working copies live in the private staging folder beside the warehouse
        if list(tmp_path.glob(".hedui.duckdb.staging/hedui.duckdb.*.tmp")):
            time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            killed_in_publish = True
            break
        time.sleep(0.01)
    proc.wait(30)
    assert killed_in_publish, "the run finished before its publish could be interrupted"
    assert _digest(warehouse) == before
    assert _digest(tmp_path / "hedui-analyst.duckdb") == analyst_before
    # the next run cleans up after the killed one and publishes normally
    run_local_monthly(SAMPLE / "incoming", SAMPLE_PERIOD, warehouse)
    assert not list(tmp_path.rglob("*.tmp*"))
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("SELECT count(*) FROM assessments WHERE period = ?", [SAMPLE_PERIOD]).fetchone()[0] > 0
    con.close()


@pytest.mark.slow
def test_a_run_killed_while_landing_leaves_the_warehouse_as_it_was(tmp_path):
    warehouse = tmp_path / "hedui.duckdb"
    run_local_monthly(SAMPLE / "incoming", "2026-09", warehouse)
    before = _digest(warehouse)
    proc = _spawn("monthly", "--incoming", SAMPLE / "incoming", "--period", SAMPLE_PERIOD,
                  "--warehouse", warehouse, "--orchestrator", "local")
    deadline = time.monotonic() + 120
    landing = []
    # a month folder in the run's scratch means landing has begun (.work/<run_id>/<YYYY-MM>/)
    while time.monotonic() < deadline and proc.poll() is None and not landing:
        landing = [d for d in tmp_path.glob(".work/*/[0-9][0-9][0-9][0-9]-[0-9][0-9]") if d.is_dir()]
        time.sleep(0.01)
    assert landing and proc.poll() is None, "the run ended or timed out before it began landing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    # where the kill fell: a month landing, nothing assessed yet, no warehouse copy being published
    assert not list(tmp_path.glob(".work/*/assess-*")), "the kill fell after landing"
    assert not list(tmp_path.glob(".hedui.duckdb.staging/*.tmp")), "the kill fell in the publish"
    assert _digest(warehouse) == before


@pytest.mark.slow
def test_an_analyst_reading_during_a_run_sees_the_old_month_or_the_new_one(tmp_path):
    warehouse = tmp_path / "hedui.duckdb"
    run_local_monthly(SAMPLE / "incoming", "2026-09", warehouse)
    proc = _spawn("monthly", "--incoming", SAMPLE / "incoming", "--period", SAMPLE_PERIOD,
                  "--warehouse", warehouse, "--orchestrator", "local")
    seen = []
    while proc.poll() is None:
        con = duckdb.connect(str(warehouse), read_only=True)
        households = con.execute("SELECT count(*) FROM assessments WHERE period = ?",
                                 [SAMPLE_PERIOD]).fetchone()[0]
        runs = con.execute("SELECT count(*) FROM runs").fetchone()[0]
        con.close()
        seen.append((households, runs))
        time.sleep(0.05)
    assert proc.returncode == 0, proc.stderr.read()
    con = duckdb.connect(str(warehouse), read_only=True)
    final = con.execute("SELECT count(*) FROM assessments WHERE period = ?", [SAMPLE_PERIOD]).fetchone()[0]
    con.close()
    assert final > 0
    assert len(seen) > 3
    # every read saw either the state before the run (no 2026-10, one run) or after it, never half
    assert set(seen) <= {(0, 1), (final, 2)}


def test_the_next_run_removes_a_killed_runs_scratch_data(tmp_path):
    from pipelines import runner

    work = tmp_path / ".work"
    dead = work / "20260101T000000Z-deadbeef"
    dead.mkdir(parents=True)
    (dead / "pid").write_text("999999999")
    (dead / "stg_register.parquet").write_bytes(b"personal data")
    unknown = work / "20260101T000000Z-nopidfil"
    unknown.mkdir()
    ctx = runner.RunContext.create(flow="monthly", incoming=tmp_path, warehouse=tmp_path / "hedui.duckdb")
    try:
        assert not dead.exists() and not unknown.exists()
        assert ctx.scratch.exists()
    finally:
        ctx.cleanup()
