"""The folder cache: unchanged folders are reused, anything that could change a link is not."""

from __future__ import annotations

import shutil

import duckdb
import polars as pl
import pytest

from pipelines import folder_cache, runner

from conftest import SAMPLE, SAMPLE_PERIOD, read_delivered_csv


def _run(incoming, period, warehouse, *, use_cache=True):
    events = []
    runner.set_reporter(lambda stage, event, info: events.append((stage, event, info.get("period"))))
    ctx = runner.RunContext.create(flow="monthly", incoming=incoming, warehouse=warehouse,
                                   use_cache=use_cache)
    try:
        runner.execute_monthly(ctx, period, districts=None)
    finally:
        ctx.cleanup()
        runner.set_reporter(None)
    done = {(s, p) for s, e, p in events if e == "finish"}
    return {p for s, p in done if s == "land"}, {p for s, p in done if s == "reuse"}


def _dump(warehouse, table):
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.sql(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
    finally:
        con.close()


SAMPLE_FOLDERS = {"2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"}
CONTRACT_TABLES = ("links", "quarantine", "assessments", "flags")


@pytest.fixture()
def city(tmp_path):
    months = ("2026-07", "2026-08", "2026-09", "2026-10")
    for m in months:
        shutil.copytree(SAMPLE / "incoming" / m, tmp_path / "incoming" / m)
    return tmp_path / "incoming", tmp_path / "w" / "hedui.duckdb"


def test_a_second_run_reuses_every_unchanged_folder_with_identical_results(sample_warehouse,
                                                                           sample_warehouse_copy):
    # the session's run landed every folder into an empty warehouse (test_no_cache_processes_
    # everything shows a run without the cache lands them all); the copy holds its cache
    before = {t: _dump(sample_warehouse, t) for t in CONTRACT_TABLES}
    landed, reused = _run(SAMPLE / "incoming", SAMPLE_PERIOD, sample_warehouse_copy)
    assert not landed and reused == SAMPLE_FOLDERS
    assert {t: _dump(sample_warehouse_copy, t) for t in before} == before


@pytest.mark.slow
def test_a_changed_file_reprocesses_only_its_folder(sample_warehouse_copy, tmp_path):
    incoming = tmp_path / "incoming"
    shutil.copytree(SAMPLE / "incoming", incoming)
    wages = incoming / "2026-09" / "tax_wages.csv"
    frame = read_delivered_csv(wages)
    frame = pl.concat([frame, frame.head(1).with_columns(pl.lit("TW-RESENT-X").alias("记录号"))])
    frame.write_csv(wages)
    landed, reused = _run(incoming, SAMPLE_PERIOD, sample_warehouse_copy)
    assert landed == {"2026-09"} and reused == SAMPLE_FOLDERS - {"2026-09"}
    con = duckdb.connect(str(sample_warehouse_copy), read_only=True)
    n = con.execute("SELECT count(*) FROM links WHERE period = '2026-09' AND record_no = 'TW-RESENT-X'").fetchall()
    con.close()
    assert n == [(1,)]


def test_matching_parameters_and_staff_decisions_are_part_of_the_key(city, tmp_path):
    incoming, _ = city
    folder = incoming / "2026-10"
    base = folder_cache.folder_key(folder, matching_file=None, overrides=None)
    assert base == folder_cache.folder_key(folder, matching_file=None, overrides=None)
    edited = tmp_path / "matching.yaml"
    edited.write_text((folder_cache.ROOT / "rules" / "matching.yaml").read_text(encoding="utf-8") + "\n# edited\n",
                      encoding="utf-8")
    assert folder_cache.folder_key(folder, matching_file=edited, overrides=None) != base
    overrides = tmp_path / "o.parquet"
    pl.DataFrame({"source": ["tax_wages"], "person_id": ["P1"], "decision": ["confirmed"]}).write_parquet(overrides)
    assert folder_cache.folder_key(folder, matching_file=None, overrides=overrides) != base


@pytest.mark.slow
def test_no_cache_processes_everything(sample_warehouse_copy):
    # the copy's cache holds every folder of the sample, and is ignored
    landed, reused = _run(SAMPLE / "incoming", SAMPLE_PERIOD, sample_warehouse_copy, use_cache=False)
    assert landed == SAMPLE_FOLDERS and not reused


@pytest.mark.slow
def test_incremental_analyst_tables_equal_a_full_rebuild(city, tmp_path):
    from pipelines import warehouse as wh

    incoming, warehouse = city
    _run(incoming, "2026-09", warehouse)
    wages = incoming / "2026-08" / "tax_wages.csv"
    frame = read_delivered_csv(wages)
    pl.concat([frame, frame.head(1).with_columns(pl.lit("TW-LATE-1").alias("记录号"))]).write_csv(wages)
    _run(incoming, "2026-10", warehouse)
    tables = ("persons", "links", "quarantine", "assessments", "flags", "runs")
    incremental = {t: _dump(wh.analyst_path(warehouse), f"analyst.{t}") for t in tables}
    copy = tmp_path / "full" / "hedui.duckdb"
    copy.parent.mkdir()
    shutil.copyfile(warehouse, copy)
    shutil.copytree(wh.parts_dir(warehouse), wh.parts_dir(copy))  # the big tables' files
    with wh.publishing(copy):  # no refresh scope: the analyst file is built whole
        pass
    assert {t: _dump(wh.analyst_path(copy), f"analyst.{t}") for t in tables} == incremental
    assert any(r[2] == "TW-LATE-1" for r in incremental["links"])


def test_a_rewritten_file_is_hashed_afresh(tmp_path):
    import os

    from pipelines.land import sha256_of

    f = tmp_path / "tax_wages.csv"
    f.write_bytes(b"a")
    first = sha256_of(f)
    f.write_bytes(b"b")
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 1_000_000))
    assert sha256_of(f) != first
