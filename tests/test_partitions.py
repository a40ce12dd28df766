"""Per-period partitions: a publish writes only the periods it declares, and stays atomic."""

import os
import stat
import subprocess
import sys
from datetime import timedelta

import duckdb
import pytest

from pipelines import partitions as parts
from pipelines import partitions_gc
from pipelines import warehouse as wh


def _publish(path, period, reasons, *, declare=True, refresh=True):
    """Replace one period's quarantine and flags rows the way stage_publish does."""
    analyst_refresh = wh.AnalystRefresh([period], [period]) if refresh else None
    with wh.publishing(path, periods=[period] if declare else None,
                       analyst_refresh=analyst_refresh) as con:
        con.execute("DELETE FROM quarantine WHERE period = ?", [period])
        for i, reason in enumerate(reasons):
            con.execute("INSERT INTO quarantine (source, period, file, row_number, record_no, reason) "
                        "VALUES ('bank', ?, 'b.csv', ?, ?, ?)",
                        [period, i, f"R{i}", reason])
        con.execute("DELETE FROM flags WHERE period = ?", [period])
        con.execute("INSERT INTO flags (period, household_id, district_code, flag, evidence, "
                    "rulebook_version) VALUES (?, 'H1', '990101', 'INCOME_OVER_STANDARD', "
                    "'{\"records\": []}', 'v1')", [period])


def _files(path):
    return {p: p.stat().st_mtime_ns for p in wh.parts_dir(path).glob("*/*")}


def _rows(path, sql):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_publish_rewrites_only_its_declared_period_and_keeps_the_others_files(tmp_path):
    path = tmp_path / "hedui.duckdb"
    for month in ("2026-07", "2026-08", "2026-09"):
        _publish(path, month, [f"old {month}"])
    before = _files(path)
    _publish(path, "2026-09", ["new 2026-09"])
    after = _files(path)
    kept = {p for p in before if p in after and after[p] == before[p]}
    # the other periods' files are the same files, untouched; 2026-09 got new ones
    assert {p.name.split("-")[0] + "-" + p.name.split("-")[1] for p in kept} >= {"2026-07", "2026-08"}
    new = set(after) - set(before)
    assert new and all(p.name.startswith("2026-09") for p in new)
    assert _rows(path, "SELECT period, reason FROM quarantine ORDER BY 1") == [
        ("2026-07", "old 2026-07"), ("2026-08", "old 2026-08"), ("2026-09", "new 2026-09")]
    # the analyst file's tables are partitioned the same way and show the same months
    assert _rows(wh.analyst_path(path), "SELECT period, reason FROM analyst.quarantine ORDER BY 1") == [
        ("2026-07", "old 2026-07"), ("2026-08", "old 2026-08"), ("2026-09", "new 2026-09")]


def test_writing_a_period_the_block_did_not_declare_fails_and_changes_nothing(tmp_path):
    path = tmp_path / "hedui.duckdb"
    _publish(path, "2026-09", ["kept"])
    before = path.read_bytes()
    with pytest.raises(wh.WarehouseError, match="did not declare"), \
            wh.publishing(path, periods=["2026-10"]) as con:
        con.execute("INSERT INTO quarantine (source, period, file, row_number, record_no, reason) VALUES ('bank', '2026-11', 'b.csv', 1, 'R', 'stray')")
    assert path.read_bytes() == before
    with pytest.raises(wh.WarehouseError, match="without a period"), \
            wh.publishing(path, periods=["2026-10"]) as con:
        con.execute("INSERT INTO quarantine (source, period, file, row_number, record_no, reason) VALUES ('bank', NULL, 'b.csv', 1, 'R', 'no period')")
    assert path.read_bytes() == before
    assert _rows(path, "SELECT reason FROM quarantine") == [("kept",)]


def test_declare_periods_adds_a_period_inside_the_block(tmp_path):
    path = tmp_path / "hedui.duckdb"
    _publish(path, "2026-08", ["a"])
    _publish(path, "2026-09", ["b"])
    with wh.publishing(path, periods=[]) as con:
        assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
        wh.declare_periods(con, ["2026-09"])
        assert con.execute("SELECT reason FROM quarantine").fetchall() == [("b",)]
        con.execute("UPDATE quarantine SET reason = 'b2' WHERE period = '2026-09'")
    assert _rows(path, "SELECT reason FROM quarantine ORDER BY 1") == [("a",), ("b2",)]
    with pytest.raises(wh.WarehouseError, match="open publishing block"):
        wh.declare_periods(duckdb.connect(), ["2026-09"])


