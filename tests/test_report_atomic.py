"""``hedui report`` writes each file whole or not at all: a failure mid-write keeps the old file."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest
import xlsxwriter

from pipelines.report import write_reports

from helpers.report_fixture import PERIOD, build_warehouse


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_warehouse(tmp_path_factory.mktemp("wh") / "hedui.duckdb")


def test_a_workbook_failing_mid_write_leaves_the_previous_one_intact(warehouse, tmp_path, monkeypatch):
    out = tmp_path / "reports"
    write_reports(warehouse, period=PERIOD, out=out)
    before = _digests(out)

    def half_then_fail(self):  # the disk fills (or the process dies) half-way through the file
        Path(self.filename).write_bytes(b"PK\x03\x04 half a workbook")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(xlsxwriter.Workbook, "close", half_then_fail)
    with pytest.raises(OSError, match="No space"):
        write_reports(warehouse, period=PERIOD, out=out)
    assert _digests(out) == before  # same files, same bytes, no temporary left


def test_the_html_report_failing_mid_write_leaves_the_previous_one_intact(warehouse, tmp_path, monkeypatch):
    out = tmp_path / "reports"
    write_reports(warehouse, period=PERIOD, out=out)
    before = _digests(out)
    real = Path.write_text

    def half_then_fail(self, data, *args, **kwargs):
        real(self, data[: len(data) // 2], *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", half_then_fail)
    with pytest.raises(OSError, match="No space"):
        write_reports(warehouse, period=PERIOD, out=out)
    monkeypatch.setattr(Path, "write_text", real)
    after = _digests(out)
    assert set(after) == set(before)  # no temporary left
    html = f"hedui-{PERIOD}.html"
    assert after[html] == before[html]  # the workbooks were rewritten whole before the page failed


def test_a_first_report_failing_leaves_no_file_of_that_name(warehouse, tmp_path, monkeypatch):
    out = tmp_path / "reports"

    def fail(self):
        Path(self.filename).write_bytes(b"PK")
        raise OSError(5, "I/O error")

    monkeypatch.setattr(xlsxwriter.Workbook, "close", fail)
    with pytest.raises(OSError):
        write_reports(warehouse, period=PERIOD, out=out)
    assert list(out.iterdir()) == []


def test_the_html_report_names_the_analyst_database(warehouse, tmp_path):
    html = write_reports(warehouse, period=PERIOD, out=tmp_path)[-1]
    assert "hedui-analyst.duckdb" in html.read_text(encoding="utf-8")


def test_atomic_write_keeps_the_umask_mode_and_removes_a_dead_writers_temporary(tmp_path):
    from pipelines.fsio import atomic_write_path

    final = tmp_path / "r.xlsx"
    dead = tmp_path / ".r.xlsx.999999999-deadbeef.tmp.xlsx"  # a writer killed outright
    dead.write_bytes(b"half")
    old = os.umask(0o027)
    try:
        with atomic_write_path(final) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".xlsx"
            tmp.write_bytes(b"whole")
    finally:
        os.umask(old)
    assert final.read_bytes() == b"whole"
    assert stat.S_IMODE(final.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["r.xlsx"]
