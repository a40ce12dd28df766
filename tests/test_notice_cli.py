"""``hedui notice`` as staff run it: the notice on stdout, clear Chinese refusals, no traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys

import duckdb
import pytest

from pipelines.notice import NoticeError, household_notice

from conftest import ROOT, SAMPLE_PERIOD


def _hedui(*args):
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)


def _households(warehouse) -> tuple[str, str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        flagged = con.execute("SELECT min(household_id) FROM flags WHERE period = ?",
                              [SAMPLE_PERIOD]).fetchone()[0]
        quiet = con.execute("""SELECT min(household_id) FROM assessments WHERE period = ?
                               AND household_id NOT IN (SELECT household_id FROM flags WHERE period = ?)""",
                            [SAMPLE_PERIOD, SAMPLE_PERIOD]).fetchone()[0]
    finally:
        con.close()
    return flagged, quiet


@pytest.mark.slow
def test_notice_prints_the_notice(sample_warehouse):
    flagged, _ = _households(sample_warehouse)
    done = _hedui("notice", "--period", SAMPLE_PERIOD, "--household", flagged,
                  "--warehouse", sample_warehouse)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("家庭经济状况核对告知书")
    assert f"户编号：{flagged}" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize(("case", "code", "words"), [
    ("unknown_period", 1, "2031-01 没有核对结果"),
    ("unknown_household", 1, "在 2026-10 的核对结果中不存在"),
    ("no_flags", 1, "没有核查标记"),
    ("bad_period", 2, "格式不对"),
    ("no_warehouse", 1, "没有找到数据库"),
])
def test_notice_refusals_are_chinese_without_traceback(sample_warehouse, tmp_path, case, code, words):
    flagged, quiet = _households(sample_warehouse)
    period, household, warehouse = SAMPLE_PERIOD, flagged, sample_warehouse
    if case == "unknown_period":
        period = "2031-01"
    elif case == "unknown_household":
        household = "H000000000000"
    elif case == "no_flags":
        household = quiet
    elif case == "bad_period":
        period = "2026-13"
    elif case == "no_warehouse":
        warehouse = tmp_path / "absent.duckdb"
    done = _hedui("notice", "--period", period, "--household", household, "--warehouse", warehouse)
    assert done.returncode == code
    assert words in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stdout == ""


@pytest.mark.slow
def test_a_broken_or_missing_template_is_a_named_error(sample_warehouse, tmp_path):
    flagged, _ = _households(sample_warehouse)
    folder = tmp_path / "notices"
    shutil.copytree(ROOT / "rules" / "notices", folder)
    con = duckdb.connect(str(sample_warehouse), read_only=True)
    try:
        flags = [r[0] for r in con.execute("SELECT flag FROM flags WHERE period = ? AND household_id = ?",
                                           [SAMPLE_PERIOD, flagged]).fetchall()]
        template = folder / f"{flags[0]}.md.j2"
        template.write_text(template.read_text() + "{{ f.q.no_such_quantity }}\n")
        with pytest.raises(NoticeError, match="不存在的数值"):
            household_notice(con, period=SAMPLE_PERIOD, household_id=flagged, folder=folder)
        template.unlink()
        with pytest.raises(NoticeError, match="没有告知书模板"):
            household_notice(con, period=SAMPLE_PERIOD, household_id=flagged, folder=folder)
    finally:
        con.close()
