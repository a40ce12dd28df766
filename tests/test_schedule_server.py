"""The scheduler for real: `prefect server start` on 127.0.0.1, `hedui serve`, a schedule that fires.

This is the only test that proves a schedule produces runs: the deployments being listed is not
enough (with SQLAlchemy 2.1 the server listed them and never created a run). It starts its own
server with a fresh PREFECT_HOME on a free port, serves the deployments with a monthly cron due
within a minute, and waits (bounded) for the server's scheduler to create a run and for the
served runner to complete it into the warehouse. It also re-runs a chosen month through the
deployment's ``period`` parameter, as an operator would from the UI, and checks that a failed run
leaves its ``failed`` row in ``runs``. Finally SIGTERM stops serve cleanly.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow

PREFECT = Path(sys.executable).with_name("prefect")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(api: str, server: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"prefect server exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"prefect server not healthy after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, wait: float = 60) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture
def prefect_server(tmp_path):
    """A real Prefect server on a free loopback port with its own PREFECT_HOME; yields (api, env)."""
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    home = tmp_path / "prefect-home"
    home.mkdir()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": api,
           "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
           "PREFECT_UI_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "INFO",
           # the scheduler service normally looks every 60 s; the same code path, sooner
           "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
           "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "server.log"
    with log.open("w") as fh:
        server = subprocess.Popen([str(PREFECT), "server", "start", "--host", "127.0.0.1",
                                   "--port", str(port)], env=env, stdout=fh,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_healthy(api, server, log, timeout=120)
        yield api, env, log
    finally:
        _stop(server)


def _city(out: Path) -> Path:
    """A small generated city whose folders cover the month the schedule will check."""
    from pipelines import periods as pp
    from pipelines.sample import generate_city
    from pipelines.schedule import previous_period

    now = datetime.now().astimezone()
    last = max(previous_period(now), previous_period(now + timedelta(minutes=10)))
    months = pp.window(last, 7)
    generate_city(out, households=30, months=months, seed=11)
    # delivered an hour ago: scheduled runs wait for files younger than 30 s to settle
    an_hour_ago = time.time() - 3600
    for f in (out / "incoming").rglob("*"):
        os.utime(f, (an_hour_ago, an_hour_ago))
    return out / "incoming"


def _flow_runs(client, deployment_id):
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    return client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))


def _wait_for(predicate, timeout: float, what: str, serve_log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(2)
    pytest.fail(f"{what} within {timeout:.0f} s; serve output:\n{serve_log.read_text()[-4000:]}")


def test_a_served_schedule_creates_and_completes_a_run_and_sigterm_stops_cleanly(
        prefect_server, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from pipelines.schedule import previous_period

    api, env, server_log = prefect_server
    incoming = _city(tmp_path / "city")
    warehouse = tmp_path / "wh" / "hedui.duckdb"
    serve_log = tmp_path / "serve.log"
    started = time.monotonic()
    with serve_log.open("w") as fh:
        serve = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "serve", "--incoming", str(incoming),
             "--warehouse", str(warehouse), "--monthly-cron", "* * * * *"],
            cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
            quarterly = _wait_for(
                lambda: _try(lambda: client.read_deployment_by_name(
                    "hedui-scheduled-quarterly/hedui-quarterly")),
                90, "the deployments were not registered", serve_log)
            monthly = client.read_deployment_by_name("hedui-scheduled-monthly/hedui-monthly")
            assert quarterly.parameters.get("quarter", "absent") is None
            assert monthly.parameters["period"] is None

            scheduled = _wait_for(
                lambda: [r for r in _flow_runs(client, monthly.id)
                         if r.auto_scheduled and r.state and r.state.is_completed()],
                240, "no scheduled run was created and completed", serve_log)
            took = time.monotonic() - started

            # an operator re-runs a chosen month from the UI: a month whose folder is absent
            # fails, and the failure is recorded in `runs` with that month as its period
            missing_month = "2019-01"
            manual = client.create_flow_run_from_deployment(
                monthly.id, parameters={"period": missing_month})
            manual_state = _wait_for(
                lambda: _final(client.read_flow_run(manual.id)), 120,
                "the manual run did not finish", serve_log)
            assert manual_state.is_failed()
    finally:
        _stop(serve)
    out = serve_log.read_text()
    assert serve.returncode == 0, out[-3000:]
    assert "was never awaited" not in out
    assert "Traceback" not in out.split("hedui serve：服务中")[0]
    assert "已停止，两个定时计划均已暂停" in out

    con = duckdb.connect(str(warehouse), read_only=True)
    rows = con.execute("SELECT flow, period, status, message FROM runs ORDER BY started_at").fetchall()
    con.close()
    assert ("monthly", previous_period(scheduled[0].expected_start_time), "succeeded", None) in rows
    failed = [r for r in rows if r[2] == "failed"]
    assert [(r[0], r[1]) for r in failed] == [("monthly", missing_month)]
    assert missing_month in failed[0][3]
    # the server's scheduler logged no error while creating the runs (the SQLAlchemy 2.1 failure)
    assert "Can't evaluate bulk DML" not in server_log.read_text()
    print(f"scheduled run created and completed {took:.0f} s after serve started")

    with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        paused = client.read_deployment(monthly.id)
    assert paused.paused or not any(s.active for s in paused.schedules)


def _try(fn):
    try:
        return fn()
    except Exception:  # noqa: BLE001 - not there yet
        return None


def _final(run):
    return run.state if run.state and run.state.is_final() else None