def test_the_warehouse_opens_with_plain_duckdb_from_another_process_and_folder(tmp_path):
    path = tmp_path / "w" / "hedui.duckdb"
    _publish(path, "2026-10", ["x"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
            "print(con.execute('SELECT count(*) FROM quarantine').fetchone()[0], "
            "con.execute('SELECT count(*) FROM flags').fetchone()[0], "
            "con.execute('SELECT count(*) FROM links').fetchone()[0])")
    done = subprocess.run([sys.executable, "-c", code, str(path)], cwd=elsewhere,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1", "0"]


def test_column_types_survive_the_parquet_files(tmp_path):
    path = tmp_path / "hedui.duckdb"
    _publish(path, "2026-10", ["x"])
    types = dict(_rows(path, "SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'flags'"))
    assert types["evidence"] == "JSON" and types["decided_at"] == "TIMESTAMP WITH TIME ZONE"
    types = dict(_rows(path, "SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'assessments'"))
    assert types["income_per_capita"] == "DECIMAL(18,2)"


def test_a_reader_of_the_previous_catalog_keeps_reading_until_retired_files_expire(tmp_path, monkeypatch):
    path = tmp_path / "hedui.duckdb"
    _publish(path, "2026-10", ["first"])
    reader = wh.connect_readonly(path)
    _publish(path, "2026-10", ["second"])
    # the old catalog's views still find their (retired) files
    assert reader.execute("SELECT reason FROM quarantine").fetchall() == [("first",)]
    reader.close()
    retired = [wh.parts_dir(path) / f for (f,) in _rows(
        path, f"SELECT file FROM {parts.RETIRED_TABLE} WHERE store = 'warehouse'")]
    assert retired and all(p.exists() for p in retired)
    monkeypatch.setattr(partitions_gc, "RETIRED_KEEP", timedelta(0))
    _publish(path, "2026-10", ["third"])
    assert not any(p.exists() for p in retired)
    assert _rows(path, "SELECT reason FROM quarantine") == [("third",)]


def test_a_warehouse_of_ordinary_tables_is_moved_into_partitions_unchanged(tmp_path):
    path = tmp_path / "hedui.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE quarantine (source VARCHAR, period VARCHAR, file VARCHAR, "
                "row_number BIGINT, record_no VARCHAR, reason VARCHAR)")
    con.execute("INSERT INTO quarantine VALUES ('bank', '2026-08', 'b', 1, 'R1', 'a'), "
                "('bank', '2026-09', 'b', 2, 'R2', 'b')")
    con.execute("CREATE TABLE stg_odd (record_no VARCHAR)")  # no period: stays a table
    con.execute("INSERT INTO stg_odd VALUES ('x')")
    con.close()
    _publish(path, "2026-10", ["c"], declare=False, refresh=False)
    kinds = dict(_rows(path, "SELECT table_name, table_type FROM information_schema.tables"))
    assert kinds["quarantine"] == "VIEW" and kinds["stg_odd"] == "BASE TABLE"
    assert _rows(path, "SELECT period, reason FROM quarantine ORDER BY 1") == [
        ("2026-08", "a"), ("2026-09", "b"), ("2026-10", "c")]
    assert _rows(path, "SELECT * FROM stg_odd") == [("x",)]


def test_a_column_added_later_reads_as_null_in_older_periods_and_new_tables_need_nothing(tmp_path):
    path = tmp_path / "hedui.duckdb"
    _publish(path, "2026-09", ["old"])
    with wh.publishing(path, periods=["2026-10"]) as con:
        # what another stage adds the usual way: a column on a big table, a new small table
        con.execute("ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS detail VARCHAR")
        con.execute("INSERT INTO quarantine (source, period, file, row_number, record_no, reason, detail) "
                    "VALUES ('bank', '2026-10', 'b', 1, 'R', 'new', 'd')")
        con.execute("CREATE TABLE IF NOT EXISTS later_counts (period VARCHAR, district_code VARCHAR, n BIGINT)")
        con.execute("INSERT INTO later_counts VALUES ('2026-10', '990101', 3)")
    assert _rows(path, "SELECT period, reason, detail FROM quarantine ORDER BY 1") == [
        ("2026-09", "old", None), ("2026-10", "new", "d")]
    assert _rows(path, "SELECT * FROM later_counts") == [("2026-10", "990101", 3)]
    # a later run that does not touch 2026-10 keeps the column
    _publish(path, "2026-09", ["again"])
    assert _rows(path, "SELECT period, detail FROM quarantine ORDER BY 1") == [
        ("2026-09", None), ("2026-10", "d")]


def test_rerunning_a_month_gives_the_same_tables(tmp_path):
    path = tmp_path / "hedui.duckdb"
    _publish(path, "2026-09", ["a", "b"])
    _publish(path, "2026-10", ["c"])
    dump = {t: _rows(path, f"SELECT * FROM {t} ORDER BY ALL") for t in ("quarantine", "flags")}
    analyst_dump = _rows(wh.analyst_path(path), "SELECT * FROM analyst.flags ORDER BY ALL")
    files = set(_files(path))
    # the run holds its window (both months) and rewrites 2026-10 with the same rows
    with wh.publishing(path, periods=["2026-09", "2026-10"]) as con:
        assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 3
    _publish(path, "2026-10", ["c"])
    # unchanged periods keep their files: an identical rerun writes no new partition file
    assert set(_files(path)) == files
    assert {t: _rows(path, f"SELECT * FROM {t} ORDER BY ALL") for t in ("quarantine", "flags")} == dump
    assert _rows(wh.analyst_path(path), "SELECT * FROM analyst.flags ORDER BY ALL") == analyst_dump


def _mode(p):
    return stat.S_IMODE(p.stat().st_mode)


def test_partition_files_are_private_and_the_analyst_ones_group_readable(tmp_path):
    path = tmp_path / "hedui.duckdb"
    old = os.umask(0)
    try:
        _publish(path, "2026-10", ["x"])
    finally:
        os.umask(old)
    files = list(wh.parts_dir(path).glob("*/*"))
    assert files and _mode(wh.parts_dir(path)) == 0o700
    assert all(_mode(p) == 0o600 for p in files) and all(_mode(p.parent) == 0o700 for p in files)
    analyst_files = list(wh.analyst_parts_dir(path).glob("*/*"))
    assert analyst_files and _mode(wh.analyst_parts_dir(path)) == 0o750
    assert all(_mode(p) == 0o640 for p in analyst_files)


def test_a_moved_warehouse_folder_is_repaired_by_the_next_publish(tmp_path):
    first = tmp_path / "a" / "hedui.duckdb"
    _publish(first, "2026-09", ["sep"])
    _publish(first, "2026-10", ["oct"])
    (tmp_path / "a").rename(tmp_path / "b")
    moved = tmp_path / "b" / "hedui.duckdb"
    con = duckdb.connect(str(moved), read_only=True)
    with pytest.raises(duckdb.Error):  # loudly, never another warehouse's rows
        con.execute("SELECT count(*) FROM quarantine").fetchall()
    con.close()
    _publish(moved, "2026-10", ["oct"])
    assert _rows(moved, "SELECT period, reason FROM quarantine ORDER BY 1") == [
        ("2026-09", "sep"), ("2026-10", "oct")]
    assert _rows(wh.analyst_path(moved), "SELECT period, reason FROM analyst.quarantine ORDER BY 1") == [
        ("2026-09", "sep"), ("2026-10", "oct")]


def test_a_warehouse_file_copied_without_its_partitions_is_refused_with_a_message(tmp_path):
    path = tmp_path / "a" / "hedui.duckdb"
    _publish(path, "2026-10", ["x"])
    lone = tmp_path / "b" / "hedui.duckdb"
    lone.parent.mkdir()
    lone.write_bytes(path.read_bytes())
    with pytest.raises(wh.WarehouseError, match="分区文件"):
        _publish(lone, "2026-10", ["y"])
    assert _rows(path, "SELECT reason FROM quarantine") == [("x",)]
