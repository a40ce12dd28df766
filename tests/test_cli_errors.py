"""The operator at the command line: named failures are one Chinese line, fast, no traceback.

Each test runs the real `hedui` command in a subprocess. Most failures are found before Prefect
starts, so they run with the default orchestrator and still take a second or two.
"""

from __future__ import annotations

import functools
import io
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from conftest import ROOT, SAMPLE, SAMPLE_PERIOD, read_delivered_csv

INCOMING = SAMPLE / "incoming"
#: a bad argument must fail without starting Prefect (it took 11-18 s): CPU seconds of the
#: command, which do not grow when other jobs load the machine (wall time does)
FAST = 2.0


def _hedui(*args, user: int | None = None, env: dict | None = None, timeout: float = 600):
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, user=user, check=False,
                          env=env)


def _timed(*args, **kwargs):
    """Run hedui; return it with the CPU seconds (user + system) the command used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = _hedui(*args, **kwargs)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return done, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _one_clean_line(done) -> str:
    """The stderr of a named failure: one line, no traceback, no Prefect log."""
    text = done.stderr.strip()
    assert "Traceback" not in done.stderr
    assert text.count("\n") == 0, done.stderr
    assert text.startswith("hedui："), text
    return text


# ------------------------------------------------------------------ arguments and paths (items 4, 6)


def test_a_bad_incoming_fails_fast_with_the_default_orchestrator(tmp_path):
    done, took = _timed("monthly", "--incoming", tmp_path / "nowhere", "--period", SAMPLE_PERIOD,
                        "--warehouse", tmp_path / "w" / "hedui.duckdb")
    assert done.returncode == 1
    line = _one_clean_line(done)
    assert "nowhere" in line and "不存在" in line
    assert took < FAST, f"took {took:.1f} CPU s"
    assert not (tmp_path / "w").exists()


def test_a_missing_period_folder_or_register_fails_before_anything_loads(tmp_path):
    done, took = _timed("monthly", "--incoming", INCOMING, "--period", "2031-01",
                        "--warehouse", tmp_path / "hedui.duckdb")
    assert done.returncode == 1
    assert "2031-01" in _one_clean_line(done)
    assert took < FAST
    month = tmp_path / "incoming" / SAMPLE_PERIOD
    shutil.copytree(INCOMING / SAMPLE_PERIOD, month)
    (month / "register.csv").unlink()
    done = _hedui("quarterly", "--incoming", tmp_path / "incoming", "--quarter", "2026Q4",
                  "--warehouse", tmp_path / "hedui.duckdb")
    assert done.returncode == 1
    assert "2026-10" in _one_clean_line(done) and "register.csv" in done.stderr
    done = _hedui("monthly", "--incoming", tmp_path / "incoming", "--period", SAMPLE_PERIOD,
                  "--warehouse", tmp_path / "hedui.duckdb")
    assert done.returncode == 1
    assert "register.csv" in _one_clean_line(done)
    assert not (tmp_path / "hedui.duckdb").exists()


@pytest.mark.parametrize(("args", "says"), [
    (["--period", "2026-13"], "月份 13 超出范围"),
    (["--period", "2026-00"], "月份 00 超出范围"),
    (["--period", "2026/10"], "不是 YYYY-MM 格式"),
])
def test_a_malformed_or_out_of_range_month_is_a_usage_error(tmp_path, args, says):
    done = _hedui("monthly", "--incoming", INCOMING, *args, "--warehouse", tmp_path / "w.duckdb")
    assert done.returncode == 2
    assert says in _one_clean_line(done)


def test_a_quarter_out_of_range_is_a_usage_error(tmp_path):
    done = _hedui("quarterly", "--incoming", INCOMING, "--quarter", "2026Q5",
                  "--warehouse", tmp_path / "w.duckdb")
    assert done.returncode == 2
    assert "季度 5 超出范围" in _one_clean_line(done)


def test_an_unknown_district_is_refused_before_loading(tmp_path):
    warehouse = tmp_path / "hedui.duckdb"
    done, took = _timed("monthly", "--incoming", INCOMING, "--period", SAMPLE_PERIOD,
                        "--district", "999999", "--warehouse", warehouse)
    assert done.returncode == 2
    line = _one_clean_line(done)
    assert "999999" in line and "未知的区县代码" in line
    assert "990101" in line  # it says which districts the register has
    assert took < FAST + 2, f"took {took:.1f} CPU s"
    assert not warehouse.exists() and not (tmp_path / ".work").exists()
    done = _hedui("monthly", "--incoming", INCOMING, "--period", SAMPLE_PERIOD,
                  "--district", "99010", "--warehouse", warehouse)
    assert done.returncode == 2
    assert "6 位数字" in _one_clean_line(done)


def test_a_district_on_the_register_without_a_standard_fails_naming_it(tmp_path):
    month = tmp_path / "incoming" / SAMPLE_PERIOD
    shutil.copytree(INCOMING / SAMPLE_PERIOD, month)
    reg = read_delivered_csv(month / "register.csv")
    import polars as pl

    reg.with_columns(pl.col("区县代码").str.replace("990103", "990199")).write_csv(
        month / "register.csv")
    done, took = _timed("monthly", "--incoming", tmp_path / "incoming", "--period",
                        SAMPLE_PERIOD, "--district", "990199",
                        "--warehouse", tmp_path / "hedui.duckdb")
    assert done.returncode == 1
    line = _one_clean_line(done)
    assert "990199" in line and "低保标准" in line
    assert took < FAST + 2
    assert not (tmp_path / "hedui.duckdb").exists()


# ------------------------------------------------------------------ the warehouse (items 5, 6)


@pytest.fixture
def shared_dir():
    """A folder another user can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="hedui-cli-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for p in path.rglob("*"):
            if p.is_dir():
                p.chmod(0o755)
        shutil.rmtree(path, ignore_errors=True)


