"""The real Prefect flows on data/sample/ (ephemeral server): tasks, artifact, retries, logs."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

from conftest import ROOT, SAMPLE, SAMPLE_PERIOD, read_delivered_csv


@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.mark.slow
def test_monthly_and_quarterly_flows_publish_and_leave_an_artifact(harness, tmp_path):
    from prefect.client.orchestration import get_client

    from pipelines import flows

    warehouse = tmp_path / "hedui.duckdb"
    summary = flows.monthly_flow(incoming=str(SAMPLE / "incoming"), period=SAMPLE_PERIOD,
                                 warehouse=str(warehouse))
    assert summary["links"]["matched"] > 0
    quarter = flows.quarterly_flow(incoming=str(SAMPLE / "incoming"), quarter="2026Q3",
                                   warehouse=str(warehouse))
    assert quarter["period"] == "2026Q3"
    con = duckdb.connect(str(warehouse), read_only=True)
    runs = con.execute("SELECT flow, period, status FROM runs ORDER BY started_at").fetchall()
    periods = {r[0] for r in con.execute("SELECT DISTINCT period FROM assessments").fetchall()}
    con.close()
    assert runs == [("monthly", SAMPLE_PERIOD, "succeeded"), ("quarterly", "2026Q3", "succeeded")]
    assert periods == {"2026-07", "2026-08", "2026-09", SAMPLE_PERIOD}
    with get_client(sync_client=True) as client:
        keys = {a.key for a in client.read_artifacts()}
        task_names = {t.name for t in client.read_task_runs()}
    assert {f"hedui-monthly-{SAMPLE_PERIOD}", "hedui-quarterly-2026q3"} <= keys
    assert any(n.startswith("land-and-clean-") for n in task_names)
    assert any(n.startswith("assess-") for n in task_names)


def test_only_a_file_still_being_written_is_retried():
    from prefect.states import Failed

    from pipelines import flows, runner

    transient = Failed(data=runner.FileStillBeingWritten("tax_wages.csv was modified 1 s ago"))
    data_error = Failed(data=ValueError("收入额 '12a.5' is not an amount"))
    assert flows._retry_only_while_delivering(None, None, transient) is True
    assert flows._retry_only_while_delivering(None, None, data_error) is False


def test_a_folder_still_being_delivered_is_reported_as_transient(tmp_path):
    from pipelines import runner

    month = tmp_path / "incoming" / SAMPLE_PERIOD
    month.mkdir(parents=True)
    (month / "register.csv").write_text("户编号\n", encoding="utf-8")
    ctx = runner.RunContext.create(flow="monthly", incoming=tmp_path / "incoming",
                                   warehouse=tmp_path / "hedui.duckdb")
    try:
        with pytest.raises(runner.FileStillBeingWritten, match="register.csv"):
            runner.stage_land_clean(ctx, SAMPLE_PERIOD, settle_seconds=60)
    finally:
        ctx.cleanup()


@pytest.mark.slow
def test_the_default_command_runs_through_prefect_without_a_server(tmp_path):
    warehouse = tmp_path / "hedui.duckdb"
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "monthly", "--incoming",
                           str(SAMPLE / "incoming"), "--period", SAMPLE_PERIOD, "--warehouse",
                           str(warehouse)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    reg = read_delivered_csv(SAMPLE / "incoming" / SAMPLE_PERIOD / "register.csv")
    out = done.stdout + done.stderr
    assert not [i for i in reg["身份证号"].drop_nulls().to_list() if len(i) >= 15 and i in out]
    assert not [n for n in reg["姓名"].drop_nulls().to_list() if len(n) >= 2 and n in out]


def test_the_deployments_take_a_period_or_quarter_and_a_cron_for_trying_a_schedule(tmp_path):
    from pipelines.schedule import MONTHLY_CRON, build_deployments, validate_cron

    monthly, quarterly = build_deployments(incoming=str(tmp_path), warehouse=None,
                                           monthly_cron="* * * * *")
    assert monthly.parameters == {"incoming": str(tmp_path), "warehouse": None, "period": None}
    assert quarterly.parameters["quarter"] is None
    assert [s.schedule.cron for s in monthly.schedules] == ["* * * * *"]
    assert [s.schedule.timezone for s in quarterly.schedules] == ["Asia/Shanghai"]
    assert validate_cron(MONTHLY_CRON) == MONTHLY_CRON
    for bad in ("every minute", "* * * *", "61 * * * *"):
        with pytest.raises(ValueError, match="cron"):
            validate_cron(bad)


def test_what_a_failed_flow_run_records_in_runs():
    from pipelines import runner
    from pipelines import warehouse as wh
    from pipelines.flows import failure_message
    from pipelines.rulebook import RulebookError

    assert failure_message(runner.RunFailed("register.csv is missing from 2026-10")) == \
        "register.csv is missing from 2026-10"
    assert "990199" in failure_message(RulebookError("no 低保标准 for district(s) 990199"))
    # an unexpected error's text may quote delivered data: only its type is recorded
    leaked = failure_message(KeyError("110105194912310021"))
    assert "KeyError" in leaked and "110105" not in leaked
    assert failure_message(wh.WarehouseError("not writable")) is None