_NOBODY = 65534


@functools.cache
def _nobody_can_run_hedui() -> bool:
    env = {**os.environ, "HOME": "/tmp"}
    try:
        done = subprocess.run([sys.executable, "-c", "import pipelines.cli"], cwd=ROOT, env=env,
                              user=_NOBODY, capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _other_user() -> dict:
    """Run as an unprivileged user when we are root (root writes through any mode bits)."""
    if os.geteuid() != 0:
        return {}
    if not _nobody_can_run_hedui():
        pytest.skip("running as root, and user 65534 cannot read this checkout or its Python, "
                    "so a folder without write permission cannot be tried")
    return {"user": _NOBODY, "env": {**os.environ, "HOME": "/tmp", "PREFECT_HOME": "/tmp/nonexistent"}}


def test_a_warehouse_folder_that_cannot_be_written_is_named_without_a_traceback(shared_dir):
    locked = shared_dir / "readonly"
    locked.mkdir()
    locked.chmod(0o555)
    done = _hedui("monthly", "--incoming", INCOMING, "--period", SAMPLE_PERIOD,
                  "--warehouse", locked / "hedui.duckdb", **_other_user())
    assert done.returncode == 1
    line = _one_clean_line(done)
    assert "无法写入仓库" in line and str(locked) in line
    assert not list(locked.iterdir())


def test_a_warehouse_path_through_a_file_is_named_without_a_traceback(tmp_path):
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    done = _hedui("monthly", "--incoming", INCOMING, "--period", SAMPLE_PERIOD,
                  "--warehouse", a_file / "hedui.duckdb")
    assert done.returncode == 1
    line = _one_clean_line(done)
    assert "无法写入仓库" in line and str(a_file) in line


def test_a_report_into_a_folder_that_cannot_be_written_is_named(shared_dir):
    warehouse = shared_dir / "hedui.duckdb"
    duckdb.connect(str(warehouse)).close()
    warehouse.chmod(0o644)
    out = shared_dir / "reports"
    out.mkdir()
    out.chmod(0o555)
    done = _hedui("report", "--period", SAMPLE_PERIOD, "--warehouse", warehouse, "--out", out,
                  **_other_user())
    assert done.returncode == 1
    line = _one_clean_line(done)
    assert "无法写入报告" in line and str(out) in line
    a_file = shared_dir / "not-a-folder"
    a_file.write_text("x")
    done = _hedui("report", "--period", SAMPLE_PERIOD, "--warehouse", warehouse,
                  "--out", a_file / "reports")
    assert done.returncode == 1
    assert "不是文件夹" in _one_clean_line(done)


def test_a_warehouse_held_read_write_by_an_analyst_names_the_process(tmp_path):
    warehouse = tmp_path / "hedui.duckdb"
    analyst = duckdb.connect(str(warehouse))  # an analyst forgot read_only=True
    try:
        analyst.execute("CREATE TABLE scratch (a INTEGER)")
        for args in (["monthly", "--incoming", INCOMING, "--period", SAMPLE_PERIOD],
                     ["report", "--period", SAMPLE_PERIOD, "--out", tmp_path / "r"]):
            done, took = _timed(*args, "--warehouse", warehouse)
            assert done.returncode == 1
            line = _one_clean_line(done)
            assert f"进程 {os.getpid()}" in line
            assert "read_only=True" in line
            assert took < FAST
    finally:
        analyst.close()


def test_a_missing_warehouse_exits_1_in_report_and_in_decisions_import(tmp_path):
    missing = tmp_path / "none" / "hedui.duckdb"
    decisions = tmp_path / "d.csv"
    decisions.write_text("期间,户编号,处理结果\n", encoding="utf-8")
    report = _hedui("report", "--period", SAMPLE_PERIOD, "--warehouse", missing,
                    "--out", tmp_path / "r")
    imported = _hedui("decisions", "import", decisions, "--warehouse", missing)
    assert report.returncode == imported.returncode == 1
    assert _one_clean_line(report) == _one_clean_line(imported)
    assert "hedui monthly" in report.stderr
    assert not missing.parent.exists()


def test_a_refused_import_states_its_refusal_once(tmp_path):
    from pipelines import warehouse as wh

    warehouse = tmp_path / "hedui.duckdb"
    with wh.publishing(warehouse):
        pass
    before = warehouse.read_bytes()
    bad = tmp_path / "short.csv"
    bad.write_text("期间,户编号,处理结果\n2026-10,H001,排除\n", encoding="utf-8")
    done = _hedui("decisions", "import", bad, "--warehouse", warehouse)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    # one statement of the refusal (naming the file), then only the indented problem rows
    headers = [ln for ln in lines if not ln.startswith(" ")]
    assert len(headers) == 1, done.stderr
    assert "short.csv" in headers[0]
    assert warehouse.read_bytes() == before


def test_a_failed_run_records_its_own_row_and_creates_no_warehouse(tmp_path):
    incoming = tmp_path / "incoming"
    month = incoming / SAMPLE_PERIOD
    month.mkdir(parents=True)
    (month / "register.csv").write_text("户编号,姓名\nH1,张三\n", encoding="utf-8")
    warehouse = tmp_path / "hedui.duckdb"
    done = _hedui("monthly", "--incoming", incoming, "--period", SAMPLE_PERIOD,
                  "--warehouse", warehouse, "--orchestrator", "local")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("hedui：") and "运行失败" in line and "register" in line
    assert not warehouse.exists()
    assert not (tmp_path / ".work").exists()

    from pipelines import warehouse as wh

    with wh.publishing(warehouse):
        pass
    started = time.time()
    done = _hedui("monthly", "--incoming", incoming, "--period", SAMPLE_PERIOD,
                  "--warehouse", warehouse, "--orchestrator", "local")
    assert done.returncode == 1
    con = duckdb.connect(str(warehouse), read_only=True)
    rows = con.execute("SELECT run_id, status, epoch(started_at), epoch(finished_at), message "
                       "FROM runs").fetchall()
    con.close()
    assert len(rows) == 1
    run_id, status, started_at, finished_at, message = rows[0]
    assert status == "failed" and "register" in message
    # the row is the run's own: its start is when the run began, not when it failed
    assert started - 1 <= started_at <= finished_at
    assert run_id[:8].isdigit()


@pytest.mark.slow
def test_a_named_failure_under_prefect_prints_no_prefect_traceback(tmp_path):
    incoming = tmp_path / "incoming"
    month = incoming / SAMPLE_PERIOD
    month.mkdir(parents=True)
    (month / "register.csv").write_text("户编号,姓名\nH1,张三\n", encoding="utf-8")
    done = _hedui("monthly", "--incoming", incoming, "--period", SAMPLE_PERIOD,
                  "--warehouse", tmp_path / "hedui.duckdb")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    # Prefect logs nothing about the failure: what is left is hedui's line (after the
    # warning line of the refused register file that the clean stage logs in every run)
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("hedui：") and "运行失败" in lines[-1]
    assert len(lines) <= 2, done.stderr


def test_noise_printed_while_the_interpreter_stops_does_not_reach_the_operator(tmp_path):
    # stands for Prefect's exit hooks and garbage collection (registered before hedui's mute):
    # whatever they print after hedui's last line is dropped; what came before is kept
    script = tmp_path / "exiting.py"
    script.write_text(textwrap.dedent("""
        import atexit, sys
        atexit.register(lambda: print("Traceback (most recent call last): noise", file=sys.stderr))
        from pipelines.cli.run import mute_stderr_at_exit
        print("hedui：运行失败", file=sys.stderr)
        mute_stderr_at_exit()
        sys.exit(1)
    """), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 1
    assert done.stderr == "hedui：运行失败\n"
    # without the mute the same script prints the noise: the test can fail
    unmuted = script.read_text(encoding="utf-8").replace("mute_stderr_at_exit()", "pass")
    script.write_text(unmuted, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert "Traceback" in done.stderr


# ------------------------------------------------------------------ help and output (items 7, 8)


@pytest.mark.parametrize("command", [["monthly"], ["quarterly"], ["report"], ["serve"],
                                     ["decisions", "import"]])
def test_help_shows_the_warehouse_default_and_plain_flags(command):
    done = _hedui(*command, "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "warehouse/hedui.duckdb" in text
    assert "<bool>" not in text
    if command[0] in {"monthly", "quarterly"}:
        assert "--no-cache " in text or "--no-cache\n" in done.stdout


def test_version_and_the_help_texts_that_were_wrong():
    from pipelines import __version__

    done = _hedui("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"hedui {__version__}"
    report = " ".join(_hedui("report", "--help").stdout.split())
    assert "工作簿" in report and "XLSX" in report
    serve = " ".join(_hedui("serve", "--help").stdout.split())
    assert "PREFECT_API_URL" in serve and "SIGTERM" in serve
    assert "--monthly-cron" in serve


def test_a_long_message_is_not_wrapped_when_not_on_a_terminal(tmp_path):
    deep = tmp_path / ("a-folder-with-a-long-name-" * 4) / "incoming"
    done = _hedui("monthly", "--incoming", deep, "--period", SAMPLE_PERIOD,
                  "--warehouse", tmp_path / "w.duckdb", env={**os.environ, "COLUMNS": ""})
    assert done.returncode == 1
    line = _one_clean_line(done)
    assert len(line) > 120 and str(deep) in line


def test_serve_refuses_to_start_without_a_prefect_server(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "home")
    done, took = _timed("serve", "--incoming", tmp_path, "--warehouse", tmp_path / "w.duckdb",
                        env=env, timeout=120)
    assert done.returncode == 2
    assert "PREFECT_API_URL" in _one_clean_line(done)
    assert took < 30


def test_serve_refuses_a_malformed_cron(tmp_path):
    done = _hedui("serve", "--incoming", tmp_path, "--monthly-cron", "every minute")
    assert done.returncode == 2
    line = _one_clean_line(done)
    assert "every minute" in line and "cron" in line


# ------------------------------------------------------------------ the console summary (item 9)


def _render(summary: dict) -> str:
    from rich.console import Console

    from pipelines.summary import print_summary

    buf = io.StringIO()
    print_summary(summary, Console(file=buf, width=200, highlight=False))
    return buf.getvalue()


def test_the_console_shows_every_note():
    from pipelines.run_notes import word

    notes = [{"code": "flagged", "flag": "INCOME_DROP", "households": i, "period": f"2026-0{1 + i % 9}"}
             for i in range(45)]
    text = _render({"period": "2026Q3", "notes": notes})
    assert all(word(n) in text for n in notes)


def test_quarterly_flag_counts_are_households_as_in_quarter_summary():
    # one household flagged in each of the three months: 3 household-months, 1 household
    flags = [{"period": p, "district_code": "990101", "flag": "INCOME_OVER_STANDARD", "len": 1}
             for p in ("2026-07", "2026-08", "2026-09")]
    quarterly = {"period": "2026Q3", "flags": flags, "quarter_summary": [
        {"quarter": "2026Q3", "district_code": "990101", "flag": "INCOME_OVER_STANDARD",
         "households_flagged": 1, "households_new": 1}]}
    from pipelines.summary import household_counts

    assert household_counts(quarterly) == {("INCOME_OVER_STANDARD", "990101"): 1}
    row = next(ln for ln in _render(quarterly).splitlines() if "INCOME_OVER_STANDARD" in ln)
    assert row.split()[-2:] == ["1", "│"] or row.rstrip(" │").split()[-1] == "1"
    monthly = {"period": "2026-09", "flags": flags[2:] + [
        {"period": "2026-09", "district_code": "990102", "flag": "INCOME_OVER_STANDARD",
         "len": 4}]}
    assert household_counts(monthly) == {("INCOME_OVER_STANDARD", "990101"): 1,
                                         ("INCOME_OVER_STANDARD", "990102"): 4}
